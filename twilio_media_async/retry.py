"""Retry policy: which failures are retried, how long to wait, and when to give up.

The decisions are pure functions (``parse_retry_after``, ``backoff_wait``, ``RetryBudget``)
so they can be tested without I/O.  ``RetryPolicy.retrying`` maps them onto tenacity's
``AsyncRetrying``, which the client enters only after a first attempt failed with a
retryable error: the happy path never pays for the retry machinery.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.stop import stop_after_attempt, stop_base, stop_before_delay

from .errors import ApiError, InvalidParameterError, RequestTimeoutError, TwilioMediaError

__all__ = [
    "RetryBudget",
    "RetryEvent",
    "RetryPolicy",
    "backoff_wait",
    "is_retryable",
    "parse_retry_after",
]

_log = logging.getLogger("twilio_media_async")
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
    """The number of the attempt that failed (1-based)."""
    wait: float
    """Seconds until the next attempt."""
    error: TwilioMediaError
    method: str
    url: str


async def _no_sleep(_seconds: float) -> None:
    return None


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    # NaN compares false with everything, so "value < 0" alone would let it through and
    # silently disable every bound it takes part in; infinity would wait forever.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidParameterError(
            f"{attribute.name} must be a finite number >= 0, got {value!r:.40}"
        )


def _positive_or_none(instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _at_least_one(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"{attribute.name} must be an integer >= 1, got {value!r:.40}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the client retries: a frozen description, mapped onto tenacity.

    Retried: 429, 500, 502, 503 and 504, connection errors and timeouts; nothing else.
    The wait is ``Retry-After`` when the server sent one (on a 429 or a 5xx), otherwise
    exponential backoff
    with full jitter.  ``deadline`` spans all attempts of one call.  ``RetryPolicy(
    max_attempts=1)`` turns retries off; ``RetryPolicy.no_wait()`` keeps every decision but
    never sleeps, for tests.
    """

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    initial_wait: float = attrs.field(default=0.5, validator=_positive)
    max_wait: float = attrs.field(default=8.0, validator=_positive)
    deadline: float = attrs.field(default=30.0, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)
    budget: float | None = attrs.field(default=100.0, validator=_positive_or_none)
    """Retries the whole client may spend before successes refill it; None: unlimited."""
    budget_refill: float = attrs.field(default=0.5, validator=_positive)
    """Tokens one success puts back into the budget."""
    on_retry: Callable[[RetryEvent], object] | None = attrs.field(default=None, eq=False)
    sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=asyncio.sleep, eq=False, repr=False
    )
    jitter: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    @classmethod
    def no_wait(cls, **kwargs: Any) -> RetryPolicy:
        """The same decisions without sleeping: for tests, ours and yours."""
        return cls(sleep=_no_sleep, **kwargs)

    @property
    def enabled(self) -> bool:
        """False when ``max_attempts`` is 1."""
        return self.max_attempts > 1

    def new_budget(self) -> RetryBudget | None:
        """A fresh token bucket for one client, or None when the budget is unlimited."""
        if self.budget is None:
            return None
        return RetryBudget(capacity=self.budget, refill=self.budget_refill)

    def wait_for(self, attempt: int, error: BaseException) -> float:
        """Seconds to wait after ``attempt`` failed with ``error``."""
        retry_after = _retry_after_of(error)
        if retry_after is not None:
            return retry_after
        return backoff_wait(
            attempt, initial=self.initial_wait, cap=self.max_wait, jitter=self.jitter()
        )

    def retrying(
        self,
        *,
        method: str,
        url: str,
        started: float,
        budget: RetryBudget | None,
    ) -> AsyncRetrying:
        """A tenacity ``AsyncRetrying`` for one call whose first attempt began at ``started``
        (``time.monotonic()``) and has already failed.  Attempt numbers count that first one.
        """
        elapsed = time.monotonic() - started
        stop: stop_base = (
            stop_after_attempt(self.max_attempts)
            | stop_before_delay(max(0.0, self.deadline - elapsed))
            | _StopIfRetryAfterTooLong(self.max_retry_after)
        )
        if budget is not None:
            stop = stop | _StopIfBudgetEmpty(budget)

        def wait(state: RetryCallState) -> float:
            return self.wait_for(state.attempt_number, _error_of(state))

        def before_sleep(state: RetryCallState) -> None:
            if budget is not None:
                budget.spend()
            self.announce(
                RetryEvent(
                    attempt=state.attempt_number,
                    wait=state.upcoming_sleep,
                    error=_error_of(state),
                    method=method,
                    url=url,
                )
            )

        return AsyncRetrying(
            sleep=self.sleep,
            stop=stop,
            wait=wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep,
            reraise=True,
        )

    def announce(self, event: RetryEvent) -> None:
        """Log a retry at WARNING (no credentials: only method, URL and error) and call
        the ``on_retry`` hook; a hook that raises is logged, never propagated."""
        _log.warning(
            "retrying %s %s in %.3fs after attempt %d (of %d per pass) failed: %s",
            event.method,
            event.url,
            event.wait,
            event.attempt,
            self.max_attempts,
            _summary(event.error),
        )
        if self.on_retry is not None:
            try:
                self.on_retry(event)
            except Exception:  # a broken hook must not break the retry loop
                _log.exception("on_retry hook failed")

    def another_pass_wait(self, error: BaseException, attempts: int) -> float | None:
        """The wait before a bulk run gives an item another pass, or None for no pass.

        The same rules as a retry: only retryable errors, never with retries off, and a
        Retry-After over ``max_retry_after`` is not waited out.
        """
        if not (self.enabled and is_retryable(error)):
            return None
        retry_after = _retry_after_of(error)
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        wait = self.wait_for(attempts, error)
        return wait if wait < self.deadline else None

    def attempt_timeout(self, started: float, per_attempt: float | None) -> float | None:
        """The timeout for a retry: the per-attempt timeout, clipped to the deadline's rest."""
        left = self.deadline - (time.monotonic() - started)
        if per_attempt is None:
            return max(left, 0.001)
        return max(min(per_attempt, left), 0.001)


def _retry_after_of(error: BaseException | None) -> float | None:
    """The server's Retry-After on a 429 or a 5xx, when it sent one."""
    return error.retry_after if isinstance(error, ApiError) else None


def _error_of(state: RetryCallState) -> TwilioMediaError:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, TwilioMediaError)
    return error


def _summary(error: TwilioMediaError) -> str:
    if isinstance(error, RequestTimeoutError):
        return "timeout"
    if isinstance(error, ApiError):
        code = f" code {error.code}" if error.code is not None else ""
        return f"{type(error).__name__} (HTTP {error.status}{code})"
    return f"{type(error).__name__}: {error.message}"


class _StopIfRetryAfterTooLong(stop_base):
    """Stop when the server asks for a longer wait than the policy will wait out."""

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        retry_after = _retry_after_of(error)
        return retry_after is not None and retry_after > self.cap


class _StopIfBudgetEmpty(stop_base):
    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self.budget.can_retry()


NO_RETRY: Final = RetryPolicy(max_attempts=1)
