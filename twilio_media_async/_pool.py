"""The bulk stream's scheduler: a pool of worker coroutines pulling items from the input.

A bulk run used to start one task per item.  Creating, scheduling and reaping a task, and
passing its result through a queue, costs more per request than the request's own share of
the event loop (docs/performance.md), so the stream runs a pool of workers instead: each
takes the next item, waits for a request slot, runs the item to its result and hands the
result to the consumer, then takes the next.

The guarantees are those of the task-per-item stream:

- the input is read only as fast as items can start: a worker takes an item only while
  fewer than ``in_progress`` items are taken and not yet yielded, so memory is bounded by
  the concurrency and never by the input, and a slow consumer slows the reading down;
- an item waiting out a backoff holds no request slot: the item's own run gives its slot
  back between attempts, and the pool starts another worker (up to ``in_progress``) when
  the gate reports a slot free while every worker is busy;
- every item taken yields exactly one result, in input order when ``ordered``;
- on any exit every worker is cancelled and awaited, and an async input is closed.

On a clean network the pool settles at one worker per slot and asks nothing of the gate
beyond taking and giving back slots: no task, future or queue entry per item.
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
    Iterator,
)
from typing import Any, Final, Generic, TypeVar

from ._limiter import Lane

__all__ = ["IN_PROGRESS_PER_SLOT", "bounded_map"]

R = TypeVar("R")

IN_PROGRESS_PER_SLOT: Final = 4
"""Items in progress per request slot of a run.  Items waiting out a backoff number about
``slots * fault rate * mean wait / latency``; four per slot keeps every slot busy at a 10 %
fault rate with waits a few times the latency, while memory stays a small multiple of the
concurrency."""

_DONE: Final[Any] = object()
_NOTHING: Final[Any] = object()


async def bounded_map(
    items: Any,
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
    except on cancellation.  An input that fails (a generator that raises, a closed
    client) stops the reading; every item already taken still gets its result, and then
    the input's error is raised.
    """
    pool = _Pool(items, run, check, lane, ordered)
    pool.start()
    try:
        while True:
            result = pool.pop()
            if result is not _NOTHING:
                yield result
            elif pool.failure is not None:
                raise pool.failure
            elif pool.finished:
                if pool.input_error is not None:
                    raise pool.input_error
                return
            else:
                await pool.wait()
    finally:
        await pool.stop()


