"""Contract tests: the same behaviour against FakeMediaServer and Stoplight Prism serving the
official spec (static and dynamic).  CI starts Prism and sets TWILIO_MEDIA_PRISM_URL and
TWILIO_MEDIA_PRISM_DYNAMIC_URL; without them the Prism cases skip (and CI fails on a skip).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import attrs
import orjson
import pytest

from twilio_media_async import (
    AuthenticationError,
    ForeignPageUrlError,
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
    MediaRecording,
    ResponseValidationError,
    RetryPolicy,
    converter,
)
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import FakeMediaServer

from .conftest import ACCOUNT_SID, AUTH_TOKEN, SID

PEERS = ["fake", "prism-static", "prism-dynamic"]
ENV = {"prism-static": "TWILIO_MEDIA_PRISM_URL", "prism-dynamic": "TWILIO_MEDIA_PRISM_DYNAMIC_URL"}


@attrs.frozen
class Peer:
    name: str
    url: str
    account_sid: str
    auth_token: str
    sid: str

    def client(self, **kwargs: object) -> MediaClient:
        return MediaClient(
            self.account_sid,
            self.auth_token,
            base_url=self.url,
            retry=RetryPolicy.no_wait(max_attempts=2),
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture(params=PEERS)
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[Peer]:
    name = request.param
    if name == "fake":
        async with FakeMediaServer(generate=5, seed=9) as srv:
            yield Peer(name, srv.url, srv.account_sid, srv.auth_token, srv.sids[0])
        return
    url = os.environ.get(ENV[name])
    if not url:
        reason = f"{ENV[name]} is not set: Prism is not running (.ci/run starts it)"
        if os.environ.get("TWILIO_MEDIA_REQUIRE_CONTRACT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield Peer(name, url, ACCOUNT_SID, AUTH_TOKEN, SID)


def _counting_session(counter: list[int]) -> aiohttp.ClientSession:
    async def count(
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        counter.append(1)
        return await handler(request)

    return aiohttp.ClientSession(middlewares=(count,))


def _for_another_recording(error: object) -> bool:
    """Prism answers a fetch with the spec's example or a random sid, not the one in the
    path: the SDK's sid rule must refuse it, on ``$.sid`` and nothing else."""
    return isinstance(error, ResponseValidationError) and [
        e.partition(":")[0] for e in error.errors
    ] == ["$.sid"]


async def test_fetch(peer: Peer) -> None:
    if peer.name == "fake":
        async with peer.client() as client:
            rec = await client.fetch(peer.sid)
        assert rec.sid == peer.sid and rec.size is not None
        return
    # What Prism serves is spec-shaped, and the public converter structures it...
    headers = {"Authorization": basic_auth_header(peer.account_sid, peer.auth_token)}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{peer.url}/v1/MediaRecordings/{peer.sid}") as resp:
            data = orjson.loads(await resp.read())
    rec = converter.structure(data, MediaRecording)
    assert rec.sid is not None
    assert rec.size is not None or peer.name == "prism-dynamic"
    # ...but it names another recording than the one asked for.
    async with peer.client() as client:
        with pytest.raises(ResponseValidationError) as info:
            await client.fetch(peer.sid)
    assert _for_another_recording(info.value)


async def test_delete(peer: Peer) -> None:
    async with peer.client() as client:
        await client.delete(peer.sid)  # 204: no error


async def test_list_with_limit_1(peer: Peer) -> None:
    async with peer.client() as client:
        got = [r async for r in client.list(limit=1)]
    assert len(got) == 1
    assert isinstance(got[0], MediaRecording)


async def test_fetch_many(peer: Peer) -> None:
    sids = [peer.sid] * 5 + ["KVnot-a-sid"]
    async with peer.client() as client:
        results = await client.fetch_all(sids, concurrency=3)
    assert [r.sid for r in results] == sids
    if peer.name == "fake":
        assert all(r.ok for r in results[:5])
    else:  # every answer names another recording (see test_fetch): each is that item's error
        assert all(_for_another_recording(r.error) for r in results[:5])
    assert isinstance(results[5].error, InvalidSidError)


async def test_missing_auth_header_is_401(peer: Peer) -> None:
    async def strip_auth(
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        request.headers.pop("Authorization", None)
        return await handler(request)

    async with aiohttp.ClientSession(middlewares=(strip_auth,)) as session:
        async with peer.client(session=session) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.fetch(peer.sid)
    assert info.value.status == 401
    assert info.value.attempts == 1


async def test_invalid_input_is_rejected_before_any_request(peer: Peer) -> None:
    sent: list[int] = []
    async with _counting_session(sent) as session, peer.client(session=session) as client:
        with pytest.raises(InvalidSidError):
            await client.fetch("KVbad")
        with pytest.raises(InvalidSidError):
            await client.delete("KV" + "g" * 32)
        with pytest.raises(InvalidParameterError):
            [r async for r in client.list(page_size=5000)]
        with pytest.raises(InvalidParameterError):
            [r async for r in client.list(status="bogus")]
    assert sent == []


async def test_prism_static_next_page_url_is_not_followed() -> None:
    url = os.environ.get(ENV["prism-static"])
    if not url:
        if os.environ.get("TWILIO_MEDIA_REQUIRE_CONTRACT") == "1":
            pytest.fail("TWILIO_MEDIA_PRISM_URL is not set")
        pytest.skip("TWILIO_MEDIA_PRISM_URL is not set: Prism is not running")
    sent: list[int] = []
    async with (
        _counting_session(sent) as session,
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=url, session=session) as client,
    ):
        with pytest.raises(ForeignPageUrlError, match=r"example\.com"):
            [r async for r in client.list()]
    assert len(sent) == 1  # the first page, and nothing to http://example.com
