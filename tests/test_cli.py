"""The ``twilio-media`` command, run for real in a subprocess against a FakeMediaServer.

The server runs in the test's event loop; the CLI runs through
``asyncio.create_subprocess_exec`` so that the loop keeps serving while the command runs.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import orjson
import pytest

from twilio_media_async import MediaRecording, __version__, converter
from twilio_media_async.testing import FakeMediaServer, Fault, make_recordings

from ._rawhttp import http_response, raw_server
from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, as_served

_SCRIPT = shutil.which("twilio-media", path=os.path.dirname(sys.executable))
CLI: Final[list[str]] = (
    [_SCRIPT] if _SCRIPT is not None else [sys.executable, "-m", "twilio_media_async.cli"]
)
COMMANDS: Final = (
    "fetch",
    "fetch-many",
    "list",
    "delete",
    "delete-many",
    "archive",
    "fake-server",
    "demo",
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
pytestmark = CLI_SERVER


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- help and entry points -----------------------------------------------------------------


async def test_help_of_the_group_and_of_every_command() -> None:
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_SECRET": API_SECRET}
    runs = await asyncio.gather(
        run_cli("--help", env=env), *(run_cli(cmd, "--help", env=env) for cmd in COMMANDS)
    )
    group, *commands = runs
    assert group.code == 0
    for name in COMMANDS:
        assert name in group.out
    for option in ("--base-url", "--region", "--edge", "--max-attempts", "--timeout", "-v"):
        assert option in group.out
    assert "TWILIO_AUTH_TOKEN" in group.out  # the variable's name is shown...
    for name, run in zip(COMMANDS, commands, strict=True):
        assert run.code == 0, run.err
        assert f"Usage: twilio-media {name}" in run.out
    for run in runs:  # ...never its value
        assert AUTH_TOKEN not in run.out + run.err
        assert API_SECRET not in run.out + run.err


async def test_python_dash_m_and_version() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "twilio_media_async.cli",
        "--version",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, err
    assert __version__ in out.decode()
    assert out.decode().startswith("twilio-media")


def _entry_point_without(module: str) -> subprocess.CompletedProcess[str]:
    """Run the console entry point in a Python where importing ``module`` fails, as it
    does when the ``cli`` extra is not installed."""
    script = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # import {module} now raises ModuleNotFoundError\n"
        "from twilio_media_async.cli import main\n"
        "main(['--help'])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_base_env(),
        check=False,
    )


@pytest.mark.parametrize("missing", ["click", "rich", "rich.console"])
def test_without_the_cli_extra_the_entry_point_says_how_to_install_it(missing: str) -> None:
    run = _entry_point_without(missing)
    assert run.returncode == 1
    assert run.stderr == "twilio-media needs the cli extra: pip install 'twilio-media-async[cli]'\n"
    assert run.stdout == ""


def test_an_import_error_of_the_package_itself_is_not_taken_for_a_missing_extra() -> None:
    run = _entry_point_without("twilio_media_async._cli.app")
    assert run.returncode == 1
    assert "Traceback" in run.stderr
    assert "ModuleNotFoundError" in run.stderr
    assert "pip install" not in run.stderr


def test_the_commands_that_need_no_fake_server_do_not_import_it() -> None:
    """Each command's module is imported on first use: ``fetch`` starts without the fake
    server's import time, ``fake-server`` loads it."""
    script = (
        "import sys\n"
        "from twilio_media_async.cli import main\n"
        "try:\n"
        "    main([sys.argv[1], '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('twilio_media_async.testing' in sys.modules)\n"
    )
    loaded = {
        command: subprocess.run(
            [sys.executable, "-c", script, command],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=_base_env(),
            check=True,
        ).stdout.split()[-1]
        for command in ("fetch", "fake-server")
    }
    assert loaded == {"fetch": "False", "fake-server": "True"}


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


# -- list and delete -----------------------------------------------------------------------


