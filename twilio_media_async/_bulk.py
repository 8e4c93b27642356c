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
from typing import Any, Final, TypeVar

from ._limiter import Lane

__all__ = ["IN_PROGRESS_PER_SLOT", "bounded_map"]

R = TypeVar("R")

IN_PROGRESS_PER_SLOT: Final = 4
"""Items in progress per request slot of a run.  Items waiting out a backoff number about
``slots * fault rate * mean wait / latency``; four per slot keeps every slot busy at a 10 %
fault rate with waits a few times the latency, while memory stays a small multiple of the
concurrency."""

_DONE: Final = object()
_NOTHING: Final = object()


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
