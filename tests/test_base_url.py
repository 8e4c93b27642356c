"""``TWILIO_MEDIA_BASE_URL``: the environment form of ``base_url`` for ``from_env()``."""

from __future__ import annotations

import pytest

from twilio_media_async import MediaClient
from twilio_media_async.testing import FakeMediaServer

from .conftest import as_served


async def test_from_env_sends_requests_to_the_base_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, fake_media_server: FakeMediaServer
) -> None:
    kwargs = fake_media_server.client_kwargs()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", kwargs["account_sid"])
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", kwargs["auth_token"])
    monkeypatch.setenv("TWILIO_MEDIA_BASE_URL", fake_media_server.url)
    monkeypatch.setenv("TWILIO_REGION", "ie1")  # the base URL overrides region and edge
    sid = fake_media_server.sids[0]
    async with MediaClient.from_env() as client:
        assert client.base_url == fake_media_server.url
        assert await client.fetch(sid) == as_served(fake_media_server, sid)
    assert fake_media_server.attempts(sid) == 1


def test_keyword_arguments_and_an_empty_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("TWILIO_MEDIA_BASE_URL", "http://127.0.0.1:1")
    assert MediaClient.from_env(base_url="http://127.0.0.1:2").base_url == "http://127.0.0.1:2"
    monkeypatch.setenv("TWILIO_MEDIA_BASE_URL", "")
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    assert MediaClient.from_env().base_url == "https://media.twilio.com"
