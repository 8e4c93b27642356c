"""``twilio-media archive --delete-after`` killed with SIGKILL mid-run, again and again, then
resumed to the end: at every kill, nothing is deleted on the server whose file is not in
place, whole and recorded; after the last run every file is there and verified, no
``.partial`` is left, each sid has one file line and one deleted line, and the storage
never saw the Authorization header.

tests/test_cli_archive.py kills a run without ``--delete-after`` once; this one kills runs
that delete, while transfers, DELETEs and manifest writes are in flight.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections import Counter
from pathlib import Path
from typing import Any, Final

import orjson

from twilio_media_async.testing import FakeMediaServer, Fault, StorageFault

from ._archive import recording
from ._cli import CLI, _base_env, connect, run_cli
from .conftest import ACCOUNT_SID, AUTH_TOKEN

SIDS: Final = tuple(f"KV{i:032x}" for i in range(0x500, 0x509))
SIZE: Final = 1_000_000


def served() -> FakeMediaServer:
    items = [recording(sid, size=SIZE) for sid in SIDS]
    return FakeMediaServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, recordings=items)


def lines_of(manifest: Path) -> list[dict[str, Any]]:
    """The manifest's whole lines (a torn last line, which a kill may leave, is skipped:
    the resumed run cuts it)."""
    if not manifest.exists():
        return []
    whole = []
    for raw in manifest.read_bytes().splitlines(keepends=True):
        if raw.endswith(b"\n"):
            whole.append(orjson.loads(raw))
    return whole


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_nothing_deleted_unsafely(
    server: FakeMediaServer, directory: Path, hashes: dict[str, str]
) -> None:
    """Every recording gone from the server has its file in place, whole, and an ok
    manifest line with its sha256; every file under its final name is whole."""
    lines = lines_of(directory / "manifest.jsonl")
    recorded = {line["sid"]: line for line in lines if "sha256" in line}
    for sid in SIDS:
        path = directory / f"{sid}.mp4"
        if path.exists():  # a final file is never incomplete, even after a kill
            assert digest(path) == hashes[sid], sid
        if sid not in server.recordings:
            assert path.exists(), f"{sid} deleted without its file"
            assert sid in recorded, f"{sid} deleted without its ok line"
            assert recorded[sid]["sha256"] == hashes[sid]


def slow_down(server: FakeMediaServer) -> None:
    """Each transfer stalls halfway and each DELETE waits, once: a kill lands mid-work."""
    for sid in SIDS:
        server.script_storage(sid, [StorageFault.slow(0.3)])
        # The metadata GET, the media resolve, then the DELETE.
        server.script(sid, [None, None, Fault.latency(0.3)])


async def run_and_kill(server: FakeMediaServer, args: list[str], more: int) -> None:
    """Start the archive and SIGKILL it once ``more`` new manifest lines are written."""
    manifest = Path(args[args.index("-d") + 1]) / "manifest.jsonl"
    start = len(lines_of(manifest))
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, env=_base_env(),
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            while len(lines_of(manifest)) < start + more and process.returncode is None:
                await asyncio.sleep(0.01)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()


async def test_delete_after_killed_repeatedly_then_resumed_loses_and_deletes_nothing_unsafely(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "a"
    source = tmp_path / "sids.txt"
    source.write_text("".join(f"{sid}\n" for sid in SIDS))
    async with served() as server:
        hashes = {sid: server.media_sha256(sid) for sid in SIDS}
        args = [*connect(server), "archive", "-d", str(directory), "-i", str(source)]
        args += ["--concurrency", "3", "--delete-after", "--yes", "--resume"]
        for more in (4, 5, 6):  # three kills at different depths of the run
            slow_down(server)
            await run_and_kill(server, args, more)
            assert_nothing_deleted_unsafely(server, directory, hashes)
            await asyncio.sleep(0.4)  # a DELETE in flight at the kill may land now
            assert_nothing_deleted_unsafely(server, directory, hashes)

        run = await run_cli(*args)
        assert run.code == 0, run.err
        for sid in SIDS:
            assert digest(directory / f"{sid}.mp4") == hashes[sid], sid
        assert not list(directory.glob("*.partial"))
        assert not [sid for sid in SIDS if sid in server.recordings]
        lines = lines_of(directory / "manifest.jsonl")
        assert Counter(line["sid"] for line in lines if "sha256" in line) == Counter(SIDS)
        assert Counter(line["sid"] for line in lines if line.get("deleted")) == Counter(SIDS)
        for line in lines:
            if "sha256" in line:
                assert line["sha256"] == hashes[line["sid"]]
                assert line["bytes"] == SIZE
        assert not server.storage_saw_authorization
