"""fetch against aioresponses: the exact request, and how each answer maps to a result."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import orjson
import pytest

from twilio_media_async import (
    ApiError,
    AuthenticationError,
    InvalidSidError,
    MediaClient,
    MediaRecording,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RecordingStatus,
    ResponseTooLargeError,
    ResponseValidationError,
    RetryEvent,
    RetryPolicy,
    ServerError,
    converter,
    fetch_recording,
)
from twilio_media_async._transport import basic_auth_header

from ._mocking import mocked_http
from .conftest import ACCOUNT_SID, AUTH_TOKEN, PAYLOAD, RECORDINGS, SID, twilio_error
from .conftest import RECORDING_URL as URL_
from .conftest import sent as _sent


@pytest.fixture
async def client() -> AsyncIterator[MediaClient]:
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, retry=RetryPolicy(max_attempts=1)) as c:
        yield c


async def test_fetch_sends_the_exact_request(http: mocked_http, client: MediaClient) -> None:
    http.get(URL_, payload=PAYLOAD)
    rec = await client.fetch(SID)
    assert rec.sid == SID
    assert rec.status is RecordingStatus.COMPLETED
    assert rec.size == 99
    (call,) = _sent(http)
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == basic_auth_header(ACCOUNT_SID, AUTH_TOKEN)
    assert headers["Accept"] == "application/json"
    assert re.fullmatch(
        r"twilio-media-async/\S+ Python/3\.\d+\.\d+\S* aiohttp/\S+", headers["User-Agent"]
    )
    assert call.kwargs["allow_redirects"] is False


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (400, ApiError, 20001),
        (401, AuthenticationError, 20003),
        (403, PermissionDeniedError, 20403),
        (404, NotFoundError, 20404),
        (429, RateLimitError, 20429),
        (500, ServerError, 20500),
        (503, ServerError, 20503),
    ],
)
async def test_error_statuses(
    http: mocked_http, client: MediaClient, status: int, cls: type[ApiError], code: int
) -> None:
    body = twilio_error(status, code, f"m{code}")
    http.get(URL_, status=status, payload=body, headers={"Twilio-Request-Id": "RQabc"})
    with pytest.raises(cls) as info:
        await client.fetch(SID)
    error = info.value
    assert type(error) is cls
    assert (error.status, error.code, error.message) == (status, code, f"m{code}")
    assert error.more_info == f"https://www.twilio.com/docs/errors/{code}"
    assert error.request_id == "RQabc"
    assert error.method == "GET"
    assert error.url == URL_
    assert error.attempts == 1


async def test_429_carries_retry_after(http: mocked_http, client: MediaClient) -> None:
    http.get(URL_, status=429, payload={"code": 20429}, headers={"Retry-After": "7"})
    with pytest.raises(RateLimitError) as info:
        await client.fetch(SID)
    assert info.value.retry_after == 7.0


async def test_502_with_an_html_page(http: mocked_http, client: MediaClient) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    http.get(URL_, status=502, body=page, content_type="text/html")
    with pytest.raises(ServerError) as info:
        await client.fetch(SID)
    assert info.value.status == 502
    assert info.value.code is None
    assert "502 Bad Gateway" in str(info.value)


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        ("<html>oops</html>", "application/json", "not valid JSON"),
        ('{"sid": "KV01', "application/json", "not valid JSON"),
        ("[1, 2, 3]", "application/json", "$: expected an object, got list"),
        ('{"duration": true}', "application/json", "$.duration"),
        ('{"sid": 1234}', "application/json", "$.sid"),
        ('{"sid": "x"}', "text/html", "Content-Type"),
    ],
)
async def test_malformed_bodies(
    http: mocked_http, client: MediaClient, body: str, content_type: str, fragment: str
) -> None:
    http.get(URL_, body=body, content_type=content_type)
    with pytest.raises(ResponseValidationError) as info:
        await client.fetch(SID)
    assert fragment in str(info.value)
    assert info.value.attempts == 1


async def test_malformed_bodies_are_never_retried(http: mocked_http) -> None:
    http.get(URL_, body="not json", repeat=True)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, retry=RetryPolicy.no_wait()) as client:
        with pytest.raises(ResponseValidationError):
            await client.fetch(SID)
    assert len(_sent(http)) == 1


async def test_body_over_the_cap(http: mocked_http) -> None:
    http.get(URL_, body=orjson.dumps({**PAYLOAD, "resolution": "x" * 5000}))
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, max_body_size=1024) as client:
        with pytest.raises(ResponseTooLargeError, match="1024"):
            await client.fetch(SID)
    assert len(_sent(http)) == 1


async def test_invalid_sid_sends_nothing(http: mocked_http, client: MediaClient) -> None:
    for bad in ("KV../../Accounts", None, b"KV", 7, "KV%2F" + "0" * 29):
        with pytest.raises(InvalidSidError) as info:
            await client.fetch(bad)  # type: ignore[arg-type]
        assert info.value.attempts == 0
    assert http.requests == {}


async def test_fetch_recording_one_shot(http: mocked_http) -> None:
    http.get(URL_, payload=PAYLOAD)
    rec = await fetch_recording(SID, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    assert rec.sid == SID


async def test_the_cap_counts_decompressed_bytes(gzip_server: str) -> None:
    async with MediaClient(
        ACCOUNT_SID, AUTH_TOKEN, base_url=gzip_server, max_body_size=50_000
    ) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.fetch(SID)  # ~1 KB on the wire, 200 KB once decompressed
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=gzip_server) as client:
        assert (await client.fetch(SID)).resolution == "x" * 200_000


async def test_retry_after_on_a_503_is_honoured(http: mocked_http) -> None:
    url = f"{RECORDINGS}/{SID}"
    http.get(url, status=503, payload={"code": 20503}, headers={"Retry-After": "0.25"})
    http.get(url, payload={"sid": SID})
    events: list[RetryEvent] = []
    async with MediaClient(
        ACCOUNT_SID, AUTH_TOKEN, retry=RetryPolicy.no_wait(on_retry=events.append)
    ) as client:
        await client.fetch(SID)
    assert [e.wait for e in events] == [0.25]
    assert isinstance(events[0].error, ServerError)
    assert events[0].error.retry_after == 0.25


# -- error text is bounded -----------------------------------------------------------------


async def test_a_huge_error_message_is_cut_saying_how_much(http: mocked_http) -> None:
    message = "m" * 60_000
    http.get(f"{RECORDINGS}/{SID}", status=400, payload={"code": 20001, "message": message})
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(ApiError) as info:
            await client.fetch(SID)
    assert info.value.message == "m" * 1000 + "... [59,000 more characters cut]"
    assert len(str(info.value)) < 1200
    assert len(repr(info.value)) < 1200


# -- what the server sends -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(42.0, 42), (-7.0, -7), (2.0**53, 2**53), (-(2.0**53), -(2**53)), (0.0, 0)],
)
def test_integral_floats_within_2_53_are_integers(value: float, expected: int) -> None:
    recording = converter.structure({"duration": value, "media_size": value}, MediaRecording)
    assert (recording.duration, recording.size) == (expected, expected)
    assert type(recording.duration) is int


@pytest.mark.parametrize("value", [1e29, 2.0**53 + 2, -(2.0**54), 1e308])
@pytest.mark.parametrize("field", ["duration", "bitrate", "media_size", "size"])
def test_floats_past_2_53_are_rejected_at_their_field(field: str, value: float) -> None:
    with pytest.raises(ResponseValidationError) as info:
        converter.structure({field: value}, MediaRecording)
    (error,) = info.value.errors
    assert error.startswith(f"$.{field}: expected an integer")
    assert "2**53" in error


async def test_a_big_float_from_the_server_is_a_validation_error(http: mocked_http) -> None:
    http.get(f"{RECORDINGS}/{SID}", body=b'{"sid": "%s", "duration": 1e29}' % SID.encode())
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        with pytest.raises(ResponseValidationError, match=r"\$\.duration"):
            await client.fetch(SID)
