"""Edge cases found in review: compressed bodies, origins, odd page URLs, leaks."""

from __future__ import annotations

import asyncio
import gzip
import warnings
from collections.abc import AsyncIterator
from enum import Enum
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from twilio_media_async import (
    ApiError,
    ForeignPageUrlError,
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
    MediaRecording,
    NotFoundError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ResponseValidationError,
    RetryEvent,
    RetryPolicy,
    ServerError,
    converter,
)
from twilio_media_async.testing import FakeMediaServer, Fault

from ._mocking import mocked_http
from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, BASE, SID, client_for

RECORDINGS = f"{BASE}/v1/MediaRecordings"


@pytest.fixture
async def gzip_server() -> AsyncIterator[str]:
    body = orjson.dumps({"sid": SID, "resolution": "x" * 200_000})

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(body),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    app = web.Application()
    app.router.add_get("/v1/MediaRecordings/{sid}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_the_cap_counts_decompressed_bytes(gzip_server: str) -> None:
    async with MediaClient(
        ACCOUNT_SID, AUTH_TOKEN, base_url=gzip_server, max_body_size=50_000
    ) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.fetch(SID)  # ~1 KB on the wire, 200 KB once decompressed
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=gzip_server) as client:
        assert (await client.fetch(SID)).resolution == "x" * 200_000


def test_default_ports_share_the_origin() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url="https://media.twilio.com:443")
    assert client.pages(start_url="https://media.twilio.com/v1/MediaRecordings?PageToken=PA1")
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    assert client.pages(start_url="https://media.twilio.com:443/v1/MediaRecordings?Page=1")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil@media.twilio.com/v1/MediaRecordings",
        "https://user:pw@media.twilio.com/v1/MediaRecordings",
        "http://media.twilio.com/v1/MediaRecordings",
        "https://media.twilio.com:8443/v1/MediaRecordings",
        "https://media.twilio.com.evil.com/v1/MediaRecordings",
        "//media.twilio.com/v1/MediaRecordings",
        "/v1/MediaRecordings",
        "http://[::1/x",
    ],
)
def test_other_origins_are_refused(url: str) -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    with pytest.raises(ForeignPageUrlError):
        client.pages(start_url=url)


async def test_a_malformed_next_page_url_still_yields_the_page(http: mocked_http) -> None:
    page = {"media_recordings": [{"sid": SID}], "meta": {"next_page_url": "http://[::1/x"}}
    http.get(f"{RECORDINGS}?PageSize=50", payload=page)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        got = []
        with pytest.raises(ForeignPageUrlError):
            async for rec in client.list(page_size=50):
                got.append(rec)
    assert [r.sid for r in got] == [SID]


@pytest.mark.parametrize("base_url", ["https://u:p@media.twilio.com", "https://h/?a=1"])
def test_base_url_without_userinfo_or_query(base_url: str) -> None:
    with pytest.raises(InvalidParameterError, match="base_url"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url)


def test_a_swapped_token_is_not_echoed() -> None:
    token = "0123456789abcdef0123456789abcdef"
    with pytest.raises(InvalidParameterError) as info:
        MediaClient(token, ACCOUNT_SID)
    assert token not in str(info.value)
    assert "32 characters" in str(info.value)


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


def test_the_deadline_bounds_the_first_attempt_too() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=60, retry=RetryPolicy(deadline=5))
    assert client._transport.timeout.total == 5
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=3)
    assert client._transport.timeout.total == 3


async def test_fetch_many_uses_the_checked_sid() -> None:
    async with FakeMediaServer(generate=1) as srv:

        class Sids(str, Enum):  # noqa: UP042 - the (str, Enum) form is the tricky one
            FIRST = srv.sids[0]

        async with MediaClient(**srv.client_kwargs()) as client:
            (result,) = await client.fetch_all([Sids.FIRST])
        assert result.ok
        assert result.sid is Sids.FIRST


async def test_a_broken_sleep_still_yields_a_result() -> None:
    async def broken_sleep(seconds: float) -> None:
        raise RuntimeError("sleep bug")

    async with FakeMediaServer(generate=1) as srv:
        from twilio_media_async.testing import Fault

        srv.script(srv.sids[0], [Fault.server_error(503)] * 4)
        policy = RetryPolicy(sleep=broken_sleep)
        async with MediaClient(**srv.client_kwargs(), retry=policy) as client:
            results = await client.fetch_all([srv.sids[0], srv.sids[0]])
    assert len(results) == 2
    assert any(r.error is not None and "unexpected" in str(r.error) for r in results)


