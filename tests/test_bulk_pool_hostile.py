"""The bulk pool (``_pool.bounded_map``) under attack: hostile items, inputs that fail or
hang, consumers that stall or are cancelled mid-run, and items waiting out backoffs, for
``fetch_many``, ``delete_many`` and ``download_many`` against a real loopback server.

Each test pins one guarantee of DESIGN.md's bulk part: one result per item (never lost,
never doubled), a bounded read-ahead, clean cancellation (no task left, no warning), an
input's error raised after what it gave, and backoffs that never stall the other workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from twilio_media_async import (
    InvalidSidError,
    MediaClient,
    MediaRecording,
    RetryPolicy,
    TwilioMediaError,
)
from twilio_media_async._bulk import IN_PROGRESS_PER_SLOT
from twilio_media_async._limiter import RequestGate
from twilio_media_async.testing import FakeMediaServer, Fault, StorageFault

from ._archive import recording
from .conftest import client_for


def small(n: int) -> list[dict[str, Any]]:
    """``n`` completed recordings of small media files, so that every method can run."""
    return [recording(f"KV{0x400 + i:032x}", size=20_000 + i) for i in range(n)]


pytestmark = pytest.mark.fake_media_server(generate=0, recordings=small(60))

METHODS: Final = ("fetch_many", "delete_many", "download_many")
SLOW_WAIT: Final = RetryPolicy(
    max_attempts=4, initial_wait=0.4, max_wait=0.4, jitter=lambda: 1.0, budget=None
)
"""Backoffs of a fixed 0.4 s: long against a loopback request, short for a test."""


def stream(client: MediaClient, method: str, items: Any, tmp_path: Path, **kw: Any) -> Any:
    """The bulk method ``method`` of ``client`` over ``items``."""
    if method == "download_many":
        return client.download_many(items, tmp_path / "files", **kw)
    return getattr(client, method)(items, **kw)


def sdk_tasks() -> list[asyncio.Task[Any]]:
    """Tasks still pending that are the SDK's own (not the fake server's): its coroutines,
    and the loop's closing of an async generator left to its finalizer."""
    found = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        # No code: an async generator's aclose(), run by the loop's finalizer.
        name = "twilio_media_async" if code is None else code.co_filename
        if "twilio_media_async" in name and "/testing/" not in name:
            found.append(task)
    return found


def partials(directory: Path) -> list[Path]:
    return list(directory.rglob("*.partial"))


def assert_finals_whole(server: FakeMediaServer, directory: Path) -> None:
    """Every file under its final name holds exactly the served bytes."""
    for path in directory.glob("*") if directory.exists() else ():
        if not path.name.endswith(".partial"):
            assert path.read_bytes() == server.media_bytes(path.stem), path


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class FakeClass:
    """An object that claims to be a MediaRecording through ``__class__``."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return MediaRecording

    @property
    def sid(self) -> str:
        raise RuntimeError("not a recording at all")


class RaisingClass:
    """An object whose ``__class__`` raises: ``isinstance`` on it raises too."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("no class either")


class StrSub(str):
    def __str__(self) -> str:
        return "KV" + "0" * 32


def hostile_items() -> list[Any]:
    return [
        None,
        7,
        b"KV" + b"0" * 32,
        "KV" + "0" * 10_000_000,  # a huge string
        "KV" + "0" * 31 + "\n",
        RaisingRepr(),
        FakeClass(),
        RaisingClass(),
        StrSub("nope"),
        object(),
        float("nan"),
    ]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ordered", [False, True])
