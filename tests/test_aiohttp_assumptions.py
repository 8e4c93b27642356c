"""What the SDK relies on aiohttp to keep doing, through its public API only.

Each test pins one behaviour that the transport is built around, so that an aiohttp
upgrade that changes it fails here, by name, rather than somewhere downstream.
"""

from __future__ import annotations

import inspect

import aiohttp
import pytest

from twilio_media_async._api import RECORDINGS_PATH
from twilio_media_async._config import clip_timeout
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import FakeMediaServer, Fault

Sends = list[str]


def counting(sends: Sends, name: str) -> aiohttp.ClientMiddlewareType:
    """A middleware that notes ``name`` each time a request goes through it."""

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        sends.append(name)
        return await handler(request)

    return middleware


@pytest.mark.parametrize(("method", "status"), [("GET", 200), ("DELETE", 204)])
async def test_an_idempotent_request_is_resent_once_and_a_middleware_sees_both_sends(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession, method: str, status: int
) -> None:
    """The connection drops before the answer: aiohttp sends the request again by itself,
    and the caller sees only the second answer.  The SDK counts the sends with a
    per-request middleware, to know that a DELETE answered 404 may have been carried out
    by the first send (``MediaClient.delete``)."""
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.reset(), None])
    sends: Sends = []
    async with raw_http.request(
        method, f"{RECORDINGS_PATH}/{sid}", middlewares=(counting(sends, "sdk"),)
    ) as resp:
        await resp.read()
    assert resp.status == status
    assert sends == ["sdk", "sdk"]
    assert [(r.method, r.fault) for r in fake_media_server.requests] == [
        (method, "reset"),
        (method, None),
    ]


async def test_a_request_is_resent_only_once(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.reset(), Fault.reset()])
    sends: Sends = []
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with raw_http.delete(
            f"{RECORDINGS_PATH}/{sid}", middlewares=(counting(sends, "sdk"),)
        ) as resp:
            await resp.read()
    assert sends == ["sdk", "sdk"]
    assert fake_media_server.attempts(sid) == 2


async def test_a_non_idempotent_request_is_never_resent(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.reset()])
    sends: Sends = []
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with raw_http.post(RECORDINGS_PATH, middlewares=(counting(sends, "sdk"),)) as resp:
            await resp.read()
    assert sends == ["sdk"]
    assert fake_media_server.request_count == 1


async def test_a_per_request_middleware_replaces_the_sessions_own(
    fake_media_server: FakeMediaServer,
) -> None:
    """Why the SDK counts sends only through a session it owns: on a borrowed session, its
    middleware would silently switch off the owner's (which aiohttp has no public way to
    read, so as to pass them along)."""
    sends: Sends = []
    auth = basic_auth_header(fake_media_server.account_sid, fake_media_server.auth_token)
    async with aiohttp.ClientSession(
        base_url=fake_media_server.url,
        headers={"Authorization": auth},
        middlewares=(counting(sends, "owner"),),
    ) as borrowed:
        async with borrowed.get(RECORDINGS_PATH) as resp:
            assert resp.status == 200
        async with borrowed.get(RECORDINGS_PATH, middlewares=(counting(sends, "sdk"),)) as resp:
            assert resp.status == 200
    assert sends == ["owner", "sdk"]


def test_client_timeout_has_exactly_the_parts_that_clip_timeout_rebuilds() -> None:
    """``clip_timeout`` rebuilds a ClientTimeout through its constructor: a part added by a
    later aiohttp would be dropped there, and must be clipped too."""
    parameters = inspect.signature(aiohttp.ClientTimeout).parameters
    assert set(parameters) == {"total", "connect", "sock_read", "sock_connect", "ceil_threshold"}
    base = aiohttp.ClientTimeout(total=10, connect=6, sock_read=8, sock_connect=2, ceil_threshold=1)
    assert clip_timeout(base, 5) == aiohttp.ClientTimeout(
        total=5, connect=5, sock_read=5, sock_connect=2, ceil_threshold=1
    )
