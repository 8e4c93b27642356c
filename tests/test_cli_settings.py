"""The CLI's Settings: the client the global options describe, and the demo's variant."""

from __future__ import annotations

import pytest

from twilio_media_async._cli.exits import UsageProblem
from twilio_media_async._cli.settings import Settings

from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN

LOOPBACK = "http://127.0.0.1:9"


def test_pointed_at_keeps_the_retry_options_and_drops_everything_else() -> None:
    given = Settings(
        account_sid="AC" + "0" * 32,
        api_key=API_KEY,
        api_secret=API_SECRET,
        region="ie1",
        edge="dublin",
        proxy="http://user:pass@proxy.example:3128",
        max_attempts=2,
        timeout=3.0,
        verbose=1,
    )
    pointed = given.pointed_at(base_url=LOOPBACK, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    assert pointed == Settings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        base_url=LOOPBACK,
        max_attempts=2,
        timeout=3.0,
        verbose=1,
    )


async def test_the_client_of_pointed_settings_uses_the_servers_credentials() -> None:
    settings = Settings(api_key=API_KEY, max_attempts=2).pointed_at(
        base_url=LOOPBACK, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
    )
    async with settings.client(trust_env=False) as client:
        assert client.account_sid == ACCOUNT_SID
        assert client.retry.max_attempts == 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(auth_token=AUTH_TOKEN), "--account-sid/TWILIO_ACCOUNT_SID"),
        (Settings(account_sid=ACCOUNT_SID, api_key=API_KEY), "--api-secret/TWILIO_API_SECRET"),
        (Settings(account_sid=ACCOUNT_SID, api_secret=API_SECRET), "--api-key/TWILIO_API_KEY"),
    ],
)
def test_missing_credentials_are_named_as_the_user_gives_them(
    settings: Settings, message: str
) -> None:
    with pytest.raises(UsageProblem, match=f"missing {message}"):
        settings.client()