def test_clipping_a_timeout_keeps_its_other_settings() -> None:
    import aiohttp

    from twilio_media_async._config import clip_timeout

    base = aiohttp.ClientTimeout(total=10, connect=5, sock_read=8, ceil_threshold=2)
    clipped = clip_timeout(base, 3)
    assert (clipped.total, clipped.connect, clipped.sock_read) == (3, 3, 3)
    assert clipped.ceil_threshold == 2
    assert clip_timeout(aiohttp.ClientTimeout(), 4).total == 4


# -- numbers of seconds are finite ---------------------------------------------------------

NOT_FINITE = [float("nan"), float("inf"), float("-inf")]
SECONDS_FIELDS = ["initial_wait", "max_wait", "deadline", "max_retry_after", "budget_refill"]


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize("field", [*SECONDS_FIELDS, "budget"])
def test_retry_policy_rejects_nan_and_infinity(field: str, value: float) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", [*SECONDS_FIELDS, "budget", "max_attempts"])
@pytest.mark.parametrize("value", ["1", True, -1])
def test_retry_policy_rejects_other_bad_numbers_typed(field: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


def test_retry_policy_still_takes_finite_numbers_and_an_unlimited_budget() -> None:
    policy = RetryPolicy(initial_wait=0, max_wait=1, deadline=2.5, budget=None, budget_refill=0)
    assert (policy.deadline, policy.budget) == (2.5, None)


@pytest.mark.parametrize(
    "timeout",
    [
        *NOT_FINITE,
        0,
        -1,
        True,
        "10",
        aiohttp.ClientTimeout(total=float("nan")),
        aiohttp.ClientTimeout(total=5, sock_read=float("inf")),
        aiohttp.ClientTimeout(connect=float("nan")),
    ],
    ids=repr,
)
def test_timeout_must_be_finite_and_positive(timeout: object) -> None:
    with pytest.raises(InvalidParameterError, match="timeout"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=timeout)  # type: ignore[arg-type]


async def test_a_nan_timeout_cannot_hang_a_call_on_a_dead_server() -> None:
    # Before, NaN passed "timeout <= 0" and aiohttp then never timed out: this hung.
    with pytest.raises(InvalidParameterError):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=float("nan"))
    async with FakeMediaServer(generate=1) as srv:
        srv.script(srv.sids[0], [Fault.latency(30)])
        async with client_for(srv, RetryPolicy(max_attempts=1), timeout=0.2) as client:
            with pytest.raises(RequestTimeoutError):
                await asyncio.wait_for(client.fetch(srv.sids[0]), 5)


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


# -- hostile input items -------------------------------------------------------------------

HOSTILE_METHODS = ["__repr__", "__str__", "__len__", "__eq__", "__hash__"]


def _raising(*names: str, base: type = object) -> type:
    def boom(self: object, *args: object) -> object:
        raise RuntimeError("hostile")

    return type("Hostile", (base,), dict.fromkeys(names, boom))


def _hostile_items(sid: str) -> list[object]:
    """For each method, and all of them at once: a plain object and a str subclass (holding
    a valid sid, a malformed one and an empty string)."""
    items: list[object] = []
    for names in [*([name] for name in HOSTILE_METHODS), HOSTILE_METHODS]:
        items.append(_raising(*names)())
        str_type = _raising(*names, base=str)
        items += [str_type(sid), str_type("KV123"), str_type("")]
    return items


@pytest.mark.parametrize("method", [*HOSTILE_METHODS, "all"])
@pytest.mark.parametrize("base", [object, str])
def test_checking_a_hostile_item_only_ever_raises_invalid_sid_error(
    method: str, base: type
) -> None:
    from twilio_media_async import _sids

    names = HOSTILE_METHODS if method == "all" else [method]
    cls = _raising(*names, base=base)
    item = cls("KV123") if base is str else cls()
    assert isinstance(_sids.describe(item), str)
    with pytest.raises(InvalidSidError) as info:
        _sids.check_recording_sid(item)
    assert "Hostile" in str(info.value) or "'KV123'" in str(info.value)
    with pytest.raises(InvalidParameterError):
        _sids.check_source_sid(item)
    if base is str:  # the value of a str subclass is used, never its own methods
        assert _sids.check_recording_sid(cls(SID)) == SID
        assert type(_sids.check_recording_sid(cls(SID))) is str


