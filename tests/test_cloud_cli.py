"""``twilio-media archive -d s3://...`` end to end: the real command against a
FakeMediaServer and moto's S3 server on loopback.  Objects checked by hash, a run killed
with SIGKILL and resumed from the bucket, 4 shards into one bucket, and
``--delete-after`` deleting only what a HEAD and the sidecar confirm."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Final

from twilio_media_async.testing import FakeMediaServer, StorageFault

from ._archive import recording
from ._cli import CLI, TIMEOUT, _base_env, connect, run_cli
from ._s3 import S3, SECRET, faulty_proxy, s3, s3_server
from .conftest import ACCOUNT_SID, AUTH_TOKEN
from .test_cli_archive import manifest_lines

__all__ = ["s3", "s3_server"]

SIDS: Final = tuple(f"KV{i:032x}" for i in range(0x300, 0x30C))
SIZE: Final = 300_000


def served(*sids: str, size: int = SIZE) -> FakeMediaServer:
    items = [recording(sid, size=size) for sid in sids or SIDS]
    return FakeMediaServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, recordings=items)


def assert_in_bucket(
    s3: S3,
    server: FakeMediaServer,
    bucket: str,
    prefix: str,
    sids: tuple[str, ...],
    hashes: dict[str, str] | None = None,
) -> None:
    """Every sid's object is there, correct by its hash (``hashes``, or what the server
    serves), with its sidecar naming it."""
    for sid in sids:
        key = f"{prefix}{sid}.mp4"
        expected = server.media_sha256(sid) if hashes is None else hashes[sid]
        assert s3.sha256(bucket, key) == expected, sid
        assert s3.get(bucket, key + ".sha256").decode() == f"{expected}  {sid}.mp4\n"
    assert not server.storage_saw_authorization


async def run_in(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The CLI run in ``cwd``: its exit code and all it printed."""
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**_base_env(), **(env or {})},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_archive_into_s3_writes_objects_sidecars_and_a_local_manifest(
    s3: S3, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    async with served() as server:
        code, out = await run_in(tmp_path, *connect(server), "archive", "-d", f"s3://{bucket}/a")
        assert code == 0, out
        assert_in_bucket(s3, server, bucket, "a/", SIDS)
        assert s3.uploads(bucket) == []
        lines = manifest_lines(tmp_path / "manifest.jsonl")  # in the current directory
        assert Counter(line["sid"] for line in lines) == Counter(SIDS)
        for line in lines:
            assert line["path"] == f"s3://{bucket}/a/{line['sid']}.mp4"
            assert line["sha256"] == server.media_sha256(line["sid"])
        assert SECRET not in out


async def test_cloud_credentials_never_reach_the_output(s3: S3, tmp_path: Path) -> None:
    async with served(*SIDS[:2]) as server:  # a bucket that does not exist: every PUT fails
        code, out = await run_in(
            tmp_path, *connect(server), "archive", "-d", "s3://no-such-bucket/x"
        )
        assert code == 1, out
        manifest = (tmp_path / "manifest.jsonl").read_text()
        errors = [line for line in manifest_lines(tmp_path / "manifest.jsonl") if "error" in line]
        assert {line["sid"] for line in errors} == set(SIDS[:2])
        for text in (out, manifest):
            assert SECRET not in text
            assert AUTH_TOKEN not in text


async def test_a_run_killed_with_sigkill_resumes_from_the_bucket(s3: S3, tmp_path: Path) -> None:
    bucket = s3.bucket()
    async with served(size=12 << 20) as server:
        for sid in SIDS:  # each file stalls halfway through, once: there is time to kill
            server.script_storage(sid, [StorageFault.slow(0.5)])
        args = [*connect(server), "archive", "-d", f"s3://{bucket}/k", "--concurrency", "3"]
        args += ["--manifest", str(tmp_path / "m.jsonl")]
        process = await asyncio.create_subprocess_exec(
            *CLI, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, env=_base_env(),
        )  # fmt: skip
        manifest = tmp_path / "m.jsonl"
        for _ in range(1500):  # until a few objects are done, and others are in flight
            if manifest.exists() and manifest.read_bytes().count(b"\n") >= 3:
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        done = [line["sid"] for line in manifest_lines(manifest)]
        assert 3 <= len(done) < len(SIDS)
        keys = set(s3.keys(bucket))
        for sid in SIDS:  # an object with its sidecar is whole even after a kill
            if f"k/{sid}.mp4.sha256" in keys:
                assert s3.sha256(bucket, f"k/{sid}.mp4") == server.media_sha256(sid)
        before = len(server.storage_requests)

        run = await run_cli(*args, "--resume")
        assert run.code == 0, run.err
        assert_in_bucket(s3, server, bucket, "k/", SIDS)
        fetched = {req.sid for req in server.storage_requests[before:]}
        assert not fetched & set(done)  # what the bucket held was not fetched again
        lines = manifest_lines(manifest)
        assert {line["sid"] for line in lines} == set(SIDS)


async def test_four_shards_fill_one_bucket_with_no_overlap_and_no_gap(
    s3: S3, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    async with served() as server:
        source = tmp_path / "sids.txt"
        source.write_text("\n".join(SIDS) + "\n")
        runs = await asyncio.gather(
            *(
                run_cli(
                    *connect(server),
                    "archive",
                    "-d",
                    f"s3://{bucket}/s",
                    "-i",
                    str(source),
                    "--shard",
                    f"{k}/4",
                    "--manifest",
                    str(tmp_path / f"m{k}.jsonl"),
                )
                for k in range(4)
            )
        )
        assert [run.code for run in runs] == [0, 0, 0, 0], [run.err for run in runs]
        sids = Counter(
            line["sid"] for k in range(4) for line in manifest_lines(tmp_path / f"m{k}.jsonl")
        )
        assert sids == Counter(SIDS)  # each sid once, in one shard
        got = [r.sid for r in server.storage_requests]
        assert Counter(got) == Counter(SIDS)  # each file fetched exactly once
        assert_in_bucket(s3, server, bucket, "s/", SIDS)
        assert s3.keys(bucket) == sorted(
            f"s/{sid}.mp4{tail}" for sid in SIDS for tail in ("", ".sha256")
        )


def kinds(lines: list[dict[str, Any]], sid: str) -> list[str]:
    return [
        "deleted"
        if "deleted" in line
        else "intent"
        if "intent" in line
        else line.get("stage", "error")
        if "error" in line
        else "file"
        for line in lines
        if line["sid"] == sid
    ]


async def test_delete_after_deletes_only_the_confirmed_recordings(s3: S3, tmp_path: Path) -> None:
    bucket = s3.bucket()
    async with served() as server:
        bad = SIDS[0]  # every answer one byte short: it never verifies
        server.script_storage(bad, [StorageFault.wrong_length(-1)] * 40)
        hashes = {sid: server.media_sha256(sid) for sid in SIDS}
        manifest = tmp_path / "m.jsonl"
        run = await run_cli(
            *connect(server), "archive", "-d", f"s3://{bucket}/d", "--manifest", str(manifest),
            "--delete-after", "--yes",
        )  # fmt: skip
        assert run.code == 1, run.err
        lines = manifest_lines(manifest)
        for sid in SIDS[1:]:  # each delete came after its object's line and its intent
            assert kinds(lines, sid) == ["file", "intent", "deleted"], sid
        assert kinds(lines, bad) == ["error"]
        assert {sid for sid in SIDS if sid in server.recordings} == {bad}
        assert f"d/{bad}.mp4" not in s3.keys(bucket)
        assert_in_bucket(s3, server, bucket, "d/", SIDS[1:], hashes)


async def test_delete_after_keeps_a_recording_whose_sidecar_does_not_match(
    s3: S3, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    async with faulty_proxy(s3.endpoint, lying_sidecars=True) as proxy:
        async with served(*SIDS[:3]) as server:
            manifest = tmp_path / "m.jsonl"
            run = await run_cli(
                *connect(server), "archive", "-d", f"s3://{bucket}/v", "--manifest",
                str(manifest), "--delete-after", "--yes", env={"AWS_ENDPOINT_URL": proxy},
            )  # fmt: skip
            assert run.code == 1, run.err
            lines = manifest_lines(manifest)
            for sid in SIDS[:3]:
                assert kinds(lines, sid) == ["file", "verify"], sid
                assert sid in server.recordings  # never deleted
            errors = [line for line in lines if line.get("stage") == "verify"]
            assert all(line["error"] == "MediaIntegrityError" for line in errors)
            assert "another sha256" in errors[0]["message"]
            assert "delete failed" in run.err


async def test_without_obstore_the_cli_names_the_extra_before_any_request(
    tmp_path: Path,
) -> None:
    async with served() as server:
        code = (
            "import sys; sys.modules['obstore'] = None\n"
            "from twilio_media_async.cli import main\n"
            "sys.argv = ['twilio-media', *sys.argv[1:]]\n"
            "main()\n"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, *connect(server), "archive", "-d", "s3://bucket/p",
            cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=_base_env(),
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
        assert process.returncode == 2, err
        assert "pip install 'twilio-media-async[cloud]'" in err.decode()
        assert server.request_count == 0
        assert not (tmp_path / "manifest.jsonl").exists()


async def test_the_demo_is_for_a_local_directory(s3: S3, tmp_path: Path) -> None:
    code, out = await run_in(tmp_path, "archive", "--demo", "-d", "s3://bucket/p")
    assert code == 2, out
    assert "--demo archives into a local directory" in out