class _Pool(Generic[R]):
    """The state of one ``bounded_map``: the input, the workers, the results."""

    def __init__(
        self,
        items: Any,
        run: Callable[[Any, str, int], Awaitable[R]],
        check: Callable[[Any], str | R],
        lane: Lane,
        ordered: bool,
    ) -> None:
        self.source: AsyncIterator[Any] | None = None
        self.sync_source: Iterator[Any] | None = None
        # Workers take from an async input one at a time: an async generator refuses a
        # second ``anext`` while the first is running.
        self.taking: asyncio.Lock | None = None
        if isinstance(items, AsyncIterable):
            self.source = aiter(items)
            self.taking = asyncio.Lock()
        else:
            self.sync_source = iter(items)
        self.run, self.check, self.ordered = run, check, ordered
        self.gate, self.slots = lane.gate, lane.run
        self.in_progress = IN_PROGRESS_PER_SLOT * self.slots.cap
        self.loop = asyncio.get_running_loop()
        self.workers: set[asyncio.Task[None]] = set()
        self.starting = False  # a worker was started and has not taken its first slot yet
        self.parked: deque[asyncio.Future[None]] = deque()  # workers waiting for a slot
        self.blocked: deque[asyncio.Future[None]] = deque()  # workers waiting for room
        self.consumer: asyncio.Future[None] | None = None
        self.taken = 0  # items taken from the input, which numbers them
        self.claimed = 0  # items taken whose result has not been yielded yet
        self.ready: deque[R] = deque()  # out of order: results not yet yielded
        self.by_number: dict[int, R] = {}  # in order: results waiting for their turn
        self.head = 0  # in order: the number of the next result to yield
        self.exhausted = False
        self.input_error: Exception | None = None
        self.failure: Exception | None = None  # a worker's bug, raised to the consumer

    @property
    def finished(self) -> bool:
        """The input ended and every item taken has been yielded."""
        return self.exhausted and not self.claimed

    def start(self) -> None:
        """Register with the gate and start the first worker; it starts the others."""
        self.gate.register(self.slots)
        self.slots.on_free = self._on_free
        self._spawn()

    def pop(self) -> Any:
        """The next result to yield, or ``_NOTHING``."""
        if self.ordered:
            result = self.by_number.pop(self.head, _NOTHING)
            if result is _NOTHING:
                return _NOTHING
            self.head += 1
        elif self.ready:
            result = self.ready.popleft()
        else:
            return _NOTHING
        self.claimed -= 1
        if self.blocked:
            _wake_one(self.blocked)  # room for one more item
        return result

    async def wait(self) -> None:
        """Sleep until a result is ready, or the run ends."""
        self.consumer = self.loop.create_future()
        try:
            await self.consumer
        finally:
            self.consumer = None

    def _wake_consumer(self) -> None:
        consumer = self.consumer
        if consumer is not None and not consumer.done():
            consumer.set_result(None)

    def _spawn(self) -> None:
        self.starting = True
        worker = self.loop.create_task(self._work())
        self.workers.add(worker)
        worker.add_done_callback(self.workers.discard)

    def _may_spawn(self) -> bool:
        return (
            not self.starting
            and not self.exhausted
            and len(self.workers) < self.in_progress
            and self.claimed < self.in_progress
        )

    def _on_free(self) -> None:
        """The gate has a slot for this run: give it to a parked worker, or to a new one
        when every worker is busy (some wait out a backoff, holding no slot)."""
        if self.parked:
            _wake_one(self.parked)
        elif self._may_spawn():
            self._spawn()

    def _got_slot(self) -> None:
        """A worker took a slot.  More may be free: hand them on, or grow the pool."""
        self.starting = False
        if self.parked:
            self.gate.want(self.slots)  # calls _on_free at once if another slot is free
        elif self._may_spawn():
            if self.gate.has_free_slot(self.slots):
                self._spawn()
            else:
                self.gate.want(self.slots)  # _on_free once one frees up

    async def _work(self) -> None:
        try:
            while True:
                if self.claimed >= self.in_progress:
                    await self._sleep(self.blocked)  # until the consumer makes room
                    continue
                taken = await self._take()
                if taken is None:
                    return
                number, item, checked = taken
                if not isinstance(checked, str):
                    self._deliver(number, checked)  # known at once: an invalid sid
                    continue
                epoch = self.gate.try_acquire(self.slots)
                while epoch is None:
                    await self._sleep(self.parked, want=True)
                    epoch = self.gate.try_acquire(self.slots)
                self._got_slot()
                self._deliver(number, await self.run(item, checked, epoch))
                if self.parked:
                    # The item's last slot went back without a word to this run (the gate
                    # expects the run to take it itself): a parked worker may use it.
                    self.gate.want(self.slots)
        except Exception as exc:  # a bug in ``run``: end the stream with it, not hang
            self.failure = exc
            self._wake_consumer()
        finally:
            self.starting = False  # at worst one worker more is started than needed

    async def _sleep(self, line: deque[asyncio.Future[None]], *, want: bool = False) -> None:
        """Wait in ``line`` until woken; ``want``: ask the gate for a slot, once in line
        (the gate may answer at once, and must find this worker there)."""
        future = self.loop.create_future()
        line.append(future)
        self.starting = False  # a parked or blocked worker has started as far as it can
        if want:
            self.gate.want(self.slots)
        try:
            await future
        finally:
            if not future.done():
                future.cancel()

    async def _take(self) -> tuple[int, Any, str | R] | None:
        """The next item, its number and what ``check`` made of it, or None once the input
        ended or failed."""
        if self.exhausted:
            return None
        try:
            if self.sync_source is not None:
                item = next(self.sync_source, _DONE)
            else:
                assert self.source is not None
                assert self.taking is not None
                async with self.taking:
                    if self.exhausted:
                        return None
                    item = await anext(self.source, _DONE)
            if item is not _DONE:
                checked = self.check(item)
                number = self.taken
                self.taken += 1
                self.claimed += 1
                return number, item, checked
        except Exception as exc:
            self.input_error = exc
        self.exhausted = True
        self._wake_consumer()  # the run may be over
        while self.blocked:  # workers waiting for room will find nothing to take
            _wake_one(self.blocked)
        return None

    def _deliver(self, number: int, result: R) -> None:
        if self.ordered:
            self.by_number[number] = result
            if number != self.head:
                return  # its turn has not come: the consumer has nothing new to yield
        else:
            self.ready.append(result)
        self._wake_consumer()

    async def stop(self) -> None:
        """Cancel and await every worker, and close an async input."""
        self.gate.unregister(self.slots)
        self.slots.on_free = None
        workers = list(self.workers)
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        if self.source is not None and hasattr(self.source, "aclose"):
            await self.source.aclose()


def _wake_one(line: deque[asyncio.Future[None]]) -> None:
    while line:
        future = line.popleft()
        if not future.done():
            future.set_result(None)
            return
