"""Retry policy: which failures are retried, how long to wait, and when to give up.

The policy is stated as tenacity's own strategy objects: ``policy.wait`` (full-jitter
exponential backoff, a ``wait_random_exponential``), ``policy.stop``
(``stop_after_attempt | stop_before_delay``) and ``RETRY`` (a ``retry_if_exception``).  A
user may pass their own ``wait`` and ``stop``.  On top of them, and always, come the
Retry-After wait (``wait_retry_after``, a ``wait_base``), its cap, the client's retry
budget (``RetryBudget``) and the idempotent DELETE rule.  ``_retrying.Retries`` evaluates
all of it after a failure, for the engine's own loop, which is entered only after a first
attempt failed with a retryable error: the happy path never pays for it.
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
from tenacity import RetryCallState
from tenacity.retry import RetryBaseT, retry_if_exception
from tenacity.stop import StopBaseT, stop_after_attempt, stop_before_delay
from tenacity.wait import WaitBaseT, wait_base, wait_exponential, wait_random_exponential

from ._config import at_least_one, non_negative, non_negative_or_none, tenacity_strategy
from .errors import ApiError, TwilioMediaError

__all__ = [
    "RETRY",
    "RetryBudget",
    "RetryEvent",
    "RetryPolicy",
    "backoff_wait",
    "is_retryable",
    "parse_retry_after",
    "retry_after_of",
    "wait_full_jitter",
    "wait_retry_after",
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


RETRY: Final[RetryBaseT] = retry_if_exception(is_retryable)
"""What is retried, as tenacity states it: the errors ``is_retryable`` accepts."""


def retry_after_of(error: BaseException | None) -> float | None:
    """The server's Retry-After on a 429 or a 5xx, when it sent one."""
    return error.retry_after if isinstance(error, ApiError) else None


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


class wait_full_jitter(wait_random_exponential):
    """tenacity's ``wait_random_exponential`` (full jitter: uniform in
    [0, min(max, multiplier * 2**(n-1))] after attempt n failed), drawing its share of the
    window from ``draw`` (the policy's ``jitter``) rather than from ``random`` itself."""

    def __init__(
        self, *, multiplier: float, max: float, draw: Callable[[], float] = random.random
    ) -> None:
        super().__init__(multiplier=multiplier, max=max)
        self.draw = draw

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.draw() * wait_exponential.__call__(self, retry_state)


class wait_retry_after(wait_base):
    """The server's ``Retry-After`` (on a 429 or a 5xx) when the failed attempt carried
    one, else the ``otherwise`` wait: how the policy's wait, a user's own included, always
    honours the server."""

    def __init__(self, otherwise: WaitBaseT) -> None:
        self.otherwise = otherwise

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            retry_after = retry_after_of(outcome.exception())
            if retry_after is not None:
                return retry_after
        return float(self.otherwise(retry_state))


def backoff_wait(attempt: int, *, initial: float, cap: float, jitter: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, initial * 2**(n-1))],
    as the default ``policy.wait`` draws it.

    ``attempt`` is the number of the attempt that just failed (1-based); ``jitter`` is a
    draw from [0, 1).
    """
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # read: attempt only
    state.attempt_number = attempt
    return wait_full_jitter(multiplier=initial, max=cap, draw=lambda: jitter)(state)


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
    """How the client retries: a frozen description, stated as tenacity strategies.

    Retried: 429, 500, 502, 503 and 504, connection errors and timeouts; nothing else.
    The wait is ``Retry-After`` when the server sent one (on a 429 or a 5xx), otherwise
    ``wait``: exponential backoff with full jitter.  ``stop`` ends a call after
    ``max_attempts``, or when the next wait would pass ``deadline``, which spans all
    attempts of one call.  Pass your own tenacity ``wait`` or ``stop`` to replace them; the
    Retry-After wait, the budget and the idempotent DELETE rule still apply on top.
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
    wait: WaitBaseT = attrs.field(eq=False, repr=False, validator=tenacity_strategy)
    """The backoff, a tenacity wait strategy, used when the server sent no Retry-After.
    Default ``wait_full_jitter(multiplier=initial_wait, max=max_wait, draw=jitter)``, a
    ``wait_random_exponential``.  A wait of your own replaces it (then ``initial_wait``,
    ``max_wait`` and ``jitter`` are not used)."""
    stop: StopBaseT = attrs.field(eq=False, repr=False, validator=tenacity_strategy)
    """When to give up, a tenacity stop strategy, asked after each failure with the next
    wait in ``upcoming_sleep``.  Default ``stop_after_attempt(max_attempts) |
    stop_before_delay(deadline)``.  A stop of your own replaces it; ``max_attempts=1``
    still turns retries off, and ``deadline`` still clips each attempt's timeout."""

    @wait.default
    def _backoff(self) -> WaitBaseT:
        return wait_full_jitter(multiplier=self.initial_wait, max=self.max_wait, draw=self.jitter)

    @stop.default
    def _stop(self) -> StopBaseT:
        return stop_after_attempt(self.max_attempts) | stop_before_delay(self.deadline)

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
