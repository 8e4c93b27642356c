"""What the tests of ``twilio_media_async.testing`` share: the server they configure through
the shipped ``fake_media_server`` fixture, and helpers that read its raw answers."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import aiohttp
import orjson
import pytest

from tests.conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN
from twilio_media_async.testing import FakeMediaServer

SERVER: Final[Mapping[str, Any]] = {
    "account_sid": ACCOUNT_SID,
    "auth_token": AUTH_TOKEN,
    "api_keys": {API_KEY: API_SECRET},
    "generate": 25,
    "seed": 1,
}
"""The ``fake_media_server`` of these tests (each module's ``pytestmark``): 25 recordings,
and an API key accepted besides the auth token."""
PATH: Final = "/v1/MediaRecordings"
REQUEST_ID: Final = re.compile(r"RQ[0-9a-f]{32}\Z")


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


async def get_json(
    http: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, Any, Mapping[str, str]]:
    """GET ``url``: the status, the body read as JSON, and the headers."""
    async with http.get(url, **kwargs) as resp:
        return resp.status, orjson.loads(await resp.read()), resp.headers


def ordered_sids(server: FakeMediaServer, *, desc: bool = True, **match: Any) -> list[str]:
    """The sids a list should return, computed from the store independently."""
    recs = [
        r
        for r in server.recordings.values()
        if all(getattr(r, name) == value for name, value in match.items())
    ]
    position = {sid: i for i, sid in enumerate(server.sids)}
    recs.sort(key=lambda r: (r.date_created, position[r.sid or ""]), reverse=desc)
    return [r.sid or "" for r in recs]
