"""How many requests a bulk run keeps in flight: a loss-tolerant congestion control, and the
gate that hands out request slots under it.

``CongestionControl`` holds every decision and no I/O, so it is tested answer by answer.  It
tells a server's concurrency cap from noise the way loss-tolerant TCP variants do:

- A 429 is congestion only when 429s make up more than ``CONGESTION_SHARE`` of a window of
  at least ``MIN_WINDOW`` answers.  Scattered 429s among successes are retried by the engine
  and cost the limit nothing.  Once a round trip has shown a cap unmistakably (40 % of its
  answers 429s, as when slow start overshoots one), the line drops to
  ``CONFIRMED_CONGESTION_SHARE``.
- On congestion the limit shrinks in proportion to the share of 429s, by 10 % at least and
  by half at most (so 50 % 429s halve it at once), and the level it was at becomes the
  *ceiling*: where the cap was found.  Congestion within the round trip after a slow-start
  doubling is that doubling's overshoot: the limit goes back to the level before it, which
  is also the ceiling, whatever the share.  Workers that double into one shared cap one
  after another see very different shares of 429s (the first takes the free slots), and a
  cut in proportion would let the first keep a larger limit and ceiling for the whole run.
- Once per round trip (as many answers as there are slots) a busy limit grows.  Before any
  congestion it doubles (slow start).  Far below the ceiling it adds one slot per round trip,
  and equal steps for every worker are what make their shares converge to fair ones (AIMD).
  Near a ceiling below the maximum, and past it, it creeps, and holds in a round that saw a
  429, so it spends its time just under a cap instead of just over it.  After
  ``QUIET_ROUNDS`` round trips without a 429 it probes: the step doubles per round trip, up
  to a quarter of a slot, so a worker takes the room that another one left in a fraction of
  a second instead of many seconds.  The first 429 during the probe takes the limit back
  to where the probe began, at once, and does not count towards a cut: the overshoot was
  the probe's own, and a worker alone on a cap would otherwise cut below it after most
  probes.  At twice the ceiling it takes the cap as lifted and slow-starts again.

``RequestGate`` is the asyncio side: a client-wide count of requests in flight bounded by the
control's limit, each bulk run's own cap (its ``concurrency``), and a pause that a 429 with
``Retry-After`` puts on every new request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Final

import attrs

__all__ = ["CongestionControl", "Lane", "RequestGate", "RunSlots"]

CONGESTION_SHARE: Final = 0.06
"""A window with more 429s than this share of its answers is congestion, not noise.

Three times the 2 % of scattered 429s a busy account sees: at 2 %, a window of 100 answers
holds seven or more 429s less than 1 % of the time, and one request too many over a cap of
16 already makes 6 %."""
MIN_WINDOW: Final = 100
"""Answers judged together at least: fewer would mistake one unlucky 429 for a trend."""
CONFIRMED_CONGESTION_SHARE: Final = 0.02
"""The threshold once a cap is known to exist: then 429s are far more likely to be that cap
than noise, and a lower line keeps the limit from overshooting it for long.  Workers that
share a cap hold in every round trip that saw a 429 and cut only past this line, so the
account's share of 429s settles near it: 3 % measured 2.5-3 % with four workers."""
_UNMISTAKABLE: Final = 0.4
"""A round trip with this share of 429s (of at least ``SLOW_START`` answers) is a cap, not
noise: 2 % of scattered 429s almost never make it."""
SLOW_START: Final = 8
"""Where the limit starts: a run against an account near its cap opens with few 429s."""
_NEAR_CEILING: Final = 0.9
"""From this share of the ceiling up, the limit creeps."""
_CREEP: Final = 0.001
"""How much of the ceiling a creeping limit adds per round trip (at least ``_MIN_CREEP``)."""
_MIN_CREEP: Final = 0.01
"""The least a creeping limit adds per round trip, in slots."""
_GENTLEST_CUT: Final = 0.9
_DEEPEST_CUT: Final = 0.5
QUIET_ROUNDS: Final = 48
"""Round trips without a 429 after which a creeping limit probes.  Under contention for a
cap a worker sees 429s far more often than that; so long a quiet stretch means the cap is
not where it was, or another worker left room."""
_PROBE_STEP: Final = 0.25
"""The largest step of a probe, in slots per round trip: a larger one overshoots by more
before the first 429 comes back."""


