"""The bulk limiter's decisions, answer by answer (no I/O), and its gate."""

from __future__ import annotations

import asyncio
import heapq
import random

import pytest

from twilio_media_async._limiter import (
    MIN_WINDOW,
    QUIET_ROUNDS,
    CongestionControl,
    RequestGate,
    RunSlots,
)


def at_the_maximum(maximum: int = 64) -> CongestionControl:
    """A control whose slow start has reached ``maximum`` with the limit in full use."""
    control = CongestionControl(maximum=maximum)
    while control.limit < maximum:
        control.on_answer(limited=False, epoch=control.epoch, full=True)
    return control


def test_slow_start_doubles_per_round_trip_up_to_the_maximum() -> None:
    control = CongestionControl(maximum=64)
    assert control.slots == 8
    for _ in range(8):
        control.on_answer(limited=False, epoch=0, full=True)
    assert control.slots == 16
    for _ in range(16 + 32):
        control.on_answer(limited=False, epoch=0, full=True)
    assert control.slots == 64
    assert control.ceiling is None


def test_an_idle_limit_does_not_grow() -> None:
    control = CongestionControl(maximum=64)
    for _ in range(1000):
        control.on_answer(limited=False, epoch=0, full=False)
    assert control.slots == 8  # the run never used more: no evidence the account allows more


def test_scattered_429s_keep_the_limit_near_its_maximum() -> None:
    rng = random.Random(1)
    control = at_the_maximum(64)
    lowest = control.limit
    limits = []
    for _ in range(50_000):
        control.on_answer(limited=rng.random() < 0.02, epoch=control.epoch, full=True)
        lowest = min(lowest, control.limit)
        limits.append(control.limit)
    assert sum(limits) / len(limits) > 0.95 * 64
    assert lowest >= 0.8 * 64  # never far


def test_half_429s_shrink_the_limit_within_one_round_trip() -> None:
    control = at_the_maximum(64)
    for answer in range(64):  # one round trip's worth of answers, every other one a 429
        control.on_answer(limited=answer % 2 == 0, epoch=control.epoch, full=True)
    assert control.slots <= 32
    assert control.ceiling is not None and control.ceiling < 64


def test_answers_sent_before_a_cut_are_not_judged_again() -> None:
    control = at_the_maximum(64)
    old = control.epoch
    for answer in range(20):
        control.on_answer(limited=answer % 2 == 0, epoch=old, full=True)
    after_cut = control.limit
    for _ in range(64):  # the rest of that burst of 429s, sent under the old limit
        control.on_answer(limited=True, epoch=old, full=True)
    assert control.limit == after_cut


def test_a_doubling_that_overshoots_goes_back_to_the_level_that_held() -> None:
    # Two workers double into one shared cap: the first takes the free slots, the second
    # meets a full account and sees far more 429s.  Both return to where they were.
    first, second = CongestionControl(maximum=64), CongestionControl(maximum=64)
    for control in (first, second):
        for _ in range(8):
            control.on_answer(limited=False, epoch=0, full=True)
        assert control.limit == 16
    for _ in range(9):
        first.on_answer(limited=False, epoch=0, full=True)
    for control in (first, second):
        while control.epoch == 0:
            control.on_answer(limited=True, epoch=0, full=True)
    assert first.limit == second.limit == 8
    assert first.ceiling == second.ceiling == 8


def test_a_cap_met_after_a_round_trip_at_full_use_is_cut_in_proportion() -> None:
    control = CongestionControl(maximum=64)
    for _ in range(8 + 16):  # 16 held for a whole round trip: no doubling to undo
        control.on_answer(limited=False, epoch=0, full=True)
    assert control.limit == 32
    for answer in range(64):
        control.on_answer(limited=answer % 2 == 0, epoch=control.epoch, full=True)
    assert control.slots <= 16  # half 429s halve it


