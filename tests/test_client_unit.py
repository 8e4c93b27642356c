"""The client against aioresponses: the exact request, and how each response maps."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from yarl import URL

from twilio_media_async import (
    ApiError,
    AuthenticationError,
    ClientClosedError,
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RecordingFilters,
    RecordingStatus,
    ResponseTooLargeError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    TwilioMediaError,
    fetch_recording,
)
from twilio_media_async._config import build_base_url
from twilio_media_async._transport import Transport, basic_auth_header

from ._mocking import mocked_http
from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, BASE, SID, twilio_error

URL_ = f"{BASE}/v1/MediaRecordings/{SID}"
PAYLOAD = {"sid": SID, "status": "completed", "duration": 12, "media_size": 99}


@pytest.fixture
async def client() -> AsyncIterator[MediaClient]:
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, retry=RetryPolicy(max_attempts=1)) as c:
        yield c


def _sent(http: mocked_http, method: str = "GET", url: str = URL_) -> list[Any]:
    return list(http.requests.get((method, URL(url)), []))


def test_the_basic_header_is_rfc_7617s() -> None:
    """The known answers of RFC 7617 (sections 2 and 2.1, UTF-8): the one Basic header
    builder that the SDK, the fake server and the tests share is checked against the
    standard, not against itself."""
    assert basic_auth_header("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert basic_auth_header("test", "123\u00a3") == "Basic dGVzdDoxMjPCow=="


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


async def test_api_key_auth(http: mocked_http) -> None:
    http.get(URL_, payload=PAYLOAD)
    async with MediaClient(ACCOUNT_SID, api_key=API_KEY, api_secret=API_SECRET) as client:
        await client.fetch(SID)
    (call,) = _sent(http)
    assert call.kwargs["headers"]["Authorization"] == basic_auth_header(API_KEY, API_SECRET)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "missing credentials"),
        ({"api_key": API_KEY}, "together"),
        ({"auth_token": AUTH_TOKEN, "api_key": API_KEY, "api_secret": API_SECRET}, "either"),
        ({"auth_token": AUTH_TOKEN, "timeout": 0}, "timeout"),
        ({"auth_token": AUTH_TOKEN, "region": "us1/../evil"}, "region"),
        ({"auth_token": AUTH_TOKEN, "base_url": "media.twilio.com"}, "base_url"),
    ],
)
def test_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        MediaClient(ACCOUNT_SID, **kwargs)


@pytest.mark.parametrize("name", ["max_body_size", "connection_limit"])
@pytest.mark.parametrize("value", [True, False, 0, 1.5, "10"])
def test_sizes_take_integers_only_never_a_bool(name: str, value: Any) -> None:
    """``True`` is an int to isinstance, but a size of True is a mistake, not 1."""
    with pytest.raises(InvalidParameterError, match=name):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, **{name: value})


async def test_list_checks_its_filters_when_called(http: mocked_http) -> None:
    """As pages() and fetch_many() do: the error comes from the call itself, not from the
    first step of the iteration, and nothing is sent."""
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        with pytest.raises(InvalidParameterError, match="page_size"):
            client.list(page_size=0)
        with pytest.raises(InvalidParameterError, match="limit"):
            client.list(limit=-1)
        stream = client.list(limit=0)  # valid: an empty stream
        assert [r async for r in stream] == []
    assert http.requests == {}


async def test_list_and_pages_take_one_set_of_filters(http: mocked_http) -> None:
    """The same RecordingFilters dict works for both; a name that is not a filter is a
    TypeError naming the method and the filters it has, and nothing is sent."""
    filters: RecordingFilters = {"status": "completed", "order": "asc", "page_size": 5}
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        client.list(limit=3, **filters)
        client.pages(**filters)
        for method in (client.list, client.pages):
            with pytest.raises(TypeError, match="unexpected keyword argument 'stauts'") as info:
                method(stauts="completed")  # type: ignore[call-arg]
            assert f"{method.__name__}()" in str(info.value)
            assert "its filters: status, source_sid" in str(info.value)
    assert http.requests == {}


@pytest.mark.parametrize("account_sid", [None, "", "AC123", "KV" + "0" * 32, 5])
def test_account_sid_is_required(account_sid: Any) -> None:
    with pytest.raises(InvalidParameterError, match="account_sid"):
        MediaClient(account_sid, AUTH_TOKEN)


@pytest.mark.parametrize(
    ("region", "edge", "host"),
    [
        (None, None, "media.twilio.com"),
        ("ie1", None, "media.ie1.twilio.com"),
        (None, "dublin", "media.dublin.us1.twilio.com"),
        ("ie1", "dublin", "media.dublin.ie1.twilio.com"),
    ],
)
async def test_region_and_edge(http: mocked_http, region: str, edge: str, host: str) -> None:
    url = f"https://{host}/v1/MediaRecordings/{SID}"
    http.get(url, payload=PAYLOAD)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, region=region, edge=edge) as client:
        assert client.base_url == f"https://{host}"
        await client.fetch(SID)
    assert len(_sent(http, url=url)) == 1


def test_build_base_url_is_pure() -> None:
    assert build_base_url("au1", "sydney") == "https://media.sydney.au1.twilio.com"


async def test_base_url_overrides_region_and_edge(http: mocked_http) -> None:
    url = f"http://127.0.0.1:9/v1/MediaRecordings/{SID}"
    http.get(url, payload=PAYLOAD)
    async with MediaClient(
        ACCOUNT_SID, AUTH_TOKEN, region="ie1", edge="dublin", base_url="http://127.0.0.1:9/"
    ) as client:
        await client.fetch(SID)
    assert len(_sent(http, url=url)) == 1


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


async def test_owned_session_is_created_lazily_and_closed(http: mocked_http) -> None:
    http.get(URL_, payload=PAYLOAD)
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    transport = client._transport
    assert isinstance(transport, Transport)
    assert transport._session is None  # nothing is opened before first use
    await client.fetch(SID)
    session = transport._session
    assert session is not None
    assert not session.closed
    await client.aclose()
    assert session.closed
    await client.aclose()  # idempotent
    assert client.closed


async def test_borrowed_session_is_never_closed(http: mocked_http) -> None:
    http.get(URL_, payload=PAYLOAD)
    async with aiohttp.ClientSession() as session:
        async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, session=session) as client:
            await client.fetch(SID)
        assert not session.closed
        (call,) = _sent(http)
        assert call.kwargs["headers"]["Authorization"] == basic_auth_header(ACCOUNT_SID, AUTH_TOKEN)


async def test_closed_client_raises_a_clear_error() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    await client.aclose()
    with pytest.raises(ClientClosedError, match="closed"):
        await client.fetch(SID)
    with pytest.raises(ClientClosedError):
        async with client:
            pass


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.delenv("TWILIO_MEDIA_BASE_URL", raising=False)
    client = MediaClient.from_env()
    assert client.base_url == "https://media.dublin.ie1.twilio.com"
    assert client._auth_kind == "auth_token"
    monkeypatch.setenv("TWILIO_API_KEY", API_KEY)
    monkeypatch.setenv("TWILIO_API_SECRET", API_SECRET)
    assert MediaClient.from_env()._auth_kind == "api_key"
    assert MediaClient.from_env(base_url="http://127.0.0.1:1").base_url == "http://127.0.0.1:1"
    monkeypatch.delenv("TWILIO_ACCOUNT_SID")
    with pytest.raises(InvalidParameterError, match="TWILIO_ACCOUNT_SID"):
        MediaClient.from_env()


async def test_fetch_recording_one_shot(http: mocked_http) -> None:
    http.get(URL_, payload=PAYLOAD)
    rec = await fetch_recording(SID, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    assert rec.sid == SID


async def test_secrets_never_show(http: mocked_http, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    http.get(URL_, status=503, payload={"code": 1, "message": "down"}, repeat=True)
    secrets = [AUTH_TOKEN, API_SECRET, basic_auth_header(ACCOUNT_SID, AUTH_TOKEN).split()[1]]
    texts: list[str] = []
    credentials: list[dict[str, Any]] = [
        {"auth_token": AUTH_TOKEN},
        {"api_key": API_KEY, "api_secret": API_SECRET},
    ]
    for kwargs in credentials:
        async with MediaClient(
            ACCOUNT_SID, retry=RetryPolicy.no_wait(max_attempts=2), **kwargs
        ) as client:
            texts.append(repr(client))
            with pytest.raises(TwilioMediaError) as info:
                await client.fetch(SID)
            texts += [str(info.value), repr(info.value)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retrying" in t for t in texts)  # the log was captured at all
    for secret in secrets:
        for text in texts:
            assert secret not in text
