"""The retry engine: every attempt of fetch, delete, list pages and bulk items runs here.

One call is one or more attempts under a ``RetryPolicy``.  The first attempt goes straight to
the transport; the retry loop, whose decisions are the policy's tenacity strategies
(evaluated by ``_retrying.Retries``), is entered only after a retryable failure, so the
happy path pays nothing for it.  This is the one place that spends the retry budget, calls
``on_retry`` and logs a retry.

Each attempt is logged at DEBUG (method, path, status, elapsed time, attempt number and
``Twilio-Request-Id``) when, and only when, that level is on: otherwise an attempt costs one
``isEnabledFor`` check, and is not even timed.

A call may run ``through`` a wrapper that sends each attempt for it (a bulk run's request
slots are one): the engine knows only that such a wrapper may decline an attempt, by raising
``NotSent``, when the call runs out of time before it could be made.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Final, Protocol

import aiohttp
from tenacity import RetryCallState
from yarl import URL

from ._replies import Answer, Reply
from ._retrying import Retries, attempt_timeout
from ._transport import Transport, TransportView
from .errors import (
    ApiError,
    ClientClosedError,
    NotFoundError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    TwilioMediaError,
)
from .retry import RetryBudget, RetryEvent, RetryPolicy

__all__ = [
    "Answer",
    "NotSent",
    "Reply",
    "RetryEngine",
    "Send",
    "Through",
    "announce",
    "idempotent_delete",
]

_log = logging.getLogger("twilio_media_async")
_DEBUG: Final = logging.DEBUG


class Send(Protocol):
    """Sends one attempt with the given timeout (None: the transport's own) and returns its
    Reply."""

    def __call__(self, *, attempt_timeout: float | None) -> Awaitable[Reply]: ...


class Through(Protocol):
    """Sends one attempt for a call, ``send(timeout)``, in its own way (a bulk run holds a
    request slot around it); raises ``NotSent`` when it made no attempt."""

    def __call__(self, send: Send, time_limit: float | None, /) -> Awaitable[Reply]: ...


class NotSent(Exception):
    """A ``Through`` made no attempt: the call ran out of time first.  The call's last
    failure stands."""


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
                return Reply(b"", exc.status, exc.request_id)
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
    def retries(self) -> Retries:
        """The policy's decisions after a failure, built on the first retry (a client view,
        made per call site, mostly never needs them)."""
        return Retries(self.policy, self.budget)

    def retry_state(self, started: float) -> RetryCallState:
        """tenacity's record of a call whose first attempt began at ``started``."""
        return self.retries.state(started)

    def next_wait(
        self, state: RetryCallState, error: TwilioMediaError, attempts: int, now: float
    ) -> float | None:
        """The wait before the next attempt, or None to give up (``Retries.next_wait``)."""
        return self.retries.next_wait(state, error, attempts, now)

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
        through: Through | None = None,
    ) -> Answer:
        """Run one call; return its Answer.  Each attempt is ``send`` (by default a plain
        request), made ``through`` a wrapper when one is given.

        Every error raised carries ``.attempts``.
        """
        started = time.monotonic()
        try:
            reply = await self._attempt(method, url, params, send, through, None, 1)
        except TwilioMediaError as exc:
            # ``exc.retryable`` is what the policy's ``retry`` strategy decides, asked here
            # first so that a 404 never builds a retry state.
            if not (exc.retryable and self.policy.enabled) or self.transport.closed:
                if not isinstance(exc, ClientClosedError):  # that one sent nothing
                    exc.attempts = 1
                raise
            return await self._retry(exc, started, method, url, params, send, through)
        if self.budget is not None:
            self.budget.record_success()
        return Answer(reply.body, 1, reply.request_id)

    def _attempt(
        self,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        send: Send | None,
        through: Through | None,
        time_limit: float | None,
        attempt: int,
    ) -> Awaitable[Reply]:
        """Attempt number ``attempt``.  A plain function returning the transport's
        awaitable: a single fetch pays for no coroutine of its own here."""
        debug = _log.isEnabledFor(_DEBUG)
        if through is None:
            if send is not None:
                sending = send(attempt_timeout=time_limit)
            else:
                sending = self.transport.request(
                    method, url, params=params, attempt_timeout=time_limit
                )
            return _logged(sending, method, url, params, attempt) if debug else sending
        if send is None:
            send = functools.partial(self.transport.request, method, url, params=params)
        if debug:  # the log times the request, not a wait for the wrapper's turn
            send = functools.partial(_logged_send, send, method, url, params, attempt)
        return through(send, time_limit)

    async def _retry(
        self,
        first_error: TwilioMediaError,
        started: float,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        send: Send | None,
        through: Through | None,
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
                timeout = attempt_timeout(
                    policy.deadline - (time.monotonic() - started), per_attempt
                )
                try:
                    reply = await self._attempt(
                        method, url, params, send, through, timeout, attempts + 1
                    )
                except NotSent:  # out of time before it could be made: the last failure stands
                    raise error from None
                except TwilioMediaError as exc:
                    attempts += 1
                    error = exc
                    continue
                attempts += 1
                break
        except TwilioMediaError as exc:
            exc.attempts = attempts
            raise
        if self.budget is not None:
            self.budget.record_success()
        return Answer(reply.body, attempts, reply.request_id)

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


async def _logged_send(
    send: Send,
    method: str,
    url: URL,
    params: Mapping[str, str] | None,
    attempt: int,
    *,
    attempt_timeout: float | None,
) -> Reply:
    return await _logged(send(attempt_timeout=attempt_timeout), method, url, params, attempt)


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
    _log_attempt(method, url, params, attempt, started, str(reply.status), reply.request_id)
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


def _summary(error: TwilioMediaError) -> str:
    if isinstance(error, RequestTimeoutError):
        return "timeout"
    if isinstance(error, ApiError):
        code = f" code {error.code}" if error.code is not None else ""
        return f"{type(error).__name__} (HTTP {error.status}{code})"
    return f"{type(error).__name__}: {error.message}"
