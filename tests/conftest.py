"""Shared constants for the test suite (fixtures for the fake server come from the plugin)."""

from __future__ import annotations

from typing import Final

import attrs

from twilio_media_async import MediaRecording
from twilio_media_async.testing import FakeMediaServer

ACCOUNT_SID: Final = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN: Final = "s3cr3t-auth-token-never-shown"
API_KEY: Final = "SK0123456789abcdef0123456789abcdef"
API_SECRET: Final = "s3cr3t-api-secret-never-shown"
SID: Final = "KV0123456789abcdef0123456789abcdef"
BASE: Final = "https://media.twilio.com"


def as_served(server: FakeMediaServer, sid: str) -> MediaRecording:
    """The stored recording as the client reads it (the spec shape has no ``bitrate``)."""
    stored = server.recordings[sid]
    return attrs.evolve(stored, bitrate=None) if server.payload_shape == "spec" else stored