@attrs.define
class CongestionControl:
    """The limit on requests in flight, and every decision that moves it (pure).

    Feed it each answer with ``on_answer``.  ``epoch`` changes at each cut: answers to
    requests sent before the cut describe the old limit and are not judged again.
    """

    maximum: int
    minimum: int = 1
    limit: float = attrs.field()
    ceiling: float | None = None
    """The limit at the last congestion; None until congestion is first seen (slow start)."""
    epoch: int = 0
    answers: int = 0
    """Answers judged in the current window."""
    rate_limited: int = 0
    """429s among them."""
    round_answers: int = 0
    """Answers since the limit last grew: one round is about one round trip."""
    round_limited: int = 0
    """429s in this round."""
    busy: bool = False
    """Whether this round saw the limit in full use (an idle limit must not grow)."""
    cap_seen: bool = False
    """Whether a cut was ever unmistakably a cap (see ``_UNMISTAKABLE``)."""
    doubled_from: float | None = None
    """The level before slow start's last doubling, until a round trip at the new level
    passes without congestion."""
    quiet: int = 0
    """Round trips since the last one that saw a 429 (or the last cut)."""
    probed_from: float | None = None
    """Where the current probe began (see ``QUIET_ROUNDS``); None when not probing."""

    @limit.default
    def _start_small(self) -> float:
        return float(max(self.minimum, min(self.maximum, SLOW_START)))

    slots: int = attrs.field(init=False)
    """How many requests may be in flight now: the whole part of the limit (kept, since every
    request asks)."""

    def __attrs_post_init__(self) -> None:
        self.slots = max(self.minimum, int(self.limit))

    def on_answer(self, *, limited: bool, epoch: int, full: bool) -> None:
        """Judge one answer: ``limited`` for a 429, ``full`` when all slots were in use."""
        if epoch != self.epoch:
            return  # sent under an older limit
        self.answers += 1
        self.round_answers += 1
        self.busy = self.busy or full
        window = max(self.slots, MIN_WINDOW)
        if limited and self.probed_from is not None:
            # The probe found the cap: its own overshoot, answered by going back at once,
            # and no evidence against the level it started from.
            self.round_limited += 1
            self._end_probe()
        elif limited:
            self.rate_limited += 1
            self.round_limited += 1
            line = CONFIRMED_CONGESTION_SHARE if self.cap_seen else CONGESTION_SHARE
            if self.rate_limited > line * window:
                # The window is over the line whatever its remaining answers bring.  How
                # deep to cut: the share of 429s in the window, or in this round trip
                # when that is higher (a burst that began late in a quiet window).
                self._cut(
                    share=max(
                        self.rate_limited / self.answers,
                        self.round_limited / max(self.round_answers, SLOW_START),
                    )
                )
                return
        if self.answers >= window:
            self.answers = self.rate_limited = 0
        if self.round_answers >= self.slots:
            self._grow()

    def _cut(self, *, share: float) -> None:
        # A round trip of a small limit holds fewer than SLOW_START answers, so the window
        # is judged too: it is over the line, so it holds several 429s already.
        if (
            self.round_answers >= SLOW_START
            and self.round_limited >= _UNMISTAKABLE * self.round_answers
        ) or self.rate_limited >= _UNMISTAKABLE * self.answers:
            self.cap_seen = True
        if self.doubled_from is not None:
            # Slow start's last doubling overshot: go back to the level that held, whatever
            # the share of 429s.  Workers that double into a shared cap one after another
            # see different shares of 429s; a cut in proportion would leave the first one
            # out of slow start with a larger limit and ceiling than the others, for good.
            self.limit = self.ceiling = max(float(self.minimum), self.doubled_from)
            self.doubled_from = None
        else:
            factor = min(_GENTLEST_CUT, max(_DEEPEST_CUT, 1.0 - share))
            self.ceiling = self.limit
            self.limit = max(float(self.minimum), self.limit * factor)
        self.slots = max(self.minimum, int(self.limit))
        self.answers = self.rate_limited = self.round_answers = self.round_limited = 0
        self.busy = False
        self.quiet = 0
        self.probed_from = None
        self.epoch += 1

    def _grow(self) -> None:
        # Once per round trip, and only when the limit was in full use.
        ceiling = self.ceiling
        # A ceiling at the maximum says nothing of a cap (noise cut it there): no creeping.
        capped = ceiling is not None and ceiling < self.maximum - 1
        near = capped and ceiling is not None and self.limit >= ceiling * _NEAR_CEILING
        self.doubled_from = None  # a round trip passed at this level without a cut
        self._end_probe()
        if self.busy and self.limit < self.maximum and not (near and self.round_limited):
            if ceiling is None:
                self.doubled_from = self.limit
                self.limit *= 2.0  # slow start
            elif not near and self.limit < ceiling:
                # Additive increase, up to where creeping starts.
                step = self.limit + 1.0
                self.limit = min(step, max(self.limit, ceiling * _NEAR_CEILING)) if capped else step
            elif self.limit < 2.0 * ceiling:
                self.limit += self._creep(ceiling)
            else:
                # Twice past it without congestion: slow start again, whose overshoot is
                # judged as any other (no longer the probe's).
                self.ceiling = None
                self.probed_from = None
            self.limit = min(self.limit, float(self.maximum))
            self.slots = max(self.minimum, int(self.limit))
        self.round_answers = self.round_limited = 0
        self.busy = False

    def _end_probe(self) -> None:
        # A round trip with a 429 ends the quiet stretch, and a probe within it: the probe
        # found the cap, so the limit goes back to where the probe began.
        if not self.round_limited:
            self.quiet += 1
            return
        self.quiet = 0
        if self.probed_from is not None:
            self.limit = min(self.limit, self.probed_from)
            self.slots = max(self.minimum, int(self.limit))
            self.probed_from = None

    def _creep(self, ceiling: float) -> float:
        # The same small step for every worker near the ceiling and past it: equal steps are
        # what keep their shares converging.  After a quiet stretch, a probe.
        step = max(_MIN_CREEP, ceiling * _CREEP)
        if self.quiet <= QUIET_ROUNDS:
            return step
        if self.probed_from is None:
            self.probed_from = self.limit
        return min(_PROBE_STEP, step * 2.0 ** min(self.quiet - QUIET_ROUNDS, 16))


