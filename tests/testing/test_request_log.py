"""What the fake server shows of what a client did: recorded requests (never a secret),
connections, request ids, in-flight counts, and a clean close (``testing/_server.py``)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, client_for, raw_session
from twilio_media_async import RetryPolicy
from twilio_media_async.testing import FakeMediaServer, Fault, RecordedRequest

from .conftest import PATH, REQUEST_ID, SERVER, get_json

pytestmark = pytest.mark.fake_media_server(**SERVER)


async def test_recorded_requests(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid = fake_media_server.sids[0]
    await get_json(raw_http, f"{PATH}?PageSize=2&Status=completed")
    await get_json(raw_http, f"{PATH}/{sid}")
    listing, fetch = fake_media_server.requests
    assert isinstance(listing, RecordedRequest)
    assert (listing.method, listing.path, listing.sid, listing.status) == ("GET", PATH, None, 200)
    assert listing.query == {"PageSize": "2", "Status": "completed"}
    assert (fetch.sid, fetch.status, fetch.fault, fetch.auth_user) == (sid, 200, None, ACCOUNT_SID)
    assert fetch.finished is not None and fetch.started <= fetch.finished
    assert listing.started <= fetch.started
    assert fake_media_server.request_count == 2
    assert fake_media_server.attempts(sid) == 1 and fake_media_server.attempts("x") == 0
    hash(fetch)  # hashable despite the query dict


async def test_secrets_never_recorded(fake_media_server: FakeMediaServer) -> None:
    attempts = [
        (ACCOUNT_SID, AUTH_TOKEN),
        (API_KEY, API_SECRET),
        (ACCOUNT_SID, API_SECRET),
        (API_KEY, "s3cr3t-typo"),
        (AUTH_TOKEN, ACCOUNT_SID),  # swapped: the token arrives as the username
        (API_SECRET, API_KEY),
    ]
    for user, password in attempts:
        async with raw_session(fake_media_server, user, password) as http:
            await get_json(http, f"{PATH}/{fake_media_server.sids[0]}")
    requests = fake_media_server.requests
    assert fake_media_server.request_count == len(attempts)
    text = repr(requests) + str(requests) + repr(fake_media_server)
    text += "".join(f"{r.query}{r.auth_user}{r.path}" for r in requests)
    for secret in (AUTH_TOKEN, API_SECRET, "s3cr3t"):
        assert secret not in text
    assert [r.auth_user for r in requests] == [
        ACCOUNT_SID, API_KEY, ACCOUNT_SID, API_KEY, None, None
    ]  # fmt: skip


async def test_one_connection_for_sequential_requests(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    ids = set()
    for i in range(100):
        async with raw_http.get(f"{PATH}/{fake_media_server.sids[i % 25]}") as resp:
            await resp.read()
            ids.add(resp.headers["Twilio-Request-Id"])
    assert fake_media_server.connections == 1
    assert len(ids) == 100 and all(REQUEST_ID.match(i) for i in ids)
    assert fake_media_server.max_in_flight == 1

    fake_media_server.reset_stats()
    stats = (
        fake_media_server.connections,
        fake_media_server.request_count,
        fake_media_server.requests,
    )
    assert stats == (0, 0, [])
    assert fake_media_server.max_in_flight == 0
    assert fake_media_server.attempts(fake_media_server.sids[0]) == 0
    assert len(fake_media_server.recordings) == 25  # the store is kept
    await get_json(raw_http, PATH)
    assert fake_media_server.connections == 1  # the same connection, seen again after the reset

    async with raw_session(fake_media_server) as second:
        await get_json(second, PATH)
    assert fake_media_server.connections == 2


async def test_request_id_on_every_kind_of_answer(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.rate_limited(), Fault.server_error(502, html=True)])
    calls = [("GET", PATH), ("GET", PATH), ("GET", PATH)]
    calls += [("DELETE", f"{PATH}/{fake_media_server.sids[0]}")]
    calls += [("GET", f"{PATH}/nope"), ("GET", f"{PATH}?Order=sideways")]
    statuses = []
    for method, url in calls:
        async with raw_http.request(method, url) as resp:
            statuses.append(resp.status)
            assert REQUEST_ID.match(resp.headers["Twilio-Request-Id"]), (method, url)
    assert statuses == [429, 502, 200, 204, 404, 400]


@pytest.mark.fake_media_server(generate=1500, seed=3, fault_rate=0.1)
async def test_bulk_fetch_many_under_random_faults(fake_media_server: FakeMediaServer) -> None:
    retry = RetryPolicy.no_wait(max_attempts=10, budget=None)
    async with client_for(fake_media_server, retry) as client:
        results = [r async for r in client.fetch_many(fake_media_server.sids, concurrency=32)]
    assert sorted(r.sid for r in results) == sorted(fake_media_server.sids)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert all(r.recording == fake_media_server.recordings[r.sid] for r in results)
    faults = sum(r.fault is not None for r in fake_media_server.requests)
    assert 50 < faults < 400
    assert 1 <= fake_media_server.max_in_flight <= 32
    assert fake_media_server.connections <= 32 + faults  # pooled; only resets cost connections


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


@pytest.mark.fake_media_server(generate=1)
async def test_a_client_that_gives_up_ends_the_request(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.latency(30)])
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with raw_http.get(PATH, timeout=aiohttp.ClientTimeout(total=0.2)) as resp:
            await resp.read()
    while fake_media_server.in_flight:
        await asyncio.sleep(0.005)
    assert time.monotonic() - started < 2
    (record,) = fake_media_server.requests
    assert (record.status, record.fault) == (None, "latency")
    assert record.finished is not None and 0.15 < record.finished - record.started < 2
    assert (await get_json(raw_http, PATH))[0] == 200  # and the server carries on
