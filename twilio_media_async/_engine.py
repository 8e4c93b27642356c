"""The retry engine: every attempt of fetch, delete, list pages and bulk items runs here.

One call is one or more attempts under a ``RetryPolicy``.  The first attempt goes straight to
the transport; the retry loop, whose decisions tenacity's stop strategies make, is entered
only after a retryable failure, so the happy path pays nothing for it.  This is the one place
that spends the retry budget, calls ``on_retry`` and logs a retry.

Each attempt is logged at DEBUG (method, path, status, elapsed time, attempt number and
``Twilio-Request-Id``) when, and only when, that level is on: otherwise an attempt costs one
``isEnabledFor`` check, and is not even timed.

A bulk item runs in a *lane*: a request slot from the client's ``RequestGate`` is taken for
each attempt and given back as soon as its answer is in, so an item waiting out a backoff
holds no slot, and the gate hears every answer (and pauses new requests on a
``Retry-After``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import aiohttp
from tenacity import RetryCallState, Retrying
from tenacity.stop import stop_after_attempt, stop_before_delay
from yarl import URL

from ._limiter import Lane
from ._transport import Reply, Transport, TransportView
from .errors import (
    ApiError,
    ClientClosedError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    TwilioMediaError,
)
from .retry import RetryBudget, RetryEvent, RetryPolicy, backoff_wait, is_retryable

__all__ = ["Answer", "RetryEngine", "Send", "idempotent_delete", "wait_for"]

_log = logging.getLogger("twilio_media_async")
_DEBUG: Final = logging.DEBUG
_MIN_ATTEMPT_TIMEOUT: Final = 0.001

Send = Callable[[float | None], Awaitable[Reply]]
"""Sends one attempt with the given timeout (None: the transport's own) and returns its
Reply: body, status and request id."""

Answer = tuple[bytes, int, str | None]
"""What a call returns: the body, the number of attempts it took, and the
``Twilio-Request-Id`` of the answer that decided it."""


def idempotent_delete(transport: Transport | TransportView, url: URL) -> Send:
    """The attempts of one DELETE under the idempotent rule: a 404 after an attempt that
    may have been carried out (a timeout, a reset, a 5xx, or aiohttp's own resend of the
    attempt itself) means the recording is gone, and is an answer, not an error.  A
    connection that was never opened (refused, say) carried nothing out: after it, a 404
    is still a NotFoundError."""
    maybe_deleted = False

    async def send(attempt_timeout: float | None) -> Reply:
        nonlocal maybe_deleted
        sends = 0

        def count() -> None:
            nonlocal sends
            sends += 1

        try:
            return await transport.request(
                "DELETE", url, attempt_timeout=attempt_timeout, on_send=count
            )
        except NotFoundError as exc:
            # An earlier attempt, or aiohttp's own resend of this one, may have been
            # carried out: the recording is gone either way.
            if maybe_deleted or sends > 1:
                return b"", exc.status, exc.request_id
            raise
        except TransportError as exc:
            # A connect failure on aiohttp's resend (sends > 1) follows a send that may
            # have reached the server; on the first send, nothing did.
            if not exc.connect_failed or sends > 1:
                maybe_deleted = True
            raise
        except ServerError:
            maybe_deleted = True
            raise

    return send


class RetryEngine:
    """Runs calls under one ``RetryPolicy`` and one retry budget (shared by the client).

    A client view's engine (``view()``) shares its client's ``budget``.
    """

    def __init__(self, policy: RetryPolicy, transport: Transport | TransportView) -> None:
        self.policy = policy
        self.transport = transport
        self.budget = (
            RetryBudget(capacity=policy.budget, refill=policy.budget_refill)
            if policy.budget is not None
            else None
        )

    @functools.cached_property
    def _retrying(self) -> Retrying:
        """The policy's stop as tenacity states it, built on the first retry (a client view,
        made per call site, mostly never needs it).  Its strategies make the decisions
        after each failure (``next_wait``); the loop is the engine's own, since tenacity's
        costs several times as much CPU per retried call (docs/performance.md)."""
        policy = self.policy
        return Retrying(
            stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.deadline)
        )

    def retry_state(self, started: float) -> RetryCallState:
        """tenacity's record of a call whose first attempt began at ``started``, which its
        stop strategies read: the deadline counts from there."""
        state = RetryCallState(self._retrying, None, (), {})
        state.start_time = started
        return state

    def view(self, policy: RetryPolicy, timeout: aiohttp.ClientTimeout) -> RetryEngine:
        """The engine of a client view: ``policy``, and a ``TransportView`` of this
        engine's transport with another per-attempt ``timeout``; the budget stays this
        engine's, one per client, views included."""
        engine = RetryEngine(policy, TransportView(self.transport, timeout))
        engine.budget = self.budget
        return engine

    async def call(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        send: Send | None = None,
        lane: Lane | None = None,
        held: int | None = None,
    ) -> Answer:
        """Run one call; return the body, the number of attempts it took and the request
        id of its last answer.

        ``held`` is the epoch of a slot in ``lane`` already taken for the first attempt
        (required with ``lane``).
        Every error raised carries ``.attempts``.
        """
        started = time.monotonic()
        try:
            body, _, request_id = await self._attempt(
                method, url, params, send, None, 1, lane, held
            )
        except TwilioMediaError as exc:
            if not (exc.retryable and self.policy.enabled) or self.transport.closed:
                if not isinstance(exc, ClientClosedError):  # that one sent nothing
                    exc.attempts = 1
                raise
            return await self._retry(exc, started, method, url, params, send, lane)
        if self.budget is not None:
            self.budget.record_success()
        return body, 1, request_id

    def _attempt(
        self,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        send: Send | None,
        time_limit: float | None,
        attempt: int,
        lane: Lane | None = None,
        epoch: int | None = None,
    ) -> Awaitable[Reply]:
        """Attempt number ``attempt``, holding a request slot of ``lane`` when there is one
        (the slot of ``epoch``, or one taken for it).  A plain function returning the
        transport's awaitable: a single fetch pays for no coroutine of its own here."""
        if send is not None:
            sending = send(time_limit)
        else:
            sending = self.transport.request(method, url, params=params, attempt_timeout=time_limit)
        if _log.isEnabledFor(_DEBUG):
            sending = _logged(sending, method, url, params, attempt)
        if lane is None:
            return sending
        # In a lane the slot is always taken before the attempt is made: by the bulk run
        # for the first one, by _slot() for a retry.
        assert epoch is not None
        return self._in_lane(lane, epoch, sending)

    async def _in_lane(self, lane: Lane, epoch: int, sending: Awaitable[Reply]) -> Reply:
        """Await ``sending`` holding the request slot of ``epoch`` in ``lane``; give it
        back with the answer, so the gate hears how it was answered."""
        gate, run = lane.gate, lane.run
        limited = False
        answered = ok = False
        try:
            reply = await sending
            answered = ok = True
            return reply
        except RateLimitError as exc:
            limited = answered = True
            if exc.retry_after and self.policy.sleeps:
                # The account, not this item, is told to wait: hold every new request.
                gate.pause(min(exc.retry_after, self.policy.max_retry_after))
            raise
        except ApiError:
            answered = True
            raise
        finally:
            gate.release(run, epoch, limited=limited, answered=answered, ends_item=ok)

    async def _retry(
        self,
        first_error: TwilioMediaError,
        started: float,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        send: Send | None,
        lane: Lane | None,
    ) -> Answer:
        policy = self.policy
        per_attempt = self.transport.timeout.total
        state = self.retry_state(started)
        error = first_error
        attempts = 1
        try:
            while True:
                wait = self.next_wait(state, error, attempts, time.monotonic())
                if wait is None:
                    raise error
                self._announce(wait, error, attempts, method, url)
                await policy.sleep(wait)
                left = policy.deadline - (time.monotonic() - started)
                try:
                    epoch = await self._slot(lane, left)
                except TimeoutError:  # out of time while queued: the last failure stands
                    raise error from None
                attempts += 1
                timeout = attempt_timeout(left, per_attempt)
                try:
                    body, _, request_id = await self._attempt(
                        method, url, params, send, timeout, attempts, lane, epoch
                    )
                except TwilioMediaError as exc:
                    error = exc
                    continue
                break
        except TwilioMediaError as exc:
            exc.attempts = attempts
            raise
        if self.budget is not None:
            self.budget.record_success()
        return body, attempts, request_id

    def next_wait(
        self, state: RetryCallState, error: TwilioMediaError, attempts: int, now: float
    ) -> float | None:
        """The wait before the next attempt, after attempt number ``attempts`` failed with
        ``error`` at ``now``; None to give up and raise ``error``.

        tenacity's stop strategies (attempts, deadline) decide on ``state``, as they would
        in its own loop: the wait is drawn first, so that a wait that would pass the
        deadline stops at once.  The engine's own rules add the budget and the Retry-After
        cap, and ``is_retryable`` decides what tenacity's ``retry_if_exception`` would.
        """
        if not is_retryable(error):
            return None
        state.attempt_number = attempts
        state.outcome_timestamp = now
        state.upcoming_sleep = wait = wait_for(self.policy, attempts, error)
        retry_after = _retry_after_of(error)
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            return None
        if self._retrying.stop(state):
            return None
        if self.budget is not None and not self.budget.can_retry():
            return None
        return wait

    def _announce(
        self, wait: float, error: TwilioMediaError, attempts: int, method: str, url: URL
    ) -> None:
        """Spend a budget token and tell the hook and the log that a retry comes."""
        if self.budget is not None:
            self.budget.spend()
        event = RetryEvent(
            attempt=attempts,
            max_attempts=self.policy.max_attempts,
            wait=wait,
            error=error,
            method=method,
            url=str(url),
        )
        announce(self.policy, event)
        # Retried, so its traceback will never be shown; dropped, it no longer keeps the
        # failed attempt's frames (and their response objects) alive in a cycle until the
        # garbage collector finds them.
        error.__traceback__ = None

    async def _slot(self, lane: Lane | None, left: float) -> int | None:
        """Take a request slot for a retry; TimeoutError when the deadline comes first."""
        if lane is None:
            return None
        epoch = lane.gate.try_acquire(lane.run)
        if epoch is not None:
            return epoch
        async with asyncio.timeout(max(left, 0.0)):
            return await lane.gate.acquire(lane.run)


