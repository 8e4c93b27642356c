"""The bulk methods' plumbing: a run's lane, each item's way through it, and one result
per item from the method's work.

The scheduling itself (``bounded_map``: the input read only as fast as items can start,
memory bounded by the concurrency, exactly one result per item) lives in ``_pool``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
)
from typing import Any, Generic, Protocol, TypeVar

import attrs

from ._config import check_at_least_one
from ._engine import NotSent, Send, Through
from ._limiter import Lane, RequestGate, RunSlots
from ._pool import IN_PROGRESS_PER_SLOT, bounded_map
from ._replies import Reply
from ._sids import check_recording_sid
from .errors import (
    ApiError,
    ClientClosedError,
    InvalidSidError,
    RateLimitError,
    TwilioMediaError,
)
from .retry import RetryPolicy

__all__ = [
    "IN_PROGRESS_PER_SLOT",
    "BulkLane",
    "BulkMethod",
    "BulkTransport",
    "InLane",
    "SidInput",
    "bounded_map",
    "bulk_lane",
    "run_bulk",
]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
Out = TypeVar("Out")

SidInput = Iterable[Any] | AsyncIterable[Any]
"""What the bulk methods read sids from: any iterable or async iterable, read lazily."""


class BulkTransport(Protocol):
    """What a bulk run asks of the client's transport."""

    @property
    def closed(self) -> bool:
        """True once the client (or its view) is closed."""
        ...

    def describe(self, exc: BaseException) -> str:
        """An exception's description with no secret in it."""
        ...


class Failed(Protocol[R_co]):
    """A result class built from a failure: FetchResult or DeleteResult."""

    def __call__(
        self, *, sid: Any, error: TwilioMediaError, attempts: int, request_id: str | None = ...
    ) -> R_co: ...


def bulk_lane(
    gate: RequestGate, connection_cap: int, concurrency: object, policy: RetryPolicy
) -> BulkLane:
    """A bulk run's lane: the client's request gate, and the run's own cap."""
    concurrency = check_at_least_one("concurrency", concurrency)
    # Never more in flight than the pool has connections: aiohttp's timeouts would
    # otherwise count the time spent queueing for one.
    cap = min(concurrency, connection_cap) if connection_cap else concurrency
    return BulkLane(Lane(gate, RunSlots(cap=cap)), policy)


@attrs.frozen
class BulkLane:
    """A bulk run's request slots, and the retry policy its items follow: it makes each
    item's ``InLane``, through which the engine sends the item's attempts."""

    lane: Lane
    policy: RetryPolicy

    def through(self, held: int | None = None) -> InLane:
        """An item's (or one API call's) way through the lane; ``held`` is the epoch of a
        slot already taken for its first attempt."""
        return InLane(self, held)

    def give_back(self, epoch: int) -> None:
        """Give back a slot taken for a request that will not be made."""
        self.lane.gate.release(self.lane.run, epoch, limited=False, answered=False)


class InLane:
    """A ``Through``: each attempt holds a request slot of the lane, given back as soon as
    its answer is in, so an item waiting out a backoff holds no slot and the gate hears
    every answer (and pauses new requests on a ``Retry-After``).

    The first attempt's slot is the one held (or one waited for, as long as it takes); a
    retry's is waited for only until the policy's deadline, counted from the first
    attempt, and ``NotSent`` says it came too late.
    """

    __slots__ = ("_bulk", "_held", "_started")

    def __init__(self, bulk: BulkLane, held: int | None) -> None:
        self._bulk = bulk
        self._held = held
        self._started: float | None = None

    async def __call__(self, send: Send, time_limit: float | None, /) -> Reply:
        # One coroutine per attempt, the slot's bookkeeping inline: it runs for every item.
        lane = self._bulk.lane
        gate, run = lane.gate, lane.run
        epoch = self._held
        if epoch is not None:
            self._held = None
        else:
            epoch = gate.try_acquire(run)
            if epoch is None:
                epoch = await self._acquire(lane)
        if self._started is None:
            self._started = time.monotonic()
        limited = answered = ok = False
        try:
            reply = await send(attempt_timeout=time_limit)
            answered = ok = True
            return reply
        except RateLimitError as exc:
            limited = answered = True
            policy = self._bulk.policy
            if exc.retry_after and policy.sleeps:
                # The account, not this item, is told to wait: hold every new request.
                gate.pause(min(exc.retry_after, policy.max_retry_after))
            raise
        except ApiError:
            answered = True
            raise
        finally:
            # Given back with the answer, so the gate hears how it was answered.
            gate.release(run, epoch, limited=limited, answered=answered, ends_item=ok)

    async def _acquire(self, lane: Lane) -> int:
        if self._started is None:  # the first attempt: the run's throughput, not the item's
            return await lane.gate.acquire(lane.run)
        left = self._bulk.policy.deadline - (time.monotonic() - self._started)
        try:
            async with asyncio.timeout(max(left, 0.0)):
                return await lane.gate.acquire(lane.run)
        except TimeoutError:
            raise NotSent from None


@attrs.frozen
class BulkMethod(Generic[Out, R]):
    """What makes a bulk method's results: ``done(item, out)`` from what the work gave,
    ``failed(...)`` from an error; ``name`` is the method's, for messages."""

    name: str
    done: Callable[[Any, Out], R]
    failed: Failed[R]


def run_bulk(
    items: SidInput,
    work: Callable[[str, Through], Awaitable[Out]],
    method: BulkMethod[Out, R],
    *,
    transport: BulkTransport,
    lane: BulkLane,
    ordered: bool,
) -> AsyncGenerator[R, None]:
    """One result per item of a bulk method: ``done(item, await work(sid, through))``
    for a valid sid, and ``failed(...)`` for an invalid one, a TwilioMediaError, or any
    other exception (a bug is reported, never lost).  A closed client stops the reading."""
    name, done, failed = method.name, method.done, method.failed  # locals: read per item

    def check(item: Any) -> str | R:
        if transport.closed:
            raise ClientClosedError(f"the client was closed during {name}")
        try:
            # The checked sid, a plain str: a str subclass or str-valued enum could
            # format differently in the URL than its value.
            return check_recording_sid(item)
        except InvalidSidError as exc:
            return failed(sid=item, error=exc, attempts=0)

    async def run(item: Any, sid: str, epoch: int) -> R:
        try:
            out = await work(sid, InLane(lane, epoch))
        except TwilioMediaError as exc:
            return failed(sid=item, error=exc, attempts=exc.attempts, request_id=exc.request_id)
        except Exception as exc:
            # Described, not chained: an exception from inside aiohttp may hold the
            # request's headers, and nothing reachable from our errors may.
            error = TwilioMediaError(f"unexpected error: {transport.describe(exc)}")
            return failed(sid=item, error=error, attempts=0)
        return done(item, out)

    return bounded_map(items, run=run, check=check, lane=lane.lane, ordered=ordered)
