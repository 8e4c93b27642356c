"""Shared constants for the test suite (fixtures for the fake server come from the plugin)."""

from __future__ import annotations

from typing import Final

ACCOUNT_SID: Final = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN: Final = "s3cr3t-auth-token-never-shown"
API_KEY: Final = "SK0123456789abcdef0123456789abcdef"
API_SECRET: Final = "s3cr3t-api-secret-never-shown"
SID: Final = "KV0123456789abcdef0123456789abcdef"
BASE: Final = "https://media.twilio.com"
