"""Retry policy: which failures are retried, how long to wait, and when to give up.

The decisions are pure functions (``parse_retry_after``, ``backoff_wait``, ``RetryBudget``)
so they can be tested without I/O.  The retry engine (``_engine.py``) states a policy as a
tenacity ``Retrying`` whose stop strategies decide after each failure; its loop is entered
only after a first attempt failed with a retryable error: the happy path never pays for it.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import attrs

from ._config import at_least_one, non_negative, non_negative_or_none
from .errors import TwilioMediaError

__all__ = [
    "RetryBudget",
    "RetryEvent",
    "RetryPolicy",
    "backoff_wait",
    "is_retryable",
    "parse_retry_after",
]

# RFC 9110 delta-seconds is 1*DIGIT; a fraction is tolerated.  float() alone would also
# take "1_0", "inf" or non-ASCII digits.
_DELTA_SECONDS: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")


def is_retryable(exc: BaseException) -> bool:
    """True only for our errors that another attempt could fix.

    Matching ``Exception`` subclasses only matters: tenacity sees ``BaseException``, and
    retrying ``CancelledError`` would turn a cancellation into a retry storm.
    """
    return isinstance(exc, TwilioMediaError) and exc.retryable


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns None when the header is absent or unreadable (then backoff applies), and never
    a negative number (a date in the past means "now").
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELTA_SECONDS.match(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)


def backoff_wait(attempt: int, *, initial: float, cap: float, jitter: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, initial * 2**(n-1))].

    ``attempt`` is the number of the attempt that just failed (1-based); ``jitter`` is a
    draw from [0, 1).
    """
    exponent = min(attempt - 1, 62)  # 2**62 * anything positive already passes any cap
    return jitter * min(cap, initial * (2.0**exponent))


@attrs.define
class RetryBudget:
    """A token bucket shared by one client, after botocore's standard retry mode.

    Each retry spends one token; each success puts ``refill`` back, up to ``capacity``.
    When the bucket is empty a retryable failure is raised at once, so an outage costs
    about one request per call plus ``capacity``, not ``max_attempts`` per call.
    """

    capacity: float
    refill: float
    tokens: float = attrs.field()

    @tokens.default
    def _full(self) -> float:
        return self.capacity

    def can_retry(self) -> bool:
        """Whether a token is available (the decision is separate from spending it)."""
        return self.tokens >= 1.0

    def spend(self) -> None:
        """Take one token for a retry that is about to happen."""
        self.tokens = max(0.0, self.tokens - 1.0)

    def record_success(self) -> None:
        """Return ``refill`` tokens after a successful request."""
        if self.tokens < self.capacity:
            self.tokens = min(self.capacity, self.tokens + self.refill)


@attrs.frozen(kw_only=True)
class RetryEvent:
    """What ``on_retry`` hooks receive before each wait: no credentials in here."""

    attempt: int
    """The number of the attempt that failed (1-based; the first request is attempt 1)."""
    max_attempts: int
    """The most attempts the call may make (``RetryPolicy.max_attempts``)."""
    wait: float
    """Seconds until the next attempt."""
    error: TwilioMediaError
    """The failure of that attempt."""
    method: str
    """The request's HTTP method."""
    url: str
    """The request's URL (it never holds a credential)."""


async def _no_sleep(_seconds: float) -> None:
    return None


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the client retries: a frozen description, mapped onto tenacity.

    Retried: 429, 500, 502, 503 and 504, connection errors and timeouts; nothing else.
    The wait is ``Retry-After`` when the server sent one (on a 429 or a 5xx), otherwise
    exponential backoff with full jitter.  ``deadline`` spans all attempts of one call.
    ``RetryPolicy(max_attempts=1)`` turns retries off; ``RetryPolicy.no_wait()`` keeps every
    decision but never sleeps, for tests.  Each field below is a keyword argument.
    """

    max_attempts: int = attrs.field(default=4, validator=at_least_one)
    """The most requests one call makes, the first one included; 1 turns retries off.
    Default 4."""
    initial_wait: float = attrs.field(default=0.5, validator=non_negative)
    """Seconds of backoff after the first failure, doubled after each further one, before
    jitter.  Default 0.5."""
    max_wait: float = attrs.field(default=8.0, validator=non_negative)
    """The longest backoff, in seconds.  Default 8."""
    deadline: float = attrs.field(default=30.0, validator=non_negative)
    """Seconds from a call's first request within which its retries must start; it spans
    every attempt, and the last attempt's timeout is clipped to it.  Default 30."""
    max_retry_after: float = attrs.field(default=60.0, validator=non_negative)
    """The longest ``Retry-After`` waited out, in seconds; a longer one raises the
    RateLimitError at once.  Default 60."""
    budget: float | None = attrs.field(default=100.0, validator=non_negative_or_none)
    """Retries the whole client may spend before successes refill it (a token bucket);
    None: unlimited.  Default 100."""
    budget_refill: float = attrs.field(default=0.5, validator=non_negative)
    """Tokens one success puts back into the budget.  Default 0.5."""
    on_retry: Callable[[RetryEvent], object] | None = attrs.field(default=None, eq=False)
    """Called with a RetryEvent before each wait.  An exception it raises is logged, never
    propagated.  Default None."""
    sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=asyncio.sleep, eq=False, repr=False
    )
    """Waits the given seconds.  Default ``asyncio.sleep``; ``no_wait()`` puts in one that
    returns at once."""
    jitter: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)
    """Draws from [0, 1) the share of each backoff to wait.  Default ``random.random``:
    full jitter."""

    @classmethod
    def no_wait(cls, **kwargs: Any) -> RetryPolicy:
        """The same decisions without sleeping: for tests, ours and yours.

        Args:
            **kwargs: Any other field of the policy (``max_attempts=3``, ``on_retry=...``).
        """
        return cls(sleep=_no_sleep, **kwargs)

    @property
    def enabled(self) -> bool:
        """False when ``max_attempts`` is 1."""
        return self.max_attempts > 1

    @property
    def sleeps(self) -> bool:
        """False in the test mode of ``no_wait()``: then a bulk run's Retry-After pause is
        skipped too."""
        return self.sleep is not _no_sleep
