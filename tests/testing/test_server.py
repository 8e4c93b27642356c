"""FakeMediaServer over real HTTP: its lifecycle, its checks of Basic auth, and the fetch
and delete routes (``testing/_server.py``)."""

from __future__ import annotations

import base64
import re
from typing import Any

import aiohttp
import attrs
import orjson
import pytest

from tests.conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, raw_session, twilio_error
from twilio_media_async import AuthenticationError, MediaClient, MediaRecording, converter
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    FakeMediaServer,
    make_recordings,
)

from .conftest import PATH, REQUEST_ID, SERVER, get_json

pytestmark = pytest.mark.fake_media_server(**SERVER)


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


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password"),
    [(ACCOUNT_SID, AUTH_TOKEN), (API_KEY, API_SECRET)],
    ids=["auth-token", "api-key"],
)
async def test_auth_accepted(fake_media_server: FakeMediaServer, user: str, password: str) -> None:
    sid = fake_media_server.sids[0]
    async with raw_session(fake_media_server, user, password) as http:
        status, body, _ = await get_json(http, f"{PATH}/{sid}")
    assert status == 200
    assert body["sid"] == sid
    assert fake_media_server.requests[-1].auth_user == user


async def test_auth_scheme_is_case_insensitive(fake_media_server: FakeMediaServer) -> None:
    header = basic_auth_header(ACCOUNT_SID, AUTH_TOKEN).replace("Basic", "basic")
    async with aiohttp.ClientSession(base_url=fake_media_server.url) as http:
        status, _, _ = await get_json(http, PATH, headers={"Authorization": header})
    assert status == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        basic_auth_header(ACCOUNT_SID, "wrong-token"),
        basic_auth_header(API_KEY, AUTH_TOKEN),  # a valid secret of another principal
        basic_auth_header("AC" + "f" * 32, AUTH_TOKEN),
        basic_auth_header(AUTH_TOKEN, ACCOUNT_SID),  # swapped
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
async def test_auth_rejected(fake_media_server: FakeMediaServer, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with (
        aiohttp.ClientSession(base_url=fake_media_server.url) as http,
        http.get(f"{PATH}/{fake_media_server.sids[0]}", headers=headers) as resp,
    ):
        raw = await resp.read()
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        assert REQUEST_ID.match(resp.headers["Twilio-Request-Id"])
    assert orjson.loads(raw) == twilio_error(401, 20003, "Authenticate")
    assert AUTH_TOKEN.encode() not in raw and API_SECRET.encode() not in raw
    record = fake_media_server.requests[-1]
    assert record.status == 401
    assert record.auth_user in (None, ACCOUNT_SID, API_KEY, "AC" + "f" * 32)


async def test_media_client_gets_authentication_error(fake_media_server: FakeMediaServer) -> None:
    async with MediaClient(ACCOUNT_SID, "nope", base_url=fake_media_server.url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.fetch(fake_media_server.sids[0])
    assert info.value.code == 20003
    assert info.value.request_id is not None and REQUEST_ID.match(info.value.request_id)


# -- fetch and delete -------------------------------------------------------------------------


async def test_fetch_spec_shape(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid = fake_media_server.sids[3]
    status, body, headers = await get_json(raw_http, f"{PATH}/{sid}")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert REQUEST_ID.match(headers["Twilio-Request-Id"])
    assert "media_size" in body and "size" not in body and "bitrate" not in body
    expected = fake_media_server.recordings[sid]
    assert body["media_size"] == expected.size
    assert converter.structure(body, MediaRecording) == expected
    assert expected.bitrate is None  # stored as clients read it: the spec shape has none
    generated = make_recordings(25, seed=1, account_sid=ACCOUNT_SID)[3]
    # The links point at the server itself, as Twilio's point at Twilio.
    assert expected.links is not None
    assert expected.links["media"] == f"{fake_media_server.url}{PATH}/{sid}/Media"
    assert expected == attrs.evolve(generated, bitrate=None, links=expected.links)


@pytest.mark.fake_media_server(generate=2, payload_shape="seed")
async def test_fetch_seed_shape(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession, media_client: MediaClient
) -> None:
    sid = fake_media_server.sids[0]
    _, body, _ = await get_json(raw_http, f"{PATH}/{sid}")
    assert "media_size" not in body
    rec = fake_media_server.recordings[sid]
    assert (body["size"], body["bitrate"]) == (rec.size, rec.bitrate)
    assert fake_media_server.payload_shape == "seed"
    assert await media_client.fetch(sid) == rec


@pytest.mark.parametrize(
    "sid",
    ["KV" + "0" * 32, "KVnot-a-sid", "kv" + "a" * 32, "KV" + "a" * 33],
    ids=["unknown", "malformed", "lowercase", "too-long"],
)
async def test_fetch_not_found(raw_http: aiohttp.ClientSession, sid: str) -> None:
    status, body, headers = await get_json(raw_http, f"{PATH}/{sid}")
    assert status == 404
    message = f"The requested resource {PATH}/{sid} was not found"
    assert body == twilio_error(404, 20404, message)
    assert REQUEST_ID.match(headers["Twilio-Request-Id"])


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/Other"), ("GET", "/"), ("POST", PATH), ("PUT", f"{PATH}/KV{'a' * 32}")],
)
async def test_other_routes_are_404(
    raw_http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with raw_http.request(method, path) as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == 20404


async def test_delete_then_404(
    fake_media_server: FakeMediaServer, raw_http: aiohttp.ClientSession
) -> None:
    sid = fake_media_server.sids[0]
    before = len(fake_media_server.recordings)
    async with raw_http.delete(f"{PATH}/{sid}") as resp:
        assert resp.status == 204
        assert await resp.read() == b""
        assert REQUEST_ID.match(resp.headers["Twilio-Request-Id"])
    assert sid not in fake_media_server.recordings and sid not in fake_media_server.sids
    assert len(fake_media_server.recordings) == before - 1
    status, body, _ = await get_json(raw_http, f"{PATH}/{sid}")
    assert (status, body["code"]) == (404, 20404)
    async with raw_http.delete(f"{PATH}/{sid}") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == 20404
    assert fake_media_server.attempts(sid) == 3
