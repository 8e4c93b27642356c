"""Shared constants and helpers for the test suite (the fake server's pytest fixtures come
from the plugin, through its entry point)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import attrs
import pytest

from twilio_media_async import MediaClient, MediaRecording, RetryPolicy
from twilio_media_async.testing import FakeMediaServer

from ._mocking import mocked_http

ACCOUNT_SID: Final = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN: Final = "s3cr3t-auth-token-never-shown"
API_KEY: Final = "SK0123456789abcdef0123456789abcdef"
API_SECRET: Final = "s3cr3t-api-secret-never-shown"
SID: Final = "KV0123456789abcdef0123456789abcdef"
BASE: Final = "https://media.twilio.com"
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


def as_served(server: FakeMediaServer, sid: str) -> MediaRecording:
    """The stored recording as the client reads it (the spec shape has no ``bitrate``)."""
    stored = server.recordings[sid]
    return attrs.evolve(stored, bitrate=None) if server.payload_shape == "spec" else stored


def client_for(
    server: FakeMediaServer, retry: RetryPolicy | None = None, **kwargs: Any
) -> MediaClient:
    """A client for ``server``; retries keep their decisions but never sleep by default."""
    policy = RetryPolicy.no_wait() if retry is None else retry
    options: dict[str, Any] = {**server.client_kwargs(), **kwargs}  # kwargs win
    return MediaClient(**options, retry=policy)


@pytest.fixture
def http() -> Iterator[mocked_http]:
    """aioresponses (adapted to aiohttp 3.14) for the whole test."""
    mock = mocked_http()
    with mock:
        yield mock