async def test_list_with_limit(fake_media_server: FakeMediaServer) -> None:
    json_run, table_run, asc_run = await asyncio.gather(
        run_cli(*connect(fake_media_server), "list", "--limit", "5"),
        run_cli(*connect(fake_media_server), "list", "--limit", "3", "--table"),
        run_cli(
            *connect(fake_media_server),
            "list",
            "--order",
            "asc",
            "--page-size",
            "7",
            "--limit",
            "10",
        ),
    )
    assert json_run.code == 0, json_run.err
    assert len(json_run.lines) == 5
    assert table_run.code == 0, table_run.err
    assert sum(sid in table_run.out for sid in fake_media_server.sids) == 3
    assert asc_run.code == 0, asc_run.err
    created = [recording(line).date_created for line in asc_run.lines]
    assert len(created) == 10
    assert created == sorted(created)  # type: ignore[type-var]


async def test_list_filters(fake_media_server: FakeMediaServer) -> None:
    target = fake_media_server.recordings[fake_media_server.sids[0]]
    assert target.processor_sid is not None
    run = await run_cli(
        *connect(fake_media_server),
        "list",
        "--status",
        "completed",
        "--processor-sid",
        target.processor_sid,
    )
    assert run.code == 0, run.err
    found = [recording(line) for line in run.lines]
    expected = [
        r
        for r in fake_media_server.recordings.values()
        if r.status == "completed" and r.processor_sid == target.processor_sid
    ]
    assert {r.sid for r in found} == {r.sid for r in expected}


