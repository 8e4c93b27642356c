"""Every fault the fake server injects, seen by a raw aiohttp client and by MediaClient, and
the Twilio error JSON it answers with (``testing/_faults.py``)."""

from __future__ import annotations

import time

import aiohttp
import orjson
import pytest

from tests.conftest import client_for, twilio_error
from twilio_media_async import (
    MediaClient,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from twilio_media_async.testing import FakeMediaServer, Fault
from twilio_media_async.testing._faults import error_body

from .conftest import PATH, REQUEST_ID, SERVER, get_json

pytestmark = pytest.mark.fake_media_server(**SERVER)


def test_error_body_is_twilios_error_json() -> None:
    """The one builder of Twilio's error JSON, against the body Twilio sends for an unknown
    MediaRecording (keys in Twilio's order, as its API serves them)."""
    sid = "KV" + "0" * 32
    message = f"The requested resource /v1/MediaRecordings/{sid} was not found"
    assert error_body(404, 20404, message) == (
        b'{"code":20404,"message":"' + message.encode() + b'",'
        b'"more_info":"https://www.twilio.com/docs/errors/20404","status":404}'
    )


def test_fault_factories_validate() -> None:
    with pytest.raises(ValueError, match="5xx"):
        Fault.server_error(404)
    with pytest.raises(ValueError, match="4xx or 5xx"):
        Fault.status(200)
    with pytest.raises(ValueError, match="seconds"):
        Fault.latency(-1)
    with pytest.raises(ValueError, match="retry_after"):
        Fault.rate_limited(float("nan"))
    assert Fault.rate_limited(2).retry_after == "2"
    assert Fault.rate_limited(0.25).retry_after == "0.25"
    assert Fault.status(403).twilio_code == 20403
    assert Fault.status(400).twilio_code == 20001
    assert Fault.reset() == Fault.reset()  # frozen, comparable
    assert hash(Fault.truncated()) == hash(Fault.truncated())


# -- faults, seen by a raw client ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        (Fault.rate_limited(), None),
        (Fault.rate_limited(2), "2"),
        (Fault.rate_limited(0.5), "0.5"),
        (Fault.rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"), "Wed, 21 Oct 2015 07:28:00 GMT"),
    ],
)
async def test_fault_rate_limited(
    fake_media_server: FakeMediaServer,
    raw_http: aiohttp.ClientSession,
    fault: Fault,
    retry_after: str | None,
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [fault])
    status, body, headers = await get_json(raw_http, f"{PATH}/{sid}")
    assert status == 429
    assert body == twilio_error(429, 20429, "Too Many Requests")
    assert headers.get("Retry-After") == retry_after
    assert REQUEST_ID.match(headers["Twilio-Request-Id"])
    assert fake_media_server.requests[-1].fault == "rate_limited"
    assert fake_media_server.requests[-1].status == 429


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_fault_server_error_json(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession, code: int
) -> None:
    fake_media_server.script_next([Fault.server_error(code)])
    status, body, headers = await get_json(raw_http, f"{PATH}/{fake_media_server.sids[0]}")
    assert status == code
    assert body["status"] == code and body["code"] == 20000 + code
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{20000 + code}"
    assert headers["Content-Type"] == "application/json; charset=utf-8"


async def test_fault_server_error_html(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.server_error(502, html=True)])
    async with raw_http.get(f"{PATH}/{fake_media_server.sids[0]}") as resp:
        assert resp.status == 502
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "<h1>502 Bad Gateway</h1>" in await resp.text()
        assert REQUEST_ID.match(resp.headers["Twilio-Request-Id"])


async def test_fault_status(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next(
        [Fault.status(403), Fault.status(400, code_twilio=21211, message="Invalid 'To'")]
    )
    status, body, _ = await get_json(raw_http, PATH)
    assert (status, body) == (403, twilio_error(403, 20403, "Forbidden"))
    status, body, _ = await get_json(raw_http, PATH)
    assert (status, body) == (400, twilio_error(400, 21211, "Invalid 'To'"))


async def test_fault_reset(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid = fake_media_server.sids[0]
    # aiohttp resends an idempotent request once after a disconnect: it takes two resets.
    fake_media_server.script(sid, [Fault.reset(), Fault.reset()])
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with raw_http.get(f"{PATH}/{sid}") as resp:
            await resp.read()
    assert fake_media_server.attempts(sid) == 2
    assert [(r.status, r.fault) for r in fake_media_server.requests] == [(None, "reset")] * 2
    # a single reset is absorbed by that resend
    fake_media_server.script(sid, [Fault.reset()])
    status, _, _ = await get_json(raw_http, f"{PATH}/{sid}")
    assert status == 200 and fake_media_server.attempts(sid) == 4


async def test_fault_truncated(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.truncated()])
    async with raw_http.get(f"{PATH}/{fake_media_server.sids[0]}") as resp:
        assert resp.status == 200
        full = resp.content_length
        assert full is not None and full > 100
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert fake_media_server.requests[-1].fault == "truncated"


async def test_fault_slow_body(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.slow_body(0.3), Fault.slow_body(30)])
    started = time.monotonic()
    status, body, _ = await get_json(raw_http, f"{PATH}/{sid}")
    assert status == 200 and body["sid"] == sid
    assert time.monotonic() - started >= 0.29

    started = time.monotonic()
    with pytest.raises(aiohttp.ServerTimeoutError):
        timeout = aiohttp.ClientTimeout(sock_read=0.2)
        async with raw_http.get(f"{PATH}/{sid}", timeout=timeout) as resp:
            assert resp.status == 200  # the headers and half the body came in time
            await resp.read()
    assert time.monotonic() - started < 5


