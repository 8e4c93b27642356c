"""Facts of the Twilio Media API that the client and the fake server must agree on."""

from __future__ import annotations

from typing import Final

__all__ = ["LIST_KEY", "MAX_PAGE_SIZE", "MEDIA_SUFFIX", "RECORDINGS_PATH", "TTL_PARAM"]

RECORDINGS_PATH: Final = "/v1/MediaRecordings"
"""The MediaRecording list; one recording is ``{RECORDINGS_PATH}/{Sid}``."""
MEDIA_SUFFIX: Final = "/Media"
"""A recording's media is ``{RECORDINGS_PATH}/{Sid}{MEDIA_SUFFIX}``."""
TTL_PARAM: Final = "Ttl"
"""The query parameter of ``/Media``: how long, in seconds, its storage URL stays valid."""
LIST_KEY: Final = "media_recordings"
"""The key of a list page's array of recordings (beside ``meta``)."""
MAX_PAGE_SIZE: Final = 1000
"""The largest ``PageSize`` the API accepts."""
