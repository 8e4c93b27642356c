"""The retry decisions after a failure, as the engine's own loop asks them.

``Retries`` holds a policy's tenacity strategies in a ``tenacity.Retrying`` (never run: its
loop costs several times the CPU of the engine's, see bench/retry_loop.py) and evaluates
them on a ``RetryCallState`` built only on the failure path: ``retry`` (what is retried),
``wait`` (the Retry-After, else the policy's backoff) and ``stop`` (attempts and deadline,
or a user's own).  The Retry-After cap and the client's retry budget come on top.  The
deadline's other use is here too: clipping a retry's timeout to what is left of it.
"""

from __future__ import annotations

import time
from typing import Final, NoReturn, cast

from tenacity import Future, RetryCallState, Retrying

from .retry import RETRY, RetryBudget, RetryPolicy, retry_after_of, wait_retry_after

__all__ = ["Failure", "Retries", "attempt_timeout"]

_MIN_ATTEMPT_TIMEOUT: Final = 0.001


class Retries:
    """A policy's decisions after a failed attempt, with the budget of its client."""

    def __init__(self, policy: RetryPolicy, budget: RetryBudget | None) -> None:
        self.policy = policy
        self.budget = budget
        self.retrying: Final = Retrying(
            stop=policy.stop, wait=wait_retry_after(policy.wait), retry=RETRY, reraise=True
        )

    def state(self, started: float) -> RetryCallState:
        """tenacity's record of a call whose first attempt began at ``started`` (monotonic):
        the deadline counts from there."""
        state = RetryCallState(self.retrying, None, (), {})
        state.start_time = started
        return state

    def failed(
        self, state: RetryCallState, error: BaseException, attempts: int, now: float
    ) -> None:
        """Record on ``state`` that attempt number ``attempts`` failed with ``error``."""
        state.attempt_number = attempts
        state.outcome = cast(Future, Failure(attempts, error))
        state.outcome_timestamp = now

    def wait(self, attempt: int, error: BaseException) -> float:
        """The wait after attempt number ``attempt`` failed with ``error``, alone (no stop,
        no budget): for loops that count attempts their own way, as a media transfer's."""
        state = self.state(time.monotonic())
        self.failed(state, error, attempt, state.start_time)
        return float(self.retrying.wait(state))

    def next_wait(
        self, state: RetryCallState, error: BaseException, attempts: int, now: float
    ) -> float | None:
        """The wait before the next attempt, after attempt number ``attempts`` failed with
        ``error`` at ``now``; None to give up and raise ``error``.

        As in tenacity's own loop: ``retry`` first, then the wait is drawn and put in
        ``upcoming_sleep`` so that ``stop`` sees it (a wait that would pass the deadline
        stops at once).  Then the engine's own rules: the Retry-After cap and the budget.
        """
        self.failed(state, error, attempts, now)
        retrying = self.retrying
        if not retrying.retry(state):
            return None
        state.upcoming_sleep = wait = float(retrying.wait(state))
        retry_after = retry_after_of(error)
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            return None
        if retrying.stop(state):
            return None
        if self.budget is not None and not self.budget.can_retry():
            return None
        return wait


class Failure:
    """A failed attempt, as tenacity's strategies read one from ``RetryCallState.outcome``.

    It answers what a ``tenacity.Future`` answers once it holds an exception (``failed``,
    ``exception()``, ``result()``, ``done()``, ``attempt_number``), without the thread
    lock and condition that every ``concurrent.futures.Future`` builds: a retried call
    pays for one per failed attempt, and a bulk run under faults makes many.
    """

    __slots__ = ("attempt_number", "error")

    failed: Final = True

    def __init__(self, attempt_number: int, error: BaseException) -> None:
        self.attempt_number = attempt_number
        self.error = error

    def exception(self, timeout: float | None = None) -> BaseException:
        """The attempt's error."""
        return self.error

    def result(self, timeout: float | None = None) -> NoReturn:
        """Raise the attempt's error, as a failed future does."""
        raise self.error

    def done(self) -> bool:
        """Always: the attempt is over."""
        return True

    def cancelled(self) -> bool:
        """Never: a cancelled attempt is not retried."""
        return False


def attempt_timeout(left: float, per_attempt: float | None) -> float:
    """A retry's timeout: the per-attempt timeout, clipped to what is left of the deadline."""
    if per_attempt is None:
        return max(left, _MIN_ATTEMPT_TIMEOUT)
    return max(min(per_attempt, left), _MIN_ATTEMPT_TIMEOUT)
