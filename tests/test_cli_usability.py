"""The ``twilio-media`` command as a new user meets it: logging, the base URL from the
environment, tables that fit the terminal, a bulk run that explains its failures, and hints
for misplaced options.  Each runs the real console script against a FakeMediaServer."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import attrs
import orjson
import pytest

from twilio_media_async import (
    FetchResult,
    InvalidSidError,
    MediaRecording,
    NotFoundError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    TwilioMediaError,
)
from twilio_media_async._cli.jobs.report import STOP_AFTER_CONNECT_FAILURES, BulkStats
from twilio_media_async.testing import FakeMediaServer, Fault

from ._cli import (
    CLI,
    CLI_SERVER,
    TIMEOUT,
    _base_env,
    _closed_port,
    connect,
    run_cli,
    start_fake_server,
)
from .conftest import ACCOUNT_SID, AUTH_TOKEN, as_served

pytestmark = CLI_SERVER

README: Final = Path(__file__).resolve().parent.parent / "README.md"


async def test_dash_v_shows_each_retry_and_nothing_shows_without_it(
    fake_media_server: FakeMediaServer,
) -> None:
    first, second = fake_media_server.sids[:2]
    fake_media_server.script(first, [Fault.server_error(503), None])
    fake_media_server.script(second, [Fault.server_error(503), None])
    quiet, verbose = await asyncio.gather(
        run_cli(*connect(fake_media_server), "--max-attempts", "2", "fetch", first),
        run_cli(*connect(fake_media_server), "-v", "--max-attempts", "2", "fetch", second),
    )
    assert quiet.code == verbose.code == 0, quiet.err + verbose.err
    # both were retried
    assert fake_media_server.attempts(first) == fake_media_server.attempts(second) == 2
    assert quiet.err == ""
    # Whatever level the SDK logs retries at (INFO or WARNING), -v shows it.
    retry_lines = [line for line in verbose.err.splitlines() if "retrying GET" in line]
    assert len(retry_lines) == 1, verbose.err
    assert second in retry_lines[0]
    assert "503" in retry_lines[0]


def test_dash_v_lets_the_sdks_info_records_through() -> None:
    """The CLI's logging set-up for -v passes the package logger's INFO records and -v's
    absence drops them (in a fresh interpreter: it configures the root logger)."""
    script = (
        "import logging, sys\n"
        "from twilio_media_async._cli.output import configure_logging\n"
        "configure_logging(int(sys.argv[1]))\n"
        "logging.getLogger('twilio_media_async').info('an info line of the SDK')\n"
    )
    runs = {
        verbose: subprocess.run(
            [sys.executable, "-c", script, str(verbose)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for verbose in (0, 1)
    }
    assert "an info line of the SDK" not in runs[0].stderr
    assert "an info line of the SDK" in runs[1].stderr


# -- the base URL from the environment -----------------------------------------------------


async def test_the_fake_servers_export_lines_make_a_working_round_trip() -> None:
    """Start the fake server, paste its export lines, run ``twilio-media list``: the
    requests reach the fake server, not Twilio (the README's walk-through)."""
    proc, banner = await start_fake_server("fake-server", "--port", "0", "--recordings", "7")
    try:
        exported = dict(
            shlex.split(line)[1].split("=", 1)
            for line in banner
            if line.strip().startswith("export ")
        )
        assert set(exported) == {"TWILIO_MEDIA_BASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"}
        assert exported["TWILIO_MEDIA_BASE_URL"].startswith("http://127.0.0.1:")
        listed = await run_cli("list", env=exported)
        assert listed.code == 0, listed.err
        assert len(listed.lines) == 7
        from_env = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", FROM_ENV_SCRIPT],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={**_base_env(), **exported},
            check=False,
        )
        assert from_env.returncode == 0, from_env.stderr
        assert from_env.stdout.split() == [line["sid"] for line in listed.lines][:1]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0