async def test_delete_with_yes(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[5]
    run = await run_cli(*connect(fake_media_server), "delete", "--yes", sid)
    assert run.code == 0, run.err
    assert run.out.strip() == f"deleted {sid}"
    assert sid not in fake_media_server.recordings
    again = await run_cli(*connect(fake_media_server), "delete", "--yes", sid)
    assert again.code == 1
    again.assert_one_line_error("NotFoundError")


async def test_delete_refuses_without_confirmation(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[6]
    no_input, said_no = await asyncio.gather(
        run_cli(*connect(fake_media_server), "delete", sid),
        run_cli(*connect(fake_media_server), "delete", sid, stdin=b"n\n"),
    )
    for run in (no_input, said_no):
        assert run.code == 1
        assert "nothing deleted" in run.err
        assert "--yes" in run.err
        assert "Traceback" not in run.err
    assert sid in fake_media_server.recordings
    assert all(r.method != "DELETE" for r in fake_media_server.requests)

    said_yes = await run_cli(*connect(fake_media_server), "delete", sid, stdin=b"y\n")
    assert said_yes.code == 0, said_yes.err
    assert sid not in fake_media_server.recordings


# -- errors --------------------------------------------------------------------------------


async def test_usage_errors_exit_2(fake_media_server: FakeMediaServer) -> None:
    runs = await asyncio.gather(
        run_cli("no-such-command"),
        run_cli(*connect(fake_media_server), "fetch"),
        run_cli(*connect(fake_media_server), "fetch-many", "--concurrency", "0"),
        run_cli(*connect(fake_media_server), "list", "--page-size", "5000"),
        run_cli(*connect(fake_media_server), "list", "--status", "weird"),
        run_cli(*connect(fake_media_server), "--max-attempts", "0", "list"),
        run_cli(*connect(fake_media_server), "fetch-many", "-i", "/no/such/file"),
    )
    for run in runs:
        assert run.code == 2, run
        assert "Traceback" not in run.err
        assert "Error" in run.err
    assert fake_media_server.request_count == 0


async def test_bad_sid_and_bad_filter_exit_2_without_a_request(
    fake_media_server: FakeMediaServer,
) -> None:
    bad_fetch, bad_delete, bad_filter = await asyncio.gather(
        run_cli(*connect(fake_media_server), "fetch", fake_media_server.sids[0], "KVnot-hex"),
        run_cli(*connect(fake_media_server), "delete", "--yes", "RE" + "0" * 32),
        run_cli(*connect(fake_media_server), "list", "--source-sid", "nope"),
    )
    for run in (bad_fetch, bad_delete, bad_filter):
        assert run.code == 2
        assert run.out == ""
    bad_fetch.assert_one_line_error("invalid MediaRecording sid", "KVnot-hex")
    bad_delete.assert_one_line_error("invalid MediaRecording sid")
    bad_filter.assert_one_line_error("source_sid")
    assert fake_media_server.request_count == 0


async def test_missing_credentials(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    sid_option = "--account-sid/TWILIO_ACCOUNT_SID"
    token_option = "--auth-token/TWILIO_AUTH_TOKEN"
    runs = await asyncio.gather(
        run_cli("fetch", UNKNOWN_SID),
        run_cli("--account-sid", ACCOUNT_SID, "list"),
        run_cli("--auth-token", AUTH_TOKEN, "fetch-many", "-o", str(target)),
        run_cli("delete", UNKNOWN_SID, stdin=b"y\n"),  # refused before the prompt
    )
    expected = [
        (f"missing {sid_option}", "and credentials", token_option, "--api-key/TWILIO_API_KEY"),
        ("missing credentials", token_option, "--api-secret/TWILIO_API_SECRET"),
        (f"missing {sid_option}", "'AC' followed by 32 hex digits"),
        (f"missing {sid_option}", "and credentials", token_option),
    ]
    for run, fragments in zip(runs, expected, strict=True):
        assert run.code == 2
        run.assert_one_line_error(*fragments)
    assert "credentials" not in runs[2].err  # the token was given: only the sid is missing
    assert not target.exists()
    partial_key = await run_cli(
        "--account-sid", ACCOUNT_SID, "--api-key", API_KEY, "fetch", UNKNOWN_SID
    )
    assert partial_key.code == 2
    partial_key.assert_one_line_error("missing --api-secret/TWILIO_API_SECRET")


async def test_a_malformed_account_sid_is_called_malformed() -> None:
    env = {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    runs = await asyncio.gather(
        run_cli("--account-sid", "AC123", "--auth-token", AUTH_TOKEN, "fetch", UNKNOWN_SID),
        run_cli("fetch", UNKNOWN_SID, env=env),
    )
    for run in runs:
        assert run.code == 2
        run.assert_one_line_error(
            "malformed --account-sid/TWILIO_ACCOUNT_SID", "a str of 5 characters"
        )
        assert "missing" not in run.err
        assert "required" not in run.err


async def test_unreachable_host() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    args = ["--base-url", url, "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN]
    run = await run_cli(*args, "--max-attempts", "2", "fetch", UNKNOWN_SID)
    assert run.code == 1
    run.assert_one_line_error("TransportError", url, "after 2 attempts")


async def test_rejected_credentials(fake_media_server: FakeMediaServer) -> None:
    args = [
        "--base-url",
        fake_media_server.url,
        "--account-sid",
        ACCOUNT_SID,
        "--auth-token",
        "wrong-token",
    ]
    run = await run_cli(*args, "list")
    assert run.code == 1
    run.assert_one_line_error("AuthenticationError", "401")


async def test_secrets_are_never_printed(fake_media_server: FakeMediaServer) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}"
    with_key = ["--account-sid", ACCOUNT_SID, "--api-key", API_KEY, "--api-secret", API_SECRET]
    runs = await asyncio.gather(
        run_cli(
            *connect(fake_media_server), "-vv", "fetch", fake_media_server.sids[0], UNKNOWN_SID
        ),
        run_cli(
            *connect(fake_media_server),
            "-v",
            "fetch-many",
            stdin=f"{fake_media_server.sids[1]}\nbad\n".encode(),
        ),
        run_cli(
            *["--base-url", closed, *with_key[:2], "--auth-token", AUTH_TOKEN],
            *["--max-attempts", "2", "-v", "list"],
        ),
        run_cli("--base-url", closed, *with_key, "--max-attempts", "1", "-vv", "list"),
        run_cli(
            "--base-url", fake_media_server.url, *with_key, "delete", fake_media_server.sids[2]
        ),
        # a token passed where the account sid belongs is still not echoed
        run_cli("--account-sid", AUTH_TOKEN, "--auth-token", AUTH_TOKEN, "list"),
        run_cli("--base-url", fake_media_server.url, "--auth-token", AUTH_TOKEN, "demo", "--help"),
        run_cli(
            "--base-url", fake_media_server.url, "--help", env={"TWILIO_AUTH_TOKEN": AUTH_TOKEN}
        ),
        run_cli(
            "--base-url",
            fake_media_server.url,
            "list",
            "--limit",
            "1",
            env={"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN},
        ),
    )
    assert runs[0].code == 1  # it ran: one sid found, one not
    assert "DEBUG" in runs[0].err
    assert runs[5].code == 2
    assert runs[-1].code == 0
    assert len(runs[-1].lines) == 1
    for run in runs:
        assert AUTH_TOKEN not in run.out + run.err, run
        assert API_SECRET not in run.out + run.err, run


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _echo(head: bytes) -> bytes:
    """A server that echoes the request head back, in every way a response can carry it."""
    sid = head.split(b" ")[1].rsplit(b"/", 1)[-1]
    auth = next(line for line in head.split(b"\r\n") if line.startswith(b"Authorization"))
    # base64 of the echoed header line once more: it decodes to the Basic value.
    wrapped = _b64(b"echo: " + auth).encode()
    if sid == UNKNOWN_SID.encode():  # an error body, quoted in the error line
        body = orjson.dumps({"code": 20404, "message": f"{head!r} {wrapped!r}"})
        return http_response(b"404 Not Found", b"application/json", body)
    if sid.startswith(b"KV0"):  # a status line aiohttp cannot parse, and quotes
        return b"HTTP/1.1 abc " + auth + b" " + wrapped + b"\r\n\r\n"
    # A recording whose fields carry the head: printed as the recording's JSON line.
    body = orjson.dumps({"sid": sid.decode(), "resolution": f"{head!r}", "url": wrapped.decode()})
    return http_response(b"200 OK", b"application/json", body)


async def test_echoed_credentials_are_redacted_in_all_output(tmp_path: Path) -> None:
    found, failing = "KV" + "a" * 32, "KV0" + "0" * 31
    forbidden = [
        AUTH_TOKEN,
        API_SECRET,
        _b64(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()),
        _b64(f"{API_KEY}:{API_SECRET}".encode()),
        _b64(AUTH_TOKEN.encode()),
    ]
    async with raw_server(_echo) as url:
        out = tmp_path / "out.jsonl"
        for credentials in (
            ["--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN],
            ["--account-sid", ACCOUNT_SID, "--api-key", API_KEY, "--api-secret", API_SECRET],
        ):
            args = ["--base-url", url, *credentials, "--max-attempts", "2", "-vv"]
            sids = f"{found}\n{failing}\n{UNKNOWN_SID}\n".encode()
            runs = await asyncio.gather(
                run_cli(*args, "fetch", found, UNKNOWN_SID),
                run_cli(*args, "fetch", failing),
                run_cli(*args, "fetch-many", "-o", str(out), stdin=sids),
            )
            shown = "".join(run.out + run.err for run in runs) + out.read_text()
            assert [run.code for run in runs] == [1, 1, 1]
            assert "resolution" in runs[0].out  # the recording was printed...
            assert "[redacted]" in runs[0].out  # ...with the echoed credential cut out
            assert "[redacted]" in runs[1].err
            assert "[redacted]" in out.read_text()
            for secret in forbidden:
                if secret in shown:
                    pytest.fail("a form of the credential was printed")


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--base-url", "http://127.0.0.1:99999", "port"),
        ("--base-url", "http://media\\twilio.com", "backslash"),
        ("--base-url", "http://127.0.0.1:8080/\r\nX-Injected: 1", "carriage return"),
        ("--base-url", "http://127.0.0.1:8080\n", "line feed"),
        ("--base-url", "media.twilio.com", "absolute"),
        ("--timeout", "nan", "timeout"),
        ("--timeout", "inf", "timeout"),
    ],
)
async def test_bad_option_values_exit_2_with_one_line(
    option: str, value: str, fragment: str
) -> None:
    run = await run_cli(
        *["--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN, option, value],
        *["fetch", UNKNOWN_SID],
    )
    assert run.code == 2
    run.assert_one_line_error(fragment)


# -- fake-server and demo ------------------------------------------------------------------


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
