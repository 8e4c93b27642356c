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

from ._limiter import Lane, RequestGate, RunSlots
from ._numbers import is_int
from ._sids import check_recording_sid
from .errors import ClientClosedError, InvalidParameterError, InvalidSidError, TwilioMediaError

__all__ = [
    "IN_PROGRESS_PER_SLOT",
    "BulkMethod",
    "BulkTransport",
    "bounded_map",
    "bulk_lane",
    "run_bulk",
]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
Out = TypeVar("Out")

IN_PROGRESS_PER_SLOT: Final = 4
"""Items in progress per request slot of a run.  Items waiting out a backoff number about
``slots * fault rate * mean wait / latency``; four per slot keeps every slot busy at a 10 %
fault rate with waits a few times the latency, while memory stays a small multiple of the
concurrency."""

_DONE: Final = object()
_NOTHING: Final = object()


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


def bulk_lane(gate: RequestGate, connection_cap: int, concurrency: object) -> Lane:
    """A bulk run's lane: the client's request gate, and the run's own cap."""
    if not is_int(concurrency) or concurrency < 1:
        raise InvalidParameterError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    # Never more in flight than the pool has connections: aiohttp's timeouts would
    # otherwise count the time spent queueing for one.
    cap = min(concurrency, connection_cap) if connection_cap else concurrency
    return Lane(gate, RunSlots(cap=cap))


@attrs.frozen
class BulkMethod(Generic[Out, R]):
    """What makes a bulk method's results: ``done(item, out)`` from what the work gave,
    ``failed(...)`` from an error; ``name`` is the method's, for messages."""

    name: str
    done: Callable[[Any, Out], R]
    failed: Failed[R]


def run_bulk(
    items: Iterable[Any] | AsyncIterable[Any],
    work: Callable[[str, Lane, int], Awaitable[Out]],
    method: BulkMethod[Out, R],
    *,
    transport: BulkTransport,
    lane: Lane,
    ordered: bool,
) -> AsyncGenerator[R, None]:
    """One result per item of a bulk method: ``done(item, await work(sid, lane, epoch))``
    for a valid sid, and ``failed(...)`` for an invalid one, a TwilioMediaError, or any
    other exception (a bug is reported, never lost).  A closed client stops the reading."""
    name, done, failed = method.name, method.done, method.failed  # locals: read per item

    def immediate(item: Any) -> R | None:
        if transport.closed:
            raise ClientClosedError(f"the client was closed during {name}")
        try:
            check_recording_sid(item)
        except InvalidSidError as exc:
            return failed(sid=item, error=exc, attempts=0)
        return None

    async def run(item: Any, epoch: int) -> R:
        try:
            # The checked sid, a plain str: a str subclass or str-valued enum could
            # format differently in the URL than its value.
            out = await work(check_recording_sid(item), lane, epoch)
        except TwilioMediaError as exc:
            return failed(sid=item, error=exc, attempts=exc.attempts, request_id=exc.request_id)
        except Exception as exc:
            # Described, not chained: an exception from inside aiohttp may hold the
            # request's headers, and nothing reachable from our errors may.
            error = TwilioMediaError(f"unexpected error: {transport.describe(exc)}")
            return failed(sid=item, error=error, attempts=0)
        return done(item, out)

    return bounded_map(items, run=run, immediate=immediate, lane=lane, ordered=ordered)


def _next_sync(iterator: Iterator[Any]) -> Any:
    return next(iterator, _DONE)