def test_a_small_limit_learns_that_a_cap_is_there() -> None:
    # With 4 slots a round trip holds 4 answers, fewer than a round can be judged by.
    control = CongestionControl(maximum=64, limit=4.0, ceiling=5.0)
    while control.epoch == 0:
        control.on_answer(limited=True, epoch=0, full=True)
    assert control.cap_seen


def test_past_the_ceiling_the_probe_starts_with_a_small_step() -> None:
    control = CongestionControl(maximum=64, limit=9.0, ceiling=8.0)
    for _ in range(9):  # one round trip at full use, without a 429
        control.on_answer(limited=False, epoch=0, full=True)
    assert 9.0 < control.limit <= 9.05  # not a whole slot at once
    while control.ceiling is not None:  # no 429 for good: the cap was lifted
        control.on_answer(limited=False, epoch=0, full=True)
    assert control.limit >= 16


def round_trip(control: CongestionControl, *, limited: int = 0) -> None:
    """One round trip of answers at full use, the first ``limited`` of them 429s."""
    for answer in range(control.slots):
        control.on_answer(limited=answer < limited, epoch=control.epoch, full=True)


def test_after_a_quiet_stretch_the_creep_becomes_a_probe() -> None:
    control = CongestionControl(maximum=64, limit=8.0, ceiling=8.0, cap_seen=True)
    for _ in range(QUIET_ROUNDS):
        round_trip(control)
    assert control.limit <= 8.0 + QUIET_ROUNDS * 0.01 + 1e-9  # creeping, a little per round
    for _ in range(20):
        round_trip(control)
    assert control.limit > 11.0  # then probing: room nobody uses is taken in round trips


def test_a_429_during_a_probe_takes_the_limit_back_to_where_it_began() -> None:
    control = CongestionControl(maximum=64, limit=8.0, ceiling=8.0, cap_seen=True)
    for _ in range(QUIET_ROUNDS):
        round_trip(control)
    began = control.limit
    for _ in range(8):
        round_trip(control)
    assert control.limit > began + 0.5
    epoch = control.epoch
    round_trip(control, limited=1)  # one 429: under the line, no cut, but the probe ends
    assert control.epoch == epoch
    assert control.limit == began
    round_trip(control)
    assert control.limit <= began + 0.02  # creeping again, from the start of a quiet stretch


def test_the_429_that_ends_a_probe_does_not_count_towards_a_cut() -> None:
    # A probe's overshoot is its own: going back to where it began answers it.  Counted
    # towards a cut, it would take a worker alone on a cap below the cap after most probes.
    control = CongestionControl(maximum=64, limit=16.0, ceiling=16.0, cap_seen=True)
    for _ in range(QUIET_ROUNDS):
        round_trip(control)
    began = control.limit
    for _ in range(8):
        round_trip(control)
    # Three 429s are past the line of a window (2 % of 100): a cut, were the first not the
    # probe's.  It ends the probe at once; the other two stay under the line.
    round_trip(control, limited=3)
    assert control.epoch == 0
    assert control.limit == began


def test_a_probe_that_reaches_twice_the_ceiling_hands_over_to_slow_start() -> None:
    control = CongestionControl(maximum=64, limit=8.0, ceiling=4.0, cap_seen=True)
    control.quiet, control.probed_from = QUIET_ROUNDS + 8, 6.0  # probing since 6 slots
    round_trip(control)
    assert control.ceiling is None and control.probed_from is None
    round_trip(control)
    assert control.limit == 16  # slow start
    while control.epoch == 0:  # its overshoot is judged as any other, and undone
        control.on_answer(limited=True, epoch=0, full=True)
    assert control.limit == 8


