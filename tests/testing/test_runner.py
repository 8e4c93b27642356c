"""``python -m twilio_media_async.testing``: the server on its own (``testing/_runner.py``)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import attrs
import pytest

from twilio_media_async import MediaClient
from twilio_media_async.testing import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, make_recordings
from twilio_media_async.testing._runner import OPTIONS, build_parser, server_from_options


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
            # The server's links point at the server itself, as Twilio's point at Twilio.
            assert got.links is not None
            assert got.links["media"].startswith(match.group(0) + "/v1/MediaRecordings/")
            assert got == attrs.evolve(expected[2], bitrate=None, links=got.links)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert "Stopped after 1 requests" in out.decode()
    assert b"Traceback" not in err


def test_runner_options_hold_their_values_within_bounds() -> None:
    by_flag = {option.flag: option for option in OPTIONS}
    assert by_flag["--port"].parse("0") == 0
    assert by_flag["--port"].parse("65535") == 65535
    assert by_flag["--fault-rate"].parse("0.5") == 0.5
    assert by_flag["--seed"].parse("-7") == -7  # no bounds
    for flag, text in [("--port", "-1"), ("--port", "65536"), ("--fault-rate", "1.5")]:
        with pytest.raises(ValueError, match="must be"):
            by_flag[flag].parse(text)
    with pytest.raises(ValueError, match="invalid literal"):
        by_flag["--recordings"].parse("many")


def test_server_from_options_takes_each_default_of_the_parser() -> None:
    defaults = vars(build_parser().parse_args([]))
    assert set(defaults) == {option.dest for option in OPTIONS}
    server = server_from_options()
    assert (server.account_sid, server.auth_token) == (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    assert len(server.recordings) == defaults["recordings"] == 100
    assert server.fault_rate == defaults["fault_rate"]
    assert server.concurrency_limit is defaults["concurrency_limit"] is None


async def test_the_runner_refuses_an_out_of_range_port_as_a_usage_error() -> None:
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "twilio_media_async.testing", "--port", "-1"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert "--port: must be >= 0 and <= 65535" in err.decode()
