"""Pure tests of the retry decisions: no I/O, no sleeping."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_media_async import (
    InvalidSidError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
    TwilioMediaError,
)
from twilio_media_async._config import DEFAULT_TIMEOUT
from twilio_media_async._engine import RetryEngine
from twilio_media_async._retrying import attempt_timeout
from twilio_media_async._transport import Transport
from twilio_media_async.retry import RetryBudget, backoff_wait, is_retryable, parse_retry_after

# The engine's decisions need a transport only to be built; nothing is sent.
_TRANSPORT = Transport(base_url="http://127.0.0.1:9", authorization="x", timeout=DEFAULT_TIMEOUT)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("3", 3.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 11:59:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_retry_after_http_date_against_the_real_clock() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=20)
    value = parse_retry_after(soon.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert value is not None
    assert 15 <= value <= 20


@given(st.text(max_size=40))
def test_parse_retry_after_never_negative_never_raises(header: str) -> None:
    value = parse_retry_after(header, now=NOW)
    assert value is None or value >= 0


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    initial=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=100),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_is_bounded(attempt: int, initial: float, cap: float, jitter: float) -> None:
    wait = backoff_wait(attempt, initial=initial, cap=cap, jitter=jitter)
    assert 0 <= wait <= cap


def test_backoff_grows_exponentially_under_the_cap() -> None:
    waits = [backoff_wait(n, initial=0.5, cap=8, jitter=0.999999) for n in range(1, 7)]
    assert waits == pytest.approx([0.5, 1, 2, 4, 8, 8], rel=1e-5)


def test_what_is_retried() -> None:
    retried = [
        RateLimitError("x", status=429),
        ServerError("x", status=500),
        ServerError("x", status=502),
        ServerError("x", status=503),
        ServerError("x", status=504),
        TransportError("reset"),
        RequestTimeoutError("slow"),
    ]
    not_retried: list[BaseException] = [
        ServerError("x", status=501),
        NotFoundError("x", status=404),
        ResponseValidationError("bad"),
        InvalidSidError("bad"),
        asyncio.CancelledError(),
        KeyboardInterrupt(),
        ValueError("bug"),
    ]
    assert all(is_retryable(e) for e in retried)
    assert not any(is_retryable(e) for e in not_retried)


def test_budget_spends_and_refills() -> None:
    budget = RetryBudget(capacity=3, refill=0.5)
    for _ in range(3):
        assert budget.can_retry()
        budget.spend()
    assert not budget.can_retry()
    budget.record_success()
    assert not budget.can_retry()
    budget.record_success()
    assert budget.can_retry()
    for _ in range(100):
        budget.record_success()
    assert budget.tokens == 3


def test_defaults_and_validation() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.initial_wait, policy.max_wait, policy.deadline) == (
        4,
        0.5,
        8.0,
        30.0,
    )
    assert policy.enabled
    assert not RetryPolicy(max_attempts=1).enabled
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(deadline=-1)
    assert RetryPolicy.no_wait(max_attempts=6).max_attempts == 6
    assert RetryPolicy.no_wait() == RetryPolicy()  # the same decisions, only no sleeping


def _decide(
    policy: RetryPolicy,
    *,
    attempt: int,
    error: TwilioMediaError,
    elapsed: float,
    budget: RetryBudget | None = None,
) -> float | None:
    """The engine's decision after one failed attempt of a call that began
    ``elapsed`` seconds ago; None = give up."""
    engine = RetryEngine(policy, _TRANSPORT)
    engine.budget = budget
    started = time.monotonic()
    state = engine.retry_state(started)
    return engine.next_wait(state, error, attempt, started + elapsed)


errors = st.one_of(
    st.builds(lambda: ServerError("x", status=503)),
    st.builds(lambda: TransportError("reset")),
    st.builds(
        lambda ra: RateLimitError("x", status=429, retry_after=ra),
        st.none() | st.floats(min_value=0, max_value=200),
    ),
)


@given(
    attempt=st.integers(min_value=1, max_value=8),
    error=errors,
    elapsed=st.floats(min_value=0, max_value=80),
    max_wait=st.floats(min_value=0, max_value=20),
    deadline=st.floats(min_value=0.1, max_value=60),
)
def test_waits_are_bounded_and_never_pass_the_deadline(
    attempt: int,
    error: TwilioMediaError,
    elapsed: float,
    max_wait: float,
    deadline: float,
) -> None:
    policy = RetryPolicy(max_attempts=8, max_wait=max_wait, deadline=deadline)
    wait = _decide(
        policy,
        attempt=attempt,
        error=error,
        elapsed=elapsed,
    )
    if wait is None:
        return
    assert wait >= 0
    cap = policy.max_retry_after if isinstance(error, RateLimitError) else max_wait
    assert wait <= cap
    assert elapsed + wait < deadline + 1e-9  # 1e-9: the clock arithmetic rounds


def test_max_attempts_stops() -> None:
    policy = RetryPolicy(max_attempts=3)
    error = ServerError("x", status=503)
    assert _decide(policy, attempt=2, error=error, elapsed=0) is not None
    assert _decide(policy, attempt=3, error=error, elapsed=0) is None


def test_retry_after_is_honoured() -> None:
    error = RateLimitError("x", status=429, retry_after=2.5)
    assert _decide(RetryPolicy(), attempt=1, error=error, elapsed=0) == 2.5


def test_retry_after_past_the_deadline_fails_at_once() -> None:
    error = RateLimitError("x", status=429, retry_after=20)
    policy = RetryPolicy(deadline=30)
    assert _decide(policy, attempt=1, error=error, elapsed=11) is None
    assert _decide(policy, attempt=1, error=error, elapsed=1) == 20


def test_retry_after_over_the_cap_fails_at_once() -> None:
    error = RateLimitError("x", status=429, retry_after=61)
    policy = RetryPolicy(deadline=1000)
    assert _decide(policy, attempt=1, error=error, elapsed=0) is None


def test_empty_budget_stops() -> None:
    budget = RetryBudget(capacity=1, refill=0.1)
    error = TransportError("reset")
    policy = RetryPolicy()
    assert _decide(policy, attempt=1, error=error, elapsed=0, budget=budget)
    budget.spend()
    assert _decide(policy, attempt=1, error=error, elapsed=0, budget=budget) is None


def test_attempt_timeout_is_clipped_to_the_deadline() -> None:
    # The argument is what is left of the deadline.
    assert attempt_timeout(30, 10) == pytest.approx(10)
    assert attempt_timeout(5, 10) == pytest.approx(5)
    assert attempt_timeout(-10, 10) == pytest.approx(0.001)
    assert attempt_timeout(7, None) == pytest.approx(7)


@pytest.mark.parametrize("header", ["1_0", "\u0663", "1e3", "0x10", "+5"])
def test_retry_after_is_strict_about_delta_seconds(header: str) -> None:
    assert parse_retry_after(header, now=NOW) is None
