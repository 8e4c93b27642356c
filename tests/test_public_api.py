"""The public face: names, __all__ and docstrings."""

from __future__ import annotations

import inspect

import attrs
import pytest

import twilio_media_async as tma

DESIGN_NAMES = {
    "MediaClient", "MediaRecording", "RecordingStatus", "RecordingFormat", "HttpMethod",
    "FetchResult", "Page", "RetryPolicy", "RetryEvent", "converter", "fetch_recording",
    "TwilioMediaError", "InvalidSidError", "ApiError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "RateLimitError", "ServerError",
    "TransportError", "ResponseValidationError", "DeleteResult", "WaitTimeoutError",
    "InvalidParameterError",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert sorted(tma.__all__) == sorted(
        DESIGN_NAMES
        | {
            "ClientClosedError",
            "ForeignPageUrlError",
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
    assert issubclass(tma.WaitTimeoutError, tma.TwilioMediaError)
    assert issubclass(tma.WaitTimeoutError, TimeoutError)
    assert not issubclass(tma.WaitTimeoutError, tma.TransportError)


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