def test_429s_under_the_line_keep_the_limit_creeping() -> None:
    # Workers sharing a cap see a 429 every few dozen round trips: never a quiet stretch.
    control = CongestionControl(maximum=64, limit=8.0, ceiling=8.0, cap_seen=True)
    for n in range(1, 301):
        round_trip(control, limited=1 if n % (QUIET_ROUNDS // 2) == 0 else 0)
    assert control.epoch == 0
    assert control.limit <= 8.0 + 300 * 0.01


def test_a_worker_takes_the_room_that_the_others_leave() -> None:
    # Four workers share a cap of 32; three finish at 1 s.  Half a second later the one
    # left holds well over its share of 8.
    for seed in (1, 2, 3):
        served = simulate(workers=4, cap=32, concurrency=64, seconds=1.5, leave_at=1.0, seed=seed)
        assert served.final_limits[0] >= 12, seed


def test_it_recovers_after_the_cap_is_lifted() -> None:
    served = simulate(workers=1, cap=16, concurrency=100, seconds=2.0, lift_at=1.0)
    (limit,) = served.final_limits
    assert limit == 100


def test_one_worker_settles_just_under_a_cap() -> None:
    served = simulate(workers=1, cap=16, concurrency=100, seconds=3.0)
    assert served.goodput > 0.9 * 16 / served.latency
    assert served.share_429 < 0.02


def test_workers_without_coordination_converge_to_fair_shares() -> None:
    # Four processes on one account, each with its own limiter and concurrency 64, and a
    # cap of 32 on the account: each must settle near 8 without talking to the others.
    served = simulate(workers=4, cap=32, concurrency=64, seconds=6.0)
    assert served.jain >= 0.99
    assert served.goodput > 0.9 * 32 / served.latency
    assert served.share_429 < 0.015
    assert all(4 <= limit <= 16 for limit in served.final_limits)


def test_two_workers_share_a_cap_evenly_from_the_start() -> None:
    # The conditions of the two-client test in test_bulk_goodput.py, answer by answer.
    for seed in range(1, 9):
        served = simulate(workers=2, cap=16, concurrency=32, seconds=1.0, seed=seed)
        assert served.jain >= 0.99, seed
        assert served.share_429 < 0.02, seed


def test_sixteen_workers_on_one_cap_keep_429s_low() -> None:
    served = simulate(workers=16, cap=64, concurrency=64, seconds=3.0)
    assert served.jain >= 0.9
    assert served.goodput > 0.9 * 64 / served.latency
    assert served.share_429 < 0.05


class Served:
    """What a simulated run served: goodput in answers per second, and how evenly."""

    def __init__(self, ok: list[int], sent: int, limited: int, seconds: float, latency: float):
        self.latency = latency
        rates = [n / seconds for n in ok]
        self.goodput = sum(rates)
        self.share_429 = limited / sent
        self.jain = sum(rates) ** 2 / (len(rates) * sum(r * r for r in rates))
        self.final_limits: list[float] = []


def simulate(
    *,
    workers: int,
    cap: int,
    concurrency: int,
    seconds: float,
    latency: float = 0.005,
    lift_at: float | None = None,
    leave_at: float | None = None,
    seed: int = 1,
) -> Served:
    """A discrete-event model of ``workers`` clients, each keeping ``min(concurrency,
    slots)`` requests in flight, against a server that answers 429 at once past ``cap``
    requests in flight and otherwise after about ``latency`` seconds.

    A request reaches the server up to 0.3 ms after it is sent (the client's own work and
    the network), so which of two workers takes a slot just freed is a matter of chance, as
    it is between real processes, not always the one whose answer freed it.  From
    ``leave_at`` on, every worker but the first sends nothing more (their runs ended)."""
    rng = random.Random(seed)
    controls = [CongestionControl(maximum=concurrency) for _ in range(workers)]
    in_flight = [0] * workers
    ok = [0] * workers
    sent = limited = 0
    server = 0
    # (time, order, worker, kind, epoch): kind 0 a request arrives, 1 a success, 2 a 429.
    events: list[tuple[float, int, int, int, int]] = []
    order = 0

    def push(at: float, worker: int, kind: int, epoch: int) -> None:
        nonlocal order
        heapq.heappush(events, (at, order, worker, kind, epoch))
        order += 1

    def fill(now: float, worker: int) -> None:
        nonlocal sent
        if worker and leave_at is not None and now >= leave_at:
            return
        while in_flight[worker] < min(concurrency, controls[worker].slots):
            in_flight[worker] += 1
            sent += 1
            push(now + 0.0003 * rng.random(), worker, 0, controls[worker].epoch)

    for worker in range(workers):
        fill(0.0, worker)
    while events:
        now, _, worker, kind, epoch = heapq.heappop(events)
        if now > seconds:
            break
        if kind == 0:
            capped = lift_at is None or now < lift_at
            if capped and server >= cap:
                push(now + 0.0002, worker, 2, epoch)
            else:
                server += 1
                push(now + latency * (0.8 + 0.4 * rng.random()), worker, 1, epoch)
            continue
        control = controls[worker]
        if kind == 2:
            limited += 1
        else:
            server -= 1
            ok[worker] += 1
        control.on_answer(limited=kind == 2, epoch=epoch, full=in_flight[worker] >= control.slots)
        in_flight[worker] -= 1
        fill(now, worker)
    served = Served(ok, sent, limited, seconds, latency)
    served.final_limits = [c.limit for c in controls]
    return served


# -- the gate -------------------------------------------------------------------------------


async def test_the_gate_serves_waiters_in_order_within_each_runs_cap() -> None:
    gate = RequestGate(maximum=2)  # slow start begins at the maximum when it is below 8
    a, b = RunSlots(cap=1), RunSlots(cap=2)
    first = gate.try_acquire(a)
    assert first is not None
    assert gate.try_acquire(a) is None  # run a is at its own cap
    second = gate.try_acquire(b)
    assert second is not None
    assert gate.try_acquire(b) is None  # the gate is full
    waiter_a = asyncio.ensure_future(gate.acquire(a))
    waiter_b = asyncio.ensure_future(gate.acquire(b))
    await asyncio.sleep(0)
    gate.release(b, second, limited=False)
    await asyncio.sleep(0)
    # a is first in the queue but at its cap: b's waiter gets the slot.
    assert waiter_b.done() and not waiter_a.done()
    gate.release(a, first, limited=False)
    await asyncio.sleep(0)
    assert waiter_a.done()
    assert (a.in_flight, b.in_flight, gate.in_flight) == (1, 1, 2)


async def test_a_pause_holds_new_requests_until_it_passes() -> None:
    gate = RequestGate(maximum=8)
    run = RunSlots(cap=8)
    gate.pause(0.2)
    assert gate.try_acquire(run) is None
    loop = asyncio.get_running_loop()
    started = loop.time()
    epoch = await asyncio.wait_for(gate.acquire(run), 2)
    assert loop.time() - started >= 0.19
    gate.release(run, epoch, limited=False)
    assert gate.try_acquire(run) is not None
    gate.close()


async def test_a_run_waiting_for_a_slot_is_woken_when_a_pause_ends() -> None:
    gate = RequestGate(maximum=8)
    woken = asyncio.Event()
    run = RunSlots(cap=8, on_free=woken.set)
    gate.register(run)
    gate.pause(0.05)
    assert gate.try_acquire(run) is None
    gate.want(run)
    await asyncio.wait_for(woken.wait(), 2)
    assert gate.try_acquire(run) is not None
    gate.close()


async def test_a_cancelled_waiter_leaves_no_slot_taken() -> None:
    gate = RequestGate(maximum=1)
    run = RunSlots(cap=1)
    held = gate.try_acquire(run)
    assert held is not None
    waiter = asyncio.ensure_future(gate.acquire(run))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release(run, held, limited=False)
    assert (run.in_flight, gate.in_flight) == (0, 0)
    assert gate.try_acquire(run) is not None


def test_min_window_is_large_enough_to_judge_a_share() -> None:
    assert MIN_WINDOW >= 50  # fewer answers cannot tell 2 % noise from a 6 % overshoot
