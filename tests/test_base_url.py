"""The base URL: region and edge, TWILIO_MEDIA_BASE_URL for from_env(), and refused URLs."""

from __future__ import annotations

import pytest

from twilio_media_async import InvalidParameterError, MediaClient
from twilio_media_async._config import build_base_url
from twilio_media_async.testing import FakeMediaServer

from ._mocking import mocked_http
from .conftest import ACCOUNT_SID, AUTH_TOKEN, PAYLOAD, SID, as_served
from .conftest import sent as _sent


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


@pytest.mark.parametrize(
    ("region", "edge", "host"),
    [
        (None, None, "media.twilio.com"),
        ("ie1", None, "media.ie1.twilio.com"),
        (None, "dublin", "media.dublin.us1.twilio.com"),
        ("ie1", "dublin", "media.dublin.ie1.twilio.com"),
    ],
)
async def test_region_and_edge(http: mocked_http, region: str, edge: str, host: str) -> None:
    url = f"https://{host}/v1/MediaRecordings/{SID}"
    http.get(url, payload=PAYLOAD)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, region=region, edge=edge) as client:
        assert client.base_url == f"https://{host}"
        await client.fetch(SID)
    assert len(_sent(http, url=url)) == 1


def test_build_base_url_is_pure() -> None:
    assert build_base_url("au1", "sydney") == "https://media.sydney.au1.twilio.com"


async def test_base_url_overrides_region_and_edge(http: mocked_http) -> None:
    url = f"http://127.0.0.1:9/v1/MediaRecordings/{SID}"
    http.get(url, payload=PAYLOAD)
    async with MediaClient(
        ACCOUNT_SID, AUTH_TOKEN, region="ie1", edge="dublin", base_url="http://127.0.0.1:9/"
    ) as client:
        await client.fetch(SID)
    assert len(_sent(http, url=url)) == 1


@pytest.mark.parametrize("base_url", ["https://u:p@media.twilio.com", "https://h/?a=1"])
def test_base_url_without_userinfo_or_query(base_url: str) -> None:
    with pytest.raises(InvalidParameterError, match="base_url"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url)


# -- base URLs that are refused ------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "fragment"),
    [
        ("http://127.0.0.1:99999", "port"),
        ("http://127.0.0.1:0", "port"),
        ("http://media\\twilio.com", "backslash"),
        ("http:\\\\media.twilio.com", "backslash"),
        (8080, "got int"),
        (b"https://media.twilio.com", "got bytes"),
        ("https://media.twilio.com/\r\nX-Injected: 1", "carriage return"),
        ("https://media.twilio.com\n", "line feed"),
        ("https://media.twilio.com/a b", "space"),
        ("https://media.twilio.com/\x00", "control character"),
        ("http://[::1", "does not parse"),
        ("", "absolute"),
        ("https://u:s3cr3t-in-the-url@media.twilio.com:99999", "port"),
    ],
)
def test_bad_base_urls_are_invalid_parameters(base_url: object, fragment: str) -> None:
    with pytest.raises(InvalidParameterError, match="base_url") as info:
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert "s3cr3t" not in str(info.value)  # a URL may hold a password: never echoed
