"""FakeMediaServer over real HTTP: routes, auth, paging, faults, scripts, stats, plugin, CLI."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import orjson
import pytest

from twilio_media_async import (
    AuthenticationError,
    MediaClient,
    MediaRecording,
    RateLimitError,
    RecordingStatus,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
    converter,
)
from twilio_media_async.testing import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    FakeMediaServer,
    Fault,
    RecordedRequest,
    make_recordings,
)

from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN

PATH = "/v1/MediaRecordings"
REQUEST_ID = re.compile(r"RQ[0-9a-f]{32}\Z")
# The patterns and enums of schema media.v1.media_recording in twilio_media_v1.json 1.55.2.
SPEC_PATTERNS = {
    "account_sid": re.compile(r"^AC[0-9a-fA-F]{32}$"),
    "processor_sid": re.compile(r"^ZX[0-9a-fA-F]{32}$"),
    "source_sid": re.compile(r"^[a-zA-Z]{2}[0-9a-fA-F]{32}$"),
    "sid": re.compile(r"^KV[0-9a-fA-F]{32}$"),
}
SPEC_ENUMS = {
    "format": {"mp4", "webm"},
    "status": {"processing", "completed", "deleted", "failed"},
    "status_callback_method": {"HEAD", "GET", "POST", "PATCH", "PUT", "DELETE"},
}


def basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def raw_session(
    server: FakeMediaServer, user: str | None = None, password: str | None = None
) -> aiohttp.ClientSession:
    """A plain aiohttp session that authenticates as the server's account by default."""
    auth = basic(user or server.account_sid, password or server.auth_token)
    return aiohttp.ClientSession(base_url=server.url, headers={"Authorization": auth})