async def test_each_hostile_item_gets_one_error_result_and_the_rest_go_on(
    fake_media_server: FakeMediaServer,
    media_client: MediaClient,
    tmp_path: Path,
    method: str,
    ordered: bool,
) -> None:
    bad = hostile_items()
    good = fake_media_server.sids[:5]
    items = [good[0], *bad[:5], good[1], good[2], *bad[5:], good[3], good[4]]
    async with asyncio.timeout(20):
        results = [r async for r in stream(media_client, method, items, tmp_path, ordered=ordered)]
    assert len(results) == len(items)

    def key(sid: Any) -> object:  # a bad item is its very object; a sid, its value
        return id(sid) if any(sid is b for b in bad) else sid

    assert Counter(key(r.sid) for r in results) == Counter(map(key, items))
    if ordered:
        assert [key(r.sid) for r in results] == [key(i) for i in items]
    for result in results:
        if any(result.sid is b for b in bad):
            assert isinstance(result.error, InvalidSidError), (method, result.error)
        else:
            assert result.ok, result.error


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_input_that_raises_mid_run_keeps_what_it_gave(
    fake_media_server: FakeMediaServer,
    tmp_path: Path,
    method: str,
    ordered: bool,
    kind: str,
) -> None:
    """Items still waiting out a backoff when the input fails get their results first."""
    given = fake_media_server.sids[:10]
    for sid in given[:3]:
        fake_media_server.script(sid, [Fault.server_error(503)])

    def sync_items() -> Iterator[str]:
        yield from given
        raise OSError("the sid file went away")

    async def async_items() -> AsyncIterator[str]:
        for sid in given:
            await asyncio.sleep(0)
            yield sid
        raise OSError("the sid file went away")

    source = sync_items() if kind == "sync" else async_items()
    got = []
    async with client_for(fake_media_server, retry=SLOW_WAIT) as client:
        with pytest.raises(OSError, match="went away"):
            async with asyncio.timeout(20):
                async for r in stream(client, method, source, tmp_path, ordered=ordered):
                    got.append(r)
        assert not sdk_tasks()
    assert Counter(r.sid for r in got) == Counter(given)
    assert all(r.ok for r in got)


class NoIter:
    def __iter__(self) -> Iterator[str]:
        raise LookupError("no iterator")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_input_that_fails_at_once_raises_without_a_request(
    fake_media_server: FakeMediaServer, media_client: MediaClient, kind: str
) -> None:
    def sync_items() -> Iterator[str]:
        raise LookupError("nothing here")
        yield ""  # pragma: no cover

    async def async_items() -> AsyncIterator[str]:
        raise LookupError("nothing here")
        yield ""  # pragma: no cover

    source = sync_items() if kind == "sync" else async_items()
    unusables: list[Any] = [7, NoIter()]
    for unusable in unusables:  # not iterable, or its __iter__ raises
        with pytest.raises((TypeError, LookupError)):
            await anext(media_client.fetch_many(unusable))
    with pytest.raises(LookupError):
        async with asyncio.timeout(5):
            async for _ in media_client.fetch_many(source, ordered=True):
                pass  # pragma: no cover
    assert fake_media_server.request_count == 0
    assert not sdk_tasks()


class Counting:
    """A sync input that counts the items taken from it."""

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self.pulled = 0

    def __iter__(self) -> Iterator[str]:
        for item in self.items:
            self.pulled += 1
            yield item


async def settled(read: Callable[[], object]) -> None:
    """Wait (boundedly) until ``read()`` gives the same value over a few loop turns."""
    async with asyncio.timeout(5):
        last = read()
        while True:
            await asyncio.sleep(0.05)
            now = read()
            if now == last:
                return
            last = now


