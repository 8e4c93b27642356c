"""Checking the account sid and credentials, with messages that name where each came from.

The same check serves the constructor (``account_sid``), ``from_env`` (``TWILIO_ACCOUNT_SID``)
and the CLI (``--account-sid``), so that a missing or malformed value is reported under the
name the user actually set, and a credential's value is never echoed.
"""

from __future__ import annotations

import os
from typing import Any, Final

import attrs

from ._sids import ACCOUNT_SID
from .errors import InvalidParameterError

__all__ = [
    "ARGUMENTS",
    "ENVIRONMENT",
    "Credentials",
    "Names",
    "check_credentials",
    "environment_arguments",
]


@attrs.frozen
class Names:
    """What each value is called where it came from, for error messages."""

    account_sid: str = "account_sid"
    auth_token: str = "auth_token"
    api_key: str = "api_key"
    api_secret: str = "api_secret"
    verb: str = "give"
    """How one provides a value there: give (an argument), set (a variable), pass..."""


ARGUMENTS = Names()
"""The constructor's keyword arguments."""
ENVIRONMENT = Names(
    "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET", "set"
)
"""The environment variables ``from_env`` reads."""


@attrs.frozen
class Credentials:
    """Checked credentials: the account sid, the Basic auth user name and password, and
    their kind (``auth_token`` or ``api_key``)."""

    account_sid: str
    username: str
    password: str = attrs.field(repr=False)
    kind: str


def _shape_of(value: str) -> str:
    """Describe a malformed account sid without echoing it: it may be a token passed in
    the wrong place."""
    prefix = "'AC'" if value.startswith("AC") else "no 'AC' prefix"
    return f"a str of {len(value)} characters with {prefix}"


def _text(value: object, name: str) -> str | None:
    """``value`` as a plain str, None when absent or empty; InvalidParameterError for a
    wrong type or a control character (no value is echoed: it may be a secret)."""
    if value is None:
        return None
    if not issubclass(type(value), str):
        raise InvalidParameterError(f"{name} must be a str, got {type(value).__name__}")
    text = str.__str__(value)
    if any(not c.isprintable() for c in text):
        raise InvalidParameterError(
            f"{name} contains a control character (a CR, LF or the like): check how it was set"
        )
    return text or None


def check_credentials(
    account_sid: object,
    auth_token: object,
    api_key: object,
    api_secret: object,
    names: Names = ARGUMENTS,
) -> Credentials:
    """Check an account sid and either an auth token or an API key and secret.

    Raises InvalidParameterError naming the value (as ``names`` calls it) that is missing,
    malformed or of the wrong type.  An empty string counts as missing.
    """
    sid = _text(account_sid, names.account_sid)
    token = _text(auth_token, names.auth_token)
    key = _text(api_key, names.api_key)
    secret = _text(api_secret, names.api_secret)
    no_credentials = f"{names.verb} {names.auth_token}, or {names.api_key} and {names.api_secret}"
    sid_is = "the account sid, 'AC' followed by 32 hex digits"
    if sid is None:
        if token is None and key is None and secret is None:  # nothing at all: say it all
            raise InvalidParameterError(
                f"missing {names.account_sid} ({sid_is}) and credentials: {no_credentials}"
            )
        raise InvalidParameterError(f"missing {names.account_sid}: {sid_is}")
    if not ACCOUNT_SID.match(sid):
        raise InvalidParameterError(
            f"malformed {names.account_sid}: expected 'AC' followed by 32 hex digits, got "
            + _shape_of(sid)
        )
    if key is not None or secret is not None:
        if key is None or secret is None:
            given, missing = (
                (names.api_key, names.api_secret)
                if key is not None
                else (names.api_secret, names.api_key)
            )
            raise InvalidParameterError(
                f"missing {missing}: {names.api_key} and {names.api_secret} go together, "
                f"and only {given} was given"
            )
        if token is not None:
            raise InvalidParameterError(
                f"{names.verb} either {names.auth_token}, or {names.api_key} and "
                f"{names.api_secret}, not both"
            )
        return Credentials(sid, key, secret, "api_key")
    if token is None:
        raise InvalidParameterError(f"missing credentials: {no_credentials}")
    return Credentials(sid, sid, token, "auth_token")


_CREDENTIAL_FIELDS: Final = ("account_sid", "auth_token", "api_key", "api_secret")


def environment_arguments(overrides: dict[str, Any]) -> dict[str, Any]:
    """``MediaClient.from_env``'s arguments: the TWILIO_* variables, with ``overrides``
    winning; the credentials checked under the names they came from."""
    env = os.environ
    kwargs: dict[str, Any] = {
        "account_sid": env.get("TWILIO_ACCOUNT_SID"),
        "region": env.get("TWILIO_REGION") or None,
        "edge": env.get("TWILIO_EDGE") or None,
        "base_url": env.get("TWILIO_MEDIA_BASE_URL") or None,
    }
    if env.get("TWILIO_API_KEY") or env.get("TWILIO_API_SECRET"):
        kwargs["api_key"] = env.get("TWILIO_API_KEY")
        kwargs["api_secret"] = env.get("TWILIO_API_SECRET")
    else:
        kwargs["auth_token"] = env.get("TWILIO_AUTH_TOKEN")
    kwargs.update(overrides)
    names = attrs.evolve(
        ENVIRONMENT,
        **{field: field for field in _CREDENTIAL_FIELDS if field in overrides},
    )
    check_credentials(
        kwargs.get("account_sid"),
        kwargs.get("auth_token"),
        kwargs.get("api_key"),
        kwargs.get("api_secret"),
        names=names,
    )
    return kwargs
