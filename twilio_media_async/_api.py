"""Facts of the Twilio Media API that the client and the fake server must agree on."""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_PAGE_SIZE", "RECORDINGS_PATH"]

RECORDINGS_PATH: Final = "/v1/MediaRecordings"
"""The MediaRecording list; one recording is ``{RECORDINGS_PATH}/{Sid}``."""
MAX_PAGE_SIZE: Final = 1000
"""The largest ``PageSize`` the API accepts."""
