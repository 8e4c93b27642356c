"""Pure checks: sids, filters, and building errors from responses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_media_async import (
    ApiError,
    AuthenticationError,
    InvalidParameterError,
    InvalidSidError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from twilio_media_async._sids import check_processor_sid, check_recording_sid, check_source_sid
from twilio_media_async.errors import api_error_from_response

from .conftest import SID


def test_valid_sids_pass_unchanged() -> None:
    assert check_recording_sid(SID) == SID
    assert check_recording_sid("KV" + "ABCDEF" * 5 + "01") == "KV" + "ABCDEF" * 5 + "01"

    class Sub(str):
        pass

    checked = check_recording_sid(Sub(SID))
    assert type(checked) is str


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (None, "got NoneType"),
        (SID.encode(), "got bytes"),
        (12345, "got int"),
        ("", "got 0"),
        ("KV../../Accounts", "got 16"),
        ("KV" + "0" * 31, "got 33"),
        ("KV" + "0" * 33, "got 35"),
        ("ZX" + "0" * 32, "prefix 'KV'"),
        ("kv" + "0" * 32, "prefix 'KV'"),
        ("KV" + "g" * 32, "32 hex digits"),
        ("KV%2e%2e%2fAccounts%2f0123456789ab", "32 hex digits"),
        ("KV" + "0" * 31 + "/", "32 hex digits"),
        (SID + "\n", "got 35"),
        ("KV" + "\uff10" * 32, "32 hex digits"),  # full-width digits are not ASCII hex
    ],
)
def test_invalid_sids_are_rejected_with_a_reason(bad: object, why: str) -> None:
    with pytest.raises(InvalidSidError) as info:
        check_recording_sid(bad)
    assert why in str(info.value)
    assert isinstance(info.value, ValueError)
    assert info.value.attempts == 0


def test_huge_input_is_not_echoed() -> None:
    with pytest.raises(InvalidSidError) as info:
        check_recording_sid("KV" + "x" * 1_000_000)
    assert len(str(info.value)) < 200


@given(st.text(max_size=40) | st.binary(max_size=40) | st.integers() | st.none())
def test_only_kv_hex_passes(value: object) -> None:
    try:
        checked = check_recording_sid(value)
    except InvalidSidError:
        return
    assert checked.startswith("KV")
    assert len(checked) == 34
    int(checked[2:], 16)


def test_filter_sids() -> None:
    assert check_processor_sid("ZX" + "a" * 32) == "ZX" + "a" * 32
    assert check_source_sid("RT" + "a" * 32) == "RT" + "a" * 32
    with pytest.raises(InvalidParameterError, match="processor_sid"):
        check_processor_sid("KV" + "a" * 32)
    with pytest.raises(InvalidParameterError, match="source_sid"):
        check_source_sid("R1" + "a" * 32)


TWILIO_404 = (
    b'{"code": 20404, "message": "The requested resource /v1/MediaRecordings/KV1 was not '
    b'found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}'
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ApiError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ApiError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (505, ServerError),
    ],
)
def test_status_picks_the_subclass(status: int, cls: type[ApiError]) -> None:
    error = api_error_from_response(status, b"", reason="Reason")
    assert type(error) is cls
    assert error.status == status


def test_retryable_statuses() -> None:
    assert api_error_from_response(429, b"").retryable
    for status in (500, 502, 503, 504):
        assert api_error_from_response(status, b"").retryable
    for status in (400, 401, 403, 404, 501, 505):
        assert not api_error_from_response(status, b"").retryable


def test_twilio_error_json() -> None:
    error = api_error_from_response(
        404,
        TWILIO_404,
        request_id="RQ123",
        method="GET",
        url="https://media.twilio.com/v1/MediaRecordings/KV1",
    )
    assert isinstance(error, NotFoundError)
    assert error.code == 20404
    assert error.message.startswith("The requested resource")
    assert error.more_info == "https://www.twilio.com/docs/errors/20404"
    assert error.request_id == "RQ123"
    text = str(error)
    assert "HTTP 404" in text
    assert "code 20404" in text
    assert "GET https://media.twilio.com/v1/MediaRecordings/KV1" in text
    assert "RQ123" in text


def test_twilio_error_details() -> None:
    body = b'{"code": 20001, "message": "Invalid", "status": 400, "details": {"f": "x"}}'
    error = api_error_from_response(400, body)
    assert error.details == {"f": "x"}


def test_rfc9457_problem_details() -> None:
    body = (
        b'{"type": "https://www.twilio.com/docs/errors/20429", "title": "Too Many Requests",'
        b' "status": 429, "code": 20429, "detail": "Concurrency limit exceeded"}'
    )
    error = api_error_from_response(429, body, retry_after=2.0)
    assert isinstance(error, RateLimitError)
    assert error.code == 20429
    assert error.retry_after == 2.0
    assert error.message == "Too Many Requests: Concurrency limit exceeded"
    assert error.more_info == "https://www.twilio.com/docs/errors/20429"


def test_html_body_from_a_proxy() -> None:
    html = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>" + b"x" * 5000
    error = api_error_from_response(502, html, reason="Bad Gateway")
    assert isinstance(error, ServerError)
    assert error.code is None
    assert "Bad Gateway" in error.message
    assert "<title>502 Bad Gateway</title>" in error.message
    assert len(error.message) < 300


@pytest.mark.parametrize(
    "body", [b"[1,2]", b'{"code": "abc", "message": 5}', b"null", b'{"code": true}']
)
def test_odd_json_error_bodies(body: bytes) -> None:
    error = api_error_from_response(500, body, reason="Internal Server Error")
    assert isinstance(error, ServerError)
    assert error.code is None
    assert error.message


def test_non_ascii_digit_codes_do_not_crash() -> None:
    error = api_error_from_response(500, '{"code": "\u00b2", "message": "x"}'.encode())
    assert error.code is None