FROM_ENV_SCRIPT: Final = """
import asyncio
from twilio_media_async import MediaClient

async def main():
    async with MediaClient.from_env() as client:
        async for recording in client.list(limit=1):
            print(recording.sid)

asyncio.run(main())
"""


async def test_the_base_url_option_wins_over_the_environment(
    fake_media_server: FakeMediaServer,
) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    credentials = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    from_env, option, help_text = await asyncio.gather(
        run_cli(
            "list",
            "--limit",
            "2",
            env={**credentials, "TWILIO_MEDIA_BASE_URL": fake_media_server.url},
        ),
        run_cli(
            *["--base-url", fake_media_server.url, "list", "--limit", "2"],
            env={**credentials, "TWILIO_MEDIA_BASE_URL": dead},
        ),
        run_cli("--help"),
    )
    assert from_env.code == option.code == 0, from_env.err + option.err
    assert len(from_env.lines) == len(option.lines) == 2
    assert "TWILIO_MEDIA_BASE_URL" in help_text.out


# -- tables that fit the terminal ----------------------------------------------------------


def _widen_numbers(server: FakeMediaServer) -> list[MediaRecording]:
    """Give every recording a size and a duration as wide as real ones get."""
    for n, sid in enumerate(server.sids):
        wide = attrs.evolve(server.recordings[sid], size=145_562_500_000 + n, duration=86_400 + n)
        server.add(wide)
    return [as_served(server, sid) for sid in server.sids]


@pytest.mark.parametrize("width", [80, 120])
async def test_list_table_fits_the_width_and_never_cuts_a_value(
    fake_media_server: FakeMediaServer, width: int
) -> None:
    recordings = _widen_numbers(fake_media_server)
    run = await run_cli(*connect(fake_media_server), "list", "--table", env={"COLUMNS": str(width)})
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert max(len(line) for line in lines) <= width, run.out
    assert "…" not in run.out
    for recording in recordings:
        row = next(line for line in lines if str(recording.sid) in line)
        assert f"{recording.size:,}" in row
        assert f"{recording.duration:,} s" in row
        assert str(recording.status) in row
    created = [f"{r.date_created:%Y-%m-%d %H:%M:%S}" for r in recordings]
    if width == 80:  # the last default column does not fit: left out, and said so
        assert not any(when in run.out for when in created)
        assert "Left out to fit 80 columns: created" in run.err
    else:
        assert all(when in run.out for when in created)
        assert run.err == ""


@pytest.mark.parametrize("width", [80, 120])
async def test_one_recording_is_shown_vertically_with_every_field(
    fake_media_server: FakeMediaServer, width: int
) -> None:
    sid = fake_media_server.sids[5]
    recording = _widen_numbers(fake_media_server)[5]
    run = await run_cli(
        *connect(fake_media_server), "fetch", "--table", sid, env={"COLUMNS": str(width)}
    )
    assert run.code == 0, run.err
    assert max(len(line) for line in run.out.splitlines()) <= width
    assert "…" not in run.out
    rows = {
        cells[0]: cells[1]
        for line in run.out.splitlines()
        if len(cells := [cell.strip() for cell in line.strip("│┃").split("│")]) == 2
    }
    assert rows["sid"] == sid
    assert rows["size (bytes)"] == f"{recording.size:,}"
    assert rows["duration"] == f"{recording.duration:,} s"
    assert rows["processor sid"] == recording.processor_sid
    assert rows["created (UTC)"] == f"{recording.date_created:%Y-%m-%d %H:%M:%S}"


async def test_columns_choose_and_order_the_table(fake_media_server: FakeMediaServer) -> None:
    run, bad = await asyncio.gather(
        run_cli(
            *connect(fake_media_server),
            "list",
            "--limit",
            "3",
            "--columns",
            "size, sid ,resolution",
        ),
        run_cli(*connect(fake_media_server), "list", "--columns", "sid,colour"),
    )
    assert run.code == 0, run.err  # --columns implies --table
    header = next(line for line in run.out.splitlines() if "sid" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        "size (bytes)",
        "sid",
        "resolution",
    ]
    assert bad.code == 2
    assert "unknown column 'colour'" in bad.err
    assert "choose from sid, status" in bad.err
    assert fake_media_server.request_count == 1  # the bad one sent nothing


