"""fetch_many against FakeMediaServer: one result per item, bounded, adaptive, cancellable."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from twilio_media_async import (
    FetchResult,
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
    NotFoundError,
    RetryPolicy,
)
from twilio_media_async._bulk import IN_PROGRESS_PER_SLOT
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import as_served, client_for

UNKNOWN = "KV" + "f" * 32


@pytest.fixture
async def server() -> AsyncIterator[FakeMediaServer]:
    async with FakeMediaServer(generate=50, seed=5) as srv:
        yield srv


def mixed(server: FakeMediaServer) -> list[Any]:
    return [server.sids[0], "KVbad", None, 7, server.sids[1], server.sids[0], UNKNOWN]


async def agen(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        await asyncio.sleep(0)
        yield item


@pytest.mark.parametrize("kind", ["list", "generator", "async generator", "tuple"])
@pytest.mark.parametrize("ordered", [False, True])
async def test_exactly_one_result_per_item(
    server: FakeMediaServer, kind: str, ordered: bool
) -> None:
    items = mixed(server)
    source: Any = {
        "list": items,
        "generator": (i for i in items),
        "async generator": agen(items),
        "tuple": tuple(items),
    }[kind]
    async with client_for(server) as client:
        results = [r async for r in client.fetch_many(source, ordered=ordered, concurrency=3)]
    assert len(results) == len(items)
    if ordered:
        assert [r.sid for r in results] == items
    assert Counter(map(repr, (r.sid for r in results))) == Counter(map(repr, items))
    by_sid: dict[str, list[FetchResult]] = {}
    for result in results:
        by_sid.setdefault(repr(result.sid), []).append(result)
    for good in (server.sids[0], server.sids[1]):
        for result in by_sid[repr(good)]:
            assert result.ok
            assert result.recording == as_served(server, good)
            assert result.attempts == 1
    for bad in ("KVbad", None, 7):
        (result,) = by_sid[repr(bad)]
        assert isinstance(result.error, InvalidSidError)
        assert result.attempts == 0
        assert result.recording is None
    (missing,) = by_sid[repr(UNKNOWN)]
    assert isinstance(missing.error, NotFoundError)
    assert server.attempts(server.sids[0]) == 2  # duplicates each get their own request


async def test_10000_sids_under_20_percent_faults() -> None:
    faults = [
        Fault.rate_limited(retry_after=0),
        Fault.rate_limited(),
        Fault.server_error(500),
        Fault.server_error(502, html=True),
        Fault.server_error(503),
        Fault.reset(),
    ]
    async with FakeMediaServer(generate=10_000, seed=6, fault_rate=0.2, fault_kinds=faults) as srv:
        # Each item gets the policy's attempts, as a single fetch does: at 20 % faults four
        # attempts would leave p**4 (about 16 in 10,000) failed, so a bulk run over a flaky
        # network asks for more.  Waiting items hold no request slot, so that costs no speed.
        async with client_for(srv, retry=RetryPolicy.no_wait(max_attempts=10)) as client:
            results = [r async for r in client.fetch_many(srv.sids, concurrency=64)]
        assert len(results) == 10_000
        failed = [r for r in results if not r.ok]
        assert failed == []
        assert Counter(r.sid for r in results) == Counter(srv.sids)  # each exactly once
        assert all(r.recording is not None and r.recording.sid == r.sid for r in results)
        assert sum(r.attempts for r in results) > 10_000  # retries did happen
        assert srv.max_in_flight <= 64


async def test_server_concurrency_cap_settles_and_completes() -> None:
    async with FakeMediaServer(generate=2000, seed=7, concurrency_limit=10, latency=0.002) as srv:
        policy = RetryPolicy(initial_wait=0.01, max_wait=0.1)
        async with client_for(srv, retry=policy) as client:
            results = [r async for r in client.fetch_many(srv.sids, concurrency=100)]
        assert all(r.ok for r in results)
        assert len(results) == 2000
        rejected = sum(1 for r in srv.requests if r.status == 429)
        assert rejected < 2000 * 0.2, rejected  # AIMD backed off instead of hammering


async def test_infinite_input_stops_being_read(server: FakeMediaServer) -> None:
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        while True:
            pulled += 1
            yield server.sids[pulled % len(server.sids)]

    async with client_for(server) as client:
        results = []
        async with contextlib.aclosing(client.fetch_many(endless(), concurrency=8)) as stream:
            async for result in stream:
                results.append(result)
                if len(results) == 50:
                    at_break = server.request_count
                    break
        assert len(results) == 50
        # Read no further than the items in progress allow.
        assert pulled <= 50 + IN_PROGRESS_PER_SLOT * 8 + 1
        await asyncio.sleep(0.05)  # requests cancelled on the wire may still land
        requests = server.request_count
        assert requests <= at_break + 8  # at most those in flight at the break
        await asyncio.sleep(0.1)
        assert server.request_count == requests  # nothing new started after the break


async def test_plain_break_cleans_up_without_warnings(server: FakeMediaServer) -> None:
    async with client_for(server) as client:
        async for _ in client.fetch_many(server.sids * 10, concurrency=16):
            break
        for _ in range(5):  # the loop finalises the abandoned generator on its next turns
            await asyncio.sleep(0.01)
        gc.collect()
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in pending if "fetch" in repr(t.get_coro())]


async def test_aclose_cancels_in_flight_requests(server: FakeMediaServer) -> None:
    for sid in server.sids:
        server.script(sid, [Fault.latency(5)])
    async with client_for(server) as client:
        stream = client.fetch_many(server.sids, concurrency=5)
        consumer = asyncio.ensure_future(anext(stream))
        while server.in_flight < 5:
            await asyncio.sleep(0.01)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await stream.aclose()
        await asyncio.sleep(0.05)
        assert server.request_count == 5  # nothing new started


async def test_cancelling_the_consumer(server: FakeMediaServer) -> None:
    for sid in server.sids:
        server.script(sid, [Fault.latency(5)])
    async with client_for(server) as client:

        async def consume() -> list[FetchResult]:
            return [r async for r in client.fetch_many(server.sids, concurrency=5)]

        task = asyncio.create_task(consume())
        while server.in_flight < 5:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)
        assert server.request_count == 5  # nothing new started


async def test_ordered_window_stops_reading_behind_a_slow_head(server: FakeMediaServer) -> None:
    server.script(server.sids[0], [Fault.latency(0.5)])
    pulled = 0

    def counting() -> Iterator[str]:
        nonlocal pulled
        for sid in server.sids:
            pulled += 1
            yield sid

    async with client_for(server) as client:
        stream = client.fetch_many(counting(), concurrency=4, ordered=True)
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.3)
        assert not first.done()
        # The window is full of results waiting for the head.
        assert pulled <= IN_PROGRESS_PER_SLOT * 4
        result = await first
        assert result.sid == server.sids[0]
        rest = [r async for r in stream]
    assert [r.sid for r in rest] == server.sids[1:]


async def test_unordered_yields_as_completed(server: FakeMediaServer) -> None:
    server.script(server.sids[0], [Fault.latency(0.3)])
    async with client_for(server) as client:
        results = [r async for r in client.fetch_many(server.sids[:5], concurrency=5)]
    assert results[-1].sid == server.sids[0]


async def test_in_flight_never_exceeds_the_connection_pool(server: FakeMediaServer) -> None:
    for sid in server.sids:
        server.script(sid, [Fault.latency(0.05)])
    async with client_for(server, connection_limit=5) as client:
        results = await client.fetch_all(server.sids, concurrency=64)
    assert all(r.ok for r in results)
    assert server.max_in_flight <= 5


async def test_fetch_all_keeps_order(server: FakeMediaServer) -> None:
    async with client_for(server) as client:
        results = await client.fetch_all(reversed(server.sids))
    assert [r.sid for r in results] == list(reversed(server.sids))


async def test_exhausted_retries_become_results(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script(sid, [Fault.server_error(503)] * 20)
    async with client_for(server, retry=RetryPolicy.no_wait(max_attempts=3)) as client:
        (result,) = await client.fetch_all([sid])
    assert result.error is not None
    assert result.attempts == 3  # the policy's attempts, as for a single fetch
    assert result.error.attempts == 3
    assert server.attempts(sid) == 3


async def test_a_bulk_item_follows_the_policy_like_a_fetch(server: FakeMediaServer) -> None:
    sid, other = server.sids[0], server.sids[1]
    server.script(sid, [Fault.server_error(503)] * 3)
    server.script(other, [Fault.server_error(503)] * 4)
    async with client_for(server, retry=RetryPolicy.no_wait()) as client:
        ok, failed = await client.fetch_all([sid, other])
    assert ok.ok and ok.attempts == 4
    assert not failed.ok and failed.attempts == 4
    assert server.attempts(other) == 4  # no hidden extra passes


def test_bad_concurrency_is_rejected_at_once() -> None:
    client = MediaClient(account_sid="AC" + "0" * 32, auth_token="t")
    with pytest.raises(InvalidParameterError):
        client.fetch_many([], concurrency=0)


async def test_closing_the_client_stops_the_stream(server: FakeMediaServer) -> None:
    from twilio_media_async import ClientClosedError

    client = client_for(server)
    with pytest.raises(ClientClosedError):
        async for _ in client.fetch_many(iter(server.sids * 100), concurrency=2):
            await client.aclose()


async def test_no_extra_pass_with_retries_off(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script(sid, [Fault.server_error(503)] * 5)
    async with client_for(server, retry=RetryPolicy.no_wait(max_attempts=1)) as client:
        (result,) = await client.fetch_all([sid])
    assert result.attempts == 1
    assert server.attempts(sid) == 1


async def test_no_extra_pass_past_the_retry_after_cap(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script(sid, [Fault.rate_limited(retry_after=120)] * 5)
    async with client_for(server, retry=RetryPolicy()) as client:
        (result,) = await asyncio.wait_for(client.fetch_all([sid]), timeout=5)
    assert result.attempts == 1
    assert server.attempts(sid) == 1


async def test_bulk_retries_are_announced_once_each(server: FakeMediaServer) -> None:
    from twilio_media_async import RetryEvent

    events: list[RetryEvent] = []
    sid = server.sids[0]
    server.script(sid, [Fault.server_error(503)] * 2)
    policy = RetryPolicy.no_wait(max_attempts=3, on_retry=events.append)
    async with client_for(server, retry=policy) as client:
        (result,) = await client.fetch_all([sid])
    assert result.ok and result.attempts == 3
    assert [(e.attempt, e.max_attempts) for e in events] == [(1, 3), (2, 3)]


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_failing_input_still_delivers_what_it_gave(
    server: FakeMediaServer, ordered: bool
) -> None:
    def flaky() -> Iterator[str]:
        yield from server.sids[:6]
        raise OSError("the sid file went away")

    got: list[FetchResult] = []
    async with client_for(server) as client:
        with pytest.raises(OSError, match="went away"):
            async for result in client.fetch_many(flaky(), concurrency=4, ordered=ordered):
                got.append(result)
    assert sorted(r.sid for r in got) == sorted(server.sids[:6])
    assert all(r.ok for r in got)
