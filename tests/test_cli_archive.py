"""``twilio-media archive`` end to end: the real command against a FakeMediaServer and its
storage site on loopback; files checked by their sha256, runs killed with SIGKILL and
resumed, shards, and ``--delete-after`` deleting only what is verified and recorded."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any, Final

import orjson

from twilio_media_async.testing import FakeMediaServer, StorageFault

from ._archive import recording
from ._cli import CLI, _base_env, connect, run_cli
from .conftest import ACCOUNT_SID, AUTH_TOKEN

SIDS: Final = tuple(f"KV{i:032x}" for i in range(0x100, 0x10C))
SIZE: Final = 300_000


def served(*sids: str, size: int = SIZE, **options: Any) -> FakeMediaServer:
    """A server holding completed recordings of ``sids`` (SIDS by default), and one that
    is still processing, which a listing by status leaves out."""
    items = [recording(sid, size=size) for sid in sids or SIDS]
    items.append(recording("KV" + "9" * 32, status="processing"))
    return FakeMediaServer(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, recordings=items, **options
    )


def manifest_lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [orjson.loads(line) for line in data.splitlines()]


def assert_archived(
    server: FakeMediaServer,
    directory: Path,
    sids: tuple[str, ...],
    hashes: dict[str, str] | None = None,
) -> None:
    """Every sid's file is in place, whole and correct by its hash (``hashes``, or what
    the server serves); no partial is left."""
    for sid in sids:
        data = (directory / f"{sid}.mp4").read_bytes()
        expected = server.media_sha256(sid) if hashes is None else hashes[sid]
        assert hashlib.sha256(data).hexdigest() == expected, sid
    assert not list(directory.glob("*.partial"))
    assert not server.storage_saw_authorization


async def test_archive_lists_downloads_verifies_and_writes_one_line_per_file(
    tmp_path: Path,
) -> None:
    async with served() as server:
        run = await run_cli(*connect(server), "archive", "-d", str(tmp_path / "a"))
        assert run.code == 0, run.err
        assert_archived(server, tmp_path / "a", SIDS)
        lines = manifest_lines(tmp_path / "a" / "manifest.jsonl")
        assert Counter(line["sid"] for line in lines) == Counter(SIDS)
        for line in lines:
            assert line["path"] == f"{line['sid']}.mp4"
            assert line["bytes"] == SIZE
            assert line["sha256"] == server.media_sha256(line["sid"])
        assert "archived" in run.err and "12" in run.err


async def test_every_input_item_gets_one_line_and_failures_exit_1(tmp_path: Path) -> None:
    unknown = "KV" + "f" * 32
    async with served() as server:
        source = tmp_path / "sids.txt"
        source.write_text("\n".join([*SIDS[:3], "not-a-sid", unknown]) + "\n")
        manifest = tmp_path / "m.jsonl"
        run = await run_cli(
            *connect(server), "archive", "-d", str(tmp_path / "a"), "-i", str(source),
            "--manifest", str(manifest),
        )  # fmt: skip
        assert run.code == 1, run.err
        lines = {line["sid"]: line for line in manifest_lines(manifest)}
        assert set(lines) == {*SIDS[:3], "not-a-sid", unknown}
        assert lines["not-a-sid"]["error"] == "InvalidSidError"
        assert lines[unknown]["error"] == "NotFoundError"
        assert_archived(server, tmp_path / "a", SIDS[:3])


async def test_the_storage_url_and_the_token_never_reach_the_output(tmp_path: Path) -> None:
    async with served() as server:
        # Storage refuses every try of the first sid's file: its error is recorded.
        server.script_storage(SIDS[0], [StorageFault.expired()] * 40)
        run = await run_cli(*connect(server), "archive", "-d", str(tmp_path))
        assert run.code == 1
        text = run.out + run.err + (tmp_path / "manifest.jsonl").read_text()
        assert "Signature" not in text and "Expires=" not in text
        assert server.auth_token not in text
        errors = [line for line in manifest_lines(tmp_path / "manifest.jsonl") if "error" in line]
        assert [line["sid"] for line in errors] == [SIDS[0]]


async def test_a_run_killed_with_sigkill_resumes_with_every_file_whole(tmp_path: Path) -> None:
    directory = tmp_path / "a"
    async with served(size=2_000_000) as server:
        for sid in SIDS:  # each file stalls halfway through, once: there is time to kill
            server.script_storage(sid, [StorageFault.slow(0.4)])
        args = [*connect(server), "archive", "-d", str(directory), "--concurrency", "3"]
        process = await asyncio.create_subprocess_exec(
            *CLI, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, env=_base_env(),
        )  # fmt: skip
        manifest = directory / "manifest.jsonl"
        for _ in range(400):  # until a few files are done, and others are in flight
            if manifest.exists() and manifest.read_bytes().count(b"\n") >= 3:
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        before = manifest_lines(manifest)
        assert 3 <= len(before) < len(SIDS)
        finals = [p for p in directory.iterdir() if p.suffix == ".mp4"]
        for path in finals:  # a file under its final name is whole even after a kill
            assert hashlib.sha256(path.read_bytes()).hexdigest() == server.media_sha256(path.stem)

        run = await run_cli(*args, "--resume")
        assert run.code == 0, run.err
        assert_archived(server, directory, SIDS)
        lines = manifest_lines(manifest)
        assert Counter(line["sid"] for line in lines) == Counter(SIDS)  # no sid twice
        assert "already done" in run.err


async def test_shards_cover_the_input_exactly_once(tmp_path: Path) -> None:
    async with served() as server:
        source = tmp_path / "sids.txt"
        source.write_text("\n".join(SIDS) + "\n")
        runs = await asyncio.gather(
            *(
                run_cli(
                    *connect(server),
                    "archive",
                    "-d",
                    str(tmp_path / "a"),
                    "-i",
                    str(source),
                    "--shard",
                    f"{k}/3",
                    "--manifest",
                    str(tmp_path / f"m{k}.jsonl"),
                )
                for k in range(3)
            )
        )
        assert [run.code for run in runs] == [0, 0, 0]
        sids = Counter(
            line["sid"] for k in range(3) for line in manifest_lines(tmp_path / f"m{k}.jsonl")
        )
        assert sids == Counter(SIDS)
        assert_archived(server, tmp_path / "a", SIDS)


async def test_delete_after_deletes_only_what_is_verified_and_recorded(tmp_path: Path) -> None:
    async with served() as server:
        bad = SIDS[0]  # every answer one byte short: it never verifies
        server.script_storage(bad, [StorageFault.wrong_length(-1)] * 40)
        run = await run_cli(
            *connect(server), "archive", "-d", str(tmp_path), "--delete-after", "--yes"
        )
        assert run.code == 1, run.err
        lines = manifest_lines(tmp_path / "manifest.jsonl")
        deleted = [line["sid"] for line in lines if line.get("deleted") is True]
        assert Counter(deleted) == Counter(SIDS[1:])
        for sid in SIDS[1:]:  # each delete came after its file's line and its intent
            kinds = [
                "deleted" if "deleted" in line else "intent" if "intent" in line else "file"
                for line in lines
                if line["sid"] == sid
            ]
            assert kinds == ["file", "intent", "deleted"], (sid, kinds)
        assert not (tmp_path / f"{bad}.mp4").exists()
        assert {sid for sid in SIDS if sid in server.recordings} == {bad}


async def test_a_resumed_delete_after_deletes_what_an_earlier_run_verified(
    tmp_path: Path,
) -> None:
    async with served() as server:
        hashes = {sid: server.media_sha256(sid) for sid in SIDS}
        first = await run_cli(*connect(server), "archive", "-d", str(tmp_path))
        assert first.code == 0, first.err
        deletes = server.request_count
        run = await run_cli(
            *connect(server), "archive", "-d", str(tmp_path), "--resume", "--delete-after", "-y"
        )
        assert run.code == 0, run.err
        lines = manifest_lines(tmp_path / "manifest.jsonl")
        assert Counter(line["sid"] for line in lines if line.get("deleted")) == Counter(SIDS)
        assert server.request_count > deletes
        assert_archived(server, tmp_path, SIDS, hashes)  # the files stay
        assert not any(sid in server.recordings for sid in SIDS)


async def test_delete_after_without_yes_or_a_terminal_sends_nothing(tmp_path: Path) -> None:
    async with served() as server:
        run = await run_cli(*connect(server), "archive", "-d", str(tmp_path), "--delete-after")
        assert run.code == 1
        assert "--yes" in run.err
        assert server.request_count == 0


async def test_a_manifest_that_is_the_input_is_refused_before_any_request(
    tmp_path: Path,
) -> None:
    async with served() as server:
        source = tmp_path / "sids.txt"
        source.write_text("\n".join(SIDS) + "\n")
        os.symlink(source, tmp_path / "link.jsonl")
        run = await run_cli(
            *connect(server), "archive", "-d", str(tmp_path), "-i", str(source),
            "--manifest", str(tmp_path / "link.jsonl"),
        )  # fmt: skip
        assert run.code == 2, run.err
        assert source.read_text() == "\n".join(SIDS) + "\n"
        assert server.request_count == 0


async def test_archive_demo_needs_no_credentials(tmp_path: Path) -> None:
    run = await run_cli("archive", "--demo", "-d", str(tmp_path))
    assert run.code == 0, run.err
    assert "verified" in run.err
    lines = manifest_lines(tmp_path / "manifest.jsonl")
    files = [line for line in lines if "path" in line]
    assert len(files) == 200
    assert all(isinstance(line["sha256"], str) for line in files)
    assert sum(1 for line in lines if line.get("deleted") is True) == 200