# -- fetch-many: the most common errors, and the early stop --------------------------------


def _result(sid: str, error: TwilioMediaError | None, attempts: int = 1) -> FetchResult:
    return FetchResult(sid=sid, recording=None, error=error, attempts=attempts)


def _refused(sid: str) -> TransportError:
    return TransportError(
        f"GET http://127.0.0.1:9/v1/MediaRecordings/{sid} failed: refused", connect_failed=True
    )


def test_the_stop_needs_twenty_failures_to_connect_and_nothing_else() -> None:
    stopped: list[bool] = []
    stats = BulkStats(on_cannot_connect=lambda: stopped.append(True))
    sids = [f"KV{n:032x}" for n in range(STOP_AFTER_CONNECT_FAILURES)]
    stats.add(_result("not-a-sid", InvalidSidError("bad"), attempts=0))  # sent nothing
    for sid in sids[:-1]:
        stats.add(_result(sid, _refused(sid), attempts=1))
    assert not stats.cannot_connect and not stopped
    stats.add(_result(sids[-1], _refused(sids[-1]), attempts=1))
    assert stats.cannot_connect and stats.stopped_early and stopped == [True]
    stats.add(_result(sids[0], _refused(sids[0])))
    assert stopped == [True]  # told once
    assert stats.connect_failure is not None and "<sid>" in stats.connect_failure
    assert sids[0] not in stats.connect_failure


@pytest.mark.parametrize(
    "answer",
    [
        None,  # a recording
        NotFoundError("The requested resource was not found", status=404, code=20404),
        ServerError("Service Unavailable", status=503),
        RequestTimeoutError("GET ... timed out"),  # connected, then too slow
        TransportError("GET ...: the response was cut off"),  # connected, then reset
    ],
)
def test_one_request_that_reached_the_server_rules_the_stop_out(
    answer: TwilioMediaError | None,
) -> None:
    stats = BulkStats()
    stats.add(_result("KV" + "a" * 32, answer))
    for n in range(3 * STOP_AFTER_CONNECT_FAILURES):
        sid = f"KV{n:032x}"
        stats.add(_result(sid, _refused(sid)))
    assert not stats.cannot_connect and not stats.stopped_early


