"""delete, list and pages against FakeMediaServer."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from twilio_media_async import (
    ForeignPageUrlError,
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
    NotFoundError,
    RecordingStatus,
)
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import client_for

pytestmark = pytest.mark.fake_media_server(generate=45, seed=8)


async def test_delete_then_404(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    await media_client.delete(sid)
    with pytest.raises(NotFoundError):
        await media_client.fetch(sid)
    with pytest.raises(NotFoundError):
        await media_client.delete(sid)


async def test_a_delete_that_aiohttp_resent_after_carrying_it_out_counts_as_done(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    """The first send deletes, then the connection drops before the answer; aiohttp sends
    the DELETE again by itself and gets 404.  The client counted two sends, so the 404
    means "already done"."""
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.reset(applied=True)])
    await media_client.delete(sid)
    assert sid not in fake_media_server.recordings
    assert [(r.method, r.status) for r in fake_media_server.requests] == [
        ("DELETE", None),
        ("DELETE", 404),
    ]


async def test_a_borrowed_sessions_middlewares_run_on_a_delete(
    fake_media_server: FakeMediaServer,
) -> None:
    seen: list[str] = []

    async def note(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        seen.append(request.method)
        return await handler(request)

    async with (
        aiohttp.ClientSession(middlewares=(note,)) as session,
        client_for(fake_media_server, session=session) as client,
    ):
        await client.delete(fake_media_server.sids[0])
    assert seen == ["DELETE"]


async def test_through_a_borrowed_session_aiohttps_silent_resend_goes_unnoticed(
    fake_media_server: FakeMediaServer,
) -> None:
    """The documented limit: counting sends would switch off the borrowed session's own
    middlewares, so through it the 404 of aiohttp's resend is reported as it came."""
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.reset(applied=True)])
    async with (
        aiohttp.ClientSession() as session,
        client_for(fake_media_server, session=session) as client,
    ):
        with pytest.raises(NotFoundError):
            await client.delete(sid)
    assert sid not in fake_media_server.recordings


async def test_delete_checks_the_sid_first(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    with pytest.raises(InvalidSidError):
        await media_client.delete("KV../../Accounts")
    assert fake_media_server.request_count == 0


async def test_list_walks_every_page_lazily(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sids = [r.sid async for r in media_client.list(page_size=10)]
    assert sorted(sids) == sorted(fake_media_server.sids)  # type: ignore[type-var]
    assert len(sids) == 45
    assert fake_media_server.request_count == 5


async def test_limit_never_fetches_an_unneeded_page(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    got = [r async for r in media_client.list(limit=7)]
    assert len(got) == 7
    assert fake_media_server.requests[-1].query["PageSize"] == "7"
    assert fake_media_server.request_count == 1
    got = [r async for r in media_client.list(limit=25, page_size=10)]
    assert len(got) == 25
    assert fake_media_server.request_count == 4
    assert [r async for r in media_client.list(limit=0)] == []
    assert fake_media_server.request_count == 4


async def test_filters_are_sent_and_applied(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    sample = fake_media_server.recordings[fake_media_server.sids[0]]
    assert sample.status is not None
    got = [
        r
        async for r in media_client.list(
            status=sample.status,
            processor_sid=sample.processor_sid,
            source_sid=sample.source_sid,
            order="asc",
        )
    ]
    assert sample.sid in [r.sid for r in got]
    assert all(r.status == sample.status for r in got)
    query = fake_media_server.requests[0].query
    assert query["Status"] == str(sample.status)
    assert query["Order"] == "asc"
    assert query["ProcessorSid"] == sample.processor_sid


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"status": "archived"}, "status"),
        ({"status": 3}, "status"),
        ({"order": "up"}, "order"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"processor_sid": "KV" + "0" * 32}, "processor_sid"),
        ({"source_sid": "R1" + "0" * 32}, "source_sid"),
        ({"limit": -1}, "limit"),
    ],
)
async def test_bad_filters_send_nothing(
    fake_media_server: FakeMediaServer,
    media_client: MediaClient,
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    with pytest.raises(InvalidParameterError, match=fragment):
        [r async for r in media_client.list(**kwargs)]
    if "limit" not in kwargs:  # pages() takes the same filters, and checks them at once
        with pytest.raises(InvalidParameterError, match=fragment):
            media_client.pages(**kwargs)
    assert fake_media_server.request_count == 0


async def test_pages_resume_from_a_saved_url(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    stream = media_client.pages(page_size=20, status=None)
    first = await anext(stream)
    await stream.aclose()
    assert len(first) == 20
    assert first.next_page_url is not None
    assert first.page_token is not None
    rest = [p async for p in media_client.pages(start_url=first.next_page_url)]
    sids = [r.sid for r in first] + [r.sid for p in rest for r in p]
    assert sorted(sids) == sorted(fake_media_server.sids)  # type: ignore[type-var]


async def test_a_503_mid_crawl_is_retried_for_that_page(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    stream = media_client.list(page_size=10)
    got = [await anext(stream) for _ in range(10)]
    fake_media_server.script_next([Fault.server_error(503)])
    got += [r async for r in stream]
    assert len(got) == 45


async def test_a_foreign_next_page_url_is_refused(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    with pytest.raises(ForeignPageUrlError, match="origin"):
        media_client.pages(start_url="https://evil.example.com/v1/MediaRecordings?PageToken=x")
    with pytest.raises(ForeignPageUrlError):
        media_client.pages(start_url=fake_media_server.url.replace("http://", "https://") + "/v1/x")
    assert fake_media_server.request_count == 0


def test_list_statuses_match_the_enum() -> None:
    assert {s.value for s in RecordingStatus} == {"processing", "completed", "deleted", "failed"}
