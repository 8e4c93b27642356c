"""Scripted completions: a recording that reads as ``processing`` until a number of reads
or seconds has passed (``FakeMediaServer.script_completion``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from twilio_media_async import MediaClient, RecordingStatus
from twilio_media_async.testing import FakeMediaServer


@pytest.mark.fake_media_server(generate=3, seed=41)
async def test_script_completion_after_reads(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid, other = fake_media_server.sids[:2]
    fake_media_server.script_completion(sid, after_reads=2)
    assert fake_media_server.recordings[sid].status == RecordingStatus.PROCESSING
    await media_client.fetch(other)  # reads of another recording do not count
    [page] = [p async for p in media_client.pages()]  # nor do lists
    assert {r.status for r in page if r.sid == sid} == {RecordingStatus.PROCESSING}
    seen = [(await media_client.fetch(sid)).status for _ in range(4)]
    assert seen == ["processing", "processing", "completed", "completed"]


@pytest.mark.fake_media_server(generate=3, seed=42)
async def test_script_completion_after_seconds_shows_in_lists_too(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_seconds=0.2, status=RecordingStatus.FAILED)
    assert (await media_client.fetch(sid)).status == "processing"
    await asyncio.sleep(0.25)
    listed = {r.sid: r.status async for r in media_client.list()}
    assert listed[sid] == "failed"
    assert fake_media_server.recordings[sid].status == RecordingStatus.FAILED


@pytest.mark.fake_media_server(generate=2, seed=43)
async def test_script_completion_of_a_deleted_recording_is_harmless(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_completion(sid, after_seconds=0)
    await media_client.delete(sid)
    assert [r.sid async for r in media_client.list()] == fake_media_server.sids
    assert sid not in fake_media_server.recordings


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"after_reads": 1, "after_seconds": 1.0},
        {"after_reads": -1},
        {"after_reads": True},
        {"after_reads": 1.5},
        {"after_seconds": float("nan")},
        {"after_seconds": float("inf")},
        {"after_seconds": -0.1},
    ],
)
def test_script_completion_checks_its_arguments(kwargs: dict[str, Any]) -> None:
    server = FakeMediaServer(generate=1)
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        server.script_completion(server.sids[0], **kwargs)
    with pytest.raises(ValueError, match="holds no recording"):
        server.script_completion("KV" + "f" * 32, after_reads=1)
