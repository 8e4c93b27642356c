"""The fake server's store over real HTTP: adding recordings, and lists with their filters,
ordering and page tokens (``testing/_store.py``)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import attrs
import pytest

from tests.conftest import client_for
from twilio_media_async import MediaClient, MediaRecording, RecordingStatus
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import FakeMediaServer

from .conftest import PATH, SERVER, get_json, ordered_sids

pytestmark = pytest.mark.fake_media_server(**SERVER)


async def walk(http: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    """Every page from ``url`` on, following next_page_url; returns the pages."""
    pages = []
    next_url: str | None = url
    while next_url is not None:
        status, page, _ = await get_json(http, next_url)
        assert status == 200, page
        pages.append(page)
        next_url = page["meta"]["next_page_url"]
    return pages


async def test_add_structures_dicts_and_replaces_in_place(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid = "KV" + "b" * 32
    added = fake_media_server.add(
        {"sid": sid, "status": "processing", "duration": "42", "media_size": 7}
    )
    assert added == MediaRecording(sid=sid, status=RecordingStatus.PROCESSING, duration=42, size=7)
    assert fake_media_server.sids[-1] == sid
    _, body, _ = await get_json(raw_http, f"{PATH}/{sid}")
    assert (body["status"], body["duration"], body["media_size"]) == ("processing", 42, 7)

    first = fake_media_server.sids[0]
    fake_media_server.add(attrs.evolve(fake_media_server.recordings[first], duration=1))
    assert fake_media_server.sids[0] == first
    assert fake_media_server.recordings[first].duration == 1
    with pytest.raises(ValueError, match="sid"):
        fake_media_server.add({"status": "completed"})
    with pytest.raises(ValueError, match="not a valid MediaRecording"):
        fake_media_server.add({"sid": sid, "duration": "long"})
    with pytest.raises(TypeError):
        fake_media_server.add(42)  # type: ignore[arg-type]


async def test_list_walks_every_recording_once_newest_first(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    pages = await walk(raw_http, f"{PATH}?PageSize=7")
    assert [len(p["media_recordings"]) for p in pages] == [7, 7, 7, 4]
    seen = [r["sid"] for p in pages for r in p["media_recordings"]]
    assert seen == ordered_sids(fake_media_server, desc=True)
    dates = [r["date_created"] for p in pages for r in p["media_recordings"]]
    assert dates == sorted(dates, reverse=True)

    first, second, last = pages[0]["meta"], pages[1]["meta"], pages[-1]["meta"]
    base = f"{fake_media_server.url}{PATH}"
    assert first == {
        "first_page_url": f"{base}?PageSize=7&Page=0",
        "next_page_url": first["next_page_url"],
        "page": 0,
        "page_size": 7,
        "previous_page_url": None,
        "url": f"{base}?PageSize=7&Page=0",
        "key": "media_recordings",
    }
    assert re.fullmatch(
        rf"{re.escape(base)}\?PageSize=7&Page=1&PageToken=PA[0-9a-f]+", first["next_page_url"]
    )
    assert second["page"] == 1 and second["url"] == first["next_page_url"]
    assert second["first_page_url"] == first["first_page_url"]
    assert last["next_page_url"] is None and last["page"] == 3

    # previous_page_url leads back to the page before
    _, back, _ = await get_json(raw_http, second["previous_page_url"])
    assert back["media_recordings"] == pages[0]["media_recordings"]
    assert back["meta"]["page"] == 0


async def test_list_default_page_size_and_ascending(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    _, page, _ = await get_json(raw_http, PATH)
    assert page["meta"]["page_size"] == 50 and page["meta"]["next_page_url"] is None
    assert len(page["media_recordings"]) == 25
    pages = await walk(raw_http, f"{PATH}?Order=asc&PageSize=10")
    assert [r["sid"] for p in pages for r in p["media_recordings"]] == ordered_sids(
        fake_media_server, desc=False
    )
    assert all("Order=asc" in p["meta"]["url"] for p in pages)


async def test_list_filters(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    rec = fake_media_server.recordings[fake_media_server.sids[0]]
    assert rec.processor_sid and rec.source_sid and rec.status
    cases: list[tuple[dict[str, str], dict[str, Any]]] = [
        ({"Status": "completed"}, {"status": RecordingStatus.COMPLETED}),
        ({"ProcessorSid": rec.processor_sid}, {"processor_sid": rec.processor_sid}),
        ({"SourceSid": rec.source_sid}, {"source_sid": rec.source_sid}),
        (
            {"Status": rec.status.value, "SourceSid": rec.source_sid, "Order": "asc"},
            {"status": rec.status, "source_sid": rec.source_sid},
        ),
    ]
    for params, match in cases:
        pages = await walk(
            raw_http, f"{PATH}?{'&'.join(f'{k}={v}' for k, v in params.items())}&PageSize=3"
        )
        got = [r["sid"] for p in pages for r in p["media_recordings"]]
        expected = ordered_sids(fake_media_server, desc=params.get("Order") != "asc", **match)
        assert got == expected and got, params
        for page in pages:
            for key, value in params.items():
                assert f"{key}={value}" in page["meta"]["url"]
                assert page["meta"]["next_page_url"] is None or (
                    f"{key}={value}" in page["meta"]["next_page_url"]
                )
    status, page, _ = await get_json(raw_http, f"{PATH}?ProcessorSid=ZX{'0' * 32}")
    assert status == 200 and page["media_recordings"] == []


async def test_list_page_tokens_survive_deletes_during_the_crawl(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    expected = ordered_sids(fake_media_server)
    seen: list[str] = []
    next_url: str | None = f"{PATH}?PageSize=4"
    while next_url:
        _, page, _ = await get_json(raw_http, next_url)
        for item in page["media_recordings"]:
            seen.append(item["sid"])
            async with raw_http.delete(f"{PATH}/{item['sid']}") as resp:
                assert resp.status == 204
        next_url = page["meta"]["next_page_url"]
    assert seen == expected
    assert len(fake_media_server.recordings) == 0


async def test_list_token_past_the_end_steps_back(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    expected = ordered_sids(fake_media_server)
    _, first, _ = await get_json(raw_http, f"{PATH}?PageSize=10")
    for sid in expected[10:]:
        async with raw_http.delete(f"{PATH}/{sid}") as resp:
            assert resp.status == 204
    _, empty, _ = await get_json(raw_http, first["meta"]["next_page_url"])
    assert empty["media_recordings"] == []
    assert empty["meta"]["next_page_url"] is None
    _, back, _ = await get_json(raw_http, empty["meta"]["previous_page_url"])
    assert [r["sid"] for r in back["media_recordings"]] == expected[:10]
    assert back["meta"]["previous_page_url"] is None


@pytest.mark.fake_media_server(generate=3, host="0.0.0.0")
async def test_page_urls_use_the_client_host_on_a_wildcard_address(
    fake_media_server: FakeMediaServer,
) -> None:
    local = f"http://127.0.0.1:{fake_media_server.port}"
    auth = basic_auth_header(fake_media_server.account_sid, fake_media_server.auth_token)
    async with aiohttp.ClientSession(base_url=local, headers={"Authorization": auth}) as http:
        _, page, _ = await get_json(http, f"{PATH}?PageSize=1")
    assert page["meta"]["next_page_url"].startswith(f"{local}{PATH}?")
    async with client_for(fake_media_server, base_url=local) as client:
        assert len([r async for r in client.list(page_size=1)]) == 3


async def test_list_through_media_client(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    got = [r.sid async for r in media_client.list(page_size=6)]
    assert got == ordered_sids(fake_media_server)
    pages = [p async for p in media_client.pages(status="completed", page_size=5, order="asc")]
    assert [r.sid for p in pages for r in p] == ordered_sids(
        fake_media_server, desc=False, status=RecordingStatus.COMPLETED
    )
    assert pages[0].page == 0 and pages[0].page_size == 5
    assert pages[0].page_token is not None and pages[0].page_token.startswith("PA")


@pytest.mark.parametrize(
    "query",
    [
        "Order=up",
        "Status=done",
        "ProcessorSid=ZX123",
        "ProcessorSid=KV" + "a" * 32,
        "SourceSid=R1" + "a" * 32,
        "SourceSid=RT" + "g" * 32,
        "PageSize=0",
        "PageSize=1001",
        "PageSize=ten",
        "PageSize=-5",
        "Page=-1",
        "Page=x",
        "PageToken=garbage",
        "PageToken=PA12",
    ],
)
async def test_list_invalid_params_are_400(raw_http: aiohttp.ClientSession, query: str) -> None:
    status, body, _ = await get_json(raw_http, f"{PATH}?{query}")
    assert status == 400
    assert body["code"] == 20001 and body["status"] == 400
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20001"
    assert query.split("=")[0] in body["message"]