@pytest.mark.fake_media_server(generate=0, recordings=small(300))
@pytest.mark.parametrize("ordered", [False, True])
async def test_a_stalled_consumer_stops_the_reading_and_the_pool_goes_quiet(
    fake_media_server: FakeMediaServer,
    media_client: MediaClient,
    monkeypatch: pytest.MonkeyPatch,
    ordered: bool,
) -> None:
    calls = Counter[str]()
    for name in ("try_acquire", "want", "release"):
        original = getattr(RequestGate, name)

        def counted(self: Any, *args: Any, _o: Any = original, _n: str = name, **kw: Any) -> Any:
            calls[_n] += 1
            return _o(self, *args, **kw)

        monkeypatch.setattr(RequestGate, name, counted)
    source = Counting(fake_media_server.sids)
    concurrency = 4
    results = []
    async with contextlib.aclosing(
        media_client.fetch_many(source, concurrency=concurrency, ordered=ordered)
    ) as bulk:
        results.append(await anext(bulk))
        # The consumer stalls: the pool fills its room, then must wait, not spin.
        await settled(lambda: (source.pulled, fake_media_server.request_count, sum(calls.values())))
        before = (source.pulled, fake_media_server.request_count, dict(calls))
        await asyncio.sleep(0.3)
        assert (source.pulled, fake_media_server.request_count, dict(calls)) == before
        assert source.pulled <= 1 + IN_PROGRESS_PER_SLOT * concurrency + 1
        results += [r async for r in bulk]
    assert Counter(r.sid for r in results) == Counter(fake_media_server.sids)
    assert all(r.ok for r in results)
    if ordered:
        assert [r.sid for r in results] == fake_media_server.sids


@pytest.mark.fake_media_server(generate=0, recordings=small(40))
@pytest.mark.parametrize("method", ["fetch_many", "delete_many"])
async def test_backoffs_never_stall_the_other_workers(
    fake_media_server: FakeMediaServer, tmp_path: Path, method: str
) -> None:
    sids = fake_media_server.sids
    slow = sids[:2]
    for sid in slow:
        fake_media_server.script(sid, [Fault.server_error(503)] * 2)
    order = []
    async with client_for(fake_media_server, retry=SLOW_WAIT) as client:
        async with asyncio.timeout(20):
            async for r in stream(client, method, sids, tmp_path, concurrency=2):
                assert r.ok, r.error
                order.append(r.sid)
    assert Counter(order) == Counter(sids)
    # While the two wait out 0.8 s of backoffs, the two slots serve the 38 others.
    assert set(order[-2:]) == set(slow)
    assert fake_media_server.max_in_flight <= 2


FLAKY: Final = [Fault.rate_limited(), Fault.server_error(503), Fault.server_error(500)]


@pytest.mark.fake_media_server(generate=0, recordings=small(400), fault_rate=0.3, fault_kinds=FLAKY)
@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("concurrency", [1, 6])
async def test_under_faults_in_flight_and_read_ahead_stay_bounded(
    fake_media_server: FakeMediaServer, ordered: bool, concurrency: int
) -> None:
    policy = RetryPolicy(
        max_attempts=12, initial_wait=0.001, max_wait=0.02, deadline=60, budget=None
    )
    source = Counting(fake_media_server.sids)
    bound = IN_PROGRESS_PER_SLOT * concurrency
    results = []
    async with client_for(fake_media_server, retry=policy) as client:
        async with asyncio.timeout(30):
            async for r in client.fetch_many(source, concurrency=concurrency, ordered=ordered):
                results.append(r)
                # Taken and not yet yielded: never more than the items in progress.
                assert source.pulled - len(results) <= bound
        assert client._limiter.in_flight == 0  # every request slot given back
    assert Counter(r.sid for r in results) == Counter(fake_media_server.sids)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert fake_media_server.max_in_flight <= concurrency
    if ordered:
        assert [r.sid for r in results] == fake_media_server.sids


@pytest.mark.fake_media_server(generate=0, recordings=small(30))
async def test_an_ordered_head_in_a_long_backoff_holds_the_window_not_the_slots(
    fake_media_server: FakeMediaServer,
) -> None:
    head = fake_media_server.sids[0]
    fake_media_server.script(head, [Fault.server_error(503)] * 2)
    source = Counting(fake_media_server.sids)
    async with client_for(fake_media_server, retry=SLOW_WAIT) as client:
        async with contextlib.aclosing(client.fetch_many(source, concurrency=2, ordered=True)) as s:
            first = asyncio.ensure_future(anext(s))
            # The window fills behind the head: 4 per slot, then the reading stops.
            await settled(lambda: (source.pulled, fake_media_server.request_count))
            assert not first.done()
            assert source.pulled <= IN_PROGRESS_PER_SLOT * 2
            results = [await first] + [r async for r in s]
    assert [r.sid for r in results] == fake_media_server.sids
    assert all(r.ok for r in results)


