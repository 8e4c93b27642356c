"""The bulk commands under hostile use (#22), each through the real ``twilio-media`` command
against a loopback server: an output that is the input, delete-many's rule across runs, a
last line without its newline, bodies without a sid, a full disk, CSV formulas, Ctrl-C in
the resume scan, and the memory of a resume over a million done sids."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
from aiohttp import web

from twilio_media_async import MediaClient, NotFoundError, RetryPolicy, converter
from twilio_media_async.testing import FakeMediaServer, Fault, make_recordings

from ._cli import CLI, TIMEOUT, _base_env, _closed_port, connect, run_cli
from .conftest import ACCOUNT_SID, AUTH_TOKEN

UNKNOWN: Final = "KV" + "e" * 32

pytestmark = pytest.mark.fake_media_server(
    account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, generate=20, seed=22
)


def json_lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [orjson.loads(line) for line in data.splitlines()]


def last_records(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each sid's last outcome (intents aside)."""
    last: dict[str, dict[str, Any]] = {}
    for record in records:
        if "intent" not in record:
            last[record["sid"]] = record
    return last


# -- 1. an output that is the input --------------------------------------------------------


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


# -- 2. delete-many's idempotent rule across runs ------------------------------------------


def delete_args(server: FakeMediaServer, source: Path, log: Path, *more: str) -> list[str]:
    return [*connect(server), "delete-many", "-i", str(source), "-o", str(log), "--yes", *more]


