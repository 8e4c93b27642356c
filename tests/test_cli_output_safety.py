"""Bulk output kept safe: never over the input, a full disk in one line, no CSV formulas."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from twilio_media_async import converter
from twilio_media_async.testing import FakeMediaServer, Fault, make_recordings

from ._cli import BULK_SERVER, CLI, TIMEOUT, _base_env, connect, json_lines, run_cli
from .conftest import ACCOUNT_SID, AUTH_TOKEN

pytestmark = BULK_SERVER


# -- an output that is the input -----------------------------------------------------------


def _spellings(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(name, another path of tmp_path/sids.txt)."""
    source = tmp_path / "sids.txt"
    yield "the same path", source
    yield "with ./", tmp_path / "." / "sids.txt"
    yield "with ../", tmp_path / ".." / tmp_path.name / "sids.txt"
    link = tmp_path / "link.txt"
    link.symlink_to(source)
    yield "a symlink", link
    hard = tmp_path / "hard.txt"
    os.link(source, hard)
    yield "a hard link", hard


@pytest.mark.parametrize(
    "command",
    [["fetch-many"], ["delete-many", "--yes"], ["delete-many"], ["fetch-many", "--resume"]],
)
async def test_an_output_that_is_the_input_file_is_refused_before_any_request(
    fake_media_server: FakeMediaServer, tmp_path: Path, command: list[str]
) -> None:
    source = tmp_path / "sids.txt"
    content = ("\n".join(fake_media_server.sids[:5]) + "\n").encode()
    source.write_bytes(content)
    for name, other in _spellings(tmp_path):
        run = await run_cli(
            *connect(fake_media_server),
            command[0],
            "-i",
            str(source),
            "-o",
            str(other),
            *command[1:],
            stdin=b"y\n",  # delete-many without --yes: the user confirms
        )
        assert run.code == 2, (name, run.err)
        run.assert_one_line_error("is the input file")
        assert source.read_bytes() == content, name
    assert fake_media_server.request_count == 0
    assert len(fake_media_server.recordings) == 20


async def test_stdout_redirected_to_the_input_file_is_refused(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    source = tmp_path / "sids.txt"
    content = ("\n".join(fake_media_server.sids[:5]) + "\n").encode()
    source.write_bytes(content)
    with source.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *connect(fake_media_server),
            "fetch-many",
            "-i",
            str(source),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.PIPE,
            env=_base_env(),
        )
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 2, err.decode()
    assert b"stdout is the input file" in err
    assert source.read_bytes() == content
    assert fake_media_server.request_count == 0


# -- a full disk, a file size limit --------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["fetch-many"], ["delete-many", "--yes"]])
async def test_a_full_disk_is_one_line_and_exit_1(
    fake_media_server: FakeMediaServer, tmp_path: Path, command: list[str]
) -> None:
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(fake_media_server.sids[:5]) + "\n")
    run = await run_cli(
        *connect(fake_media_server), command[0], "-i", str(source), "-o", "/dev/full", *command[1:]
    )
    assert run.code == 1, run.err
    run.assert_one_line_error("cannot write /dev/full", "No space left on device")
    assert "OSError" not in run.err


_LIMITED: Final = (
    "import os, resource, sys\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)
"""Runs the command of its other arguments under a file size limit (``ulimit -f``);
Python itself ignores SIGXFSZ, so a write past it fails with EFBIG."""


@pytest.mark.parametrize("output_format", ["jsonl", "csv"])
async def test_a_file_size_limit_is_one_line_and_the_file_stays_resumable(
    fake_media_server: FakeMediaServer, tmp_path: Path, output_format: str
) -> None:
    sids = fake_media_server.sids
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(sids) + "\n")
    out = tmp_path / "out"
    args = [*connect(fake_media_server), "fetch-many", "-i", str(source), "-o", str(out)]
    args += ["--resume", "--format", output_format]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LIMITED,
        "3000",
        *CLI,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 1, err.decode()
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot write"), err.decode()
    assert "File too large" in lines[0] and "Traceback" not in err.decode()
    assert 0 < out.stat().st_size <= 3000

    again = await run_cli(*args)
    assert again.code == 0, again.err
    if output_format == "jsonl":
        done = [r["sid"] for r in json_lines(out)]
    else:
        done = [row["sid"] for row in csv.DictReader(io.StringIO(out.read_text()))]
    assert sorted(done) == sorted(sids)  # one whole record per sid, none lost or doubled


# -- CSV formula injection -----------------------------------------------------------------

FORMULAS: Final = ('=HYPERLINK("http://evil.example","click")', "+1+2", "-3", "@SUM(A1)")


async def test_csv_cells_that_would_run_as_formulas_get_a_leading_quote(tmp_path: Path) -> None:
    made = make_recordings(6, seed=9, account_sid=ACCOUNT_SID)
    spoiled = []
    for recording, value in zip(made, [*FORMULAS, "\t=1", "\r=2"], strict=True):
        data = converter.unstructure(recording)
        data["status_callback"] = value
        data["resolution"] = value
        spoiled.append(data)
    async with FakeMediaServer(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, recordings=spoiled
    ) as server:
        failing = server.sids[0]
        server.script(failing, [Fault.status(400, message="=cmd|' /C calc'!A0")])
        source = tmp_path / "sids.txt"
        source.write_text("\n".join(server.sids) + "\n")
        out = tmp_path / "out.csv"
        args = [*connect(server), "--max-attempts", "1", "fetch-many", "-i", str(source)]
        args += ["-o", str(out), "--format", "csv"]
        run = await run_cli(*args)
        assert run.code == 1, run.err
        rows = {row["sid"]: row for row in csv.DictReader(io.StringIO(out.read_text()))}
        assert rows[failing]["message"] == "'=cmd|' /C calc'!A0"
        for data in spoiled[1:]:
            row = rows[data["sid"]]
            expected = "'" + data["status_callback"].replace("\r", " ")  # a row is one line
            assert row["status_callback"] == expected
            assert row["resolution"] == expected
            # Numbers are not text: left as they are.
            assert row["duration"] == str(data["duration"]) and row["attempts"] == "1"

        # The rows are still this command's records.
        server.reset_stats()
        again = await run_cli(*args, "--resume")
        assert again.code == 0, again.err
        assert [r.sid for r in server.requests] == [failing]
