"""``--resume`` of bulk commands: a torn last line, records under the asked sid, 1M done."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sys
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web

from twilio_media_async import converter
from twilio_media_async.testing import FakeMediaServer, make_recordings

from ._cli import BULK_SERVER, CLI, TIMEOUT, _base_env, connect, json_lines, run_cli
from ._rawhttp import aiohttp_server
from .conftest import ACCOUNT_SID, AUTH_TOKEN

pytestmark = BULK_SERVER


# -- a last line without its newline -------------------------------------------------------

SETTINGS_JSON: Final = b'{"editor.fontSize":14,"workbench.colorTheme":"Default Dark+"}'


@pytest.mark.parametrize(
    "command", [["fetch-many"], ["fetch-many", "--format", "csv"], ["delete-many", "--yes"]]
)
async def test_resume_refuses_a_one_line_file_without_a_newline_and_leaves_it(
    fake_media_server: FakeMediaServer, tmp_path: Path, command: list[str]
) -> None:
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(fake_media_server.sids[:3]) + "\n")
    settings = tmp_path / "settings.json"
    settings.write_bytes(SETTINGS_JSON)
    run = await run_cli(
        *connect(fake_media_server),
        command[0],
        "-i",
        str(source),
        "-o",
        str(settings),
        "--resume",
        *command[1:],
    )
    assert run.code == 2, run.err
    run.assert_one_line_error(str(settings))
    assert settings.read_bytes() == SETTINGS_JSON
    assert fake_media_server.request_count == 0


async def test_a_whole_last_record_without_a_newline_is_kept(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    first, second = fake_media_server.sids[:2]
    source = tmp_path / "sids.txt"
    source.write_text(f"{first}\n{second}\n")
    out = tmp_path / "out.jsonl"
    run = await run_cli(
        *connect(fake_media_server), "fetch-many", "-i", str(source), "-o", str(out)
    )
    assert run.code == 0, run.err
    kept = next(line for line in out.read_bytes().splitlines() if first.encode() in line)
    out.write_bytes(kept)  # one whole record, its newline lost

    fake_media_server.reset_stats()
    again = await run_cli(
        *connect(fake_media_server), "fetch-many", "-i", str(source), "-o", str(out), "--resume"
    )
    assert again.code == 0, again.err
    assert [r.sid for r in fake_media_server.requests] == [second]
    assert [r["sid"] for r in json_lines(out)] == [first, second]


# -- a record is filed under the sid asked for ---------------------------------------------


@pytest.mark.parametrize("spoil", ["omitted", "null"])
@pytest.mark.parametrize("output_format", ["jsonl", "csv"])
async def test_records_are_filed_under_the_sid_asked_for_and_stay_resumable(
    tmp_path: Path, spoil: str, output_format: str
) -> None:
    recordings: dict[str, dict[str, Any]] = {
        str(r.sid): converter.unstructure(r)
        for r in make_recordings(3, seed=4, account_sid=ACCOUNT_SID)
    }
    served: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        sid = request.path.rpartition("/")[2]
        served.append(sid)
        body = dict(recordings[sid])
        if spoil == "omitted":
            del body["sid"]
        else:
            body["sid"] = None
        return web.json_response(body)

    source = tmp_path / "sids.txt"
    source.write_text("\n".join(recordings) + "\n")
    out = tmp_path / "out"
    async with aiohttp_server(handle) as url:
        args = ["--base-url", url, "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN]
        args += ["fetch-many", "-i", str(source), "-o", str(out), "--format", output_format]
        first = await run_cli(*args)
        assert first.code == 0, first.err
        again = await run_cli(*args, "--resume")
    assert again.code == 0, again.err
    assert served == list(recordings)  # the resumed run found every sid done
    if output_format == "jsonl":
        assert [r["sid"] for r in json_lines(out)] == list(recordings)
    else:
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert [row["sid"] for row in rows] == list(recordings)


# -- a resume over a million done sids -----------------------------------------------------

_MIX: Final = 0x9E3779B97F4A7C15F39CC0605CEDC835  # spreads n over the 128 bits of a sid
MILLION: Final = 1_000_000


def spread_sid(n: int) -> str:
    return "KV%032x" % ((n * _MIX) % (1 << 128))


@pytest.fixture(scope="module")
def million_done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fetch-many output whose 1,000,000 lines are all ok records."""
    path = tmp_path_factory.mktemp("million") / "done.jsonl"
    step = 100_000
    with path.open("wb") as out:
        for start in range(0, MILLION, step):
            out.write(
                b"".join(
                    b'{"sid":"%s"}\n' % spread_sid(n).encode() for n in range(start, start + step)
                )
            )
    return path


@pytest.fixture(scope="module")
def million_deleted(million_done: Path) -> Path:
    """A delete-many log whose 1,000,000 lines all say deleted."""
    path = million_done.with_name("deleted.jsonl")
    path.write_bytes(million_done.read_bytes().replace(b'"}', b'","deleted":true}'))
    return path


_MAX_RSS: Final = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)
"""Runs the command of its arguments, then prints its exit code and its peak RSS (KiB)."""


async def test_resuming_over_a_million_done_sids_stays_under_64_mb(
    fake_media_server: FakeMediaServer, tmp_path: Path, million_done: Path
) -> None:
    source = tmp_path / "sids.txt"
    new = fake_media_server.sids[0]
    source.write_text(f"{spread_sid(7)}\n{new}\n{spread_sid(MILLION - 1)}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MAX_RSS,
        *CLI,
        *connect(fake_media_server),
        "fetch-many",
        "-i",
        str(source),
        "-o",
        str(million_done),
        "--resume",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    code, max_rss_kib = map(int, out.split())
    assert code == 0, err.decode()
    assert "1,000,000 sid(s) already done" in err.decode()
    assert [r.sid for r in fake_media_server.requests] == [new]
    assert max_rss_kib < 64 * 1024, f"{max_rss_kib / 1024:.1f} MiB"


def _reading(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open for reading, part of the way through."""
    size = path.stat().st_size
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") != str(path):
                continue
            info = dict(
                line.split(":", 1)
                for line in Path(f"/proc/{pid}/fdinfo/{fd}").read_text().splitlines()
                if ":" in line
            )
            read_only = int(info["flags"], 8) & os.O_ACCMODE == os.O_RDONLY
            if read_only and 0 < int(info["pos"]) < size:
                return True
    except OSError:  # the process ended, or the fd closed under us
        return False
    return False


@pytest.mark.skipif(not Path("/proc/self/fdinfo").exists(), reason="needs /proc")
@pytest.mark.parametrize("command", [["fetch-many"], ["delete-many", "--yes"]])
async def test_ctrl_c_in_the_resume_scan_exits_130(
    fake_media_server: FakeMediaServer,
    tmp_path: Path,
    million_done: Path,
    million_deleted: Path,
    command: list[str],
) -> None:
    target = million_deleted if command[0] == "delete-many" else million_done
    before = target.read_bytes()
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(fake_media_server.sids) + "\n")
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *connect(fake_media_server),
        command[0],
        "-i",
        str(source),
        "-o",
        str(target),
        "--resume",
        *command[1:],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    async with asyncio.timeout(TIMEOUT):
        while not _reading(proc.pid, target):
            assert proc.returncode is None
            await asyncio.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 130, err.decode()
    assert "Aborted" not in err.decode() and "Traceback" not in err.decode()
    assert "Interrupted." in err.decode()
    assert target.read_bytes() == before
    assert fake_media_server.request_count == 0
