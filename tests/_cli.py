"""The ``twilio-media`` command, run for real in a subprocess, for the CLI's tests.

A test's FakeMediaServer runs in the test's event loop; the CLI runs through
``asyncio.create_subprocess_exec`` so that the loop keeps serving while the command runs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import orjson
import pytest

from twilio_media_async import MediaRecording, converter
from twilio_media_async.testing import FakeMediaServer

from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN

_SCRIPT = shutil.which("twilio-media", path=os.path.dirname(sys.executable))
CLI: Final[list[str]] = (
    [_SCRIPT] if _SCRIPT is not None else [sys.executable, "-m", "twilio_media_async.cli"]
)
UNKNOWN_SID: Final = "KV" + "f" * 32
TIMEOUT: Final = 60.0


@attrs.frozen
class Run:
    """A finished CLI process: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[dict[str, Any]]:
        """stdout as JSON lines."""
        return [orjson.loads(line) for line in self.out.splitlines() if line.strip()]

    def assert_one_line_error(self, *fragments: str) -> None:
        """stderr is a single ``Error: ...`` line holding every fragment, and no traceback."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("Error: "), self.err
        for fragment in fragments:
            assert fragment in lines[0], self.err


def _base_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TWILIO_")
        and key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")
    }
    env["NO_COLOR"] = "1"
    return env


async def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> Run:
    """Run the real console script with ``args``; stdin is empty unless given."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**_base_env(), **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin or b""), TIMEOUT)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def connect(server: FakeMediaServer) -> list[str]:
    """Global options pointing the CLI at ``server`` with the auth token."""
    return ["--base-url", server.url, "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN]


def recording(data: dict[str, Any]) -> MediaRecording:
    """A JSON line of the CLI, read back into a MediaRecording."""
    return converter.structure(data, MediaRecording)


async def start_fake_server(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    """Run ``twilio-media ARGS`` (a ``fake-server`` command line) and read its banner, up
    to the Ctrl-C line; the process is ended if the banner does not come."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    assert proc.stdout is not None
    banner: list[str] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            while not banner or "Ctrl-C" not in banner[-1]:
                banner.append((await proc.stdout.readline()).decode())
    except BaseException:
        proc.kill()
        await proc.communicate()
        raise
    return proc, banner


CLI_SERVER: Final = pytest.mark.fake_media_server(
    account_sid=ACCOUNT_SID,
    auth_token=AUTH_TOKEN,
    api_keys={API_KEY: API_SECRET},
    generate=40,
    seed=7,
)
"""The fake_media_server of the CLI's tests: 40 recordings, and an API key besides the token."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


BULK_SERVER: Final = pytest.mark.fake_media_server(
    account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, generate=20, seed=22
)
"""The fake_media_server of the bulk commands' safety and resume tests: 20 recordings."""


def json_lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [orjson.loads(line) for line in data.splitlines()]
