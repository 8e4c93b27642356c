"""``twilio-media fetch`` and ``fetch-many``: output, input, faults and Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import orjson

from twilio_media_async.testing import FakeMediaServer, Fault

from ._cli import CLI, CLI_SERVER, TIMEOUT, UNKNOWN_SID, _base_env, connect, recording, run_cli
from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, as_served

pytestmark = CLI_SERVER


# -- fetch ---------------------------------------------------------------------------------


async def test_fetch_prints_json_lines(fake_media_server: FakeMediaServer) -> None:
    sids = fake_media_server.sids[:2]
    run = await run_cli(*connect(fake_media_server), "fetch", *sids)
    assert run.code == 0, run.err
    assert [recording(line) for line in run.lines] == [
        as_served(fake_media_server, sid) for sid in sids
    ]
    assert run.err == ""


async def test_fetch_table(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    run = await run_cli(*connect(fake_media_server), "fetch", "--table", sid)
    assert run.code == 0, run.err
    assert sid in run.out
    assert "status" in run.out
    assert str(fake_media_server.recordings[sid].status) in run.out


async def test_fetch_unknown_sid_is_reported_and_the_others_printed(
    fake_media_server: FakeMediaServer,
) -> None:
    run = await run_cli(
        *connect(fake_media_server), "fetch", fake_media_server.sids[0], UNKNOWN_SID
    )
    assert run.code == 1
    assert [line["sid"] for line in run.lines] == [fake_media_server.sids[0]]
    run.assert_one_line_error("NotFoundError", "404", UNKNOWN_SID)


async def test_fetch_with_env_credentials_and_an_api_key(
    fake_media_server: FakeMediaServer,
) -> None:
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_API_KEY": API_KEY,
        "TWILIO_API_SECRET": API_SECRET,
    }
    run = await run_cli(
        "--base-url", fake_media_server.url, "fetch", fake_media_server.sids[3], env=env
    )
    assert run.code == 0, run.err
    assert run.lines[0]["sid"] == fake_media_server.sids[3]
    assert fake_media_server.requests[-1].auth_user == API_KEY


# -- fetch-many ----------------------------------------------------------------------------


async def test_fetch_many_all_ok_in_order(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    sids = list(reversed(fake_media_server.sids))
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(sids) + "\n")
    target = tmp_path / "out.jsonl"
    args = ["-i", str(source), "-o", str(target), "--ordered"]
    run = await run_cli(*connect(fake_media_server), "fetch-many", *args)
    assert run.code == 0, run.err
    assert run.out == ""
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    assert [line["sid"] for line in lines] == sids
    assert recording(lines[0]) == as_served(fake_media_server, sids[0])
    assert "ok" in run.err
    assert "40" in run.err
    assert "req/s" in run.err
    assert "Traceback" not in run.err


async def test_fetch_many_with_faults_loses_no_sid(tmp_path: Path) -> None:
    async with FakeMediaServer(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        generate=150,
        seed=11,
        fault_rate=0.25,
        fault_kinds=[Fault.rate_limited(retry_after=0)],  # retried without waiting
    ) as server:
        forbidden, bad_request, throttled = server.sids[:3]
        server.script(forbidden, [Fault.status(403)])  # not retried: fails at once
        server.script(bad_request, [Fault.status(400)])
        server.script(throttled, [Fault.rate_limited(retry_after=0)] * 50)  # retries run out
        unknown = ["KV" + f"{n:032x}" for n in range(4)]
        for sid in unknown:
            server.script(sid, [None])  # no random fault: a plain 404
        invalid = ["not-a-sid", "KV123"]
        given = [*server.sids, *unknown, *invalid, server.sids[10]]  # one sid twice
        source = tmp_path / "sids.txt"
        source.write_text("\n".join(given[:80]) + "\n\n  \n" + "\r\n".join(given[80:]) + "\n")
        target = tmp_path / "out.jsonl"

        run = await run_cli(
            *connect(server),
            "--max-attempts",
            "2",
            "fetch-many",
            "-i",
            str(source),
            "-o",
            str(target),
            "--concurrency",
            "16",
        )

    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    assert Counter(line["sid"] for line in lines) == Counter(given)  # nothing lost or doubled
    errors = {line["sid"]: line for line in lines if "error" in line}
    assert errors[forbidden] == {
        "sid": forbidden,
        "error": "PermissionDeniedError",
        "status": 403,
        "code": 20403,
        "message": "Forbidden",
        "attempts": 1,
    }
    assert errors[bad_request]["error"] == "ApiError"
    assert (errors[bad_request]["status"], errors[bad_request]["code"]) == (400, 20001)
    assert errors[throttled]["error"] == "RateLimitError"
    assert (errors[throttled]["status"], errors[throttled]["code"]) == (429, 20429)
    assert errors[throttled]["attempts"] >= 2
    for sid in unknown:
        assert errors[sid]["error"] == "NotFoundError"
        assert (errors[sid]["status"], errors[sid]["code"]) == (404, 20404)
    for sid in invalid:
        assert errors[sid]["error"] == "InvalidSidError"
        assert (errors[sid]["status"], errors[sid]["code"], errors[sid]["attempts"]) == (
            None,
            None,
            0,
        )
    ok = [line for line in lines if "error" not in line]
    assert all(recording(line).sid == line["sid"] for line in ok)
    assert all(line["error"] != "TwilioMediaError" for line in errors.values())
    for word in ("failed", "PermissionDeniedError", "NotFoundError", "InvalidSidError", "retries"):
        assert word in run.err


async def test_fetch_many_from_stdin(fake_media_server: FakeMediaServer) -> None:
    sids = fake_media_server.sids[:25]
    stdin = ("\r\n".join(sids[:10]) + "\n\n" + "\n".join(sids[10:])).encode()  # no final \n
    run = await run_cli(*connect(fake_media_server), "fetch-many", stdin=stdin)
    assert run.code == 0, run.err
    assert sorted(line["sid"] for line in run.lines) == sorted(sids)


async def test_fetch_many_reads_stdin_with_a_dash(fake_media_server: FakeMediaServer) -> None:
    stdin = (UNKNOWN_SID + "\n").encode()
    run = await run_cli(
        *connect(fake_media_server), "fetch-many", "-i", "-", "-o", "-", stdin=stdin
    )
    assert run.code == 1
    assert run.lines == [
        {
            "sid": UNKNOWN_SID,
            "error": "NotFoundError",
            "status": 404,
            "code": 20404,
            "message": f"The requested resource /v1/MediaRecordings/{UNKNOWN_SID} was not found",
            "attempts": 1,
        }
    ]


async def test_fetch_many_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    async with FakeMediaServer(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, generate=400, latency=0.05
    ) as server:
        source = tmp_path / "sids.txt"
        source.write_text("\n".join(server.sids) + "\n")
        target = tmp_path / "out.jsonl"
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *connect(server),
            "fetch-many",
            "-i",
            str(source),
            "-o",
            str(target),
            "--concurrency",
            "4",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_base_env(),
        )
        async with asyncio.timeout(TIMEOUT):
            while not target.exists() or target.read_bytes().count(b"\n") < 8:
                await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), TIMEOUT)

    err = err_bytes.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    data = target.read_bytes()
    assert data.endswith(b"\n")
    lines = [orjson.loads(line) for line in data.splitlines()]  # every line is whole
    assert 8 <= len(lines) < 400
    assert all("error" not in line for line in lines)
