"""``delete-many`` across runs: a 404 after a maybe-done DELETE is ok, intents first."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
from aiohttp import web

from twilio_media_async import MediaClient, NotFoundError, RetryPolicy
from twilio_media_async.testing import FakeMediaServer, Fault

from ._cli import BULK_SERVER, CLI, TIMEOUT, _base_env, _closed_port, connect, json_lines, run_cli
from ._rawhttp import aiohttp_server
from .conftest import ACCOUNT_SID, AUTH_TOKEN

pytestmark = BULK_SERVER


UNKNOWN: Final = "KV" + "e" * 32


def last_records(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each sid's last outcome (intents aside)."""
    last: dict[str, dict[str, Any]] = {}
    for record in records:
        if "intent" not in record:
            last[record["sid"]] = record
    return last


# -- delete-many's idempotent rule across runs ---------------------------------------------


def delete_args(server: FakeMediaServer, source: Path, log: Path, *more: str) -> list[str]:
    return [*connect(server), "delete-many", "-i", str(source), "-o", str(log), "--yes", *more]


async def test_a_resumed_delete_after_an_ambiguous_error_is_ok_on_404(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    sid = fake_media_server.sids[0]
    source = tmp_path / "sids.txt"
    source.write_text(sid + "\n")
    log = tmp_path / "deleted.jsonl"
    # The DELETE is carried out, but the answer is a 503: the run cannot know.
    fake_media_server.script(sid, [Fault.server_error(503, applied=True)])
    first = await run_cli("--max-attempts", "1", *delete_args(fake_media_server, source, log))
    assert first.code == 1, first.err
    assert sid not in fake_media_server.recordings
    records = json_lines(log)
    assert records[0] == {"sid": sid, "intent": "delete"}
    assert records[1]["error"] == "ServerError" and records[1]["maybe_deleted"] is True

    second = await run_cli(*delete_args(fake_media_server, source, log, "--resume"))
    assert second.code == 0, second.err  # the 404 now says: gone, as the first run asked
    last = last_records(json_lines(log))[sid]
    assert last == {"sid": sid, "deleted": True, "attempts": 1}


async def test_an_intent_without_an_outcome_makes_a_404_ok(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    sid, other = fake_media_server.sids[:2]
    # A run killed right after its DELETE went out left only the intent.
    async with MediaClient(**fake_media_server.client_kwargs()) as client:
        await client.delete(sid)
    source = tmp_path / "sids.txt"
    source.write_text(f"{sid}\n{other}\n")
    log = tmp_path / "deleted.jsonl"
    log.write_bytes(orjson.dumps({"sid": sid, "intent": "delete"}) + b"\n")
    fake_media_server.reset_stats()

    run = await run_cli(*delete_args(fake_media_server, source, log, "--resume"))
    assert run.code == 0, run.err
    assert fake_media_server.request_count == 2  # an intent is not an ok record
    last = last_records(json_lines(log))
    assert last[sid] == {"sid": sid, "deleted": True, "attempts": 1}
    assert last[other] == {"sid": other, "deleted": True, "attempts": 1}


async def test_a_plain_404_is_final_and_not_sent_again(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    sid = fake_media_server.sids[0]
    source = tmp_path / "sids.txt"
    source.write_text(f"{UNKNOWN}\n{sid}\n")
    log = tmp_path / "deleted.jsonl"
    first = await run_cli(*delete_args(fake_media_server, source, log, "--resume"))
    assert first.code == 1, first.err
    assert last_records(json_lines(log))[UNKNOWN]["error"] == "NotFoundError"

    fake_media_server.reset_stats()
    again = await run_cli(*delete_args(fake_media_server, source, log, "--resume"))
    assert again.code == 1, again.err  # its last record is still an error
    assert fake_media_server.request_count == 0
    assert "1 sid(s) not found before, not sent again" in again.err
    assert "not found before" in again.err.split("Resuming", 1)[1]


async def test_each_intent_is_on_disk_before_its_delete_reaches_the_server(
    tmp_path: Path,
) -> None:
    sids = [f"KV{n:032x}" for n in range(1, 31)]
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(sids) + "\n")
    log = tmp_path / "deleted.jsonl"
    seen: dict[str, bool] = {}

    async def handle(request: web.Request) -> web.Response:
        sid = request.path.rpartition("/")[2]
        intent = orjson.dumps({"sid": sid, "intent": "delete"}) + b"\n"
        seen[sid] = intent in log.read_bytes()
        return web.Response(status=204)

    async with aiohttp_server(handle) as url:
        run = await run_cli(
            "--base-url",
            url,
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
            "delete-many",
            "-i",
            str(source),
            "-o",
            str(log),
            "--yes",
            "--concurrency",
            "8",
        )
    assert run.code == 0, run.err
    assert seen == dict.fromkeys(sids, True)
    records = json_lines(log)
    for sid in sids:
        lines = [i for i, r in enumerate(records) if r["sid"] == sid]
        assert len(lines) == 2 and "intent" in records[lines[0]] and records[lines[1]]["deleted"]


async def test_a_refused_connection_then_a_404_is_not_found_not_deleted(tmp_path: Path) -> None:
    # Nothing listens on the port at first: the first attempt is refused, so it carried
    # nothing out.  The server that then answers has never heard of the sid.
    port = _closed_port()
    servers: list[FakeMediaServer] = []

    async def start_the_server(_seconds: float) -> None:
        if not servers:
            server = FakeMediaServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, port=port)
            await server.start()
            servers.append(server)

    retry = RetryPolicy(max_attempts=3, sleep=start_the_server)
    try:
        async with MediaClient(
            ACCOUNT_SID, AUTH_TOKEN, base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as client:
            with pytest.raises(NotFoundError) as caught:
                await client.delete(UNKNOWN)
            assert caught.value.attempts == 2
        assert servers[0].request_count == 1
    finally:
        for server in servers:
            await server.close()

    port = _closed_port()
    servers.clear()
    try:
        async with MediaClient(
            ACCOUNT_SID, AUTH_TOKEN, base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as client:
            results = [r async for r in client.delete_many([UNKNOWN])]
        assert [(type(r.error), r.attempts) for r in results] == [(NotFoundError, 2)]
    finally:
        for server in servers:
            await server.close()


async def test_ctrl_c_at_the_confirmation_prompt_exits_130(
    fake_media_server: FakeMediaServer, tmp_path: Path
) -> None:
    source = tmp_path / "sids.txt"
    source.write_text("\n".join(fake_media_server.sids[:3]) + "\n")
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *connect(fake_media_server),
        "delete-many",
        "-i",
        str(source),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    assert proc.stderr is not None
    shown = b""
    async with asyncio.timeout(TIMEOUT):
        while b"[y/N]" not in shown:
            chunk = await proc.stderr.read(1024)
            assert chunk, shown
            shown += chunk
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 130, (shown + err).decode()
    assert b"Aborted" not in err and b"Traceback" not in err
    assert fake_media_server.request_count == 0
    assert len(fake_media_server.recordings) == 20