@attrs.define(eq=False)
class RunSlots:
    """One bulk run's own cap on requests in flight (its ``concurrency``)."""

    cap: int
    in_flight: int = 0
    on_free: Callable[[], None] | None = None
    """Called once a slot is free for this run after it asked with ``wants``."""
    wants: bool = False
    """Set by the run when it found no free slot for a new item."""

    @property
    def has_room(self) -> bool:
        """Whether this run may send one more request."""
        return self.in_flight < self.cap


class RequestGate:
    """Request slots shared by every bulk run of one client.

    A request takes a slot with ``try_acquire`` (immediate) or ``acquire`` (queued, in order
    of arrival) and gives it back with ``release``, which also feeds the answer to the
    congestion control.  The gate belongs to the client, not to a run: two runs on one
    client draw on one account, so they share what the account allows instead of each
    learning it on its own and overshooting it together.
    """

    def __init__(self, maximum: int) -> None:
        self.control = CongestionControl(maximum=maximum)
        self.in_flight = 0
        self.paused_until = 0.0
        self._waiters: deque[tuple[RunSlots, asyncio.Future[int]]] = deque()
        self._runs: list[RunSlots] = []
        self._wake: asyncio.TimerHandle | None = None

    @property
    def limit(self) -> float:
        """The congestion control's current limit (for instrumentation)."""
        return self.control.limit

    def register(self, run: RunSlots) -> None:
        """Let ``run`` be told when a slot frees up for a new item."""
        self._runs.append(run)

    def unregister(self, run: RunSlots) -> None:
        """The run ended."""
        if run in self._runs:
            self._runs.remove(run)

    def _paused(self) -> bool:
        if not self.paused_until:
            return False
        if time.monotonic() < self.paused_until:
            return True
        self.paused_until = 0.0
        return False

    def try_acquire(self, run: RunSlots) -> int | None:
        """Take a slot at once if one is free and nobody is queued; return the epoch."""
        if not self.has_free_slot(run):
            return None
        run.in_flight += 1
        self.in_flight += 1
        return self.control.epoch

    def has_free_slot(self, run: RunSlots) -> bool:
        """Whether ``try_acquire(run)`` would take a slot now (it takes none)."""
        return (
            run.in_flight < run.cap
            and self.in_flight < self.control.slots
            and not (self._waiters and self._queue_can_use_a_slot())
            and not self._paused()
        )

    def _queue_can_use_a_slot(self) -> bool:
        # A waiter whose own run is at its cap cannot take a free slot: the queue goes
        # first only when one of its waiters could.  Otherwise a retry waiting for its
        # run's one slot would hold up every other run of the client until that run's
        # slowest request came back.
        return any(run.in_flight < run.cap for run, _ in self._waiters)

    async def acquire(self, run: RunSlots) -> int:
        """Wait for a slot, in order of arrival; return the epoch the request is sent in."""
        epoch = self.try_acquire(run)
        if epoch is not None:
            return epoch
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((run, future))
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(run, future.result(), limited=False, answered=False)
            else:
                self._forget(future)
            raise

    def release(
        self,
        run: RunSlots,
        epoch: int,
        *,
        limited: bool,
        answered: bool = True,
        ends_item: bool = False,
    ) -> None:
        """Give a slot back; ``limited`` for a 429, ``answered`` False when nothing came back.

        ``ends_item``: the item is about to finish, and its run will hear of that anyway, so
        the run is not also told that a slot is free (one wake-up per request, not two).
        """
        if answered:
            full = self.in_flight >= self.control.slots
            self.control.on_answer(limited=limited, epoch=epoch, full=full)
        run.in_flight -= 1
        self.in_flight -= 1
        self._dispatch(run if ends_item else None)

    def want(self, run: RunSlots) -> None:
        """``run`` found no free slot for a new item: call its ``on_free`` once one is."""
        run.wants = True
        self._dispatch()

    def pause(self, seconds: float) -> None:
        """Hold every new request for ``seconds`` (a 429's Retry-After)."""
        until = time.monotonic() + seconds
        if until > self.paused_until:
            self.paused_until = until

    def _dispatch(self, finishing: RunSlots | None = None) -> None:
        if self.paused_until and self._paused():
            self._schedule_wake()
            return
        # Serve the queue in order, skipping waiters whose own run is at its cap.
        if self._waiters:
            for entry in list(self._waiters):
                if self.in_flight >= self.control.slots:
                    return
                run, future = entry
                if run.in_flight >= run.cap:
                    continue
                self._waiters.remove(entry)
                if future.done():
                    continue
                run.in_flight += 1
                self.in_flight += 1
                future.set_result(self.control.epoch)
        # Waiters left here are at their own run's cap (else the loop served them or
        # returned): they must not keep the free slots from the other runs.
        if self.in_flight >= self.control.slots:
            return
        for run in self._runs:
            if run.wants and run.has_room and run.on_free is not None and run is not finishing:
                run.wants = False
                run.on_free()

    def _schedule_wake(self) -> None:
        # While paused nobody may release a slot: wake the queue when the pause ends.
        if self._wake is not None:
            return
        delay = max(0.0, self.paused_until - time.monotonic())
        self._wake = asyncio.get_running_loop().call_later(delay, self._woken)

    def _woken(self) -> None:
        self._wake = None
        self._dispatch()

    def _forget(self, future: asyncio.Future[int]) -> None:
        for entry in self._waiters:
            if entry[1] is future:
                self._waiters.remove(entry)
                return

    def close(self) -> None:
        """Cancel the wake-up timer (the client is closing)."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None


@attrs.frozen
class Lane:
    """Where a bulk item's attempts take their request slots: the client's gate, the run's cap."""

    gate: RequestGate
    run: RunSlots