async def test_hostile_items_each_get_exactly_one_result() -> None:
    async with FakeMediaServer(generate=1) as srv:
        sid = srv.sids[0]
        items = _hostile_items(sid)
        async with client_for(srv) as client:
            for ordered in (False, True):
                results = [r async for r in client.fetch_many(items, ordered=ordered)]
                assert len(results) == len(items)
                # Identity, not ==: the items' __eq__ and __hash__ may raise.
                assert sorted(map(id, (r.sid for r in results))) == sorted(map(id, items))
                for result in results:
                    valid = issubclass(type(result.sid), str) and str.__str__(result.sid) == sid
                    if valid:
                        assert result.ok, result.error
                        assert result.recording is not None
                        assert result.recording.sid == sid
                    else:
                        assert isinstance(result.error, InvalidSidError)
                        assert result.attempts == 0


@pytest.mark.parametrize("base", [object, str])
async def test_fetch_of_a_hostile_item_raises_invalid_sid_error(base: type) -> None:
    cls = _raising(*HOSTILE_METHODS, base=base)
    item = cls("KV123") if base is str else cls()
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        with pytest.raises(InvalidSidError) as info:
            await client.fetch(item)
    assert info.value.attempts == 0


# -- a borrowed session's defaults ---------------------------------------------------------

BORROWED_DEFAULTS: list[dict[str, Any]] = [
    {"raise_for_status": True},
    {"auto_decompress": False},
    {"read_bufsize": 1},
    {"max_line_size": 10},
    {"max_field_size": 10},
    {"raise_for_status": True, "auto_decompress": False, "read_bufsize": 16},
]


@pytest.mark.parametrize("defaults", BORROWED_DEFAULTS, ids=repr)
async def test_a_borrowed_sessions_defaults_do_not_change_what_the_sdk_does(
    defaults: dict[str, Any],
) -> None:
    unknown = "KV" + "0" * 32
    async with FakeMediaServer(generate=1) as srv, aiohttp.ClientSession(**defaults) as session:
        async with client_for(srv, session=session) as client:
            assert (await client.fetch(srv.sids[0])).sid == srv.sids[0]
            with pytest.raises(NotFoundError) as info:
                await client.fetch(unknown)
            assert info.value.attempts == 1
            (result,) = await client.fetch_all([unknown])
            assert isinstance(result.error, NotFoundError)
            assert result.attempts == 1
        assert srv.attempts(unknown) == 2  # one request each, no retry
        assert not session.closed  # borrowed: left open


async def test_a_borrowed_session_without_auto_decompress_still_reads_gzip(
    gzip_server: str,
) -> None:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=gzip_server, session=session) as client,
    ):
        assert (await client.fetch(SID)).resolution == "x" * 200_000


async def test_a_borrowed_session_with_its_own_auth_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp 3.14 deprecates auth=
        session = aiohttp.ClientSession(auth=aiohttp.BasicAuth("someone", "else"))
    async with session:
        with pytest.raises(InvalidParameterError, match="auth"):
            MediaClient(ACCOUNT_SID, AUTH_TOKEN, session=session)


# -- bad constructor arguments -------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "fragment"),
    [
        ("http://127.0.0.1:99999", "port"),
        ("http://127.0.0.1:0", "port"),
        ("http://media\\twilio.com", "backslash"),
        ("http:\\\\media.twilio.com", "backslash"),
        (8080, "got int"),
        (b"https://media.twilio.com", "got bytes"),
        ("https://media.twilio.com/\r\nX-Injected: 1", "carriage return"),
        ("https://media.twilio.com\n", "line feed"),
        ("https://media.twilio.com/a b", "space"),
        ("https://media.twilio.com/\x00", "control character"),
        ("http://[::1", "does not parse"),
        ("", "absolute"),
        ("https://u:s3cr3t-in-the-url@media.twilio.com:99999", "port"),
    ],
)
def test_bad_base_urls_are_invalid_parameters(base_url: object, fragment: str) -> None:
    with pytest.raises(InvalidParameterError, match="base_url") as info:
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert "s3cr3t" not in str(info.value)  # a URL may hold a password: never echoed


@pytest.mark.parametrize("value", [AUTH_TOKEN.encode(), 12345678, ["x"], f"{AUTH_TOKEN}\n"])
@pytest.mark.parametrize("name", ["auth_token", "api_key", "api_secret"])
def test_credentials_of_the_wrong_type_are_invalid_parameters(name: str, value: object) -> None:
    kwargs: dict[str, Any] = (
        {"auth_token": value}
        if name == "auth_token"
        else {"api_key": API_KEY, "api_secret": API_SECRET, name: value}
    )
    with pytest.raises(InvalidParameterError, match=name) as info:
        MediaClient(ACCOUNT_SID, **kwargs)
    assert AUTH_TOKEN not in str(info.value)
    assert "12345678" not in str(info.value)