@pytest.mark.fake_media_server(generate=0, recordings=small(80), concurrency_limit=5)
async def test_two_runs_on_one_client_share_the_gate_and_both_finish(
    fake_media_server: FakeMediaServer,
) -> None:
    policy = RetryPolicy(max_attempts=20, initial_wait=0.001, max_wait=0.01, budget=None)
    sids = fake_media_server.sids
    async with client_for(fake_media_server, retry=policy) as client:

        async def run(part: list[str], ordered: bool) -> list[Any]:
            return [r async for r in client.fetch_many(part, concurrency=8, ordered=ordered)]

        async with asyncio.timeout(30):
            a, b = await asyncio.gather(run(sids[:40], True), run(sids[40:], False))
    assert [r.sid for r in a] == sids[:40]
    assert Counter(r.sid for r in b) == Counter(sids[40:])
    assert all(r.ok for r in a + b)


CANCELS: Final = ("aclose", "break", "task cancel", "timeout", "consumer raises")


async def _cancelled_mid_run(bulk: Any, how: str) -> None:
    """Consume one result from ``bulk``, then end it ``how``; wait for it to be over."""
    if how == "aclose":
        await anext(bulk)
        await bulk.aclose()
    elif how == "break":
        async with contextlib.aclosing(bulk):
            async for _ in bulk:
                break
    elif how == "consumer raises":
        with pytest.raises(KeyError):
            async with contextlib.aclosing(bulk):
                async for _ in bulk:
                    raise KeyError("the consumer's own bug")
    elif how == "timeout":
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.4):
                async for _ in bulk:
                    pass
    else:

        async def consume() -> None:
            async for _ in bulk:
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("how", CANCELS)
async def test_cancelling_mid_run_leaves_no_task_behind(
    fake_media_server: FakeMediaServer, tmp_path: Path, method: str, how: str
) -> None:
    """Mid-run: some requests in flight, some items waiting out backoffs, workers parked
    for a slot and blocked for room, an async input waiting; all must end with the stream."""
    sids = fake_media_server.sids
    for sid in sids[1:8]:
        fake_media_server.script(sid, [Fault.server_error(503)] * 3)
    for sid in sids[8:]:
        fake_media_server.script(sid, [Fault.latency(3)])
        fake_media_server.script_storage(sid, [StorageFault.slow(3)])
    closed = asyncio.Event()

    async def items() -> AsyncIterator[str]:
        try:
            for sid in sids:
                yield sid
            await asyncio.Event().wait()  # an input that never ends
        finally:
            closed.set()

    async with client_for(fake_media_server, retry=SLOW_WAIT) as client:
        bulk = stream(client, method, items(), tmp_path, concurrency=3)
        async with asyncio.timeout(10):
            await _cancelled_mid_run(bulk, how)
        assert not sdk_tasks(), sdk_tasks()  # at once: the stream's end awaited them all
        assert closed.is_set()  # and closed the input
        assert client._limiter.in_flight == 0  # every request slot given back
        requests = fake_media_server.request_count
        await asyncio.sleep(0.1)
        assert fake_media_server.request_count == requests  # nothing new started
    if method == "download_many":
        assert_finals_whole(fake_media_server, tmp_path / "files")


