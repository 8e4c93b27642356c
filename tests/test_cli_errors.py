"""The command's errors: exit codes, one-line messages, and no secret printed, even echoed."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import orjson
import pytest

from twilio_media_async.testing import FakeMediaServer

from ._cli import CLI_SERVER, UNKNOWN_SID, _closed_port, connect, run_cli
from ._rawhttp import http_response, raw_server
from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN

pytestmark = CLI_SERVER


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
