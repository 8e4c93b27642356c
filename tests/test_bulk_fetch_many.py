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


pytestmark = pytest.mark.fake_media_server(generate=50, seed=5)


def mixed(server: FakeMediaServer) -> list[Any]:
    return [server.sids[0], "KVbad", None, 7, server.sids[1], server.sids[0], UNKNOWN]


async def agen(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        await asyncio.sleep(0)
        yield item


@pytest.mark.parametrize("kind", ["list", "generator", "async generator", "tuple"])
@pytest.mark.parametrize("ordered", [False, True])
async def test_exactly_one_result_per_item(
    fake_media_server: FakeMediaServer, media_client: MediaClient, kind: str, ordered: bool
) -> None:
    items = mixed(fake_media_server)
    source: Any = {
        "list": items,
        "generator": (i for i in items),
        "async generator": agen(items),
        "tuple": tuple(items),
    }[kind]
    results = [r async for r in media_client.fetch_many(source, ordered=ordered, concurrency=3)]
    assert len(results) == len(items)
    if ordered:
        assert [r.sid for r in results] == items
    assert Counter(map(repr, (r.sid for r in results))) == Counter(map(repr, items))
    by_sid: dict[str, list[FetchResult]] = {}
    for result in results:
        by_sid.setdefault(repr(result.sid), []).append(result)
    for good in (fake_media_server.sids[0], fake_media_server.sids[1]):
        for result in by_sid[repr(good)]:
            assert result.ok
            assert result.recording == as_served(fake_media_server, good)
            assert result.attempts == 1
    for bad in ("KVbad", None, 7):
        (result,) = by_sid[repr(bad)]
        assert isinstance(result.error, InvalidSidError)
        assert result.attempts == 0
        assert result.recording is None
    (missing,) = by_sid[repr(UNKNOWN)]
    assert isinstance(missing.error, NotFoundError)
    # duplicates each get their own request
    assert fake_media_server.attempts(fake_media_server.sids[0]) == 2


FLAKY_NETWORK = [
    Fault.rate_limited(retry_after=0),
    Fault.rate_limited(),
    Fault.server_error(500),
    Fault.server_error(502, html=True),
    Fault.server_error(503),
    Fault.reset(),
]


@pytest.mark.fake_media_server(generate=10_000, seed=6, fault_rate=0.2, fault_kinds=FLAKY_NETWORK)
async def test_10000_sids_under_20_percent_faults(fake_media_server: FakeMediaServer) -> None:
    # Each item gets the policy's attempts, as a single fetch does: at 20 % faults four
    # attempts would leave p**4 (about 16 in 10,000) failed, so a bulk run over a flaky
    # network asks for more.  Waiting items hold no request slot, so that costs no speed.
    sids = fake_media_server.sids
    async with client_for(fake_media_server, retry=RetryPolicy.no_wait(max_attempts=10)) as client:
        results = [r async for r in client.fetch_many(sids, concurrency=64)]
    assert len(results) == 10_000
    failed = [r for r in results if not r.ok]
    assert failed == []
    assert Counter(r.sid for r in results) == Counter(sids)  # each exactly once
    assert all(r.recording is not None and r.recording.sid == r.sid for r in results)
    assert sum(r.attempts for r in results) > 10_000  # retries did happen
    assert fake_media_server.max_in_flight <= 64


@pytest.mark.fake_media_server(generate=2000, seed=7, concurrency_limit=10, latency=0.002)
async def test_server_concurrency_cap_settles_and_completes(
    fake_media_server: FakeMediaServer,
) -> None:
    # A bulk item gets the policy's attempts and no hidden extra passes; while the limiter
    # finds the cap, an item can meet several 429s in a row, so a bulk run asks for more.
    policy = RetryPolicy(max_attempts=10, initial_wait=0.01, max_wait=0.1)
    async with client_for(fake_media_server, retry=policy) as client:
        results = [r async for r in client.fetch_many(fake_media_server.sids, concurrency=100)]
    assert all(r.ok for r in results)
    assert len(results) == 2000
    rejected = sum(1 for r in fake_media_server.requests if r.status == 429)
    assert rejected < 2000 * 0.2, rejected  # AIMD backed off instead of hammering


async def test_infinite_input_stops_being_read(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        while True:
            pulled += 1
            yield fake_media_server.sids[pulled % len(fake_media_server.sids)]

    results = []
    async with contextlib.aclosing(media_client.fetch_many(endless(), concurrency=8)) as stream:
        async for result in stream:
            results.append(result)
            if len(results) == 50:
                at_break = fake_media_server.request_count
                break
    assert len(results) == 50
    # Read no further than the items in progress allow.
    assert pulled <= 50 + IN_PROGRESS_PER_SLOT * 8 + 1
    await asyncio.sleep(0.05)  # requests cancelled on the wire may still land
    requests = fake_media_server.request_count
    assert requests <= at_break + 8  # at most those in flight at the break
    await asyncio.sleep(0.1)
    assert fake_media_server.request_count == requests  # nothing new started after the break


async def test_plain_break_cleans_up_without_warnings(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    async for _ in media_client.fetch_many(fake_media_server.sids * 10, concurrency=16):
        break
    for _ in range(5):  # the loop finalises the abandoned generator on its next turns
        await asyncio.sleep(0.01)
    gc.collect()
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in pending if "fetch" in repr(t.get_coro())]


async def test_aclose_cancels_in_flight_requests(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    for sid in fake_media_server.sids:
        fake_media_server.script(sid, [Fault.latency(5)])
    stream = media_client.fetch_many(fake_media_server.sids, concurrency=5)
    consumer = asyncio.ensure_future(anext(stream))
    while fake_media_server.in_flight < 5:
        await asyncio.sleep(0.01)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await stream.aclose()
    await asyncio.sleep(0.05)
    assert fake_media_server.request_count == 5  # nothing new started


async def test_cancelling_the_consumer(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    for sid in fake_media_server.sids:
        fake_media_server.script(sid, [Fault.latency(5)])

    async def consume() -> list[FetchResult]:
        return [r async for r in media_client.fetch_many(fake_media_server.sids, concurrency=5)]

    task = asyncio.create_task(consume())
    while fake_media_server.in_flight < 5:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert fake_media_server.request_count == 5  # nothing new started


async def test_ordered_window_stops_reading_behind_a_slow_head(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    fake_media_server.script(fake_media_server.sids[0], [Fault.latency(0.5)])
    pulled = 0

    def counting() -> Iterator[str]:
        nonlocal pulled
        for sid in fake_media_server.sids:
            pulled += 1
            yield sid

    stream = media_client.fetch_many(counting(), concurrency=4, ordered=True)
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.3)
    assert not first.done()
    # The window is full of results waiting for the head.
    assert pulled <= IN_PROGRESS_PER_SLOT * 4
    result = await first
    assert result.sid == fake_media_server.sids[0]
    rest = [r async for r in stream]
    assert [r.sid for r in rest] == fake_media_server.sids[1:]


async def test_unordered_yields_as_completed(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    fake_media_server.script(fake_media_server.sids[0], [Fault.latency(0.3)])
    results = [r async for r in media_client.fetch_many(fake_media_server.sids[:5], concurrency=5)]
    assert results[-1].sid == fake_media_server.sids[0]


async def test_in_flight_never_exceeds_the_connection_pool(
    fake_media_server: FakeMediaServer,
) -> None:
    for sid in fake_media_server.sids:
        fake_media_server.script(sid, [Fault.latency(0.05)])
    async with client_for(fake_media_server, connection_limit=5) as client:
        results = await client.fetch_all(fake_media_server.sids, concurrency=64)
    assert all(r.ok for r in results)
    assert fake_media_server.max_in_flight <= 5


async def test_fetch_all_keeps_order(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    results = await media_client.fetch_all(reversed(fake_media_server.sids))
    assert [r.sid for r in results] == list(reversed(fake_media_server.sids))


async def test_exhausted_retries_become_results(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)] * 20)
    async with client_for(fake_media_server, retry=RetryPolicy.no_wait(max_attempts=3)) as client:
        (result,) = await client.fetch_all([sid])
    assert result.error is not None
    assert result.attempts == 3  # the policy's attempts, as for a single fetch
    assert result.error.attempts == 3
    assert fake_media_server.attempts(sid) == 3


async def test_a_bulk_item_follows_the_policy_like_a_fetch(
    fake_media_server: FakeMediaServer,
) -> None:
    sid, other = fake_media_server.sids[0], fake_media_server.sids[1]
    fake_media_server.script(sid, [Fault.server_error(503)] * 3)
    fake_media_server.script(other, [Fault.server_error(503)] * 4)
    async with client_for(fake_media_server, retry=RetryPolicy.no_wait()) as client:
        ok, failed = await client.fetch_all([sid, other])
    assert ok.ok and ok.attempts == 4
    assert not failed.ok and failed.attempts == 4
    assert fake_media_server.attempts(other) == 4  # no hidden extra passes


def test_bad_concurrency_is_rejected_at_once() -> None:
    client = MediaClient(account_sid="AC" + "0" * 32, auth_token="t")
    with pytest.raises(InvalidParameterError):
        client.fetch_many([], concurrency=0)


async def test_closing_the_client_stops_the_stream(fake_media_server: FakeMediaServer) -> None:
    from twilio_media_async import ClientClosedError

    client = client_for(fake_media_server)
    with pytest.raises(ClientClosedError):
        async for _ in client.fetch_many(iter(fake_media_server.sids * 100), concurrency=2):
            await client.aclose()


async def test_no_extra_pass_with_retries_off(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)] * 5)
    async with client_for(fake_media_server, retry=RetryPolicy.no_wait(max_attempts=1)) as client:
        (result,) = await client.fetch_all([sid])
    assert result.attempts == 1
    assert fake_media_server.attempts(sid) == 1


async def test_no_extra_pass_past_the_retry_after_cap(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.rate_limited(retry_after=120)] * 5)
    async with client_for(fake_media_server, retry=RetryPolicy()) as client:
        (result,) = await asyncio.wait_for(client.fetch_all([sid]), timeout=5)
    assert result.attempts == 1
    assert fake_media_server.attempts(sid) == 1


async def test_bulk_retries_are_announced_once_each(fake_media_server: FakeMediaServer) -> None:
    from twilio_media_async import RetryEvent

    events: list[RetryEvent] = []
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)] * 2)
    policy = RetryPolicy.no_wait(max_attempts=3, on_retry=events.append)
    async with client_for(fake_media_server, retry=policy) as client:
        (result,) = await client.fetch_all([sid])
    assert result.ok and result.attempts == 3
    assert [(e.attempt, e.max_attempts) for e in events] == [(1, 3), (2, 3)]


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_failing_input_still_delivers_what_it_gave(
    fake_media_server: FakeMediaServer, media_client: MediaClient, ordered: bool
) -> None:
    def flaky() -> Iterator[str]:
        yield from fake_media_server.sids[:6]
        raise OSError("the sid file went away")

    got: list[FetchResult] = []
    with pytest.raises(OSError, match="went away"):
        async for result in media_client.fetch_many(flaky(), concurrency=4, ordered=ordered):
            got.append(result)
    assert sorted(r.sid for r in got) == sorted(fake_media_server.sids[:6])
    assert all(r.ok for r in got)


async def test_an_invalid_sid_is_yielded_before_more_input_is_read(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    """Out of order, an invalid sid's result comes at once, even while valid items run:
    a producer that waits for the consumer to see it must not wait forever."""
    seen = asyncio.Event()

    async def producer() -> AsyncIterator[str]:
        yield fake_media_server.sids[0]
        yield "not-a-sid"
        await seen.wait()  # the consumer sets it on the invalid sid's result
        yield fake_media_server.sids[1]

    fake_media_server.script(fake_media_server.sids[0], [Fault.latency(0.5)])
    results = []
    async with asyncio.timeout(5):
        async for result in media_client.fetch_many(producer(), concurrency=4):
            results.append(result)
            if result.sid == "not-a-sid":
                seen.set()
    assert results[0].sid == "not-a-sid"
    assert sorted(r.sid for r in results if r.ok) == sorted(fake_media_server.sids[:2])
