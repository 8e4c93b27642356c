"""fetch_many under faults and rate limits, against FakeMediaServer: request slots count
requests, not items; a Retry-After pauses the whole run; the limiter is shared fairly."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from twilio_media_async import FetchResult, MediaClient, RetryPolicy
from twilio_media_async._bulk import IN_PROGRESS_PER_SLOT
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import client_for


def slow_policy(wait: float, **kwargs: Any) -> RetryPolicy:
    """Real sleeps of exactly ``wait`` seconds (no jitter), so waiting items are visible."""
    return RetryPolicy(initial_wait=wait, max_wait=wait, jitter=lambda: 1.0, **kwargs)


async def test_items_waiting_out_a_backoff_hold_no_request_slot() -> None:
    async with FakeMediaServer(generate=200, seed=11, latency=0.01) as server:
        waiting = set(server.sids[:8])  # the first eight items all fail once, then wait 1 s
        for sid in waiting:
            server.script(sid, [Fault.server_error(503)])
        async with client_for(server, retry=slow_policy(1.0)) as client:
            results = [r async for r in client.fetch_many(server.sids, concurrency=8)]
        requests = server.requests
    assert all(r.ok for r in results)
    failed_by = max(r.finished or 0 for r in requests if r.sid in waiting and r.status == 503)
    retried_at = min(r.started for r in requests if r.sid in waiting and r.status == 200)
    # While those eight slept, the other items went through the eight request slots: with
    # a slot held per sleeping item, none could have.
    others = [r for r in requests if r.sid not in waiting and failed_by < r.started < retried_at]
    assert len(others) >= 150
    assert server.max_in_flight == 8


async def test_a_retry_after_pauses_the_whole_run() -> None:
    async with FakeMediaServer(generate=300, seed=12, latency=0.005) as server:
        server.script(server.sids[40], [Fault.rate_limited(retry_after=0.4)])
        async with client_for(server, retry=RetryPolicy()) as client:
            results = [r async for r in client.fetch_many(server.sids, concurrency=8)]
        assert all(r.ok for r in results)
        requests = sorted(server.requests, key=lambda r: r.started)
    limited = next(r for r in requests if r.status == 429)
    assert limited.finished is not None
    during_pause = [
        r for r in requests if limited.finished + 0.01 < r.started < limited.finished + 0.38
    ]
    assert during_pause == []  # no new request of the run while the account is told to wait
    assert any(r.started >= limited.finished + 0.38 for r in requests)


async def test_exactly_once_under_faults_with_waits_that_release_slots() -> None:
    faults = [
        Fault.rate_limited(),
        Fault.server_error(500),
        Fault.server_error(502, html=True),
        Fault.server_error(503),
        Fault.reset(),
    ]
    async with FakeMediaServer(
        generate=3000, seed=13, fault_rate=0.1, fault_kinds=faults, latency=0.002
    ) as server:
        policy = RetryPolicy(max_attempts=10, initial_wait=0.005, max_wait=0.05)
        async with client_for(server, retry=policy) as client:
            sids = server.sids + server.sids[:100]  # duplicates get a result each
            results = [r async for r in client.fetch_many(sids, concurrency=32)]
    assert Counter(r.sid for r in results) == Counter(sids)
    assert all(r.ok and r.recording is not None and r.recording.sid == r.sid for r in results)
    assert server.max_in_flight <= 32


async def test_memory_stays_bounded_while_many_items_wait() -> None:
    pulled = 0

    async with FakeMediaServer(generate=50, seed=14) as server:
        for sid in server.sids:
            server.script(sid, [Fault.server_error(503)] * 3)

        def endless() -> Iterator[str]:
            nonlocal pulled
            while True:
                pulled += 1
                yield server.sids[pulled % 50]

        async with client_for(server, retry=slow_policy(0.3, max_attempts=10)) as client:
            stream = client.fetch_many(endless(), concurrency=4)
            first = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.5)  # every item in progress is asleep between attempts
            in_progress = IN_PROGRESS_PER_SLOT * 4
            assert pulled <= in_progress + 1
            tasks = [t for t in asyncio.all_tasks() if "_Pool._work" in repr(t.get_coro())]
            assert len(tasks) <= in_progress
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
            await stream.aclose()


async def test_two_clients_on_one_capped_server_both_finish_with_fair_shares() -> None:
    async with FakeMediaServer(generate=2000, seed=15, concurrency_limit=16, latency=0.004) as srv:
        policy = RetryPolicy(max_attempts=10, initial_wait=0.005, max_wait=0.05)
        halves = (srv.sids[:1000], srv.sids[1000:])

        async def one(sids: list[str]) -> tuple[list[FetchResult], float]:
            started = time.monotonic()
            async with client_for(srv, retry=policy) as client:
                results = [r async for r in client.fetch_many(sids, concurrency=32)]
            return results, 1000 / (time.monotonic() - started)

        # Both start at 8 (16 in all, the cap) and double into it one after the other: the
        # one that doubles second meets a full server.  Both must leave slow start at the
        # same level, or the first keeps its lead to the end (see test_bulk_limiter.py).
        (first, rate_a), (second, rate_b) = await asyncio.gather(*map(one, halves))
        limited = sum(1 for r in srv.requests if r.status == 429)
    assert all(r.ok for r in first + second)
    assert Counter(r.sid for r in first + second) == Counter(srv.sids)
    jain = (rate_a + rate_b) ** 2 / (2 * (rate_a**2 + rate_b**2))
    assert jain >= 0.9, (rate_a, rate_b)
    # Without backing off, 64 requests on a cap of 16 would draw about 75 % 429s.
    assert limited < 0.2 * 2000, limited


async def test_two_runs_on_one_client_share_its_limiter() -> None:
    async with FakeMediaServer(generate=400, seed=16, concurrency_limit=6, latency=0.003) as srv:
        policy = RetryPolicy(max_attempts=10, initial_wait=0.005, max_wait=0.05)
        async with client_for(srv, retry=policy) as client:

            async def run(sids: list[str]) -> list[FetchResult]:
                return [r async for r in client.fetch_many(sids, concurrency=16)]

            a, b = await asyncio.gather(run(srv.sids[:200]), run(srv.sids[200:]))
            assert client._limiter.in_flight == 0
            assert client._limiter.limit < 16  # one limit learned the cap for both runs
    assert all(r.ok for r in a + b)


async def test_an_item_takes_no_longer_than_the_deadline() -> None:
    async with FakeMediaServer(generate=5, seed=17) as server:
        sid = server.sids[0]
        server.script(sid, [Fault.latency(0.4)] * 20)
        policy = RetryPolicy(max_attempts=20, deadline=1.0, initial_wait=0.01, max_wait=0.01)
        client = MediaClient(**server.client_kwargs(), retry=policy, timeout=0.3)
        async with client:
            started = time.monotonic()
            (result,) = await client.fetch_all([sid])
            took = time.monotonic() - started
    assert not result.ok
    assert took < 1.0 + 0.2  # the deadline bounds the item, from its first request on
    assert 2 <= result.attempts <= 4


async def test_the_test_mode_skips_the_runs_retry_after_pause_too() -> None:
    async with FakeMediaServer(generate=50, seed=18) as server:
        server.script(server.sids[0], [Fault.rate_limited(retry_after=5)] * 2)
        policy = RetryPolicy.no_wait(max_retry_after=60)
        async with client_for(server, retry=policy) as client:
            started = time.monotonic()
            results = [r async for r in client.fetch_many(server.sids, concurrency=4)]
    assert all(r.ok for r in results)
    assert time.monotonic() - started < 4  # neither the item nor the run waited 2 x 5 s


async def test_stopping_a_run_gives_back_every_request_slot() -> None:
    async with FakeMediaServer(generate=200, seed=19, latency=0.01) as server:
        async with client_for(server) as client:
            # An invalid sid is yielded at once, while the valid ones before it were just
            # handed their slots: each run stops there, before those items ever ran.
            items = [*server.sids[:8], "not-a-sid", *server.sids[8:]]
            for _ in range(3):
                async with contextlib.aclosing(client.fetch_many(items, concurrency=16)) as run:
                    async for _result in run:
                        break
                await asyncio.sleep(0.05)
                assert client._limiter.in_flight == 0
            results = [r async for r in client.fetch_many(server.sids, concurrency=16)]
    assert all(r.ok for r in results)