async def _logged(
    sending: Awaitable[Reply],
    method: str,
    url: URL,
    params: Mapping[str, str] | None,
    attempt: int,
) -> Reply:
    """Await one attempt and log it at DEBUG: only ever called when DEBUG is on."""
    started = time.perf_counter()
    try:
        reply = await sending
    except TwilioMediaError as exc:
        outcome = str(exc.status) if isinstance(exc, ApiError) else type(exc).__name__
        _log_attempt(method, url, params, attempt, started, outcome, exc.request_id)
        raise
    _log_attempt(method, url, params, attempt, started, str(reply[1]), reply[2])
    return reply


def _log_attempt(
    method: str,
    url: URL,
    params: Mapping[str, str] | None,
    attempt: int,
    started: float,
    outcome: str,
    request_id: str | None,
) -> None:
    # The path and query are the SDK's own (sids, filters, page tokens), and the request id
    # was redacted by the transport: nothing here can hold a credential.
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    path = (url.update_query(params) if params else url).raw_path_qs
    _log.debug(
        "%s %s -> %s in %.1f ms (attempt %d, request id %s)",
        method,
        path,
        outcome,
        elapsed_ms,
        attempt,
        request_id or "none",
    )


def wait_for(policy: RetryPolicy, attempt: int, error: BaseException) -> float:
    """Seconds to wait after ``attempt`` failed with ``error``: Retry-After, else backoff."""
    retry_after = _retry_after_of(error)
    if retry_after is not None:
        return retry_after
    return backoff_wait(
        attempt, initial=policy.initial_wait, cap=policy.max_wait, jitter=policy.jitter()
    )


