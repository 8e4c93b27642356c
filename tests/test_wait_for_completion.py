"""wait_for_completion against FakeMediaServer: it polls through the retry engine, backs off
gently, survives failed polls, and gives up with WaitTimeoutError on time."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import pytest

from twilio_media_async import (
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
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


pytestmark = pytest.mark.fake_media_server(generate=5, seed=31)


async def test_returns_once_the_recording_is_done(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_reads=3)
    recording = await media_client.wait_for_completion(sid, poll_interval=0.01)
    assert recording.status == RecordingStatus.COMPLETED
    assert recording == fake_media_server.recordings[sid]
    assert fake_media_server.attempts(sid) == 4  # three reads saw "processing", the fourth did not


async def test_a_recording_already_done_returns_after_one_poll(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_reads=0, status="failed")
    recording = await media_client.wait_for_completion(sid, poll_interval=60)
    assert recording.status == RecordingStatus.FAILED  # anything but processing ends it
    assert fake_media_server.attempts(sid) == 1


async def test_a_time_based_completion(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[1]
    fake_media_server.script_completion(sid, after_seconds=0.3)
    started = time.monotonic()
    recording = await media_client.wait_for_completion(sid, poll_interval=0.02)
    assert time.monotonic() - started >= 0.3
    assert recording.status == RecordingStatus.COMPLETED


async def test_each_poll_goes_through_the_retry_engine(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_reads=1)
    # The first poll's first attempt gets a 503, and its retry answers "processing".
    fake_media_server.script(sid, [Fault.server_error(503), None])
    events: list[Any] = []
    async with client_for(fake_media_server, RetryPolicy.no_wait(on_retry=events.append)) as client:
        recording = await client.wait_for_completion(sid, poll_interval=0.01)
    assert recording.status == RecordingStatus.COMPLETED
    assert len(events) == 1 and isinstance(events[0].error, ServerError)
    assert fake_media_server.attempts(sid) == 3


async def test_failed_polls_do_not_end_the_wait(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_reads=0)
    # With retries off, each of the first three polls fails outright.
    fake_media_server.script(
        sid, [Fault.server_error(503), Fault.rate_limited(), Fault.server_error(502)]
    )
    async with client_for(fake_media_server, RetryPolicy.no_wait(max_attempts=1)) as client:
        recording = await client.wait_for_completion(sid, poll_interval=0.01)
    assert recording.status == RecordingStatus.COMPLETED
    assert fake_media_server.attempts(sid) == 4


async def test_an_error_no_retry_could_fix_is_raised_at_once(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    started = time.monotonic()
    with pytest.raises(NotFoundError) as caught:
        await media_client.wait_for_completion(UNKNOWN, timeout=30, poll_interval=0.01)
    assert caught.value.attempts == 1
    assert time.monotonic() - started < 5
    assert fake_media_server.request_count == 1


async def test_gives_up_with_wait_timeout_error(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_seconds=60)
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        await media_client.wait_for_completion(sid, timeout=0.3, poll_interval=0.05)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    error = caught.value
    assert isinstance(error, TimeoutError) and isinstance(error, TwilioMediaError)
    assert error.sid == sid and error.timeout == 0.3
    assert error.recording is not None
    assert error.recording.status == RecordingStatus.PROCESSING
    assert error.last_error is None
    assert error.attempts == fake_media_server.attempts(sid) >= 2
    assert sid in str(error) and "processing" in str(error)
    assert error.__context__ is None and error.__cause__ is None


async def test_the_timeout_ends_a_poll_in_progress(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_reads=0)
    fake_media_server.script(sid, [Fault.latency(5.0)])  # the first poll would take five seconds
    started = time.monotonic()
    async with client_for(fake_media_server, timeout=10) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.wait_for_completion(sid, timeout=0.3, poll_interval=0.05)
    assert time.monotonic() - started < 2.0
    assert caught.value.recording is None
    assert "no poll got an answer" in str(caught.value)


async def test_a_timeout_after_failed_polls_names_the_last_failure(
    fake_media_server: FakeMediaServer,
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)] * 1000)
    async with client_for(fake_media_server, RetryPolicy.no_wait(max_attempts=2)) as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.wait_for_completion(sid, timeout=0.3, poll_interval=0.05)
    assert isinstance(caught.value.last_error, ServerError)
    assert "503" in str(caught.value) or "Service Unavailable" in str(caught.value)


async def test_an_infinite_poll_interval_polls_once(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_reads=1)
    with pytest.raises(WaitTimeoutError):
        await media_client.wait_for_completion(sid, timeout=0.2, poll_interval=math.inf)
    assert fake_media_server.attempts(sid) == 1


async def test_the_interval_backs_off_gently(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_reads=6)
    await media_client.wait_for_completion(sid, poll_interval=0.05)
    starts = [r.started for r in fake_media_server.requests if r.sid == sid]
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
    fake_media_server: FakeMediaServer, media_client: MediaClient, wait: Any, poll_interval: Any
) -> None:
    with pytest.raises(InvalidParameterError):
        await media_client.wait_for_completion(
            fake_media_server.sids[0], timeout=wait, poll_interval=poll_interval
        )
    assert fake_media_server.request_count == 0


async def test_a_bad_sid_is_rejected_before_any_request(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    with pytest.raises(InvalidSidError):
        await media_client.wait_for_completion("KV123")
    assert fake_media_server.request_count == 0
