"""Bounded, lazy, concurrent map for the bulk methods.

The stream reads its input only as fast as request slots free up.  Every item runs as a task
that takes a request slot per attempt, so an item waiting out a backoff holds no slot and
the slots stay busy with other items.  The items in progress (sending, waiting between
attempts, or finished but not yet taken by the consumer) have their own bound,
``in_progress``, so memory is bounded by the concurrency and never by the input.  On any
exit (exhausted, break, aclose, cancellation) every task started is cancelled and awaited.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs

from ._config import check_at_least_one
from ._engine import NotSent, Send, Through
from ._limiter import Lane, RequestGate, RunSlots
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

IN_PROGRESS_PER_SLOT: Final = 4
"""Items in progress per request slot of a run.  Items waiting out a backoff number about
``slots * fault rate * mean wait / latency``; four per slot keeps every slot busy at a 10 %
fault rate with waits a few times the latency, while memory stays a small multiple of the
concurrency."""

_DONE: Final = object()


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


async def bounded_map(
    items: SidInput,
    *,
    run: Callable[[Any, str, int], Awaitable[R]],
    check: Callable[[Any], str | R],
    lane: Lane,
    ordered: bool,
) -> AsyncGenerator[R, None]:
    """Yield one result for every item: ``check(item)`` when it gives one (an invalid
    sid), else ``run(item, sid, epoch)`` with the sid it gave, started once a request slot
    (epoch) was taken for it in ``lane``, whose run cap is the concurrency.

    ``run`` owns that first slot, must turn every failure into a result and never raise,
    except on cancellation.
    """
    stream = _Stream(items, run, check, lane, ordered)
    stream.gate.register(stream.slots)
    try:
        while True:
            known = await stream.fill()
            if known is not None:
                yield known
                continue  # read on: the input was stopped only to yield it at once
            if ordered:
                for result in stream.ready_in_order():
                    yield result
            if stream.idle():
                # Nothing to wait for.  In order mode the window is empty here too: with
                # nothing running, every entry left in it was ready and has been yielded.
                if stream.exhausted:
                    if stream.input_error is not None:
                        raise stream.input_error
                    return
                continue  # the flush made room: read more input
            event = await stream.events.get()
            if event is None:
                continue  # a nudge: a request slot freed up for a new item
            stream.unclaimed -= 1
            if not ordered:
                yield event.result()
    finally:
        await stream.stop()


class _Stream(Generic[R]):
    """The state of one ``bounded_map``: the input, the items in progress, the results."""

    def __init__(
        self,
        items: SidInput,
        run: Callable[[Any, str, int], Awaitable[R]],
        check: Callable[[Any], str | R],
        lane: Lane,
        ordered: bool,
    ) -> None:
        self.source: AsyncIterator[Any] | None = None
        self.sync_source: Iterator[Any] | None = None
        if isinstance(items, AsyncIterable):
            self.source = aiter(items)
        else:
            self.sync_source = iter(items)
        self.run, self.check, self.ordered = run, check, ordered
        self.gate, self.slots = lane.gate, lane.run
        self.in_progress = IN_PROGRESS_PER_SLOT * self.slots.cap
        # Finished tasks, and None as a nudge: a request slot freed up for a new item.
        self.events: asyncio.Queue[asyncio.Task[R] | None] = asyncio.Queue()
        self.slots.on_free = lambda: self.events.put_nowait(None)
        self.running: set[asyncio.Task[R]] = set()
        self.unclaimed = 0  # finished tasks in ``events``, not yet yielded
        # In order mode, every result in input order: a result or the task that will make it.
        self.window: deque[Any] = deque()
        # Slots handed to tasks, until they finish.  A task cancelled before its first step
        # never runs at all, so ``stop`` gives back the slot it was handed.
        self.handed: dict[asyncio.Task[R], int] = {}
        self.waiting: tuple[Any, str] | None = None  # an item and its sid, waiting for a slot
        self.exhausted = False
        # An input that fails (a generator that raises, a closed client) stops the reading,
        # but every item already taken still gets its result before the error is raised.
        self.input_error: Exception | None = None

    async def fill(self) -> R | None:
        """Start items while a request slot is free.  Out of order, a result known at once
        (an invalid sid) ends the filling and is returned, to be yielded before anything
        else is read; in order it joins the window.  A finished result not yet taken by
        the consumer still counts as in progress: a slow consumer slows the reading down
        instead of letting results pile up."""
        while (self.waiting is not None or not self.exhausted) and (
            len(self.running) + self.unclaimed < self.in_progress
        ):
            if self.ordered and len(self.window) >= self.in_progress:
                break  # a slow head: stop reading input rather than buffer without bound
            if self.waiting is None:
                taken = await self._take()
                if taken is None:
                    break
                item, checked = taken
                if not isinstance(checked, str):
                    if self.ordered:
                        self.window.append(checked)
                        continue
                    return checked  # at once: its producer may wait for the consumer to see it
                self.waiting = (item, checked)
            epoch = self.gate.try_acquire(self.slots)
            if epoch is None:
                self.gate.want(self.slots)  # a nudge comes when a slot frees up
                break
            self._start(*self.waiting, epoch)
            self.waiting = None
        return None

    async def _take(self) -> tuple[Any, str | R] | None:
        """The next item and what ``check`` made of it, or None once the input ends or
        fails (a generator that raises, a closed client)."""
        try:
            if self.sync_source is not None:
                item = next(self.sync_source, _DONE)
            else:
                assert self.source is not None
                item = await anext(self.source, _DONE)
            if item is not _DONE:
                return item, self.check(item)
        except Exception as exc:
            self.input_error = exc
        self.exhausted = True
        return None

    def _start(self, item: Any, sid: str, epoch: int) -> None:
        task = asyncio.ensure_future(self.run(item, sid, epoch))
        self.running.add(task)
        self.handed[task] = epoch
        task.add_done_callback(self._on_done)
        if self.ordered:
            self.window.append(task)

    def _on_done(self, task: asyncio.Task[R]) -> None:
        self.running.discard(task)
        del self.handed[task]
        self.unclaimed += 1
        self.events.put_nowait(task)

    def ready_in_order(self) -> Iterator[R]:
        """The results at the head of the window that are ready, in input order."""
        window = self.window
        while window and (not isinstance(window[0], asyncio.Task) or window[0].done()):
            head = window.popleft()
            yield head.result() if isinstance(head, asyncio.Task) else head

    def idle(self) -> bool:
        """Nothing runs, nothing finished waits to be taken, no item waits for a slot."""
        return not self.running and not self.unclaimed and self.waiting is None

    async def stop(self) -> None:
        """Cancel and await every task started, give back the slots of those that never
        ran, and close an async input."""
        self.gate.unregister(self.slots)
        self.slots.on_free = None
        # A task cancelled before its first step never runs, so the slot it was handed is
        # given back now, before the await below (which a second cancel may cut short).
        for task in self.running:
            if _never_ran(task):
                self.gate.release(self.slots, self.handed[task], limited=False, answered=False)
            task.cancel()
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)
        if self.source is not None and hasattr(self.source, "aclose"):
            await self.source.aclose()


def _never_ran(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    return inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
