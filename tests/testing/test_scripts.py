"""Which request gets which fault: per-sid scripts, the ``script_next`` queue, seeded random
faults, the concurrency cap and the server's latency (``testing/_server.py``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.conftest import raw_session, twilio_error
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import PATH, SERVER, get_json

pytestmark = pytest.mark.fake_media_server(**SERVER)


async def test_script_per_sid_in_order_then_normal(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid, other = fake_media_server.sids[0], fake_media_server.sids[1]
    fake_media_server.script(sid, [Fault.rate_limited(), None, Fault.server_error(500)])
    statuses = []
    for target in (sid, other, sid, sid, sid):
        async with raw_http.get(f"{PATH}/{target}") as resp:
            await resp.read()
            statuses.append(resp.status)
    assert statuses == [429, 200, 200, 500, 200]
    assert fake_media_server.attempts(sid) == 4 and fake_media_server.attempts(other) == 1
    faults = [r.fault for r in fake_media_server.requests]
    assert faults == ["rate_limited", None, None, "server_error", None]


async def test_script_next_applies_to_any_request_after_per_sid(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script_next([Fault.status(409), Fault.status(410)])
    fake_media_server.script(sid, [Fault.status(418)])
    got = []
    for url in (f"{PATH}/{sid}", PATH, f"{PATH}/{sid}", PATH):
        async with raw_http.get(url) as resp:
            await resp.read()
            got.append(resp.status)
    assert got == [418, 409, 410, 200]


@pytest.mark.fake_media_server(generate=3, concurrency_limit=3, latency=0.3)
async def test_concurrency_cap_answers_20429(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    limit = 3

    async def one() -> tuple[int, Any]:
        async with raw_http.get(PATH) as resp:
            return resp.status, await resp.json()

    results = await asyncio.gather(*(one() for _ in range(limit + 5)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * limit + [429] * 5
    assert all(
        body == twilio_error(429, 20429, "Too Many Requests")
        for status, body in results
        if status == 429
    )
    assert fake_media_server.max_in_flight == limit
    assert fake_media_server.in_flight == 0
    assert sum(r.fault == "concurrency_limit" for r in fake_media_server.requests) == 5


@pytest.mark.fake_media_server(generate=1, concurrency_limit=1)
async def test_the_concurrency_cap_consumes_no_script(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    fake_media_server.script_next([Fault.latency(0.3), Fault.status(409)])
    slow = asyncio.create_task(get_json(raw_http, PATH))
    while fake_media_server.in_flight == 0:
        await asyncio.sleep(0.005)
    status, body, _ = await get_json(raw_http, PATH)
    assert (status, body["code"]) == (429, 20429)  # refused, and the 409 is still queued
    assert (await slow)[0] == 200
    assert (await get_json(raw_http, PATH))[0] == 409


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


@pytest.mark.fake_media_server(generate=1, fault_rate=1.0, fault_kinds=[Fault.status(418)])
async def test_random_faults_are_drawn_from_the_kinds_given(
    raw_http: aiohttp.ClientSession,
) -> None:
    assert (await get_json(raw_http, PATH))[0] == 418


@pytest.mark.fake_media_server(generate=1, latency=(0.05, 0.1))
async def test_server_latency_range(raw_http: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    for _ in range(3):
        await get_json(raw_http, PATH)
    assert time.monotonic() - started >= 0.15