async def test_a_resumed_delete_after_an_ambiguous_error_is_ok_on_404(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    sid = fake_media_server.sids[0]
    source = tmp_path / "sids.txt"
    source.write_text(sid + "\n")
    log = tmp_path / "deleted.jsonl"
    # The DELETE is carried out, but the answer is a 503: the run cannot know.
    fake_media_server.script(sid, [Fault.server_error(503, applied=True)])
    first = await run_cli("--max-attempts", "1", *delete_args(fake_media_server, source, log))
    assert first.code == 1, first.err
    assert sid not in fake_media_server.recordings
    records = json_lines(log)
    assert records[0] == {"sid": sid, "intent": "delete"}
    assert records[1]["error"] == "ServerError" and records[1]["maybe_deleted"] is True

    second = await run_cli(*delete_args(fake_media_server, source, log, "--resume"))
    assert second.code == 0, second.err  # the 404 now says: gone, as the first run asked
    last = last_records(json_lines(log))[sid]
    assert last == {"sid": sid, "deleted": True, "attempts": 1}


async def test_an_intent_without_an_outcome_makes_a_404_ok(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    sid, other = fake_media_server.sids[:2]
    # A run killed right after its DELETE went out left only the intent.
    async with MediaClient(**fake_media_server.client_kwargs()) as client:
        await client.delete(sid)
    source = tmp_path / "sids.txt"
    source.write_text(f"{sid}\n{other}\n")
    log = tmp_path / "deleted.jsonl"
    log.write_bytes(orjson.dumps({"sid": sid, "intent": "delete"}) + b"\n")
    fake_media_server.reset_stats()

    run = await run_cli(*delete_args(fake_media_server, source, log, "--resume"))
    assert run.code == 0, run.err
    assert fake_media_server.request_count == 2  # an intent is not an ok record
    last = last_records(json_lines(log))
    assert last[sid] == {"sid": sid, "deleted": True, "attempts": 1}
    assert last[other] == {"sid": other, "deleted": True, "attempts": 1}


async def test_a_plain_404_is_final_and_not_sent_again(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    sid = fake_media_server.sids[0]
    source = tmp_path / "sids.txt"
    source.write_text(f"{UNKNOWN}\n{sid}\n")
    log = tmp_path / "deleted.jsonl"
    first = await run_cli(*delete_args(fake_media_server, source, log, "--resume"))
    assert first.code == 1, first.err
    assert last_records(json_lines(log))[UNKNOWN]["error"] == "NotFoundError"

    fake_media_server.reset_stats()
    again = await run_cli(*delete_args(fake_media_server, source, log, "--resume"))
    assert again.code == 1, again.err  # its last record is still an error
    assert fake_media_server.request_count == 0
    assert "1 sid(s) not found before, not sent again" in again.err
    assert "not found before" in again.err.split("Resuming", 1)[1]


@asynccontextmanager
async def aiohttp_server(
    handler: Callable[[web.Request], Any],
) -> AsyncIterator[str]:
    """A tiny aiohttp server on 127.0.0.1 with one catch-all route."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        await web.SockSite(runner, sock).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        sock.close()


async def test_each_intent_is_on_disk_before_its_delete_reaches_the_server(
    tmp_path: Path,
) -> None:
    sids = [f"KV{n:032x}" for n in range(1, 31)]
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(sids) + "\n")
    log = tmp_path / "deleted.jsonl"
    seen: dict[str, bool] = {}

    async def handle(request: web.Request) -> web.Response:
        sid = request.path.rpartition("/")[2]
        intent = orjson.dumps({"sid": sid, "intent": "delete"}) + b"\n"
        seen[sid] = intent in log.read_bytes()
        return web.Response(status=204)

    async with aiohttp_server(handle) as url:
        run = await run_cli(
            "--base-url",
            url,
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
            "delete-many",
            "-i",
            str(source),
            "-o",
            str(log),
            "--yes",
            "--concurrency",
            "8",
        )
    assert run.code == 0, run.err
    assert seen == dict.fromkeys(sids, True)
    records = json_lines(log)
    for sid in sids:
        lines = [i for i, r in enumerate(records) if r["sid"] == sid]
        assert len(lines) == 2 and "intent" in records[lines[0]] and records[lines[1]]["deleted"]


async def test_a_refused_connection_then_a_404_is_not_found_not_deleted(tmp_path: Path) -> None:
    # Nothing listens on the port at first: the first attempt is refused, so it carried
    # nothing out.  The server that then answers has never heard of the sid.
    port = _closed_port()
    servers: list[FakeMediaServer] = []

    async def start_the_server(_seconds: float) -> None:
        if not servers:
            server = FakeMediaServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, port=port)
            await server.start()
            servers.append(server)

    retry = RetryPolicy(max_attempts=3, sleep=start_the_server)
    try:
        async with MediaClient(
            ACCOUNT_SID, AUTH_TOKEN, base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as client:
            with pytest.raises(NotFoundError) as caught:
                await client.delete(UNKNOWN)
            assert caught.value.attempts == 2
        assert servers[0].request_count == 1
    finally:
        for server in servers:
            await server.close()

    port = _closed_port()
    servers.clear()
    try:
        async with MediaClient(
            ACCOUNT_SID, AUTH_TOKEN, base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as client:
            results = [r async for r in client.delete_many([UNKNOWN])]
        assert [(type(r.error), r.attempts) for r in results] == [(NotFoundError, 2)]
    finally:
        for server in servers:
            await server.close()


# -- 3. a last line without its newline ----------------------------------------------------

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


# -- 4. a record is filed under the sid asked for ------------------------------------------


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


# -- 5. a full disk, a file size limit -----------------------------------------------------


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


# -- 7. CSV formula injection --------------------------------------------------------------

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


# -- 8 and 10. a resume over a million done sids -------------------------------------------

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


async def test_ctrl_c_at_the_confirmation_prompt_exits_130(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(fake_media_server.sids[:3]) + "\n")
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *connect(fake_media_server),
        "delete-many",
        "-i",
        str(source),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    assert proc.stderr is not None
    shown = b""
    async with asyncio.timeout(TIMEOUT):
        while b"[y/N]" not in shown:
            chunk = await proc.stderr.read(1024)
            assert chunk, shown
            shown += chunk
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 130, (shown + err).decode()
    assert b"Aborted" not in err and b"Traceback" not in err
    assert fake_media_server.request_count == 0
    assert len(fake_media_server.recordings) == 20
