"""The fake server's HTTP Basic check: which credentials it accepts, and what it records."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from twilio_media_async._sids import SOURCE_SID
from twilio_media_async._transport import basic_auth_header

__all__ = ["Credentials"]


class Credentials:
    """The account sid with its token, and any API keys with their secrets.

    Args:
        account_sid: The account sid accepted as the Basic username.
        auth_token: Its auth token.
        api_keys: API key sids to their secrets.
    """

    def __init__(
        self, account_sid: str, auth_token: str, api_keys: Mapping[str, str] | None
    ) -> None:
        self._secrets = {account_sid: auth_token, **dict(api_keys or {})}
        for username, secret in self._secrets.items():
            if not (isinstance(username, str) and isinstance(secret, str) and username and secret):
                raise ValueError("api_keys must map non-empty str keys to non-empty str secrets")
        # Authorization header value -> username, computed once: the check is a dict lookup.
        # Built as the SDK builds it; any other spelling (a lower-case scheme, say) takes
        # the slow path, which decodes the header on its own.
        self._accepted = {basic_auth_header(u, s): u for u, s in self._secrets.items()}

    def check(self, header: str | None) -> tuple[str | None, bool]:
        """The username to record and whether the credentials are accepted."""
        if header is None:
            return None, False
        user = self._accepted.get(header)
        if user is not None:
            return user, True
        credentials = _decode_basic(header)
        if credentials is None:
            return None, False
        username, password = credentials
        secret = self._secrets.get(username)
        if secret is not None and hmac.compare_digest(secret.encode(), password.encode()):
            return username, True  # a lower-case "basic", say
        # Only a username shaped like a sid is recorded: a caller who swapped the sid and
        # the token must not find the token in the records.
        return (username if SOURCE_SID.match(username) else None), False


def _decode_basic(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None
