"""Credentials: auth token or API key, the account sid, from_env(), and no secret shown."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from twilio_media_async import InvalidParameterError, MediaClient, RetryPolicy, TwilioMediaError
from twilio_media_async._transport import basic_auth_header

from ._mocking import mocked_http
from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, PAYLOAD, SID
from .conftest import RECORDING_URL as URL_
from .conftest import sent as _sent


def test_the_basic_header_is_rfc_7617s() -> None:
    """The known answers of RFC 7617 (sections 2 and 2.1, UTF-8): the one Basic header
    builder that the SDK, the fake server and the tests share is checked against the
    standard, not against itself."""
    assert basic_auth_header("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert basic_auth_header("test", "123\u00a3") == "Basic dGVzdDoxMjPCow=="


async def test_api_key_auth(http: mocked_http) -> None:
    http.get(URL_, payload=PAYLOAD)
    async with MediaClient(ACCOUNT_SID, api_key=API_KEY, api_secret=API_SECRET) as client:
        await client.fetch(SID)
    (call,) = _sent(http)
    assert call.kwargs["headers"]["Authorization"] == basic_auth_header(API_KEY, API_SECRET)


@pytest.mark.parametrize("account_sid", [None, "", "AC123", "KV" + "0" * 32, 5])
def test_account_sid_is_required(account_sid: Any) -> None:
    with pytest.raises(InvalidParameterError, match="account_sid"):
        MediaClient(account_sid, AUTH_TOKEN)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.delenv("TWILIO_MEDIA_BASE_URL", raising=False)
    client = MediaClient.from_env()
    assert client.base_url == "https://media.dublin.ie1.twilio.com"
    assert client._auth_kind == "auth_token"
    monkeypatch.setenv("TWILIO_API_KEY", API_KEY)
    monkeypatch.setenv("TWILIO_API_SECRET", API_SECRET)
    assert MediaClient.from_env()._auth_kind == "api_key"
    assert MediaClient.from_env(base_url="http://127.0.0.1:1").base_url == "http://127.0.0.1:1"
    monkeypatch.delenv("TWILIO_ACCOUNT_SID")
    with pytest.raises(InvalidParameterError, match="TWILIO_ACCOUNT_SID"):
        MediaClient.from_env()


async def test_secrets_never_show(http: mocked_http, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    http.get(URL_, status=503, payload={"code": 1, "message": "down"}, repeat=True)
    secrets = [AUTH_TOKEN, API_SECRET, basic_auth_header(ACCOUNT_SID, AUTH_TOKEN).split()[1]]
    texts: list[str] = []
    credentials: list[dict[str, Any]] = [
        {"auth_token": AUTH_TOKEN},
        {"api_key": API_KEY, "api_secret": API_SECRET},
    ]
    for kwargs in credentials:
        async with MediaClient(
            ACCOUNT_SID, retry=RetryPolicy.no_wait(max_attempts=2), **kwargs
        ) as client:
            texts.append(repr(client))
            with pytest.raises(TwilioMediaError) as info:
                await client.fetch(SID)
            texts += [str(info.value), repr(info.value)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retrying" in t for t in texts)  # the log was captured at all
    for secret in secrets:
        for text in texts:
            assert secret not in text


def test_a_swapped_token_is_not_echoed() -> None:
    token = "0123456789abcdef0123456789abcdef"
    with pytest.raises(InvalidParameterError) as info:
        MediaClient(token, ACCOUNT_SID)
    assert token not in str(info.value)
    assert "32 characters" in str(info.value)


@pytest.mark.parametrize("value", [AUTH_TOKEN.encode(), 12345678, ["x"], f"{AUTH_TOKEN}\n"])
@pytest.mark.parametrize("name", ["auth_token", "api_key", "api_secret"])
def test_credentials_of_the_wrong_type_are_invalid_parameters(name: str, value: object) -> None:
    kwargs: dict[str, Any] = (
        {"auth_token": value}
        if name == "auth_token"
        else {"api_key": API_KEY, "api_secret": API_SECRET, name: value}
    )
    with pytest.raises(InvalidParameterError, match=name) as info:
        MediaClient(ACCOUNT_SID, **kwargs)
    assert AUTH_TOKEN not in str(info.value)
    assert "12345678" not in str(info.value)


def test_bytes_credentials_are_never_sent_as_their_repr() -> None:
    # Before, b"token" went out as the Basic password "b'token'".
    with pytest.raises(InvalidParameterError, match="auth_token must be a str, got bytes"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN.encode())  # type: ignore[arg-type]


# -- credential errors name what is missing ------------------------------------------------

CREDENTIAL_VARIABLES = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*CREDENTIAL_VARIABLES, "TWILIO_API_SECRET", "TWILIO_REGION", "TWILIO_EDGE"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_from_env_with_nothing_set_names_every_variable(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidParameterError) as info:
        MediaClient.from_env()
    assert str(info.value) == (
        "missing TWILIO_ACCOUNT_SID (the account sid, 'AC' followed by 32 hex digits) and "
        "credentials: set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET"
    )


def test_from_env_names_the_one_value_missing(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    with pytest.raises(InvalidParameterError) as info:
        MediaClient.from_env()
    assert str(info.value) == (
        "missing credentials: set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET"
    )
    clean_env.setenv("TWILIO_API_KEY", API_KEY)
    with pytest.raises(InvalidParameterError, match=r"^missing TWILIO_API_SECRET: ") as info:
        MediaClient.from_env()
    assert "only TWILIO_API_KEY was given" in str(info.value)
    clean_env.delenv("TWILIO_ACCOUNT_SID")
    clean_env.setenv("TWILIO_API_SECRET", API_SECRET)
    with pytest.raises(InvalidParameterError) as info:
        MediaClient.from_env()
    assert str(info.value) == (
        "missing TWILIO_ACCOUNT_SID: the account sid, 'AC' followed by 32 hex digits"
    )


@pytest.mark.parametrize("sid", ["AC123", "KV" + "0" * 32, AUTH_TOKEN])
def test_a_malformed_account_sid_is_malformed_not_required(
    clean_env: pytest.MonkeyPatch, sid: str
) -> None:
    clean_env.setenv("TWILIO_ACCOUNT_SID", sid)
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with pytest.raises(InvalidParameterError) as from_env:
        MediaClient.from_env()
    with pytest.raises(InvalidParameterError) as from_argument:
        MediaClient(sid, AUTH_TOKEN)
    errors = env_error, argument_error = str(from_env.value), str(from_argument.value)
    assert env_error.startswith("malformed TWILIO_ACCOUNT_SID: expected 'AC' followed by 32")
    assert argument_error.startswith("malformed account_sid: expected 'AC' followed by 32")
    for error in errors:
        assert f"a str of {len(sid)} characters" in error
        assert "required" not in error
        assert "missing" not in error
        assert sid not in error  # it may be a token given in the wrong place


def test_from_env_names_an_overriding_argument_by_its_own_name(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with pytest.raises(InvalidParameterError, match=r"^malformed account_sid: "):
        MediaClient.from_env(account_sid="AC123")
    with pytest.raises(InvalidParameterError, match=r"^missing TWILIO_ACCOUNT_SID: "):
        MediaClient.from_env(auth_token=AUTH_TOKEN)
