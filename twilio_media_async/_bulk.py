"""Bounded, lazy, concurrent map for fetch_many, and the AIMD concurrency limiter.

The stream reads its input only as fast as slots free up, keeps at most ``concurrency``
tasks (and, when ordered, at most ``concurrency`` finished results waiting for a slow head),
and on any exit (exhausted, break, aclose, cancellation) cancels and awaits every task it
started.
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
from typing import Any, Final

import attrs

from .models import FetchResult

__all__ = ["AIMDLimiter", "bounded_map"]

_DONE: Final = object()
_SLOW_START: Final = 8


@attrs.define
class AIMDLimiter:
    """Additive-increase, multiplicative-decrease limit on requests in flight.

    It starts small and doubles per window of successes (slow start), so a run against an
    account already near its concurrency limit does not open with a burst of 429s.  A 429
    halves the limit and ends slow start, at most once per *epoch*: answers to requests
    that began before the last decrease describe the old limit, so they do not cut it
    again.  After that each success adds ``1 / limit``, about one slot per window, up to
    ``maximum``.
    """

    maximum: int
    minimum: int = 1
    limit: float = attrs.field()
    threshold: float = attrs.field()
    epoch: int = 0
    decreases: int = 0

    @limit.default
    def _start_small(self) -> float:
        return float(min(self.maximum, _SLOW_START))

    @threshold.default
    def _slow_start_up_to_the_maximum(self) -> float:
        return float(self.maximum)

    @property
    def slots(self) -> int:
        """How many requests may be in flight now."""
        return max(self.minimum, int(self.limit))

    def rate_limited(self, epoch: int) -> None:
        """A request begun in ``epoch`` got a 429."""
        if epoch == self.epoch:
            self.limit = max(float(self.minimum), self.limit / 2.0)
            self.threshold = self.limit
            self.epoch += 1
            self.decreases += 1

    def succeeded(self) -> None:
        """A request succeeded: grow back toward the maximum."""
        if self.limit < self.maximum:
            step = 1.0 if self.limit < self.threshold else 1.0 / self.limit
            self.limit = min(float(self.maximum), self.limit + step)


def _next_sync(iterator: Iterator[Any]) -> Any:
    return next(iterator, _DONE)


async def bounded_map(
    items: Iterable[Any] | AsyncIterable[Any],
    *,
    run: Callable[[Any], Awaitable[FetchResult]],
    immediate: Callable[[Any], FetchResult | None],
    limiter: AIMDLimiter,
    ordered: bool,
) -> AsyncGenerator[FetchResult, None]:
    """Yield ``run(item)`` for every item, at most ``limiter.slots`` at a time.

    ``immediate(item)`` may return a result without running anything (an invalid sid);
    ``run`` must turn every failure into a result and never raise, except on cancellation.
    """
    if isinstance(items, AsyncIterable):
        source: AsyncIterator[Any] | None = aiter(items)
        sync_source = None
    else:
        source = None
        sync_source = iter(items)
    finished: asyncio.Queue[asyncio.Task[FetchResult]] = asyncio.Queue()
    running: set[asyncio.Task[FetchResult]] = set()
    # In order mode, every result in input order: a FetchResult or the task that will make it.
    window: deque[FetchResult | asyncio.Task[FetchResult]] = deque()
    window_cap = limiter.maximum  # in order mode: finished results held for a slow head
    exhausted = False
    # An input that fails (a generator that raises, a closed client) stops the reading, but
    # every item already taken still gets its result before the error is raised.
    input_error: Exception | None = None

    def on_done(task: asyncio.Task[FetchResult]) -> None:
        running.discard(task)
        finished.put_nowait(task)

    try:
        while True:
            # Fill free slots from the input, lazily.  A finished result not yet taken by
            # the consumer still holds its slot: a slow consumer slows the reading down
            # instead of letting finished results pile up.
            while not exhausted and len(running) + finished.qsize() < limiter.slots:
                if ordered and len(window) >= window_cap:
                    break  # a slow head: stop reading input rather than buffer without bound
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
                task = asyncio.ensure_future(run(item))
                running.add(task)
                task.add_done_callback(on_done)
                if ordered:
                    window.append(task)

            if ordered:
                while window and (isinstance(window[0], FetchResult) or window[0].done()):
                    head = window.popleft()
                    yield head if isinstance(head, FetchResult) else head.result()
            if not running and finished.empty():
                # Nothing to wait for.  In order mode the window is empty here too: with
                # nothing running, every entry left in it was ready and has been yielded.
                if exhausted:
                    if input_error is not None:
                        raise input_error
                    return
                continue  # the flush made room: read more input

            done = await finished.get()
            if not ordered:
                yield done.result()
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        if source is not None and hasattr(source, "aclose"):
            await source.aclose()