def test_bytes_credentials_are_never_sent_as_their_repr() -> None:
    # Before, b"token" went out as the Basic password "b'token'".
    with pytest.raises(InvalidParameterError, match="auth_token must be a str, got bytes"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN.encode())  # type: ignore[arg-type]


# -- credential errors name what is missing ------------------------------------------------

CREDENTIAL_VARIABLES = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*CREDENTIAL_VARIABLES, "TWILIO_API_SECRET", "TWILIO_REGION", "TWILIO_EDGE"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_from_env_with_nothing_set_names_every_variable(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidParameterError) as info:
        MediaClient.from_env()
    assert str(info.value) == (
        "missing TWILIO_ACCOUNT_SID (the account sid, 'AC' followed by 32 hex digits) and "
        "credentials: set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET"
    )


def test_from_env_names_the_one_value_missing(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    with pytest.raises(InvalidParameterError) as info:
        MediaClient.from_env()
    assert str(info.value) == (
        "missing credentials: set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET"
    )
    clean_env.setenv("TWILIO_API_KEY", API_KEY)
    with pytest.raises(InvalidParameterError, match=r"^missing TWILIO_API_SECRET: ") as info:
        MediaClient.from_env()
    assert "only TWILIO_API_KEY was given" in str(info.value)
    clean_env.delenv("TWILIO_ACCOUNT_SID")
    clean_env.setenv("TWILIO_API_SECRET", API_SECRET)
    with pytest.raises(InvalidParameterError) as info:
        MediaClient.from_env()
    assert str(info.value) == (
        "missing TWILIO_ACCOUNT_SID: the account sid, 'AC' followed by 32 hex digits"
    )


@pytest.mark.parametrize("sid", ["AC123", "KV" + "0" * 32, AUTH_TOKEN])
def test_a_malformed_account_sid_is_malformed_not_required(
    clean_env: pytest.MonkeyPatch, sid: str
) -> None:
    clean_env.setenv("TWILIO_ACCOUNT_SID", sid)
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with pytest.raises(InvalidParameterError) as from_env:
        MediaClient.from_env()
    with pytest.raises(InvalidParameterError) as from_argument:
        MediaClient(sid, AUTH_TOKEN)
    errors = env_error, argument_error = str(from_env.value), str(from_argument.value)
    assert env_error.startswith("malformed TWILIO_ACCOUNT_SID: expected 'AC' followed by 32")
    assert argument_error.startswith("malformed account_sid: expected 'AC' followed by 32")
    for error in errors:
        assert f"a str of {len(sid)} characters" in error
        assert "required" not in error
        assert "missing" not in error
        assert sid not in error  # it may be a token given in the wrong place


def test_from_env_names_an_overriding_argument_by_its_own_name(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with pytest.raises(InvalidParameterError, match=r"^malformed account_sid: "):
        MediaClient.from_env(account_sid="AC123")
    with pytest.raises(InvalidParameterError, match=r"^missing TWILIO_ACCOUNT_SID: "):
        MediaClient.from_env(auth_token=AUTH_TOKEN)


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


@pytest.mark.parametrize("next_page_url", [42, True, {"url": "x"}, ["x"], 1.5])
async def test_a_non_string_next_page_url_is_a_validation_error(
    http: mocked_http, next_page_url: object
) -> None:
    page = {"media_recordings": [{"sid": SID}], "meta": {"next_page_url": next_page_url}}
    http.get(f"{RECORDINGS}?PageSize=50", payload=page)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        with pytest.raises(ResponseValidationError) as info:
            async for _ in client.list(page_size=50):
                pass
    (error,) = info.value.errors
    assert error.startswith("$.meta.next_page_url: expected a string or null, got ")
    assert info.value.attempts == 1


@pytest.mark.parametrize("next_page_url", [None, ""])
async def test_a_null_or_empty_next_page_url_ends_the_list(
    http: mocked_http, next_page_url: str | None
) -> None:
    page = {"media_recordings": [{"sid": SID}], "meta": {"next_page_url": next_page_url}}
    http.get(f"{RECORDINGS}?PageSize=50", payload=page)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        assert [r.sid async for r in client.list(page_size=50)] == [SID]
