"""The ``twilio-media`` command as a new user meets it: logging, the base URL from the
environment, tables that fit the terminal, a bulk run that explains its failures, and hints
for misplaced options.  Each runs the real console script against a FakeMediaServer."""

from __future__ import annotations

import asyncio
import shlex
import signal
import subprocess
import sys
from typing import Final

from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import ACCOUNT_SID, AUTH_TOKEN
from .test_cli import CLI, TIMEOUT, _base_env, _closed_port, connect, run_cli, server

__all__ = ["server"]  # the fixture, re-exported for the tests below


async def test_dash_v_shows_each_retry_and_nothing_shows_without_it(
    server: FakeMediaServer,
) -> None:
    first, second = server.sids[:2]
    server.script(first, [Fault.server_error(503), None])
    server.script(second, [Fault.server_error(503), None])
    quiet = await run_cli(*connect(server), "--max-attempts", "2", "fetch", first)
    verbose = await run_cli(*connect(server), "-v", "--max-attempts", "2", "fetch", second)
    assert quiet.code == verbose.code == 0, quiet.err + verbose.err
    assert server.attempts(first) == server.attempts(second) == 2  # both were retried
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
        "from twilio_media_async._cli.config import configure_logging\n"
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
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *["fake-server", "--port", "0", "--recordings", "7"],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    assert proc.stdout is not None
    try:
        banner: list[str] = []
        async with asyncio.timeout(TIMEOUT):
            while not banner or "Ctrl-C" not in banner[-1]:
                banner.append((await proc.stdout.readline()).decode())
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


async def test_the_base_url_option_wins_over_the_environment(server: FakeMediaServer) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    credentials = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    from_env = await run_cli(
        "list", "--limit", "2", env={**credentials, "TWILIO_MEDIA_BASE_URL": server.url}
    )
    option = await run_cli(
        "--base-url",
        server.url,
        *["list", "--limit", "2"],
        env={**credentials, "TWILIO_MEDIA_BASE_URL": dead},
    )
    assert from_env.code == option.code == 0, from_env.err + option.err
    assert len(from_env.lines) == len(option.lines) == 2
    help_text = await run_cli("--help")
    assert "TWILIO_MEDIA_BASE_URL" in help_text.out
