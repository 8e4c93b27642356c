"""``python -m twilio_media_async.testing``: the server on its own (``testing/_runner.py``)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import attrs

from twilio_media_async import MediaClient
from twilio_media_async.testing import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, make_recordings


async def test_standalone_runner() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "twilio_media_async.testing",
        "--port",
        "0",
        "--recordings",
        "5",
        "--seed",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        async with asyncio.timeout(20):
            while not lines or not lines[-1].startswith("Press Ctrl-C"):
                line = await proc.stdout.readline()
                assert line, "the runner exited early"
                lines.append(line.decode().rstrip())
        text = "\n".join(lines)
        match = re.search(r"http://127\.0\.0\.1:(\d+)", text)
        assert match and int(match.group(1)) > 0, text
        assert f"export TWILIO_ACCOUNT_SID={DEFAULT_ACCOUNT_SID}" in text
        assert f"export TWILIO_AUTH_TOKEN={DEFAULT_AUTH_TOKEN}" in text
        expected = make_recordings(5, seed=1)
        async with MediaClient(
            DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, base_url=match.group(0)
        ) as client:
            got = await client.fetch(expected[2].sid or "")
            assert got == attrs.evolve(expected[2], bitrate=None)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert "Stopped after 1 requests" in out.decode()
    assert b"Traceback" not in err