async def bounded_map(
    items: Iterable[Any] | AsyncIterable[Any],
    *,
    run: Callable[[Any, int], Awaitable[R]],
    immediate: Callable[[Any], R | None],
    lane: Lane,
    ordered: bool,
) -> AsyncGenerator[R, None]:
    """Yield one result for every item: ``immediate(item)`` when it gives one (an invalid
    sid), else ``run(item, epoch)``, started once a request slot (epoch) was taken for it
    in ``lane``, whose run cap is the concurrency.

    ``run`` owns that first slot, must turn every failure into a result and never raise,
    except on cancellation.
    """
    if isinstance(items, AsyncIterable):
        source: AsyncIterator[Any] | None = aiter(items)
        sync_source = None
    else:
        source = None
        sync_source = iter(items)
    gate, slots = lane.gate, lane.run
    in_progress = IN_PROGRESS_PER_SLOT * slots.cap
    # Finished tasks, and None as a nudge: a request slot freed up for a new item.
    events: asyncio.Queue[asyncio.Task[R] | None] = asyncio.Queue()
    running: set[asyncio.Task[R]] = set()
    unclaimed = 0  # finished tasks in ``events``, not yet yielded
    # In order mode, every result in input order: a result or the task that will make it.
    window: deque[Any] = deque()
    slots.on_free = lambda: events.put_nowait(None)
    waiting: Any = _NOTHING  # an item read, waiting for a request slot
    exhausted = False
    # An input that fails (a generator that raises, a closed client) stops the reading, but
    # every item already taken still gets its result before the error is raised.
    input_error: Exception | None = None

    # Slots handed to tasks that have not run yet.  A task cancelled before its first step
    # never runs at all, so the slot it was handed is given back here.
    handed: dict[asyncio.Task[R], int] = {}

    async def start(item: Any, epoch: int) -> R:
        task = asyncio.current_task()
        assert task is not None
        del handed[task]  # running now: ``run`` owns the slot
        return await run(item, epoch)

    def on_done(task: asyncio.Task[R]) -> None:
        nonlocal unclaimed
        running.discard(task)
        unclaimed += 1
        events.put_nowait(task)

    gate.register(slots)
    try:
        while True:
            # Start items while a request slot is free.  A finished result not yet taken
            # by the consumer still counts as in progress: a slow consumer slows the
            # reading down instead of letting results pile up.
            while (waiting is not _NOTHING or not exhausted) and (
                len(running) + unclaimed < in_progress
            ):
                if ordered and len(window) >= in_progress:
                    break  # a slow head: stop reading input rather than buffer without bound
                if waiting is _NOTHING:
                    try:
                        if sync_source is not None:
                            item = _next_sync(sync_source)
                        else:
                            assert source is not None
                            item = await anext(source, _DONE)
                        result = None if item is _DONE else immediate(item)
                    except Exception as exc:
                        input_error, exhausted = exc, True
                        break
                    if item is _DONE:
                        exhausted = True
                        break
                    if result is not None:
                        if ordered:
                            window.append(result)
                        else:
                            yield result
                        continue
                    waiting = item
                epoch = gate.try_acquire(slots)
                if epoch is None:
                    gate.want(slots)  # a nudge comes when a slot frees up
                    break
                task = asyncio.ensure_future(start(waiting, epoch))
                waiting = _NOTHING
                running.add(task)
                handed[task] = epoch
                task.add_done_callback(on_done)
                if ordered:
                    window.append(task)

            if ordered:
                while window and (not isinstance(window[0], asyncio.Task) or window[0].done()):
                    head = window.popleft()
                    if isinstance(head, asyncio.Task):
                        yield head.result()
                    else:
                        yield head
            if not running and not unclaimed and waiting is _NOTHING:
                # Nothing to wait for.  In order mode the window is empty here too: with
                # nothing running, every entry left in it was ready and has been yielded.
                if exhausted:
                    if input_error is not None:
                        raise input_error
                    return
                continue  # the flush made room: read more input

            event = await events.get()
            if event is None:
                continue
            unclaimed -= 1
            if not ordered:
                yield event.result()
    finally:
        gate.unregister(slots)
        slots.on_free = None
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for epoch in handed.values():
            gate.release(slots, epoch, limited=False, answered=False)
        if source is not None and hasattr(source, "aclose"):
            await source.aclose()