def attempt_timeout(left: float, per_attempt: float | None) -> float:
    """A retry's timeout: the per-attempt timeout, clipped to what is left of the deadline."""
    if per_attempt is None:
        return max(left, _MIN_ATTEMPT_TIMEOUT)
    return max(min(per_attempt, left), _MIN_ATTEMPT_TIMEOUT)


def announce(policy: RetryPolicy, event: RetryEvent) -> None:
    """Log a retry at INFO (a routine event; no credentials: only method, URL and error) and
    call the ``on_retry`` hook; a hook that raises is logged, never propagated."""
    if _log.isEnabledFor(logging.INFO):
        _log.info(
            "retrying %s %s in %.3fs: attempt %d of %d failed: %s",
            event.method,
            event.url,
            event.wait,
            event.attempt,
            event.max_attempts,
            _summary(event.error),
        )
    if policy.on_retry is not None:
        try:
            policy.on_retry(event)
        except Exception:  # a broken hook must not break the retry loop
            _log.exception("on_retry hook failed")


def _retry_after_of(error: BaseException | None) -> float | None:
    """The server's Retry-After on a 429 or a 5xx, when it sent one."""
    return error.retry_after if isinstance(error, ApiError) else None


def _summary(error: TwilioMediaError) -> str:
    if isinstance(error, RequestTimeoutError):
        return "timeout"
    if isinstance(error, ApiError):
        code = f" code {error.code}" if error.code is not None else ""
        return f"{type(error).__name__} (HTTP {error.status}{code})"
    return f"{type(error).__name__}: {error.message}"
