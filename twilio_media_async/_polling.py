"""wait_for_completion's loop: poll a recording until it is no longer processing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from .errors import TwilioMediaError, WaitTimeoutError
from .models import MediaRecording, RecordingStatus

__all__ = ["POLL_BACKOFF", "POLL_MAX_FACTOR", "next_poll_interval", "poll_until_done"]

# The interval grows by half after each poll, up to four times the poll_interval asked for:
# gentle on a recording that takes long, and a completion is still seen within
# 4 x poll_interval.
POLL_BACKOFF: Final = 1.5
POLL_MAX_FACTOR: Final = 4.0

Fetch = Callable[[str], Awaitable[tuple[MediaRecording, int, str | None]]]
"""Fetches a checked sid: the recording, the attempts it took, and its request id."""


def next_poll_interval(interval: float, poll_interval: float) -> float:
    """The wait before the next poll of ``wait_for_completion``: half as long again as the
    last one, up to ``POLL_MAX_FACTOR`` times the ``poll_interval`` asked for."""
    return min(interval * POLL_BACKOFF, poll_interval * POLL_MAX_FACTOR)


async def poll_until_done(
    fetch: Fetch, sid: str, *, wait: float, poll_interval: float
) -> MediaRecording:
    """Poll ``sid`` (checked, as are the numbers) with ``fetch`` until it is no longer
    processing; raise WaitTimeoutError once ``wait`` seconds have passed."""
    timeout = wait
    recording: MediaRecording | None = None
    last_error: TwilioMediaError | None = None
    attempts = polls = 0
    interval = float(poll_interval)
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            while True:
                polls += 1
                try:
                    recording, used, _ = await fetch(sid)
                except TwilioMediaError as exc:
                    attempts += exc.attempts
                    if not exc.retryable:
                        raise
                    last_error = exc
                else:
                    attempts += used
                    last_error = None
                    if recording.status != RecordingStatus.PROCESSING:
                        return recording
                # Never longer than the timeout: the scope ends the wait by then anyway.
                await asyncio.sleep(min(interval, timeout))
                interval = next_poll_interval(interval, poll_interval)
    except TimeoutError:
        if not scope.expired():
            raise
    # Raised outside the handler: the cancellation that ended the poll is no context.
    raise _timed_out(sid, timeout, polls, attempts, recording, last_error)


def _timed_out(
    sid: str,
    timeout: float,
    polls: int,
    attempts: int,
    recording: MediaRecording | None,
    last_error: TwilioMediaError | None,
) -> WaitTimeoutError:
    seen = "no poll got an answer" if recording is None else f"status {recording.status!s}"
    failed = f"; the last poll failed: {last_error.message}" if last_error is not None else ""
    return WaitTimeoutError(
        f"recording {sid} still not done after {timeout:g} s and {polls} poll(s) ({seen}){failed}",
        sid=sid,
        timeout=float(timeout),
        recording=recording,
        last_error=last_error,
        attempts=attempts,
    )
