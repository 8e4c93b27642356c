"""download_many(): exactly one result per item, bounded transfers, clean cancellation."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from twilio_media_async import (
    DownloadResult,
    InvalidParameterError,
    InvalidSidError,
    MediaRecording,
    MediaUnavailableError,
    NotFoundError,
    RetryPolicy,
)
from twilio_media_async.testing import StorageFault

from ._archive import SIZE, recording, serving

SIDS = [f"KV{i:032x}" for i in range(1, 121)]


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


def halves(directory: Path) -> int:
    return sum(p.stat().st_size == SIZE // 2 for p in directory.glob("*.partial"))


def sha256_of(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def halves_on_disk(directory: Path, count: int) -> None:
    """Wait until ``count`` partial files hold their first half (the slow fault's stall)."""
    async with asyncio.timeout(10):
        while halves(directory) < count:
            await asyncio.sleep(0.01)


async def test_exactly_one_result_per_item_over_200_mixed_items(tmp_path: Path) -> None:
    served = [recording(sid, size=2000 + i) for i, sid in enumerate(SIDS)]
    processing = "KV" + "e" * 32
    served.append(recording(processing, status="processing"))
    async with serving(*served) as (server, client):
        first = set(SIDS[:40])
        listed = [r async for r in client.list(status="completed") if r.sid in first]
        for sid in SIDS[:10]:
            server.script_storage(sid, [StorageFault.truncated()])
        for sid in SIDS[10:15]:
            server.script_storage(sid, [StorageFault.expired()])
        items: list[Any] = [*SIDS[40:], *listed, processing, "KV" + "0" * 32, "bad", 7, None]
        items += [SIDS[50], listed[0]]  # the same targets again
        items += ["KV" + "f" * 32] * (200 - len(items))  # unknown sids, one each
        assert len(items) == 200
        server.reset_stats()
        results = [r async for r in client.download_many(items, tmp_path, concurrency=6)]
    assert len(results) == 200
    assert Counter(map(repr, (r.sid for r in results))) == Counter(
        map(repr, (i.sid if isinstance(i, MediaRecording) else i for i in items))
    )
    by_kind = Counter(type(r.error).__name__ if r.error else "ok" for r in results)
    assert by_kind["InvalidSidError"] == 3
    assert by_kind["MediaUnavailableError"] == 1
    assert by_kind["NotFoundError"] == 200 - 127 + 1
    assert by_kind["ok"] == 80 + 40 + 2
    for result in results:
        if result.ok and not result.skipped:
            assert result.path is not None
            assert result.sha256 == sha256_of(result.path)
            assert result.sha256 == server.media_sha256(str(result.sid))
    assert sum(r.skipped for r in results) == 2
    # Listed recordings cost no metadata request: only their resolve.
    fetched = {r.sid for r in server.requests if r.path.endswith(r.sid or "-")}
    assert fetched.isdisjoint(r.sid for r in listed)
    assert not server.storage_saw_authorization
    assert server.storage_max_in_flight <= 6
    assert not [name for name in files_in(tmp_path) if name.endswith(".partial")]


async def test_ordered_yields_in_input_order(tmp_path: Path) -> None:
    async with serving() as (server, client):
        sids = list(reversed(server.sids))
        results = [r async for r in client.download_many(sids, tmp_path, ordered=True)]
    assert [r.sid for r in results] == sids and all(r.ok for r in results)


async def test_the_same_target_twice_runs_one_after_the_other_the_later_skipped(
    tmp_path: Path,
) -> None:
    async with serving() as (server, client):
        sid = server.sids[0]
        results = [
            r
            async for r in client.download_many(
                [sid, sid, sid], tmp_path, concurrency=3, overwrite=True
            )
        ]
    assert [r.ok for r in results] == [True] * 3
    assert sorted(r.skipped for r in results) == [False, True, True]
    assert len(server.storage_requests) == 1


async def test_media_recording_items_make_no_metadata_request(tmp_path: Path) -> None:
    async with serving() as (server, client):
        recordings = [r async for r in client.list()]
        server.reset_stats()
        results = [r async for r in client.download_many(recordings, tmp_path)]
        assert all(r.ok for r in results) and len(results) == len(recordings)
        assert all(r.path.endswith("/Media") for r in server.requests)
        assert len(server.requests) == len(recordings)


async def test_file_names_come_from_the_sid_and_a_plain_format_only(tmp_path: Path) -> None:
    sids = [f"KV{i:032x}" for i in range(1, 4)]
    served = [
        recording(sids[0], format="webm"),
        recording(sids[1], format="../../etc/passwd"),
        recording(sids[2], format="MP4"),
    ]
    async with serving(*served) as (_, client):
        items: list[Any] = [*sids, MediaRecording(sid="../../escape", size=1)]
        items.append(MediaRecording(sid="KV" + "1" * 32 + "/x", size=1))
        results = [r async for r in client.download_many(items, tmp_path / "out")]
    assert files_in(tmp_path) == sorted([f"{sids[0]}.webm", f"{sids[1]}.bin", f"{sids[2]}.bin"])
    bad = [r for r in results if not r.ok]
    assert len(bad) == 2 and all(isinstance(r.error, InvalidSidError) for r in bad)
    assert {r.sid for r in bad} == {"../../escape", "KV" + "1" * 32 + "/x"}


async def test_breaking_out_leaves_only_partial_files_and_no_incomplete_final_file(
    tmp_path: Path,
) -> None:
    async with serving(client={"timeout": 30}) as (server, client):
        slow = server.sids[1:]
        for sid in slow:
            server.script_storage(sid, [StorageFault.slow(60)])
        stream = client.download_many(server.sids[:1] + slow, tmp_path, concurrency=8, ordered=True)
        async for result in stream:
            assert result.ok
            break
        # Wait until the slow transfers have their first half on disk, then close.
        await halves_on_disk(tmp_path, len(slow))
        await stream.aclose()
    names = files_in(tmp_path)
    assert names.count(f"{server.sids[0]}.mp4") == 1
    assert sorted(n for n in names if n.endswith(".partial")) == sorted(
        f"{sid}.mp4.partial" for sid in slow
    )
    assert len(names) == 1 + len(slow)
    for sid in slow:
        assert (tmp_path / f"{sid}.mp4.partial").stat().st_size == SIZE // 2


async def test_a_resumed_run_continues_the_partial_files_of_a_cancelled_one(
    tmp_path: Path,
) -> None:
    async with serving(client={"timeout": 30}) as (server, client):
        for sid in server.sids:
            server.script_storage(sid, [StorageFault.slow(60)])

        async def run() -> None:
            async for _ in client.download_many(server.sids, tmp_path):
                pass

        task = asyncio.ensure_future(run())
        await halves_on_disk(tmp_path, len(server.sids))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not [name for name in files_in(tmp_path) if name.endswith(".mp4")]
        server.reset_stats()
        results = [r async for r in client.download_many(server.sids, tmp_path)]
        assert all(r.ok and r.sha256 == server.media_sha256(str(r.sid)) for r in results)
        resumed = {r.range for r in server.storage_requests}
        assert resumed == {f"bytes={SIZE // 2}-"}


async def test_an_async_iterable_input_and_api_faults_are_results(tmp_path: Path) -> None:
    async with serving(retry=RetryPolicy.no_wait(max_attempts=2)) as (server, client):
        from twilio_media_async.testing import Fault

        server.script(server.sids[0], [Fault.server_error(503)] * 2)

        async def items() -> AsyncIterator[str]:
            for sid in server.sids[:3]:
                yield sid

        results: list[DownloadResult] = [r async for r in client.download_many(items(), tmp_path)]
    failed = [r for r in results if not r.ok]
    assert len(results) == 3 and len(failed) == 1
    assert failed[0].sid == server.sids[0] and failed[0].attempts == 2


async def test_unavailable_and_not_found_are_results_not_exceptions(tmp_path: Path) -> None:
    async with serving(recording("KV" + "1" * 32, status="failed")) as (_, client):
        results = [
            r async for r in client.download_many(["KV" + "1" * 32, "KV" + "2" * 32], tmp_path)
        ]
    errors = {type(r.error) for r in results}
    assert errors == {MediaUnavailableError, NotFoundError}


async def test_arguments_are_checked_when_called(tmp_path: Path) -> None:
    async with serving() as (_, client):
        with pytest.raises(InvalidParameterError):
            client.download_many([], tmp_path, concurrency=0)
        with pytest.raises(InvalidParameterError):
            client.download_many([], 3)  # type: ignore[arg-type]
