"""The public face: names, __all__ and docstrings."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import twilio_media_async as tma

DESIGN_NAMES = {
    "MediaClient", "MediaRecording", "RecordingStatus", "RecordingFormat", "HttpMethod",
    "FetchResult", "Page", "RetryPolicy", "RetryEvent", "converter", "fetch_recording",
    "TwilioMediaError", "InvalidSidError", "ApiError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "RateLimitError", "ServerError",
    "TransportError", "ResponseValidationError",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert sorted(tma.__all__) == sorted(
        DESIGN_NAMES
        | {
            "ClientClosedError",
            "ForeignPageUrlError",
            "InvalidParameterError",
            "Links",
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
