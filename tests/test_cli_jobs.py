"""Long bulk jobs through the real ``twilio-media`` command against a FakeMediaServer:
runs killed with SIGKILL and resumed, shards shared by several workers, CSV output, and
delete-many."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any, Final

import orjson
import pytest

from twilio_media_async._cli.jobs.output import FETCH_CSV_COLUMNS
from twilio_media_async.testing import FakeMediaServer, Fault

from ._cli import CLI, TIMEOUT, Run, _base_env, connect, run_cli
from .conftest import ACCOUNT_SID, AUTH_TOKEN

UNKNOWN = "KV" + "f" * 32


pytestmark = pytest.mark.fake_media_server(
    account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, generate=60, seed=71
)


def whole_json_lines(data: bytes) -> list[dict[str, Any]]:
    """Every line of ``data``, each a whole JSON object (and the data ends with a newline)."""
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [orjson.loads(line) for line in data.splitlines()]


def ok_sids(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["sid"] for r in records if "error" not in r and "intent" not in r)


async def start_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


# -- fetch-many --resume -------------------------------------------------------------------


async def test_runs_killed_with_sigkill_and_resumed_end_with_one_ok_record_per_sid(
    tmp_path: Path,
) -> None:
    rng = random.Random(72)
    async with FakeMediaServer(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, generate=300, seed=72, latency=(0.005, 0.03)
    ) as server:
        valid = list(server.sids)
        lines = [*valid, *valid[:25], "not-a-sid", UNKNOWN]  # repeats, and two that fail
        rng.shuffle(lines)
        source = tmp_path / "sids.txt"
        source.write_text("\n".join(lines) + "\n")
        target = tmp_path / "out.jsonl"
        args = [*connect(server), "fetch-many", "-i", str(source), "-o", str(target)]
        args += ["--resume", "--concurrency", "4"]

        kills = 0
        for _ in range(5):
            before = line_count(target)
            proc = await start_cli(*args)
            async with asyncio.timeout(TIMEOUT):
                # Mid-run: some new lines are written, more are on their way.
                while proc.returncode is None and line_count(target) < before + 10:
                    await asyncio.sleep(0.005)
                await asyncio.sleep(rng.uniform(0, 0.1))
            if proc.returncode is not None:
                await proc.communicate()
                break
            proc.kill()  # SIGKILL: no handler, no flush, no cleanup
            await proc.communicate()
            kills += 1
            data = target.read_bytes()
            whole = data[: data.rfind(b"\n") + 1]
            records = whole_json_lines(whole)  # whatever came after them is a torn tail
            assert len(records) >= before + 10  # what was written before the kill stays
            assert max(ok_sids(records).values()) == 1
        assert kills >= 3

        final = await start_cli(*args)
        _, err = await asyncio.wait_for(final.communicate(), TIMEOUT)
        assert final.returncode == 1, err.decode()  # the two failing sids
        records = whole_json_lines(target.read_bytes())
        assert ok_sids(records) == Counter(valid)  # exactly one ok record per valid sid
        assert {r["sid"] for r in records if "error" in r} == {"not-a-sid", UNKNOWN}
        assert not any(r["sid"] == UNKNOWN and "error" not in r for r in records)

        # Once everything valid is done, another run sends only the two that failed.
        server.reset_stats()
        again = await run_cli(*args)
        assert again.code == 1
        assert server.request_count == 1  # UNKNOWN; the malformed sid sends nothing
        assert ok_sids(whole_json_lines(target.read_bytes())) == Counter(valid)


async def test_resume_cuts_a_torn_last_line_and_retries_the_failed_sids(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(fake_media_server.sids[:20]) + "\n")
    target = tmp_path / "out.jsonl"
    flaky = fake_media_server.sids[3]
    fake_media_server.script(flaky, [Fault.server_error(503)])
    first = await run_cli(
        *connect(fake_media_server),
        "--max-attempts",
        "1",
        "fetch-many",
        "-i",
        str(source),
        "-o",
        str(target),
    )
    assert first.code == 1
    records = whole_json_lines(target.read_bytes())
    assert [r["sid"] for r in records if "error" in r] == [flaky]
    # A run killed while writing its last line leaves a fragment without a newline.
    torn = b'{"account_sid":"AC0123456789abcdef0123456789abcdef","bit'
    target.write_bytes(target.read_bytes() + torn)

    second = await run_cli(
        *connect(fake_media_server), "fetch-many", "-i", str(source), "-o", str(target), "--resume"
    )
    assert second.code == 0, second.err
    assert "19 sid(s) already done" in second.err
    assert f"torn last line of {len(torn)} byte(s) cut away" in second.err
    records = whole_json_lines(target.read_bytes())
    assert ok_sids(records) == Counter(fake_media_server.sids[:20])
    assert len(records) == 21  # the error record stays: the log is append-only
    assert fake_media_server.attempts(flaky) == 2
    assert sum(fake_media_server.attempts(sid) for sid in fake_media_server.sids[:20]) == 21


async def test_resume_refuses_a_file_it_did_not_write(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    source = tmp_path / "sids.txt"
    source.write_text(fake_media_server.sids[0] + "\n")
    target = tmp_path / "notes.txt"
    target.write_text("my notes\nmore notes\n")
    run = await run_cli(
        *connect(fake_media_server), "fetch-many", "-i", str(source), "-o", str(target), "--resume"
    )
    assert run.code == 2
    run.assert_one_line_error("line 1 of", "notes.txt", "cannot be resumed")
    assert target.read_text() == "my notes\nmore notes\n"
    assert fake_media_server.request_count == 0


async def test_resume_needs_an_output_file(fake_media_server: FakeMediaServer) -> None:
    run = await run_cli(*connect(fake_media_server), "fetch-many", "--resume", stdin=b"")
    assert run.code == 2
    run.assert_one_line_error("--resume needs -o FILE")


# -- --shard -------------------------------------------------------------------------------


async def test_n_shards_together_cover_the_input_exactly_once(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    lines = [
        *fake_media_server.sids,
        fake_media_server.sids[0],
        fake_media_server.sids[1],
        "not-a-sid",
        UNKNOWN,
    ]
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(lines) + "\n")
    outputs = [tmp_path / f"out-{k}.jsonl" for k in range(3)]
    runs = await asyncio.gather(
        *(
            run_cli(
                *connect(fake_media_server),
                "fetch-many",
                "-i",
                str(source),
                "-o",
                str(out),
                "--shard",
                f"{k}/3",
            )
            for k, out in enumerate(outputs)
        )
    )
    seen: Counter[str] = Counter()
    for run, out in zip(runs, outputs, strict=True):
        assert run.code in (0, 1), run.err
        records = whole_json_lines(out.read_bytes())
        assert records, "every shard of 64 lines gets some"
        seen.update(r["sid"] for r in records)
        assert "in other shards" in run.err
    assert seen == Counter(lines)  # no overlap, no gap: every input line once
    assert fake_media_server.request_count == len(lines) - 1  # the malformed sid sends nothing


async def test_a_bad_shard_is_a_usage_error(fake_media_server: FakeMediaServer) -> None:
    runs = await asyncio.gather(
        *(
            run_cli(*connect(fake_media_server), command, "-i", "-", "--shard", shard, stdin=b"")
            for command in ("fetch-many", "delete-many")
            for shard in ("4/4", "x", "1/0")
        )
    )
    for run in runs:
        assert run.code == 2
        assert "--shard" in run.err
    assert fake_media_server.request_count == 0


# -- --format csv --------------------------------------------------------------------------


async def test_csv_output_and_resume(fake_media_server: FakeMediaServer, tmp_path: Path) -> None:
    source = tmp_path / "sids.txt"
    source.write_text("\n".join([*fake_media_server.sids[:10], "not-a-sid"]) + "\n")
    target = tmp_path / "out.csv"
    args = [*connect(fake_media_server), "fetch-many", "-i", str(source), "-o", str(target)]
    first = await run_cli(*args, "--format", "csv", "--shard", "0/2")
    assert first.code in (0, 1), first.err
    target.write_bytes(target.read_bytes() + b"KV0123,processing,mp")  # a torn row
    second = await run_cli(*args, "--format", "csv", "--resume")
    assert second.code == 1, second.err  # not-a-sid
    assert "torn last line" in second.err
    text = target.read_text()
    assert text.endswith("\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(FETCH_CSV_COLUMNS)
    assert Counter(r["sid"] for r in rows if not r["error"]) == Counter(fake_media_server.sids[:10])
    assert all(r["sid"] == "not-a-sid" for r in rows if r["error"])
    # A CSV file is not resumed as JSON lines, nor the other way round.
    wrong = await run_cli(*args, "--resume")
    assert wrong.code == 2
    wrong.assert_one_line_error("line 1 of", "out.csv")


async def test_csv_to_stdout(fake_media_server: FakeMediaServer) -> None:
    run = await run_cli(
        *connect(fake_media_server),
        "fetch-many",
        "--format",
        "csv",
        stdin=fake_media_server.sids[0].encode(),
    )
    assert run.code == 0, run.err
    header, row = run.out.splitlines()
    assert header == ",".join(FETCH_CSV_COLUMNS)
    assert row.startswith(fake_media_server.sids[0] + ",")


# -- delete-many ---------------------------------------------------------------------------


async def test_delete_many_without_confirmation_sends_nothing(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(fake_media_server.sids[:5]) + "\n")
    log = tmp_path / "deleted.jsonl"
    args = [*connect(fake_media_server), "delete-many", "-i", str(source), "-o", str(log)]
    no_answer, said_no = await asyncio.gather(run_cli(*args), run_cli(*args, stdin=b"n\n"))
    from_a_pipe = await run_cli(
        *connect(fake_media_server),
        "delete-many",
        "-i",
        "-",
        stdin=fake_media_server.sids[0].encode(),
    )
    for run in (no_answer, said_no, from_a_pipe):
        assert run.code == 1
        assert "nothing deleted" in run.err and "--yes" in run.err
        assert "Traceback" not in run.err
    assert "Delete 5 recording(s) listed in" in said_no.err
    assert fake_media_server.request_count == 0
    assert not log.exists()  # not even created
    assert len(fake_media_server.recordings) == 60


async def test_delete_many_logs_resumes_and_shards(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    doomed = fake_media_server.sids[:30]
    source = tmp_path / "sids.txt"
    source.write_text("\n".join([*doomed, UNKNOWN]) + "\n")
    log = tmp_path / "deleted.jsonl"
    args = [*connect(fake_media_server), "delete-many", "-i", str(source), "-o", str(log)]

    first = await run_cli(*args, "--shard", "0/2", stdin=b"y\n")
    assert first.code in (0, 1), first.err
    assert "(shard 0/2)" in first.err
    done = ok_sids(whole_json_lines(log.read_bytes()))
    # A plain 404 is final: a resumed run does not send it again.
    unknown_sent = [] if first.code == 1 else [UNKNOWN]
    assert done and all(sid not in fake_media_server.recordings for sid in done)
    assert all(sid in fake_media_server.recordings for sid in set(doomed) - set(done))

    fake_media_server.reset_stats()
    second = await run_cli(*args, "--resume", "--yes")
    assert second.code == 1, second.err  # UNKNOWN never existed
    assert f"{len(done)} sid(s) already done" in second.err
    records = whole_json_lines(log.read_bytes())
    assert ok_sids(records) == Counter(doomed)
    assert all(
        r == {"sid": r["sid"], "deleted": True, "attempts": 1} for r in records if r.get("deleted")
    )
    missing = [r for r in records if "error" in r]
    assert {r["sid"] for r in missing} == {UNKNOWN}
    assert missing[-1]["error"] == "NotFoundError" and missing[-1]["status"] == 404
    assert all(sid not in fake_media_server.recordings for sid in doomed)
    assert len(fake_media_server.recordings) == 30
    # Only the sids not deleted before were sent again, and UNKNOWN unless its 404 was in.
    assert Counter(r.sid for r in fake_media_server.requests) == Counter(
        [*set(doomed) - set(done), *unknown_sent]
    )


async def test_delete_many_writes_to_stdout_by_default(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    run: Run = await run_cli(
        *connect(fake_media_server), "delete-many", "-i", "-", "--yes", stdin=sid.encode()
    )
    assert run.code == 0, run.err
    assert run.out.strip() == orjson.dumps({"sid": sid, "deleted": True, "attempts": 1}).decode()
    assert sid not in fake_media_server.recordings


# -- the docs' shell example ---------------------------------------------------------------

JOBS_DOC: Final = Path(__file__).resolve().parent.parent / "docs" / "jobs.md"


def _shell_example() -> str:
    text = JOBS_DOC.read_text()
    match = re.search(r"<!-- a shell example: [^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert match is not None, "docs/jobs.md has lost its marked shell example"
    return match.group(1)


async def test_the_docs_shard_loop_works_as_written(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    (tmp_path / "sids.txt").write_text("\n".join(fake_media_server.sids) + "\n")
    env = {
        **_base_env(),
        "PATH": f"{Path(CLI[0]).parent}{os.pathsep}{os.environ['PATH']}",
        "TWILIO_MEDIA_BASE_URL": fake_media_server.url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }
    for _ in range(2):  # and once more, as after a crash: everything is done already
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            "set -e\n" + _shell_example(),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        _, err = await asyncio.wait_for(shell.communicate(), TIMEOUT)
        assert shell.returncode == 0, err.decode()
        records = whole_json_lines((tmp_path / "inventory.jsonl").read_bytes())
        assert ok_sids(records) == Counter(fake_media_server.sids)
    assert fake_media_server.request_count == len(fake_media_server.sids)