@pytest.fixture(autouse=True)
def _no_server_side_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No fault, disconnect or shutdown may make aiohttp or asyncio log an error."""
    caplog.set_level(logging.WARNING, logger="aiohttp")
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.levelno >= logging.ERROR and r.name.startswith(("aiohttp", "asyncio"))
    ]
    assert not errors


@pytest.fixture
async def server() -> AsyncIterator[FakeMediaServer]:
    async with FakeMediaServer(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_keys={API_KEY: API_SECRET},
        generate=25,
        seed=1,
    ) as fake:
        yield fake


@pytest.fixture
async def http(server: FakeMediaServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with raw_session(server) as session:
        yield session


async def get_json(
    http: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, Any, Mapping[str, str]]:
    async with http.get(url, **kwargs) as resp:
        return resp.status, orjson.loads(await resp.read()), resp.headers


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


def ordered_sids(server: FakeMediaServer, *, desc: bool = True, **match: Any) -> list[str]:
    """The sids the list should return, computed from the store independently."""
    recs = [
        r
        for r in server.recordings.values()
        if all(getattr(r, name) == value for name, value in match.items())
    ]
    position = {sid: i for i, sid in enumerate(server.sids)}
    recs.sort(key=lambda r: (r.date_created, position[r.sid or ""]), reverse=desc)
    return [r.sid or "" for r in recs]


# -- lifecycle and construction ------------------------------------------------------------


async def test_lifecycle_url_and_idempotent_close() -> None:
    server = FakeMediaServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    await server.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert server.port == int(server.url.rsplit(":", 1)[1]) > 0
        assert server.running
        with pytest.raises(RuntimeError, match="already running"):
            await server.start()
        assert server.client_kwargs() == {
            "account_sid": DEFAULT_ACCOUNT_SID,
            "auth_token": DEFAULT_AUTH_TOKEN,
            "base_url": server.url,
        }
    finally:
        await server.close()
    await server.close()
    assert not server.running
    assert "not running" in repr(server)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"account_sid": "AC123"}, ValueError),
        ({"auth_token": ""}, ValueError),
        ({"fault_rate": 1.5}, ValueError),
        ({"fault_rate": 0.5, "fault_kinds": []}, ValueError),
        ({"fault_kinds": ["reset"]}, TypeError),
        ({"concurrency_limit": 0}, ValueError),
        ({"latency": -1.0}, ValueError),
        ({"latency": (2.0, 1.0)}, ValueError),
        ({"payload_shape": "xml"}, ValueError),
        ({"api_keys": {"SK1": ""}}, ValueError),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        FakeMediaServer(**kwargs)


def test_fault_factories_validate() -> None:
    with pytest.raises(ValueError, match="5xx"):
        Fault.server_error(404)
    with pytest.raises(ValueError, match="4xx or 5xx"):
        Fault.status(200)
    with pytest.raises(ValueError, match="seconds"):
        Fault.latency(-1)
    with pytest.raises(ValueError, match="retry_after"):
        Fault.rate_limited(float("nan"))
    assert Fault.rate_limited(2).retry_after == "2"
    assert Fault.rate_limited(0.25).retry_after == "0.25"
    assert Fault.status(403).twilio_code == 20403
    assert Fault.status(400).twilio_code == 20001
    assert Fault.reset() == Fault.reset()  # frozen, comparable
    assert hash(Fault.truncated()) == hash(Fault.truncated())


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password"),
    [(ACCOUNT_SID, AUTH_TOKEN), (API_KEY, API_SECRET)],
    ids=["auth-token", "api-key"],
)
async def test_auth_accepted(server: FakeMediaServer, user: str, password: str) -> None:
    async with raw_session(server, user, password) as http:
        status, body, _ = await get_json(http, f"{PATH}/{server.sids[0]}")
    assert status == 200
    assert body["sid"] == server.sids[0]
    assert server.requests[-1].auth_user == user


async def test_auth_scheme_is_case_insensitive(server: FakeMediaServer) -> None:
    header = basic(ACCOUNT_SID, AUTH_TOKEN).replace("Basic", "basic")
    async with aiohttp.ClientSession(base_url=server.url) as http:
        status, _, _ = await get_json(http, PATH, headers={"Authorization": header})
    assert status == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        basic(ACCOUNT_SID, "wrong-token"),
        basic(API_KEY, AUTH_TOKEN),  # a valid secret of another principal
        basic("AC" + "f" * 32, AUTH_TOKEN),
        basic(AUTH_TOKEN, ACCOUNT_SID),  # swapped
        "Basic !!!not-base64!!!",
        "Bearer " + AUTH_TOKEN,
        "Basic " + base64.b64encode(AUTH_TOKEN.encode()).decode(),  # no colon
    ],
    ids=[
        "missing",
        "wrong",
        "key-with-token",
        "other-account",
        "swapped",
        "bad-b64",
        "bearer",
        "no-colon",
    ],
)
async def test_auth_rejected(server: FakeMediaServer, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with (
        aiohttp.ClientSession(base_url=server.url) as http,
        http.get(f"{PATH}/{server.sids[0]}", headers=headers) as resp,
    ):
        raw = await resp.read()
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        assert REQUEST_ID.match(resp.headers["Twilio-Request-Id"])
    assert orjson.loads(raw) == twilio_error(401, 20003, "Authenticate")
    assert AUTH_TOKEN.encode() not in raw and API_SECRET.encode() not in raw
    record = server.requests[-1]
    assert record.status == 401
    assert record.auth_user in (None, ACCOUNT_SID, API_KEY, "AC" + "f" * 32)


async def test_media_client_gets_authentication_error(server: FakeMediaServer) -> None:
    async with MediaClient(ACCOUNT_SID, "nope", base_url=server.url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.fetch(server.sids[0])
    assert info.value.code == 20003
    assert info.value.request_id is not None and REQUEST_ID.match(info.value.request_id)


# -- fetch and delete -------------------------------------------------------------------------


async def test_fetch_spec_shape(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    sid = server.sids[3]
    status, body, headers = await get_json(http, f"{PATH}/{sid}")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert REQUEST_ID.match(headers["Twilio-Request-Id"])
    assert "media_size" in body and "size" not in body and "bitrate" not in body
    expected = server.recordings[sid]
    assert body["media_size"] == expected.size
    assert converter.structure(body, MediaRecording) == expected
    assert expected.bitrate is None  # stored as clients read it: the spec shape has none
    generated = make_recordings(25, seed=1, account_sid=ACCOUNT_SID)[3]
    assert expected == attrs.evolve(generated, bitrate=None)


async def test_fetch_seed_shape() -> None:
    async with (
        FakeMediaServer(generate=2, payload_shape="seed") as server,
        raw_session(server) as http,
    ):
        _, body, _ = await get_json(http, f"{PATH}/{server.sids[0]}")
        assert "media_size" not in body
        rec = server.recordings[server.sids[0]]
        assert (body["size"], body["bitrate"]) == (rec.size, rec.bitrate)
        assert server.payload_shape == "seed"
        async with MediaClient(**server.client_kwargs()) as client:
            assert await client.fetch(server.sids[0]) == rec


@pytest.mark.parametrize(
    "sid",
    ["KV" + "0" * 32, "KVnot-a-sid", "kv" + "a" * 32, "KV" + "a" * 33],
    ids=["unknown", "malformed", "lowercase", "too-long"],
)
async def test_fetch_not_found(http: aiohttp.ClientSession, sid: str) -> None:
    status, body, headers = await get_json(http, f"{PATH}/{sid}")
    assert status == 404
    message = f"The requested resource {PATH}/{sid} was not found"
    assert body == twilio_error(404, 20404, message)
    assert REQUEST_ID.match(headers["Twilio-Request-Id"])


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/Other"), ("GET", "/"), ("POST", PATH), ("PUT", f"{PATH}/KV{'a' * 32}")],
)
async def test_other_routes_are_404(http: aiohttp.ClientSession, method: str, path: str) -> None:
    async with http.request(method, path) as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == 20404


async def test_delete_then_404(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    sid = server.sids[0]
    before = len(server.recordings)
    async with http.delete(f"{PATH}/{sid}") as resp:
        assert resp.status == 204
        assert await resp.read() == b""
        assert REQUEST_ID.match(resp.headers["Twilio-Request-Id"])
    assert sid not in server.recordings and sid not in server.sids
    assert len(server.recordings) == before - 1
    status, body, _ = await get_json(http, f"{PATH}/{sid}")
    assert (status, body["code"]) == (404, 20404)
    async with http.delete(f"{PATH}/{sid}") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == 20404
    assert server.attempts(sid) == 3


async def test_add_structures_dicts_and_replaces_in_place(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    sid = "KV" + "b" * 32
    added = server.add({"sid": sid, "status": "processing", "duration": "42", "media_size": 7})
    assert added == MediaRecording(sid=sid, status=RecordingStatus.PROCESSING, duration=42, size=7)
    assert server.sids[-1] == sid
    _, body, _ = await get_json(http, f"{PATH}/{sid}")
    assert (body["status"], body["duration"], body["media_size"]) == ("processing", 42, 7)

    first = server.sids[0]
    server.add(attrs.evolve(server.recordings[first], duration=1))
    assert server.sids[0] == first
    assert server.recordings[first].duration == 1
    with pytest.raises(ValueError, match="sid"):
        server.add({"status": "completed"})
    with pytest.raises(ValueError, match="not a valid MediaRecording"):
        server.add({"sid": sid, "duration": "long"})
    with pytest.raises(TypeError):
        server.add(42)  # type: ignore[arg-type]


# -- list -------------------------------------------------------------------------------------


async def test_list_walks_every_recording_once_newest_first(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    pages = await walk(http, f"{PATH}?PageSize=7")
    assert [len(p["media_recordings"]) for p in pages] == [7, 7, 7, 4]
    seen = [r["sid"] for p in pages for r in p["media_recordings"]]
    assert seen == ordered_sids(server, desc=True)
    dates = [r["date_created"] for p in pages for r in p["media_recordings"]]
    assert dates == sorted(dates, reverse=True)

    first, second, last = pages[0]["meta"], pages[1]["meta"], pages[-1]["meta"]
    base = f"{server.url}{PATH}"
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
    _, back, _ = await get_json(http, second["previous_page_url"])
    assert back["media_recordings"] == pages[0]["media_recordings"]
    assert back["meta"]["page"] == 0


async def test_list_default_page_size_and_ascending(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    _, page, _ = await get_json(http, PATH)
    assert page["meta"]["page_size"] == 50 and page["meta"]["next_page_url"] is None
    assert len(page["media_recordings"]) == 25
    pages = await walk(http, f"{PATH}?Order=asc&PageSize=10")
    assert [r["sid"] for p in pages for r in p["media_recordings"]] == ordered_sids(
        server, desc=False
    )
    assert all("Order=asc" in p["meta"]["url"] for p in pages)


async def test_list_filters(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    rec = server.recordings[server.sids[0]]
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
            http, f"{PATH}?{'&'.join(f'{k}={v}' for k, v in params.items())}&PageSize=3"
        )
        got = [r["sid"] for p in pages for r in p["media_recordings"]]
        expected = ordered_sids(server, desc=params.get("Order") != "asc", **match)
        assert got == expected and got, params
        for page in pages:
            for key, value in params.items():
                assert f"{key}={value}" in page["meta"]["url"]
                assert page["meta"]["next_page_url"] is None or (
                    f"{key}={value}" in page["meta"]["next_page_url"]
                )
    status, page, _ = await get_json(http, f"{PATH}?ProcessorSid=ZX{'0' * 32}")
    assert status == 200 and page["media_recordings"] == []


async def test_list_page_tokens_survive_deletes_during_the_crawl(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    expected = ordered_sids(server)
    seen: list[str] = []
    next_url: str | None = f"{PATH}?PageSize=4"
    while next_url:
        _, page, _ = await get_json(http, next_url)
        for item in page["media_recordings"]:
            seen.append(item["sid"])
            async with http.delete(f"{PATH}/{item['sid']}") as resp:
                assert resp.status == 204
        next_url = page["meta"]["next_page_url"]
    assert seen == expected
    assert len(server.recordings) == 0


async def test_list_token_past_the_end_steps_back(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    expected = ordered_sids(server)
    _, first, _ = await get_json(http, f"{PATH}?PageSize=10")
    for sid in expected[10:]:
        async with http.delete(f"{PATH}/{sid}") as resp:
            assert resp.status == 204
    _, empty, _ = await get_json(http, first["meta"]["next_page_url"])
    assert empty["media_recordings"] == []
    assert empty["meta"]["next_page_url"] is None
    _, back, _ = await get_json(http, empty["meta"]["previous_page_url"])
    assert [r["sid"] for r in back["media_recordings"]] == expected[:10]
    assert back["meta"]["previous_page_url"] is None


async def test_page_urls_use_the_client_host_on_a_wildcard_address() -> None:
    async with FakeMediaServer(generate=3, host="0.0.0.0") as server:
        local = f"http://127.0.0.1:{server.port}"
        token = basic(server.account_sid, server.auth_token)
        async with aiohttp.ClientSession(base_url=local, headers={"Authorization": token}) as http:
            _, page, _ = await get_json(http, f"{PATH}?PageSize=1")
        assert page["meta"]["next_page_url"].startswith(f"{local}{PATH}?")
        async with MediaClient(server.account_sid, server.auth_token, base_url=local) as client:
            assert len([r async for r in client.list(page_size=1)]) == 3


async def test_list_through_media_client(server: FakeMediaServer) -> None:
    async with MediaClient(**server.client_kwargs()) as client:
        got = [r.sid async for r in client.list(page_size=6)]
        assert got == ordered_sids(server)
        pages = [p async for p in client.pages(status="completed", page_size=5, order="asc")]
    assert [r.sid for p in pages for r in p] == ordered_sids(
        server, desc=False, status=RecordingStatus.COMPLETED
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
async def test_list_invalid_params_are_400(http: aiohttp.ClientSession, query: str) -> None:
    status, body, _ = await get_json(http, f"{PATH}?{query}")
    assert status == 400
    assert body["code"] == 20001 and body["status"] == 400
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20001"
    assert query.split("=")[0] in body["message"]


# -- faults, seen by a raw client ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        (Fault.rate_limited(), None),
        (Fault.rate_limited(2), "2"),
        (Fault.rate_limited(0.5), "0.5"),
        (Fault.rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"), "Wed, 21 Oct 2015 07:28:00 GMT"),
    ],
)
async def test_fault_rate_limited(
    server: FakeMediaServer, http: aiohttp.ClientSession, fault: Fault, retry_after: str | None
) -> None:
    sid = server.sids[0]
    server.script(sid, [fault])
    status, body, headers = await get_json(http, f"{PATH}/{sid}")
    assert status == 429
    assert body == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert headers.get("Retry-After") == retry_after
    assert REQUEST_ID.match(headers["Twilio-Request-Id"])
    assert server.requests[-1].fault == "rate_limited"
    assert server.requests[-1].status == 429


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_fault_server_error_json(
    server: FakeMediaServer, http: aiohttp.ClientSession, code: int
) -> None:
    server.script_next([Fault.server_error(code)])
    status, body, headers = await get_json(http, f"{PATH}/{server.sids[0]}")
    assert status == code
    assert body["status"] == code and body["code"] == 20000 + code
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{20000 + code}"
    assert headers["Content-Type"] == "application/json; charset=utf-8"


async def test_fault_server_error_html(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    server.script_next([Fault.server_error(502, html=True)])
    async with http.get(f"{PATH}/{server.sids[0]}") as resp:
        assert resp.status == 502
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "<h1>502 Bad Gateway</h1>" in await resp.text()
        assert REQUEST_ID.match(resp.headers["Twilio-Request-Id"])


async def test_fault_status(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    server.script_next(
        [Fault.status(403), Fault.status(400, code_twilio=21211, message="Invalid 'To'")]
    )
    status, body, _ = await get_json(http, PATH)
    assert (status, body) == (403, twilio_error(403, 20403, "Forbidden"))
    status, body, _ = await get_json(http, PATH)
    assert (status, body) == (400, twilio_error(400, 21211, "Invalid 'To'"))


async def test_fault_reset(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    sid = server.sids[0]
    # aiohttp resends an idempotent request once after a disconnect: it takes two resets.
    server.script(sid, [Fault.reset(), Fault.reset()])
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with http.get(f"{PATH}/{sid}") as resp:
            await resp.read()
    assert server.attempts(sid) == 2
    assert [(r.status, r.fault) for r in server.requests] == [(None, "reset")] * 2
    # a single reset is absorbed by that resend
    server.script(sid, [Fault.reset()])
    status, _, _ = await get_json(http, f"{PATH}/{sid}")
    assert status == 200 and server.attempts(sid) == 4


async def test_fault_truncated(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    server.script_next([Fault.truncated()])
    async with http.get(f"{PATH}/{server.sids[0]}") as resp:
        assert resp.status == 200
        full = resp.content_length
        assert full is not None and full > 100
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert server.requests[-1].fault == "truncated"


async def test_fault_slow_body(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    sid = server.sids[0]
    server.script(sid, [Fault.slow_body(0.3), Fault.slow_body(30)])
    started = time.monotonic()
    status, body, _ = await get_json(http, f"{PATH}/{sid}")
    assert status == 200 and body["sid"] == sid
    assert time.monotonic() - started >= 0.29

    started = time.monotonic()
    with pytest.raises(aiohttp.ServerTimeoutError):
        async with http.get(f"{PATH}/{sid}", timeout=aiohttp.ClientTimeout(sock_read=0.2)) as r:
            assert r.status == 200  # the headers and half the body came in time
            await r.read()
    assert time.monotonic() - started < 5


async def test_fault_wrong_content_type(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    server.script_next([Fault.wrong_content_type()])
    async with http.get(f"{PATH}/{server.sids[0]}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        assert orjson.loads(await resp.read())["sid"] == server.sids[0]


async def test_fault_invalid_json(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    server.script_next([Fault.invalid_json()])
    async with http.get(f"{PATH}/{server.sids[0]}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(await resp.read())


async def test_fault_latency(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    server.script_next([Fault.latency(0.2)])
    started = time.monotonic()
    status, _, _ = await get_json(http, PATH)
    assert status == 200 and time.monotonic() - started >= 0.19
    assert server.requests[-1].fault == "latency"


async def test_faults_through_media_client(server: FakeMediaServer) -> None:
    sid = server.sids[0]
    async with MediaClient(**server.client_kwargs(), retry=RetryPolicy(max_attempts=1)) as c:
        cases: list[tuple[Fault, type[Exception]]] = [
            (Fault.rate_limited(3), RateLimitError),
            (Fault.server_error(502, html=True), ServerError),
            (Fault.truncated(), TransportError),
            (Fault.wrong_content_type(), ResponseValidationError),
            (Fault.invalid_json(), ResponseValidationError),
        ]
        for fault, error in cases:
            server.script(sid, [fault])
            with pytest.raises(error) as info:
                await c.fetch(sid)
            if isinstance(info.value, RateLimitError):
                assert info.value.retry_after == 3
    async with MediaClient(**server.client_kwargs(), retry=RetryPolicy.no_wait()) as c:
        server.script(sid, [Fault.rate_limited(), Fault.server_error(503), Fault.reset(), None])
        assert (await c.fetch(sid)).sid == sid
        # 429, 503, reset (resent by aiohttp itself, which takes the None), done
        assert server.attempts(sid) == 5 + 4


async def test_applied_fault_deletes_before_failing(server: FakeMediaServer) -> None:
    sid, other = server.sids[0], server.sids[1]
    server.script(sid, [Fault.server_error(502, applied=True)])
    server.script(other, [Fault.server_error(502)])
    async with raw_session(server) as http:
        async with http.delete(f"{PATH}/{sid}") as resp:
            assert resp.status == 502
        async with http.delete(f"{PATH}/{other}") as resp:
            assert resp.status == 502
    assert sid not in server.recordings  # carried out, then failed
    assert other in server.recordings  # refused outright

    # The SDK takes "5xx, then 404" as done.
    server.script(other, [Fault.server_error(502, applied=True)])
    async with MediaClient(**server.client_kwargs(), retry=RetryPolicy.no_wait()) as client:
        await client.delete(other)
    assert other not in server.recordings
    assert [r.status for r in server.requests if r.sid == other] == [502, 502, 404]


# -- scripts and precedence ----------------------------------------------------------------------


async def test_script_per_sid_in_order_then_normal(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    sid, other = server.sids[0], server.sids[1]
    server.script(sid, [Fault.rate_limited(), None, Fault.server_error(500)])
    statuses = []
    for target in (sid, other, sid, sid, sid):
        async with http.get(f"{PATH}/{target}") as resp:
            await resp.read()
            statuses.append(resp.status)
    assert statuses == [429, 200, 200, 500, 200]
    assert server.attempts(sid) == 4 and server.attempts(other) == 1
    assert [r.fault for r in server.requests] == ["rate_limited", None, None, "server_error", None]


async def test_script_next_applies_to_any_request_after_per_sid(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    sid = server.sids[0]
    server.script_next([Fault.status(409), Fault.status(410)])
    server.script(sid, [Fault.status(418)])
    got = []
    for url in (f"{PATH}/{sid}", PATH, f"{PATH}/{sid}", PATH):
        async with http.get(url) as resp:
            await resp.read()
            got.append(resp.status)
    assert got == [418, 409, 410, 200]


async def test_concurrency_cap_answers_20429_without_consuming_scripts() -> None:
    limit = 3
    async with (
        FakeMediaServer(generate=3, concurrency_limit=limit, latency=0.3) as server,
        raw_session(server) as http,
    ):

        async def one() -> tuple[int, Any]:
            async with http.get(PATH) as resp:
                return resp.status, await resp.json()

        results = await asyncio.gather(*(one() for _ in range(limit + 5)))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * limit + [429] * 5
        assert all(
            body == twilio_error(429, 20429, "Too Many Requests")
            for status, body in results
            if status == 429
        )
        assert server.max_in_flight == limit
        assert server.in_flight == 0
        assert sum(r.fault == "concurrency_limit" for r in server.requests) == 5

    async with (
        FakeMediaServer(generate=1, concurrency_limit=1) as server,
        raw_session(server) as http,
    ):
        server.script_next([Fault.latency(0.3), Fault.status(409)])
        slow = asyncio.create_task(get_json(http, PATH))
        while server.in_flight == 0:
            await asyncio.sleep(0.005)
        status, body, _ = await get_json(http, PATH)
        assert (status, body["code"]) == (429, 20429)  # refused, and the 409 is still queued
        assert (await slow)[0] == 200
        assert (await get_json(http, PATH))[0] == 409


async def test_random_faults_are_seeded() -> None:
    async def run(seed: int) -> list[tuple[int | None, str | None]]:
        async with FakeMediaServer(generate=5, seed=seed, fault_rate=0.4) as server:
            async with raw_session(server) as http:
                for i in range(40):
                    try:
                        async with http.get(f"{PATH}/{server.sids[i % 5]}") as resp:
                            await resp.read()
                    except aiohttp.ClientError:
                        pass
            return [(r.status, r.fault) for r in server.requests]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again
    assert first != other
    faults = {fault for _, fault in first}
    assert faults - {None} and None in faults
    assert 0.2 < sum(f is not None for _, f in first) / len(first) < 0.6

    kinds = [Fault.status(418)]
    async with (
        FakeMediaServer(generate=1, fault_rate=1.0, fault_kinds=kinds) as server,
        raw_session(server) as http,
    ):
        assert (await get_json(http, PATH))[0] == 418


async def test_server_latency_range() -> None:
    async with (
        FakeMediaServer(generate=1, latency=(0.05, 0.1)) as server,
        raw_session(server) as http,
    ):
        started = time.monotonic()
        for _ in range(3):
            await get_json(http, PATH)
        assert time.monotonic() - started >= 0.15


# -- observability -------------------------------------------------------------------------------


async def test_recorded_requests(server: FakeMediaServer, http: aiohttp.ClientSession) -> None:
    sid = server.sids[0]
    await get_json(http, f"{PATH}?PageSize=2&Status=completed")
    await get_json(http, f"{PATH}/{sid}")
    listing, fetch = server.requests
    assert isinstance(listing, RecordedRequest)
    assert (listing.method, listing.path, listing.sid, listing.status) == ("GET", PATH, None, 200)
    assert listing.query == {"PageSize": "2", "Status": "completed"}
    assert (fetch.sid, fetch.status, fetch.fault, fetch.auth_user) == (sid, 200, None, ACCOUNT_SID)
    assert fetch.finished is not None and fetch.started <= fetch.finished
    assert listing.started <= fetch.started
    assert server.request_count == 2 and server.attempts(sid) == 1 and server.attempts("x") == 0
    hash(fetch)  # hashable despite the query dict


async def test_secrets_never_recorded(server: FakeMediaServer) -> None:
    attempts = [
        (ACCOUNT_SID, AUTH_TOKEN),
        (API_KEY, API_SECRET),
        (ACCOUNT_SID, API_SECRET),
        (API_KEY, "s3cr3t-typo"),
        (AUTH_TOKEN, ACCOUNT_SID),  # swapped: the token arrives as the username
        (API_SECRET, API_KEY),
    ]
    for user, password in attempts:
        async with raw_session(server, user, password) as http:
            await get_json(http, f"{PATH}/{server.sids[0]}")
    assert server.request_count == len(attempts)
    text = repr(server.requests) + str(server.requests) + repr(server)
    text += "".join(f"{r.query}{r.auth_user}{r.path}" for r in server.requests)
    for secret in (AUTH_TOKEN, API_SECRET, "s3cr3t"):
        assert secret not in text
    assert [r.auth_user for r in server.requests] == [
        ACCOUNT_SID, API_KEY, ACCOUNT_SID, API_KEY, None, None
    ]  # fmt: skip


async def test_one_connection_for_sequential_requests(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    ids = set()
    for i in range(100):
        async with http.get(f"{PATH}/{server.sids[i % 25]}") as resp:
            await resp.read()
            ids.add(resp.headers["Twilio-Request-Id"])
    assert server.connections == 1
    assert len(ids) == 100 and all(REQUEST_ID.match(i) for i in ids)
    assert server.max_in_flight == 1

    server.reset_stats()
    assert (server.connections, server.request_count, server.requests) == (0, 0, [])
    assert server.max_in_flight == 0 and server.attempts(server.sids[0]) == 0
    assert len(server.recordings) == 25  # the store is kept
    await get_json(http, PATH)
    assert server.connections == 1  # the same connection, seen again after the reset

    async with raw_session(server) as second:
        await get_json(second, PATH)
    assert server.connections == 2


async def test_request_id_on_every_kind_of_answer(
    server: FakeMediaServer, http: aiohttp.ClientSession
) -> None:
    server.script_next([Fault.rate_limited(), Fault.server_error(502, html=True)])
    calls = [("GET", PATH), ("GET", PATH), ("GET", PATH), ("DELETE", f"{PATH}/{server.sids[0]}")]
    calls += [("GET", f"{PATH}/nope"), ("GET", f"{PATH}?Order=sideways")]
    statuses = []
    for method, url in calls:
        async with http.request(method, url) as resp:
            statuses.append(resp.status)
            assert REQUEST_ID.match(resp.headers["Twilio-Request-Id"]), (method, url)
    assert statuses == [429, 502, 200, 204, 404, 400]


async def test_bulk_fetch_many_under_random_faults() -> None:
    async with FakeMediaServer(generate=1500, seed=3, fault_rate=0.1) as server:
        retry = RetryPolicy.no_wait(max_attempts=10, budget=None)
        async with MediaClient(**server.client_kwargs(), retry=retry) as client:
            results = [r async for r in client.fetch_many(server.sids, concurrency=32)]
        assert sorted(r.sid for r in results) == sorted(server.sids)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        assert all(r.recording == server.recordings[r.sid] for r in results)
        faults = sum(r.fault is not None for r in server.requests)
        assert 50 < faults < 400
        assert 1 <= server.max_in_flight <= 32
        assert server.connections <= 32 + faults  # pooled; only resets cost connections


async def test_close_is_clean_with_busy_and_idle_connections() -> None:
    server = FakeMediaServer(generate=2)
    await server.start()
    async with raw_session(server) as idle, raw_session(server) as busy:
        await get_json(idle, PATH)  # leaves an idle keep-alive connection behind
        server.script_next([Fault.slow_body(30), Fault.latency(30)])
        stalled = [asyncio.create_task(get_json(busy, PATH)) for _ in range(2)]
        while server.in_flight < 2:
            await asyncio.sleep(0.005)
        started = time.monotonic()
        await server.close()
        assert time.monotonic() - started < 1.5
        for outcome in await asyncio.gather(*stalled, return_exceptions=True):
            assert isinstance(outcome, aiohttp.ClientError), outcome
    await server.close()
    assert [r.fault for r in server.requests][1:3] == ["slow_body", "latency"]


async def test_a_client_that_gives_up_ends_the_request() -> None:
    async with FakeMediaServer(generate=1) as server, raw_session(server) as http:
        server.script_next([Fault.latency(30)])
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            async with http.get(PATH, timeout=aiohttp.ClientTimeout(total=0.2)) as resp:
                await resp.read()
        while server.in_flight:
            await asyncio.sleep(0.005)
        assert time.monotonic() - started < 2
        (record,) = server.requests
        assert (record.status, record.fault) == (None, "latency")
        assert record.finished is not None and 0.15 < record.finished - record.started < 2
        assert (await get_json(http, PATH))[0] == 200  # and the server carries on


# -- make_recordings -----------------------------------------------------------------------------


def test_make_recordings_deterministic_and_valid() -> None:
    first = make_recordings(200, seed=5)
    assert first == make_recordings(200, seed=5)
    assert make_recordings(20, seed=5) == first[:20]
    assert make_recordings(20, seed=6) != first[:20]
    assert len({r.sid for r in first}) == 200
    assert make_recordings(0) == []
    with pytest.raises(ValueError, match="n must be"):
        make_recordings(-1)
    with pytest.raises(ValueError, match="account_sid"):
        make_recordings(1, account_sid="AC1")
    other = make_recordings(3, account_sid=ACCOUNT_SID)
    assert {r.account_sid for r in other} == {ACCOUNT_SID}

    assert len({r.processor_sid for r in first}) > 1
    assert len({r.date_created for r in first}) > 150
    for rec in first:
        data = converter.unstructure(rec)
        for field, pattern in SPEC_PATTERNS.items():
            assert pattern.match(data[field]), (field, data[field])
        for field, allowed in SPEC_ENUMS.items():
            assert data[field] in allowed, (field, data[field])
        assert rec.date_created is not None and rec.date_updated is not None
        assert rec.date_created.tzinfo is UTC and rec.date_updated > rec.date_created
        assert isinstance(rec.duration, int) and rec.duration > 0
        assert isinstance(rec.size, int) and rec.size > 0
        assert isinstance(rec.bitrate, int) and rec.bitrate > 0
        url = f"https://media.twilio.com/v1/MediaRecordings/{rec.sid}"
        assert rec.url == url
        assert rec.links == {"media": f"{url}/Media", "timed_metadata": f"{url}/TimedMetadata"}
        assert rec.status_callback and rec.status_callback.startswith("https://")
        assert re.fullmatch(r"\d+x\d+", rec.resolution or "")
        assert converter.structure(data, MediaRecording) == rec


# -- the pytest plugin, through its entry point ---------------------------------------------------


async def test_plugin_fixtures(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    assert len(fake_media_server.sids) == 10
    assert list(fake_media_server.recordings) == [r.sid for r in make_recordings(10, seed=0)]
    assert media_client.base_url == fake_media_server.url
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503), None])
    assert await media_client.fetch(sid) == fake_media_server.recordings[sid]
    assert fake_media_server.attempts(sid) == 2  # retried without sleeping


@pytest.mark.fake_media_server(generate=3, seed=9, payload_shape="seed")
async def test_plugin_marker(fake_media_server: FakeMediaServer, media_client: MediaClient) -> None:
    assert fake_media_server.sids == [r.sid for r in make_recordings(3, seed=9)]
    assert fake_media_server.payload_shape == "seed"
    assert [r.sid async for r in media_client.list(order="asc")] == ordered_sids(
        fake_media_server, desc=False
    )


def test_plugin_without_pytest_asyncio(tmp_path: Path) -> None:
    """pytest still runs; a test asking for the fixtures fails with an install hint."""
    shadow = tmp_path / "shadow"
    (shadow / "pytest_asyncio").mkdir(parents=True)
    (shadow / "pytest_asyncio" / "__init__.py").write_text(
        "raise ImportError('pytest-asyncio is not installed (simulated)')\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            def test_plain():
                assert True

            def test_wants_server(fake_media_server):
                pass
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 passed" in out and ("1 failed" in out or "1 error" in out), out
    assert "needs pytest-asyncio" in out, out


# -- the standalone runner ------------------------------------------------------------------------


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


# -- scripted completions ------------------------------------------------------------------


async def test_script_completion_after_reads() -> None:
    async with FakeMediaServer(generate=3, seed=41) as server:
        sid, other = server.sids[:2]
        server.script_completion(sid, after_reads=2)
        assert server.recordings[sid].status == RecordingStatus.PROCESSING
        async with MediaClient(**server.client_kwargs()) as client:
            await client.fetch(other)  # reads of another recording do not count
            [page] = [p async for p in client.pages()]  # nor do lists
            assert {r.status for r in page if r.sid == sid} == {RecordingStatus.PROCESSING}
            seen = [(await client.fetch(sid)).status for _ in range(4)]
        assert seen == ["processing", "processing", "completed", "completed"]


async def test_script_completion_after_seconds_shows_in_lists_too() -> None:
    async with FakeMediaServer(generate=3, seed=42) as server:
        sid = server.sids[0]
        server.script_completion(sid, after_seconds=0.2, status=RecordingStatus.FAILED)
        async with MediaClient(**server.client_kwargs()) as client:
            assert (await client.fetch(sid)).status == "processing"
            await asyncio.sleep(0.25)
            listed = {r.sid: r.status async for r in client.list()}
        assert listed[sid] == "failed"
        assert server.recordings[sid].status == RecordingStatus.FAILED


async def test_script_completion_of_a_deleted_recording_is_harmless() -> None:
    async with FakeMediaServer(generate=2, seed=43) as server:
        sid = server.sids[0]
        server.script_completion(sid, after_seconds=0)
        async with MediaClient(**server.client_kwargs()) as client:
            await client.delete(sid)
            assert [r.sid async for r in client.list()] == server.sids
        assert sid not in server.recordings


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
