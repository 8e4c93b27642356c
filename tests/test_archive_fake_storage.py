"""The fake server's /Media and its storage site, as a plain HTTP client sees them."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from yarl import URL

from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import (
    DEFAULT_MEDIA_SIZE,
    FakeMediaServer,
    StorageFault,
    media_bytes,
    media_sha256,
)

from ._archive import SIZE, recording

SID = "KV" + "b2" * 16


@pytest.fixture
async def server() -> AsyncIterator[FakeMediaServer]:
    async with FakeMediaServer(recordings=[recording(SID)]) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def media_link(server: FakeMediaServer) -> str:
    return f"{server.url}/v1/MediaRecordings/{SID}/Media"


async def presigned(server: FakeMediaServer, http: aiohttp.ClientSession, query: str = "") -> str:
    auth = {"Authorization": basic_auth_header(server.account_sid, server.auth_token)}
    async with http.get(media_link(server) + query, headers=auth, allow_redirects=False) as resp:
        assert resp.status == 302
        return resp.headers["Location"]


async def test_media_redirects_to_another_origin_with_a_signed_expiring_url(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    location = URL(await presigned(server, http))
    assert location.origin() == URL(server.storage_url).origin() != URL(server.url).origin()
    assert set(location.query) == {"Expires", "Signature"}
    async with http.get(location) as resp:
        body = await resp.read()
        assert resp.status == 200 and resp.content_type == "video/mp4"
    assert body == server.media_bytes(SID) == media_bytes(SID, SIZE)
    assert hashlib.sha256(body).hexdigest() == media_sha256(SID, SIZE)


async def test_the_media_link_needs_the_account_credentials(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(media_link(server), allow_redirects=False) as resp:
        assert resp.status == 401


async def test_storage_refuses_authorization_and_records_it(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    location = await presigned(server, http)
    assert not server.storage_saw_authorization
    async with http.get(location, headers={"Authorization": "Basic eA=="}) as resp:
        assert resp.status == 400 and b"InvalidArgument" in await resp.read()
    assert server.storage_saw_authorization
    assert server.storage_requests[-1].authorization


@pytest.mark.parametrize("spoil", ["Signature=0", "Expires=1"])
async def test_a_tampered_or_expired_signature_is_403(
    server: FakeMediaServer, http: aiohttp.ClientSession, spoil: str
) -> None:
    location = URL(await presigned(server, http))
    name, _, value = spoil.partition("=")
    async with http.get(location.update_query({name: value})) as resp:
        assert resp.status == 403
    assert not server.storage_requests[-1].signed


async def test_ttl_is_honoured_and_checked(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    short = URL(await presigned(server, http, "?Ttl=5"))
    long = URL(await presigned(server, http, "?Ttl=3600"))
    assert int(long.query["Expires"]) - int(short.query["Expires"]) in range(3594, 3597)
    auth = {"Authorization": basic_auth_header(server.account_sid, server.auth_token)}
    for bad in ("0", "3601", "x"):
        async with http.get(media_link(server) + f"?Ttl={bad}", headers=auth) as resp:
            assert resp.status == 400


async def test_range_requests_get_206_and_past_the_end_416(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    location = await presigned(server, http)
    whole = server.media_bytes(SID)
    async with http.get(location, headers={"Range": "bytes=100-"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 100-{SIZE - 1}/{SIZE}"
        assert await resp.read() == whole[100:]
    async with http.get(location, headers={"Range": "bytes=10-19"}) as resp:
        assert resp.status == 206 and await resp.read() == whole[10:20]
    async with http.get(location, headers={"Range": f"bytes={SIZE}-"}) as resp:
        assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{SIZE}"


async def test_storage_faults(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    location = await presigned(server, http)
    server.script_storage(SID, [StorageFault.truncated(), StorageFault.reset()])
    for _ in range(2):
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.get(location) as resp:
                await resp.read()
    server.script_storage(SID, [StorageFault.wrong_length(-3), StorageFault.wrong_length(2)])
    for delta in (-3, 2):
        async with http.get(location) as resp:
            assert resp.content_length == SIZE + delta and len(await resp.read()) == SIZE + delta
    server.script_storage(SID, [StorageFault.expired(), StorageFault.unavailable(retry_after=3)])
    async with http.get(location) as resp:
        assert resp.status == 403
    async with http.get(location) as resp:
        assert resp.status == 503 and resp.headers["Retry-After"] == "3"
    server.script_storage(SID, [StorageFault.ignore_range(), StorageFault.redirect()])
    async with http.get(location, headers={"Range": "bytes=5-"}) as resp:
        assert resp.status == 200 and len(await resp.read()) == SIZE
    async with http.get(location, allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"].endswith(URL(location).query_string)
    assert [r.fault for r in server.storage_requests[-8:]] == [
        "truncated", "reset", "wrong_length", "wrong_length", "expired", "unavailable",
        "ignore_range", "redirect",
    ]  # fmt: skip


def test_storage_fault_factories_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="delta"):
        StorageFault.wrong_length(0)
    with pytest.raises(ValueError, match="seconds"):
        StorageFault.slow(-1)
    server = FakeMediaServer()
    with pytest.raises(TypeError):
        server.script_storage(SID, ["truncated"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="media_answer"):
        FakeMediaServer(media_answer="nowhere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="media_redirect_status"):
        FakeMediaServer(media_redirect_status=200)


async def test_the_json_and_direct_answers(http: aiohttp.ClientSession) -> None:
    auth = {"Authorization": ""}
    async with FakeMediaServer(recordings=[recording(SID)], media_answer="json") as server:
        auth["Authorization"] = basic_auth_header(server.account_sid, server.auth_token)
        async with http.get(media_link(server), headers=auth) as resp:
            target = orjson.loads(await resp.read())["redirect_to"]
        assert target.startswith(server.storage_url)
    async with FakeMediaServer(recordings=[recording(SID)], media_answer="direct") as server:
        async with http.get(media_link(server), headers=auth) as resp:
            assert resp.status == 200 and await resp.read() == server.media_bytes(SID)


async def test_a_recording_without_a_size_serves_the_default_length(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeMediaServer(recordings=[recording(SID, size=None)]) as server:
        assert len(server.media_bytes(SID)) == DEFAULT_MEDIA_SIZE


async def test_unfinished_or_unknown_recordings_have_no_media(http: aiohttp.ClientSession) -> None:
    other = "KV" + "c" * 32
    served = [recording(SID, status="processing")]
    async with FakeMediaServer(recordings=served) as server:
        auth = {"Authorization": basic_auth_header(server.account_sid, server.auth_token)}
        for sid in (SID, other):
            url = f"{server.url}/v1/MediaRecordings/{sid}/Media"
            async with http.get(url, headers=auth, allow_redirects=False) as resp:
                assert resp.status == 404


def test_media_bytes_are_deterministic_and_cheap_to_slice() -> None:
    data = media_bytes(SID, 1 << 20)
    assert data == media_bytes(SID, 1 << 20) != media_bytes("KV" + "d" * 32, 1 << 20)
    assert media_bytes(SID, 10) == data[:10]