async def test_fault_wrong_content_type(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.wrong_content_type()])
    async with raw_http.get(f"{PATH}/{fake_media_server.sids[0]}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        assert orjson.loads(await resp.read())["sid"] == fake_media_server.sids[0]


async def test_fault_invalid_json(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.invalid_json()])
    async with raw_http.get(f"{PATH}/{fake_media_server.sids[0]}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(await resp.read())


async def test_fault_latency(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.latency(0.2)])
    started = time.monotonic()
    status, _, _ = await get_json(raw_http, PATH)
    assert status == 200 and time.monotonic() - started >= 0.19
    assert fake_media_server.requests[-1].fault == "latency"


@pytest.mark.parametrize(
    ("fault", "body"),
    [
        (Fault.wrong_content_type(), b"{}"),
        (Fault.invalid_json(), b"{"),
        (Fault.slow_body(0.01), b"{}"),
        (Fault.truncated(), None),
    ],
    ids=["wrong_content_type", "invalid_json", "slow_body", "truncated"],
)
async def test_a_body_fault_on_a_delete_carries_it_out_and_spoils_a_200(
    fake_media_server: FakeMediaServer,
    raw_http: aiohttp.ClientSession,
    fault: Fault,
    body: bytes | None,
) -> None:
    """A 204 has no body to spoil: the delete is done, and an empty object is spoilt."""
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [fault])
    async with raw_http.delete(f"{PATH}/{sid}") as resp:
        assert resp.status == 200
        if body is None:
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        else:
            assert await resp.read() == body
    assert sid not in fake_media_server.recordings
    assert fake_media_server.requests[-1].fault == fault.kind


# -- faults, seen by MediaClient -------------------------------------------------------------------


async def test_faults_through_media_client(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    async with client_for(fake_media_server, RetryPolicy(max_attempts=1)) as once:
        cases: list[tuple[Fault, type[Exception]]] = [
            (Fault.rate_limited(3), RateLimitError),
            (Fault.server_error(502, html=True), ServerError),
            (Fault.truncated(), TransportError),
            (Fault.wrong_content_type(), ResponseValidationError),
            (Fault.invalid_json(), ResponseValidationError),
        ]
        for fault, error in cases:
            fake_media_server.script(sid, [fault])
            with pytest.raises(error) as info:
                await once.fetch(sid)
            if isinstance(info.value, RateLimitError):
                assert info.value.retry_after == 3
    faults = [Fault.rate_limited(), Fault.server_error(503), Fault.reset(), None]
    fake_media_server.script(sid, faults)
    assert (await media_client.fetch(sid)).sid == sid
    # 429, 503, reset (resent by aiohttp itself, which takes the None), done
    assert fake_media_server.attempts(sid) == 5 + 4


async def test_applied_fault_deletes_before_failing(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession, media_client: MediaClient
) -> None:
    sid, other = fake_media_server.sids[0], fake_media_server.sids[1]
    fake_media_server.script(sid, [Fault.server_error(502, applied=True)])
    fake_media_server.script(other, [Fault.server_error(502)])
    async with raw_http.delete(f"{PATH}/{sid}") as resp:
        assert resp.status == 502
    async with raw_http.delete(f"{PATH}/{other}") as resp:
        assert resp.status == 502
    assert sid not in fake_media_server.recordings  # carried out, then failed
    assert other in fake_media_server.recordings  # refused outright

    # The SDK takes "5xx, then 404" as done.
    fake_media_server.script(other, [Fault.server_error(502, applied=True)])
    await media_client.delete(other)
    assert other not in fake_media_server.recordings
    assert [r.status for r in fake_media_server.requests if r.sid == other] == [502, 502, 404]
