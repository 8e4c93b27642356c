"""The public face: names, __all__ and docstrings."""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

import twilio_media_async as tma
from twilio_media_async import testing

DESIGN_NAMES = {
    "MediaClient", "MediaRecording", "RecordingStatus", "RecordingFormat", "HttpMethod",
    "FetchResult", "Page", "RetryPolicy", "RetryEvent", "converter", "fetch_recording",
    "TwilioMediaError", "InvalidSidError", "ApiError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "RateLimitError", "ServerError",
    "TransportError", "ResponseValidationError", "DeleteResult", "WaitTimeoutError",
    "InvalidParameterError", "DownloadResult", "MediaIntegrityError", "MediaUnavailableError",
    "MediaWriteError",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert sorted(tma.__all__) == sorted(
        DESIGN_NAMES
        | {
            "ClientClosedError",
            "ClientOptions",
            "ForeignPageUrlError",
            "Links",
            "RecordingFilters",
            "RecordingOrder",
            "RequestTimeoutError",
            "ResponseTooLargeError",
            "WrongEventLoopError",
            "__version__",
        }
    )


def test_every_design_name_imports() -> None:
    for name in DESIGN_NAMES:
        assert getattr(tma, name) is not None, name


def test_every_public_name_has_a_docstring() -> None:
    for name in tma.__all__:
        obj = getattr(tma, name)
        if name in ("__version__", "converter"):
            continue
        assert inspect.getdoc(obj), f"{name} has no docstring"
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not callable(member):
                    continue
                assert inspect.getdoc(member), f"{name}.{attr} has no docstring"


def test_version_is_the_packaged_one() -> None:
    from importlib.metadata import version

    assert tma.__version__ == version("twilio-media-async")


def test_typed_marker_ships() -> None:
    from importlib.resources import files

    assert files("twilio_media_async").joinpath("py.typed").is_file()


def test_error_hierarchy() -> None:
    assert issubclass(tma.InvalidSidError, ValueError)
    assert issubclass(tma.InvalidParameterError, ValueError)
    assert issubclass(tma.RequestTimeoutError, tma.TransportError)
    assert issubclass(tma.RequestTimeoutError, TimeoutError)
    for cls in (
        tma.AuthenticationError,
        tma.PermissionDeniedError,
        tma.NotFoundError,
        tma.RateLimitError,
        tma.ServerError,
    ):
        assert issubclass(cls, tma.ApiError)
    for base in (tma.ApiError, tma.TransportError, tma.ResponseValidationError):
        assert issubclass(base, tma.TwilioMediaError)
    assert not issubclass(tma.ForeignPageUrlError, tma.TransportError | tma.ApiError)
    assert issubclass(tma.WaitTimeoutError, tma.TwilioMediaError)
    assert issubclass(tma.WaitTimeoutError, TimeoutError)
    assert not issubclass(tma.WaitTimeoutError, tma.TransportError)
    for media_error in (tma.MediaIntegrityError, tma.MediaUnavailableError, tma.MediaWriteError):
        assert issubclass(media_error, tma.TwilioMediaError)
        assert not issubclass(media_error, tma.ApiError | tma.TransportError)
    integrity = tma.MediaIntegrityError("short", expected=10, received=9)
    assert (integrity.expected, integrity.received, integrity.retryable) == (10, 9, False)
    assert tma.MediaUnavailableError("no", status="processing").status == "processing"


def test_download_result_is_frozen_and_ok_follows_the_error() -> None:
    result = tma.DownloadResult(sid="KV" + "0" * 32, path="a.mp4", bytes=3, attempts=2)
    assert result.ok and not result.skipped
    assert [f.name for f in attrs.fields(tma.DownloadResult)] == [
        "sid",
        "path",
        "bytes",
        "sha256",
        "content_type",
        "skipped",
        "error",
        "attempts",
        "request_id",
    ]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.bytes = 4  # type: ignore[misc]
    assert not tma.DownloadResult(sid=None, error=tma.InvalidSidError("bad")).ok


def test_the_archive_methods_have_the_designed_signatures() -> None:
    client = tma.MediaClient
    assert list(inspect.signature(client.download).parameters) == [
        "self",
        "recording",
        "path",
        "overwrite",
    ]
    assert list(inspect.signature(client.download_many).parameters) == [
        "self",
        "items",
        "directory",
        "concurrency",
        "ordered",
        "overwrite",
        "prefix",
    ]
    many = inspect.signature(client.download_many).parameters
    assert (many["concurrency"].default, many["ordered"].default) == (8, False)
    assert inspect.signature(client.media_url).parameters["ttl"].default == 600
    assert list(inspect.signature(client.open_media).parameters) == ["self", "recording"]


def test_delete_result_is_frozen_and_ok_follows_the_error() -> None:
    result = tma.DeleteResult(sid="KV" + "0" * 32, attempts=1)
    assert result.ok and result.request_id is None
    assert [f.name for f in attrs.fields(tma.DeleteResult)] == [
        "sid",
        "error",
        "attempts",
        "request_id",
    ]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.attempts = 2  # type: ignore[misc]
    failed = tma.DeleteResult(sid=None, error=tma.InvalidSidError("bad"))
    assert not failed.ok


def test_every_name_a_module_imports_from_a_private_one_is_in_its_all() -> None:
    """A private module's ``__all__`` says what the rest of the package relies on."""
    package = Path(tma.__file__).parent
    missing = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if path.name == "__init__.py" else parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            base = module if path.name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            source = f"{base}.{node.module}" if node.level else node.module
            if not source.startswith("twilio_media_async") or not any(
                part.startswith("_") and not part.startswith("__") for part in source.split(".")
            ):
                continue
            exported = importlib.import_module(source).__all__
            missing += [
                f"{module} imports {alias.name} from {source}"
                for alias in node.names
                if alias.name not in exported
            ]
    assert missing == []


# What users construct themselves; the other public classes are built by the SDK (results,
# errors, events, recordings) or through factories (Fault), and document their fields as
# attributes instead.
CONSTRUCTED = {tma.MediaClient, tma.Links, tma.RetryPolicy, testing.FakeMediaServer}
_ARG = re.compile(r"^\s+\*{0,2}(\w+)(?: \(.*?\))?:", re.M)


def _public_callables() -> Iterator[tuple[str, Callable[..., object], str]]:
    """(name, callable, docstring) for every public function, method and constructor."""
    for module in (tma, testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield name, obj, inspect.getdoc(obj) or ""
            if not inspect.isclass(obj):
                continue
            if obj in CONSTRUCTED:
                yield name, obj, inspect.getdoc(obj) or ""
            for attr, member in vars(obj).items():
                function = getattr(member, "__func__", member)  # classmethod, staticmethod
                if not attr.startswith("_") and inspect.isfunction(function):
                    yield f"{name}.{attr}", function, inspect.getdoc(function) or ""


def _documented(docstring: str) -> set[str]:
    """The names in the docstring's ``Args:`` section (Google style)."""
    _, found, rest = docstring.partition("\nArgs:\n")
    if not found:
        return set()
    section = re.split(r"\n\S", rest, maxsplit=1)[0]
    return set(_ARG.findall(section))


def _field_docstrings(cls: type) -> set[str]:
    """The fields of an attrs class that have a docstring of their own (the string right
    after the field), which mkdocstrings renders under the attribute."""
    (node,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    assert isinstance(node, ast.ClassDef)
    return {
        field.target.id
        for field, after in itertools.pairwise(node.body)
        if isinstance(field, ast.AnnAssign)
        and isinstance(field.target, ast.Name)
        and isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
    }


def test_every_public_callable_documents_its_arguments_under_args() -> None:
    """mkdocstrings renders a Google-style ``Args:`` section as the parameter table of the
    API reference; every parameter of every public callable is in it, and nothing else.

    An attrs class has no ``__init__`` in its source for mkdocstrings to document, so its
    fields, its keyword arguments, each have a docstring of their own instead."""
    problems = []
    for name, function, docstring in _public_callables():
        parameters = inspect.signature(function).parameters
        expected = {p for p in parameters if p not in ("self", "cls")}
        if inspect.isclass(function) and attrs.has(function):
            documented = _field_docstrings(function)
        else:
            documented = _documented(docstring)
        if expected != documented:
            missing, extra = sorted(expected - documented), sorted(documented - expected)
            problems.append(f"{name}: missing {missing}, not parameters {extra}")
    assert problems == []
