"""wait_for_completion against FakeMediaServer: it polls through the retry engine, backs off
gently, survives failed polls, and gives up with WaitTimeoutError on time."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from twilio_media_async import (
    InvalidParameterError,
    InvalidSidError,
    NotFoundError,
    RecordingStatus,
    RetryPolicy,
    ServerError,
    TwilioMediaError,
    WaitTimeoutError,
)
from twilio_media_async.client import POLL_MAX_FACTOR, next_poll_interval
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import client_for

UNKNOWN = "KV" + "f" * 32


@pytest.fixture
async def server() -> AsyncIterator[FakeMediaServer]:
    async with FakeMediaServer(generate=5, seed=31) as srv:
        yield srv


async def test_returns_once_the_recording_is_done(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script_completion(sid, after_reads=3)
    async with client_for(server) as client:
        recording = await client.wait_for_completion(sid, poll_interval=0.01)
    assert recording.status == RecordingStatus.COMPLETED
    assert recording == server.recordings[sid]
    assert server.attempts(sid) == 4  # three reads saw "processing", the fourth did not


async def test_a_recording_already_done_returns_after_one_poll(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script_completion(sid, after_reads=0, status="failed")
    async with client_for(server) as client:
        recording = await client.wait_for_completion(sid, poll_interval=60)
    assert recording.status == RecordingStatus.FAILED  # anything but processing ends it
    assert server.attempts(sid) == 1


async def test_a_time_based_completion(server: FakeMediaServer) -> None:
    sid = server.sids[1]
    server.script_completion(sid, after_seconds=0.3)
    started = time.monotonic()
    async with client_for(server) as client:
        recording = await client.wait_for_completion(sid, poll_interval=0.02)
    assert time.monotonic() - started >= 0.3
    assert recording.status == RecordingStatus.COMPLETED


async def test_each_poll_goes_through_the_retry_engine(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script_completion(sid, after_reads=1)
    # The first poll's first attempt gets a 503, and its retry answers "processing".
    server.script(sid, [Fault.server_error(503), None])
    events: list[Any] = []
    async with client_for(server, RetryPolicy.no_wait(on_retry=events.append)) as client:
        recording = await client.wait_for_completion(sid, poll_interval=0.01)
    assert recording.status == RecordingStatus.COMPLETED
    assert len(events) == 1 and isinstance(events[0].error, ServerError)
    assert server.attempts(sid) == 3


async def test_failed_polls_do_not_end_the_wait(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script_completion(sid, after_reads=0)
    # With retries off, each of the first three polls fails outright.
    server.script(sid, [Fault.server_error(503), Fault.rate_limited(), Fault.server_error(502)])
    async with client_for(server, RetryPolicy.no_wait(max_attempts=1)) as client:
        recording = await client.wait_for_completion(sid, poll_interval=0.01)
    assert recording.status == RecordingStatus.COMPLETED
    assert server.attempts(sid) == 4


async def test_an_error_no_retry_could_fix_is_raised_at_once(server: FakeMediaServer) -> None:
    started = time.monotonic()
    async with client_for(server) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.wait_for_completion(UNKNOWN, timeout=30, poll_interval=0.01)
    assert caught.value.attempts == 1
    assert time.monotonic() - started < 5
    assert server.request_count == 1


async def test_gives_up_with_wait_timeout_error(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script_completion(sid, after_seconds=60)
    started = time.monotonic()
    async with client_for(server) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.wait_for_completion(sid, timeout=0.3, poll_interval=0.05)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    error = caught.value
    assert isinstance(error, TimeoutError) and isinstance(error, TwilioMediaError)
    assert error.sid == sid and error.timeout == 0.3
    assert error.recording is not None
    assert error.recording.status == RecordingStatus.PROCESSING
    assert error.last_error is None
    assert error.attempts == server.attempts(sid) >= 2
    assert sid in str(error) and "processing" in str(error)
    assert error.__context__ is None and error.__cause__ is None


async def test_the_timeout_ends_a_poll_in_progress(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script_completion(sid, after_reads=0)
    server.script(sid, [Fault.latency(5.0)])  # the first poll would take five seconds
    started = time.monotonic()
    async with client_for(server, timeout=10) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.wait_for_completion(sid, timeout=0.3, poll_interval=0.05)
    assert time.monotonic() - started < 2.0
    assert caught.value.recording is None
    assert "no poll got an answer" in str(caught.value)


async def test_a_timeout_after_failed_polls_names_the_last_failure(
    server: FakeMediaServer,
) -> None:
    sid = server.sids[0]
    server.script(sid, [Fault.server_error(503)] * 1000)
    async with client_for(server, RetryPolicy.no_wait(max_attempts=2)) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.wait_for_completion(sid, timeout=0.3, poll_interval=0.05)
    assert isinstance(caught.value.last_error, ServerError)
    assert "503" in str(caught.value) or "Service Unavailable" in str(caught.value)


async def test_an_infinite_poll_interval_polls_once(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script_completion(sid, after_reads=1)
    async with client_for(server) as client:
        with pytest.raises(WaitTimeoutError):
            await client.wait_for_completion(sid, timeout=0.2, poll_interval=math.inf)
    assert server.attempts(sid) == 1


async def test_the_interval_backs_off_gently(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    server.script_completion(sid, after_reads=6)
    async with client_for(server) as client:
        await client.wait_for_completion(sid, poll_interval=0.05)
    starts = [r.started for r in server.requests if r.sid == sid]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # Sleeps are never shorter than asked: 0.05, 0.075, 0.1125, 0.169, then 0.2 (the cap).
    expected = [0.05, 0.075, 0.1125, 0.16875, 0.2, 0.2]
    assert len(gaps) == len(expected)
    for gap, wanted in zip(gaps, expected, strict=True):
        assert gap >= wanted - 0.005, (gaps, expected)


def test_next_poll_interval() -> None:
    intervals = [5.0]
    for _ in range(6):
        intervals.append(next_poll_interval(intervals[-1], 5.0))
    assert intervals == [5.0, 7.5, 11.25, 16.875, 20.0, 20.0, 20.0]
    assert max(intervals) == 5.0 * POLL_MAX_FACTOR


@pytest.mark.parametrize(
    ("wait", "poll_interval"),
    [
        (math.nan, 1.0),
        (math.inf, 1.0),
        (-math.inf, 1.0),
        (0, 1.0),
        (-1, 1.0),
        (True, 1.0),
        ("5", 1.0),
        (None, 1.0),
        (10, math.nan),
        (10, 0),
        (10, -0.5),
        (10, -math.inf),
        (10, False),
        (10, "1"),
    ],
)
async def test_bad_seconds_are_rejected_before_any_request(
    server: FakeMediaServer, wait: Any, poll_interval: Any
) -> None:
    async with client_for(server) as client:
        with pytest.raises(InvalidParameterError):
            await client.wait_for_completion(
                server.sids[0], timeout=wait, poll_interval=poll_interval
            )
    assert server.request_count == 0


async def test_a_bad_sid_is_rejected_before_any_request(server: FakeMediaServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(InvalidSidError):
            await client.wait_for_completion("KV123")
    assert server.request_count == 0