async def test_fetch_many_against_a_dead_port_stops_early_and_says_why(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    source = tmp_path / "sids.txt"
    source.write_text("".join(f"KV{n:032x}\n" for n in range(2000)))
    target = tmp_path / "out.jsonl"
    args = ["--base-url", url, "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN]
    started = time.monotonic()
    run = await run_cli(*args, "fetch-many", "-i", str(source), "-o", str(target))
    elapsed = time.monotonic() - started
    assert run.code == 1
    assert "Traceback" not in run.err
    last = run.err.strip().splitlines()[-1]
    assert last.startswith("Error: stopped early: the first ")
    assert "failed to connect" in last
    assert f"Cannot connect to host 127.0.0.1:{url.rsplit(':', 1)[1]}" in last
    summary_row = next(line for line in run.err.splitlines() if "stopped early" in line)
    assert "requests failed to connect" in summary_row
    written = target.read_bytes().splitlines()
    assert len(written) < 2000  # the input was not ground through
    assert all(orjson.loads(line)["error"] == "TransportError" for line in written)
    # The retries of the first items alone would take over 10 s (backoff and two extra
    # passes); the stop comes as soon as 20 requests have failed.
    assert elapsed < 8, elapsed


async def test_fetch_many_summary_lists_the_most_common_errors(
    fake_media_server: FakeMediaServer,
) -> None:
    unknown = [f"KV{n:032x}" for n in range(6)]
    given = [*fake_media_server.sids[:5], *unknown, "not-a-sid", "KV123", "not-b-sid"]
    run = await run_cli(
        *connect(fake_media_server),
        "fetch-many",
        stdin="\n".join(given).encode(),
        env={"COLUMNS": "200"},
    )
    assert run.code == 1
    assert len(run.lines) == len(given)  # no early stop: the server answered
    digest = run.err[run.err.index("Most common errors (of 9 failed):") :].splitlines()
    assert [line.split(None, 1) for line in digest[1:]] == [
        [
            "6",
            "NotFoundError (HTTP 404, code 20404): "
            "The requested resource /v1/MediaRecordings/<sid> was not found",
        ],
        ["2", "InvalidSidError: invalid MediaRecording sid '<sid>': expected 34 characters, got 9"],
        ["1", "InvalidSidError: invalid MediaRecording sid '<sid>': expected 34 characters, got 5"],
    ]


# -- the demo ------------------------------------------------------------------------------


async def test_demo_ends_with_its_summary_after_a_few_sample_lines() -> None:
    """On a terminal stdout and stderr share the screen: the summary must come last, not
    scroll away under the samples."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *["demo", "--recordings", "200", "--seed", "1"],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**_base_env(), "COLUMNS": "80"},
    )
    screen, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, screen.decode()
    lines = screen.decode().splitlines()
    samples_at = next(i for i, line in enumerate(lines) if "of the recordings fetched" in line)
    summary_at = next(i for i, line in enumerate(lines) if line.startswith("demo summary"))
    assert samples_at < summary_at
    assert summary_at - samples_at <= 10  # three samples take a few lines, not a screenful
    assert "The fake server answered" in " ".join(lines[-2:])
    assert max(len(line) for line in lines) <= 80


# -- hints ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (
            ["fetch-many", "--max-attempts", "3"],
            "--max-attempts is a global option: it goes before the command, "
            "as in twilio-media --max-attempts ... fetch-many ...",
        ),
        (["list", "--timeout=3"], "as in twilio-media --timeout ... list ..."),
        (["fetch", "-v", "KV" + "0" * 32], "-v is a global option: it goes before the command"),
        (["list", "--base-url", "http://127.0.0.1:1"], "as in twilio-media --base-url ... list"),
        (["list", "--limt", "3"], "No such option '--limt'. Did you mean '--limit'?"),
    ],
)
async def test_a_global_option_after_the_command_gets_a_hint(args: list[str], hint: str) -> None:
    run = await run_cli(*args)
    assert run.code == 2
    assert hint in run.err
    assert "Traceback" not in run.err


def _readme_block(name: str) -> str:
    """The README's bash block marked ``<!-- command: NAME -->`` (as .ci/readme_command.py
    reads them)."""
    pattern = rf"<!-- command: {re.escape(name)} -->\s*```(?:bash|sh|console)?\n(.*?)```"
    match = re.search(pattern, README.read_text(), re.S)
    assert match is not None, f"README.md has no {name!r} block"
    return match.group(1).strip()


async def test_the_readme_walk_through_against_the_fake_server_works_as_written() -> None:
    """The README's two blocks, with only the port changed to a free one: the server's
    banner prints exactly the README's export lines, and pasting them makes ``twilio-media
    list`` talk to the fake server."""
    port = str(_closed_port())
    start = _readme_block("fake-server").replace("8080", port)
    paste = _readme_block("against-the-fake-server").replace("8080", port)
    assert shlex.split(start)[0] == "twilio-media"
    proc, banner = await start_fake_server(*shlex.split(start)[1:])
    try:
        printed = [line.strip() for line in banner if line.strip().startswith("export ")]
        pasted = [line for line in paste.splitlines() if line.startswith("export ")]
        assert printed == pasted
        env = {**_base_env(), "PATH": f"{Path(CLI[0]).parent}{os.pathsep}{os.environ['PATH']}"}
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            "set -e\n" + paste,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(shell.communicate(), TIMEOUT)
        assert shell.returncode == 0, err.decode()
        rows = [line for line in out.decode().splitlines() if re.search(r"KV[0-9a-f]{32}", line)]
        assert len(rows) == 5
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), TIMEOUT)
