"""Retries against FakeMediaServer: what is retried, how often, and what stops it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from twilio_media_async import (
    ApiError,
    MediaClient,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    RetryEvent,
    RetryPolicy,
    ServerError,
    TransportError,
)
from twilio_media_async._engine import RetryEngine
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import as_served, client_for

UNKNOWN = "KV" + "f" * 32


pytestmark = pytest.mark.fake_media_server(generate=10, seed=4)


async def test_429_twice_then_200(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.rate_limited(retry_after=0), Fault.rate_limited()])
    assert await media_client.fetch(sid) == as_served(fake_media_server, sid)
    assert fake_media_server.attempts(sid) == 3


async def test_html_502_reset_503_then_success(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[1]
    fake_media_server.script(
        sid, [Fault.server_error(502, html=True), Fault.reset(), Fault.server_error(503)]
    )
    assert await media_client.fetch(sid) == as_served(fake_media_server, sid)
    assert fake_media_server.attempts(sid) == 4


async def test_real_backoff_waits(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.rate_limited(retry_after=0.2), Fault.server_error(503)])
    policy = RetryPolicy(initial_wait=0.05, max_wait=0.05)
    started = time.monotonic()
    async with client_for(fake_media_server, policy) as client:
        await client.fetch(sid)
    assert 0.2 <= time.monotonic() - started < 2


@pytest.mark.parametrize(("status", "code"), [(400, 20001), (401, 20003), (403, 20403)])
async def test_client_errors_are_not_retried(
    fake_media_server: FakeMediaServer, media_client: MediaClient, status: int, code: int
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.status(status, code_twilio=code)])
    with pytest.raises(ApiError) as info:
        await media_client.fetch(sid)
    assert info.value.status == status
    assert info.value.attempts == 1
    assert fake_media_server.attempts(sid) == 1


async def test_404_is_not_retried(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    with pytest.raises(NotFoundError) as info:
        await media_client.fetch(UNKNOWN)
    assert info.value.attempts == 1
    assert fake_media_server.request_count == 1


async def test_exhausted_retries_carry_attempts(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)] * 10)
    async with client_for(fake_media_server, RetryPolicy.no_wait(max_attempts=3)) as client:
        with pytest.raises(ServerError) as info:
            await client.fetch(sid)
    assert info.value.attempts == 3
    assert fake_media_server.attempts(sid) == 3


async def test_max_attempts_1_turns_retries_off(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)])
    async with client_for(fake_media_server, RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(ServerError):
            await client.fetch(sid)
    assert fake_media_server.attempts(sid) == 1


async def test_retry_after_past_the_deadline_fails_at_once(
    fake_media_server: FakeMediaServer,
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.rate_limited(retry_after=120)])
    started = time.monotonic()
    async with client_for(fake_media_server, RetryPolicy(deadline=30)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.fetch(sid)
    assert time.monotonic() - started < 1
    assert info.value.retry_after == 120
    assert info.value.attempts == 1
    assert fake_media_server.attempts(sid) == 1


async def test_retry_after_as_an_http_date(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.rate_limited(retry_after="Thu, 01 Jan 1970 00:00:00 GMT")])
    async with client_for(fake_media_server, RetryPolicy()) as client:  # a past date: retry at once
        await client.fetch(sid)
    assert fake_media_server.attempts(sid) == 2


async def test_read_timeout_is_retried_within_the_deadline(
    fake_media_server: FakeMediaServer,
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.slow_body(5.0)] * 10)
    policy = RetryPolicy(deadline=1.0, initial_wait=0.01, max_wait=0.01, max_attempts=10)
    started = time.monotonic()
    async with client_for(fake_media_server, policy, timeout=0.3) as client:
        with pytest.raises(RequestTimeoutError) as info:
            await client.fetch(sid)
    elapsed = time.monotonic() - started
    assert info.value.attempts >= 3
    assert elapsed < 1.0 + 0.2  # the last attempt's timeout is clipped to the deadline


async def test_cancel_during_the_wait(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.rate_limited(retry_after=10)])
    async with client_for(fake_media_server, RetryPolicy()) as client:
        task = asyncio.create_task(client.fetch(sid))
        while fake_media_server.attempts(sid) < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5
        await asyncio.sleep(0.1)
    assert fake_media_server.attempts(sid) == 1


async def test_cancel_during_a_request(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.latency(10)])
    async with client_for(fake_media_server, RetryPolicy()) as client:
        task = asyncio.create_task(client.fetch(sid))
        while fake_media_server.in_flight < 1:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)
    assert fake_media_server.attempts(sid) == 1


async def test_budget_under_total_failure() -> None:
    policy = RetryPolicy.no_wait(budget=50)
    async with FakeMediaServer(
        generate=1, fault_rate=1.0, fault_kinds=[Fault.server_error(503)]
    ) as srv:
        async with client_for(srv, policy) as client:
            results = await client.fetch_all([srv.sids[0]] * 1000, concurrency=20)
        assert all(isinstance(r.error, ServerError) for r in results)
        # about one request per call plus the budget, never max_attempts per call
        assert 1000 <= srv.request_count <= 1000 + 50 + 20


async def test_budget_refills_on_success(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    policy = RetryPolicy.no_wait(budget=2, budget_refill=1)
    async with client_for(fake_media_server, policy) as client:
        for _ in range(5):  # each call spends one retry and earns it back
            fake_media_server.script(sid, [Fault.server_error(503)])
            await client.fetch(sid)
    assert fake_media_server.attempts(sid) == 10


async def test_delete_after_a_timeout_counts_as_deleted(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    # The first DELETE is carried out but answered too late; the retry then finds nothing.
    fake_media_server.script(sid, [Fault.latency(1.0)])
    async with client_for(fake_media_server, RetryPolicy.no_wait(), timeout=0.3) as client:
        await client.delete(sid)
        with pytest.raises(NotFoundError):
            await client.fetch(sid)
    assert sid not in fake_media_server.recordings
    assert [r.method for r in fake_media_server.requests if r.sid == sid][:2] == [
        "DELETE",
        "DELETE",
    ]


async def test_delete_is_retried_after_a_503(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    fake_media_server.add({"sid": UNKNOWN})
    fake_media_server.script(UNKNOWN, [Fault.server_error(503)])
    await media_client.delete(UNKNOWN)  # 503, then 204
    assert UNKNOWN not in fake_media_server.recordings


async def test_delete_of_an_unknown_sid_is_404(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    with pytest.raises(NotFoundError):
        await media_client.delete(UNKNOWN)
    assert fake_media_server.request_count == 1


async def test_hooks_and_logs_without_secrets(
    fake_media_server: FakeMediaServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="twilio_media_async")
    events: list[RetryEvent] = []
    sid = fake_media_server.sids[0]
    # Two resets: aiohttp absorbs a single one by resending on its own.
    fake_media_server.script(sid, [Fault.rate_limited(retry_after=0), Fault.reset(), Fault.reset()])
    async with client_for(fake_media_server, RetryPolicy.no_wait(on_retry=events.append)) as client:
        await client.fetch(sid)
    assert [e.attempt for e in events] == [1, 2]
    assert isinstance(events[0].error, RateLimitError)
    assert events[0].wait == 0
    assert all(e.method == "GET" and e.url.endswith(sid) for e in events)
    assert [e.max_attempts for e in events] == [4, 4]
    lines = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(lines) == 2
    assert all(r.levelno == logging.INFO for r in caplog.records if "retrying" in r.getMessage())
    assert "attempt 1 of 4 failed" in lines[0]
    assert "attempt 2 of 4 failed" in lines[1]
    token = fake_media_server.auth_token
    for text in [*lines, *map(repr, events), *map(str, fake_media_server.requests)]:
        assert token not in text


async def test_a_retried_error_keeps_no_frames_alive(fake_media_server: FakeMediaServer) -> None:
    """The hook sees a retried error whole; once retried, its traceback is dropped, so the
    failed attempt's frames (and their response objects) are freed at once rather than
    by the garbage collector, which a bulk run under faults pays for."""
    seen_with_traceback: list[bool] = []

    def hook(event: RetryEvent) -> None:
        seen_with_traceback.append(event.error.__traceback__ is not None)
        events.append(event)

    events: list[RetryEvent] = []
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503), Fault.server_error(502)])
    async with client_for(fake_media_server, RetryPolicy.no_wait(on_retry=hook)) as client:
        assert await client.fetch(sid) == as_served(fake_media_server, sid)
    assert seen_with_traceback == [True, True]
    assert [e.error.__traceback__ for e in events] == [None, None]


async def test_a_failing_hook_does_not_break_retries(fake_media_server: FakeMediaServer) -> None:
    def broken(event: RetryEvent) -> None:
        raise RuntimeError("hook bug")

    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)])
    async with client_for(fake_media_server, RetryPolicy.no_wait(on_retry=broken)) as client:
        assert await client.fetch(sid) == as_served(fake_media_server, sid)


async def test_the_happy_path_never_enters_the_retry_loop(
    fake_media_server: FakeMediaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the retry loop was entered on a success")

    monkeypatch.setattr(RetryEngine, "next_wait", forbidden)
    async with client_for(fake_media_server, RetryPolicy()) as client:
        for sid in fake_media_server.sids:
            await client.fetch(sid)


async def test_the_deadline_counts_from_the_first_attempt_not_the_first_failure() -> None:
    # The first attempt takes 0.2 s of a 0.3 s deadline and fails; a wait of 0.15 s would
    # end past the deadline, so the call stops there, its 503 raised after one attempt.
    policy = RetryPolicy.no_wait(
        deadline=0.3, initial_wait=0.15, max_wait=0.15, jitter=lambda: 0.99, budget=None
    )
    async with FakeMediaServer(generate=1, latency=0.2) as server:
        sid = server.sids[0]
        server.script(sid, [Fault.server_error(503)])
        async with client_for(server, policy) as client:
            with pytest.raises(ServerError) as caught:
                await client.fetch(sid)
        assert caught.value.attempts == 1
        assert len(server.requests) == 1


async def test_an_error_from_the_policys_sleep_still_carries_the_attempts(
    fake_media_server: FakeMediaServer,
) -> None:
    async def broken_sleep(seconds: float) -> None:
        raise TransportError("the clock is gone")

    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)])
    policy = RetryPolicy(sleep=broken_sleep, budget=None)
    async with client_for(fake_media_server, policy) as client:
        with pytest.raises(TransportError, match="clock") as caught:
            await client.fetch(sid)
    assert caught.value.attempts == 1
