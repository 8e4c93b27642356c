"""``twilio-media fake-server`` and ``demo``: serving until Ctrl-C, options, a port in use."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Sequence

import pytest

from twilio_media_async.testing import make_recordings

from ._cli import CLI, CLI_SERVER, TIMEOUT, _base_env, run_cli, start_fake_server
from .conftest import AUTH_TOKEN

pytestmark = CLI_SERVER


async def test_fake_server_command_serves_until_interrupted() -> None:
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "fake-server",
        "--port",
        "0",
        "--recordings",
        "12",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            first = (await proc.stdout.readline()).decode()
        url = first.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        banner = [first]
        while "Ctrl-C" not in banner[-1]:
            banner.append((await proc.stdout.readline()).decode())
        assert "TWILIO_ACCOUNT_SID" in "".join(banner)
        env = {"TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_AUTH_TOKEN": "fake-auth-token"}
        listed = await run_cli("--base-url", url, "list", env=env)
        assert listed.code == 0, listed.err
        assert len(listed.lines) == 12
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, err
    assert b"Stopped after" in out
    assert b"Traceback" not in err


async def test_fake_server_takes_the_runners_credential_and_payload_options() -> None:
    """``fake-server`` has the options of ``python -m twilio_media_async.testing``: the
    credentials it accepts and the payload shape."""
    proc, banner = await start_fake_server(
        *["fake-server", "--port", "0", "--recordings", "4"],
        *["--auth-token", "another-fake-token", "--payload-shape", "seed"],
    )
    try:
        assert "  export TWILIO_AUTH_TOKEN=another-fake-token\n" in banner
        url = banner[0].split()[-1]
        env = {"TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_AUTH_TOKEN": "another-fake-token"}
        listed = await run_cli("--base-url", url, "list", env=env)
        assert listed.code == 0, listed.err
        assert len(listed.lines) == 4
        # The "seed" shape serves bitrate, which the default "spec" shape leaves out.
        assert all(line["bitrate"] is not None for line in listed.lines)
        refused = await run_cli(
            "--base-url", url, "list", env={**env, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
        )
        assert refused.code == 1
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0


async def test_fake_server_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = await run_cli("fake-server", "--port", str(port))
    assert run.code == 1
    run.assert_one_line_error("cannot serve")


async def test_demo_runs_end_to_end() -> None:
    run = await run_cli("demo", "--recordings", "300", "--seed", "3")
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    assert "Fake Twilio Media API on http://127.0.0.1:" in run.err
    for word in ("ok", "300", "failed", "retries", "wall time", "req/s"):
        assert word in run.err
    served = {r.sid for r in make_recordings(300, seed=3)}
    samples = [sid for sid in (word.strip("│┃") for word in run.out.split()) if sid in served]
    assert len(samples) == 3


@pytest.mark.parametrize("args", [["demo", "--recordings", "0"], ["fake-server", "--port", "-1"]])
async def test_demo_and_fake_server_usage_errors(args: Sequence[str]) -> None:
    run = await run_cli(*args)
    assert run.code == 2
    assert "Traceback" not in run.err
