"""delete_many against FakeMediaServer: one DeleteResult per item, delete()'s idempotent
DELETE rule, and fetch_many's engine and limiter."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from twilio_media_async import (
    ClientClosedError,
    DeleteResult,
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
    NotFoundError,
    RetryPolicy,
    ServerError,
)
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import client_for

UNKNOWN = "KV" + "f" * 32


pytestmark = pytest.mark.fake_media_server(generate=30, seed=21)


async def agen(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        await asyncio.sleep(0)
        yield item


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("kind", ["list", "async generator"])
async def test_exactly_one_result_per_item(
    fake_media_server: FakeMediaServer, media_client: MediaClient, ordered: bool, kind: str
) -> None:
    doomed = fake_media_server.sids[:10]
    items: list[Any] = [*doomed[:5], "KVbad", None, 7, UNKNOWN, *doomed[5:]]
    source: Any = items if kind == "list" else agen(items)
    results = [r async for r in media_client.delete_many(source, concurrency=4, ordered=ordered)]
    assert all(isinstance(r, DeleteResult) for r in results)
    if ordered:
        assert [r.sid for r in results] == items
    assert Counter(map(repr, (r.sid for r in results))) == Counter(map(repr, items))
    by_sid = {repr(r.sid): r for r in results}
    for sid in doomed:
        result = by_sid[repr(sid)]
        assert result.ok and result.error is None
        assert result.attempts == 1
        assert result.request_id is not None and result.request_id.startswith("RQ")
        assert sid not in fake_media_server.recordings
    for bad in ("KVbad", None, 7):
        result = by_sid[repr(bad)]
        assert not result.ok
        assert isinstance(result.error, InvalidSidError)
        assert result.attempts == 0
    never = by_sid[repr(UNKNOWN)]
    assert isinstance(never.error, NotFoundError)  # it never existed: no DELETE rule
    assert never.attempts == 1
    assert never.request_id is not None and never.request_id == never.error.request_id
    assert len(fake_media_server.recordings) == 20  # the others are untouched
    assert fake_media_server.request_count == 11  # nothing sent for the invalid sids


async def test_the_delete_rule_holds_in_bulk(fake_media_server: FakeMediaServer) -> None:
    applied_503, late, resent, plain = fake_media_server.sids[:4]
    # Carried out, then answered 503: the retry finds nothing, and that is a success.
    fake_media_server.script(applied_503, [Fault.server_error(503, applied=True)])
    # Carried out, but answered after the attempt's timeout.
    fake_media_server.script(late, [Fault.latency(1.0)])
    # Carried out, then the connection dropped: aiohttp resends the DELETE by itself, and
    # only the SDK's count of sends tells the 404 from a sid that never existed.
    fake_media_server.script(resent, [Fault.reset(applied=True)])
    async with client_for(fake_media_server, RetryPolicy.no_wait(), timeout=0.3) as client:
        results = {
            r.sid: r async for r in client.delete_many([applied_503, late, resent, plain, UNKNOWN])
        }
    for sid in (applied_503, late, resent, plain):
        assert results[sid].ok, results[sid]
        assert results[sid].request_id is not None  # the 204's, or the deciding 404's
        assert sid not in fake_media_server.recordings
    assert results[applied_503].attempts == 2
    assert results[late].attempts == 2
    assert results[resent].attempts == 1  # one attempt, sent twice by aiohttp
    assert fake_media_server.attempts(resent) == 2
    assert isinstance(results[UNKNOWN].error, NotFoundError)


async def test_delete_and_delete_many_agree_on_the_rule(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    """The rule has one implementation: a single delete() sees the same outcomes."""
    applied_503, resent = fake_media_server.sids[:2]
    fake_media_server.script(applied_503, [Fault.server_error(503, applied=True)])
    fake_media_server.script(resent, [Fault.reset(applied=True)])
    await media_client.delete(applied_503)
    await media_client.delete(resent)
    with pytest.raises(NotFoundError):
        await media_client.delete(UNKNOWN)
    assert (
        applied_503 not in fake_media_server.recordings
        and resent not in fake_media_server.recordings
    )


async def test_exhausted_retries_become_results(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)] * 3)
    async with client_for(fake_media_server, RetryPolicy.no_wait(max_attempts=3)) as client:
        (result,) = [r async for r in client.delete_many([sid])]
    assert isinstance(result.error, ServerError)
    assert result.attempts == 3
    assert sid in fake_media_server.recordings  # none of the 503s carried the delete out


async def test_a_sid_given_twice_is_deleted_once(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    results = [r async for r in media_client.delete_many([sid, sid], concurrency=1, ordered=True)]
    assert results[0].ok
    assert isinstance(results[1].error, NotFoundError)  # gone, and no ambiguity to excuse it


async def test_exactly_once_under_random_faults() -> None:
    async with FakeMediaServer(generate=300, seed=22, fault_rate=0.2) as server:
        sids = list(server.sids)
        policy = RetryPolicy.no_wait(max_attempts=12, budget=None)
        async with client_for(server, policy) as client:
            results = [r async for r in client.delete_many(sids, concurrency=16)]
        assert sorted(r.sid for r in results) == sorted(sids)
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        assert len(server.recordings) == 0


async def test_concurrency_bounds_the_requests_in_flight() -> None:
    async with FakeMediaServer(generate=60, seed=23, latency=0.01) as server:
        async with client_for(server) as client:
            results = [r async for r in client.delete_many(server.sids, concurrency=5)]
        assert all(r.ok for r in results)
        assert server.max_in_flight == 5


async def test_it_runs_in_the_clients_limiter() -> None:
    """A 429 with Retry-After on one delete holds every new request of the client, as it
    does in fetch_many: the deletes take their request slots from the client's gate."""
    async with FakeMediaServer(generate=200, seed=24, latency=0.005) as server:
        server.script(server.sids[30], [Fault.rate_limited(retry_after=0.4)])
        async with client_for(server, retry=RetryPolicy()) as client:
            results = [r async for r in client.delete_many(server.sids, concurrency=8)]
            assert client._limiter.in_flight == 0
        assert all(r.ok for r in results)
        requests = sorted(server.requests, key=lambda r: r.started)
    limited = next(r for r in requests if r.status == 429)
    assert limited.finished is not None
    during_pause = [
        r for r in requests if limited.finished + 0.01 < r.started < limited.finished + 0.38
    ]
    assert during_pause == []


async def test_breaking_out_cancels_the_deletes_in_flight() -> None:
    async with FakeMediaServer(generate=40, seed=25, latency=0.05) as server:
        async with client_for(server) as client:
            stream = client.delete_many(server.sids, concurrency=8)
            async for _ in stream:
                break
            await stream.aclose()
            await asyncio.sleep(0.1)
        assert server.in_flight == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_bad_concurrency_is_rejected_at_once(bad: Any) -> None:
    client = MediaClient(account_sid="AC" + "0" * 32, auth_token="t")
    with pytest.raises(InvalidParameterError):
        client.delete_many([], concurrency=bad)


async def test_a_closed_client_raises(fake_media_server: FakeMediaServer) -> None:
    client = client_for(fake_media_server)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        async for _ in client.delete_many(fake_media_server.sids[:2]):
            pass
    assert fake_media_server.request_count == 0