async def test_a_closed_client_mid_run_raises_after_the_taken_items(
    fake_media_server: FakeMediaServer,
) -> None:
    client = client_for(fake_media_server)
    got = []
    with pytest.raises(TwilioMediaError):
        async with asyncio.timeout(10):
            async for r in client.fetch_many(iter(fake_media_server.sids), concurrency=2):
                got.append(r)
                if len(got) == 3:
                    await client.aclose()
    assert not sdk_tasks()
    assert len({repr(r.sid) for r in got}) == len(got)  # none doubled


@pytest.mark.parametrize("ordered", [False, True])
async def test_download_many_of_duplicates_and_recordings_is_one_result_each(
    tmp_path: Path, ordered: bool
) -> None:
    sids = [f"KV{i:032x}" for i in range(0x300, 0x306)]
    served = [recording(sid, size=5000 + i) for i, sid in enumerate(sids)]
    async with FakeMediaServer(recordings=served) as server:
        async with MediaClient(**server.client_kwargs(), retry=RetryPolicy.no_wait()) as client:
            listed = [r async for r in client.list()]
            items: list[Any] = [*sids, *listed, *sids, None]
            async with asyncio.timeout(20):
                results = [
                    r
                    async for r in client.download_many(
                        items, tmp_path, concurrency=3, ordered=ordered
                    )
                ]
    expected = [i.sid if isinstance(i, MediaRecording) else i for i in items]
    assert Counter(map(repr, (r.sid for r in results))) == Counter(map(repr, expected))
    if ordered:
        assert [r.sid for r in results] == expected
    assert sum(r.ok and not r.skipped for r in results) == len(sids)  # each file once
    assert sum(r.skipped for r in results) == 2 * len(sids)
    assert not partials(tmp_path)


@pytest.mark.fake_media_server(generate=0, recordings=small(44))
async def test_a_retry_queued_behind_its_own_runs_cap_never_stalls_another_run(
    fake_media_server: FakeMediaServer,
) -> None:
    """Run A (one slot) has a slow request in flight and a retry queued for its slot;
    run B on the same client must not wait for A's slot to start its own items."""
    sids = fake_media_server.sids
    waiting, slow, quick = sids[0], sids[1], sids[4:]
    fake_media_server.script(waiting, [Fault.server_error(503)])
    fake_media_server.script(slow, [Fault.latency(3)])
    policy = RetryPolicy(max_attempts=3, initial_wait=0.1, max_wait=0.1, jitter=lambda: 1.0)
    async with client_for(fake_media_server, retry=policy) as client:
        a = client.fetch_many([waiting, slow], concurrency=1, ordered=True)
        first = asyncio.ensure_future(anext(a))
        async with asyncio.timeout(10):
            # A's retry is queued: its backoff is over, its one slot is the slow request's.
            while fake_media_server.attempts(waiting) < 1 or fake_media_server.in_flight < 1:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            b = [r async for r in client.fetch_many(quick, concurrency=4)]
            assert not first.done()  # B finished while A's slow request was in flight
            results = [await first] + [r async for r in a]
    assert all(r.ok for r in b) and Counter(r.sid for r in b) == Counter(quick)
    assert [r.sid for r in results] == [waiting, slow] and all(r.ok for r in results)


class Countdown:
    """An async iterator that is not a generator: no ``aclose`` to call."""

    def __init__(self, items: list[str]) -> None:
        self.items = list(items)

    def __aiter__(self) -> Countdown:
        return self

    async def __anext__(self) -> str:
        await asyncio.sleep(0)
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)


@pytest.mark.parametrize("method", METHODS)
async def test_empty_inputs_and_plain_async_iterators(
    fake_media_server: FakeMediaServer, media_client: MediaClient, tmp_path: Path, method: str
) -> None:
    sids = fake_media_server.sids[:6]
    empties: list[Any] = [[], iter(()), Countdown([])]
    for empty in empties:
        assert [r async for r in stream(media_client, method, empty, tmp_path)] == []
    results = [r async for r in stream(media_client, method, Countdown(sids), tmp_path)]
    assert Counter(r.sid for r in results) == Counter(sids) and all(r.ok for r in results)
    async with contextlib.aclosing(stream(media_client, method, Countdown(sids), tmp_path)) as s:
        await anext(s)  # then closed with an input that has no aclose
    assert not sdk_tasks()


