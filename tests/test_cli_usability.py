"""The ``twilio-media`` command as a new user meets it: logging, the base URL from the
environment, tables that fit the terminal, a bulk run that explains its failures, and hints
for misplaced options.  Each runs the real console script against a FakeMediaServer."""

from __future__ import annotations

import subprocess
import sys

from twilio_media_async.testing import FakeMediaServer, Fault

from .test_cli import connect, run_cli, server

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
