"""Shared constants and helpers for the test suite.

The fake server and a client for it come from the plugin that ships with the package, as
they would in a user's tests: the ``fake_media_server`` and ``media_client`` fixtures,
configured per module or per test with ``@pytest.mark.fake_media_server(...)``.

Fixture names have one meaning across the suite: ``http`` is an aioresponses mock,
``raw_http`` a plain aiohttp session authenticated for ``fake_media_server``.  A Basic
header is built with the SDK's ``basic_auth_header`` (pinned to RFC 7617's example in
test_credentials), and Twilio's error JSON with the fake server's ``error_body``.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

import aiohttp
import attrs
import orjson
import pytest
from aiohttp import web
from yarl import URL

from twilio_media_async import MediaClient, MediaRecording, RetryPolicy
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import FakeMediaServer
from twilio_media_async.testing._faults import error_body

from ._mocking import mocked_http

ACCOUNT_SID: Final = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN: Final = "s3cr3t-auth-token-never-shown"
API_KEY: Final = "SK0123456789abcdef0123456789abcdef"
API_SECRET: Final = "s3cr3t-api-secret-never-shown"
SID: Final = "KV0123456789abcdef0123456789abcdef"
BASE: Final = "https://media.twilio.com"
RECORDINGS: Final = f"{BASE}/v1/MediaRecordings"
"""The list URL the aioresponses tests mock; ``RECORDING_URL`` is the item URL of ``SID``."""
RECORDING_URL: Final = f"{BASE}/v1/MediaRecordings/{SID}"
PAYLOAD: Final = {"sid": SID, "status": "completed", "duration": 12, "media_size": 99}
"""The body the aioresponses tests serve for ``SID``."""
PROXY_VARIABLES: Final = tuple(
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests talk to servers on 127.0.0.1: a proxy set on the machine running them
    would take every request elsewhere.  Tests of proxies set their own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error JSON as a dict, from the one builder (the fake server's ``error_body``,
    which tests/testing/test_faults.py pins to the shape Twilio documents)."""
    data: dict[str, Any] = orjson.loads(error_body(status, code, message))
    return data


def as_served(server: FakeMediaServer, sid: str) -> MediaRecording:
    """The stored recording as the client reads it (the spec shape has no ``bitrate``)."""
    stored = server.recordings[sid]
    return attrs.evolve(stored, bitrate=None) if server.payload_shape == "spec" else stored


def client_for(
    server: FakeMediaServer, retry: RetryPolicy | None = None, **kwargs: Any
) -> MediaClient:
    """A client for ``server`` with options of its own; retries keep their decisions but
    never sleep by default.  Without options, the ``media_client`` fixture is this client."""
    policy = RetryPolicy.no_wait() if retry is None else retry
    options: dict[str, Any] = {**server.client_kwargs(), **kwargs}  # kwargs win
    return MediaClient(**options, retry=policy)


def raw_session(
    server: FakeMediaServer, user: str | None = None, password: str | None = None
) -> aiohttp.ClientSession:
    """A plain aiohttp session for ``server``, authenticated as its account by default."""
    auth = basic_auth_header(user or server.account_sid, password or server.auth_token)
    return aiohttp.ClientSession(base_url=server.url, headers={"Authorization": auth})


def sent(http: mocked_http, method: str = "GET", url: str = RECORDING_URL) -> list[Any]:
    """The requests ``http`` saw for ``method`` and ``url``."""
    return list(http.requests.get((method, URL(url)), []))


@pytest.fixture
def http() -> Iterator[mocked_http]:
    """aioresponses (adapted to aiohttp 3.14) for the whole test."""
    mock = mocked_http()
    with mock:
        yield mock


@pytest.fixture
async def raw_http(fake_media_server: FakeMediaServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session for ``fake_media_server``, to see exactly what it answers."""
    async with raw_session(fake_media_server) as session:
        yield session


@pytest.fixture
async def gzip_server() -> AsyncIterator[str]:
    body = orjson.dumps({"sid": SID, "resolution": "x" * 200_000})

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(body),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    app = web.Application()
    app.router.add_get("/v1/MediaRecordings/{sid}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