@pytest.mark.fake_media_server(generate=0, recordings=small(200), fault_rate=0.3, fault_kinds=FLAKY)
async def test_the_connection_pool_bounds_in_flight_while_items_back_off(
    fake_media_server: FakeMediaServer,
) -> None:
    """Extra workers start while items wait out backoffs: never past the connections."""
    policy = RetryPolicy(max_attempts=12, initial_wait=0.001, max_wait=0.02, budget=None)
    async with client_for(fake_media_server, retry=policy, connection_limit=3) as client:
        async with asyncio.timeout(30):
            results = [r async for r in client.fetch_many(fake_media_server.sids, concurrency=64)]
    assert Counter(r.sid for r in results) == Counter(fake_media_server.sids)
    assert all(r.ok for r in results)
    assert fake_media_server.max_in_flight <= 3


@pytest.mark.fake_media_server(generate=0, recordings=small(120))
async def test_a_stalled_download_consumer_bounds_transfers_and_reading(
    fake_media_server: FakeMediaServer, media_client: MediaClient, tmp_path: Path
) -> None:
    source = Counting(fake_media_server.sids)
    concurrency = 3
    results = []
    bulk = media_client.download_many(source, tmp_path, concurrency=concurrency)
    async with contextlib.aclosing(bulk):
        results.append(await anext(bulk))
        await settled(lambda: (source.pulled, len(fake_media_server.storage_requests)))
        assert source.pulled <= 1 + IN_PROGRESS_PER_SLOT * concurrency + 1
        results += [r async for r in bulk]
    assert Counter(r.sid for r in results) == Counter(fake_media_server.sids)
    assert all(r.ok and not r.skipped for r in results)
    assert fake_media_server.storage_max_in_flight <= concurrency
    assert not partials(tmp_path)


async def test_a_download_consumer_cancelled_twice_leaves_partials_that_resume(
    fake_media_server: FakeMediaServer, media_client: MediaClient, tmp_path: Path
) -> None:
    """A second cancellation while the first one is still being handled (a task group
    and a timeout, say) must still await every transfer and leave no open file."""
    sids = fake_media_server.sids[:6]
    for sid in sids:
        fake_media_server.script_storage(sid, [StorageFault.slow(5)])

    async def consume() -> None:
        async for _ in media_client.download_many(sids, tmp_path, concurrency=6):
            pass  # pragma: no cover

    task = asyncio.ensure_future(consume())
    async with asyncio.timeout(10):
        while len(partials(tmp_path)) < len(sids) or fake_media_server.storage_max_in_flight < 6:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not sdk_tasks()
    gc.collect()  # an unclosed partial would warn here (an error under filterwarnings)
    assert_finals_whole(fake_media_server, tmp_path)
    async with asyncio.timeout(20):
        results = [r async for r in media_client.download_many(sids, tmp_path)]
    assert all(r.ok and r.sha256 == fake_media_server.media_sha256(str(r.sid)) for r in results)
    assert not partials(tmp_path)


@pytest.mark.fake_media_server(generate=0, recordings=small(60))
async def test_a_run_whose_consumer_stalls_never_holds_up_another(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sids = fake_media_server.sids
    async with contextlib.aclosing(media_client.fetch_many(sids[:30], concurrency=4)) as a:
        first = await anext(a)  # then A's consumer stalls, its pool full of results
        async with asyncio.timeout(10):
            b = [r async for r in media_client.fetch_many(sids[30:], concurrency=4)]
        assert Counter(r.sid for r in b) == Counter(sids[30:]) and all(r.ok for r in b)
        rest = [r async for r in a]
    assert Counter(r.sid for r in [first, *rest]) == Counter(sids[:30])
