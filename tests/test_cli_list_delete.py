"""``twilio-media list`` and ``delete``: limits, order and filters; a delete asks first."""

from __future__ import annotations

import asyncio

from twilio_media_async.testing import FakeMediaServer

from ._cli import CLI_SERVER, connect, recording, run_cli

pytestmark = CLI_SERVER


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
