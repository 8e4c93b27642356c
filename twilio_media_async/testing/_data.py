"""Deterministic, spec-valid MediaRecordings for tests and the standalone server."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Final

from twilio_media_async._api import MEDIA_SUFFIX, RECORDINGS_PATH
from twilio_media_async._config import DEFAULT_BASE_URL
from twilio_media_async._numbers import is_int
from twilio_media_async._sids import ACCOUNT_SID
from twilio_media_async.models import (
    HttpMethod,
    Links,
    MediaRecording,
    RecordingFormat,
    RecordingStatus,
)

__all__ = ["API_ORIGIN", "DEFAULT_ACCOUNT_SID", "DEFAULT_AUTH_TOKEN", "make_recordings"]

DEFAULT_ACCOUNT_SID: Final = "AC" + "a" * 32
"""The account sid a FakeMediaServer accepts unless told otherwise: ``AC`` and 32 ``a``."""
DEFAULT_AUTH_TOKEN: Final = "fake-auth-token"
"""The auth token a FakeMediaServer accepts unless told otherwise: ``fake-auth-token``."""

API_ORIGIN: Final = DEFAULT_BASE_URL
"""Twilio's origin, which links point at until a server runs."""

_EPOCH: Final = datetime(2024, 1, 1, tzinfo=UTC)
_SPAN_SECONDS: Final = 365 * 24 * 3600
_STATUSES: Final = (
    RecordingStatus.COMPLETED,
    RecordingStatus.PROCESSING,
    RecordingStatus.FAILED,
    RecordingStatus.DELETED,
)
_STATUS_WEIGHTS: Final = (80, 10, 5, 5)
_RESOLUTIONS: Final = ("640x480", "1280x720", "1920x1080")
_BITRATES: Final = (500, 1000, 1500, 2500, 4000)  # kbit/s
_SOURCE_PREFIXES: Final = ("RM", "RT")
_PROCESSORS: Final = 3
_SOURCES: Final = 5


def _sid(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.getrandbits(128):032x}"


def make_recordings(
    n: int, *, seed: int = 0, account_sid: str = DEFAULT_ACCOUNT_SID
) -> list[MediaRecording]:
    """Return ``n`` deterministic MediaRecordings, valid under the spec's patterns and enums.

    The same ``seed`` gives the same recordings, and a shorter run is a prefix of a longer
    one.  Recordings share a few processor and source sids (so the list filters have
    something to find), their ``date_created`` values are spread over 2024 in random order,
    and every field is set.

    Args:
        n: How many recordings.
        seed: Which recordings: the same seed gives the same ones.
        account_sid: The ``account_sid`` of every recording.
    """
    if not is_int(n) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    if not ACCOUNT_SID.match(account_sid):
        raise ValueError(f"account_sid must be 'AC' and 32 hex digits, got {account_sid!r}")
    rng = random.Random(seed)
    processors = [_sid(rng, "ZX") for _ in range(_PROCESSORS)]
    sources = [_sid(rng, rng.choice(_SOURCE_PREFIXES)) for _ in range(_SOURCES)]
    seen: set[str] = set()
    recordings = []
    for _ in range(n):
        sid = _sid(rng, "KV")
        while sid in seen:  # 128 random bits: never in practice, but cheap to rule out
            sid = _sid(rng, "KV")
        seen.add(sid)
        created = _EPOCH + timedelta(seconds=rng.randrange(_SPAN_SECONDS))
        duration = rng.randint(5, 3600)
        bitrate = rng.choice(_BITRATES)
        url = f"{API_ORIGIN}{RECORDINGS_PATH}/{sid}"
        recordings.append(
            MediaRecording(
                account_sid=account_sid,
                bitrate=bitrate,
                date_created=created,
                date_updated=created + timedelta(seconds=duration + rng.randint(1, 600)),
                duration=duration,
                format=rng.choice((RecordingFormat.MP4, RecordingFormat.WEBM)),
                links=Links(
                    {"media": f"{url}{MEDIA_SUFFIX}", "timed_metadata": f"{url}/TimedMetadata"}
                ),
                processor_sid=rng.choice(processors),
                resolution=rng.choice(_RESOLUTIONS),
                sid=sid,
                size=duration * bitrate * 125,  # kbit/s -> bytes
                source_sid=rng.choice(sources),
                status=rng.choices(_STATUSES, weights=_STATUS_WEIGHTS)[0],
                status_callback=f"https://example.com/media/callbacks/{sid}",
                status_callback_method=rng.choice(
                    (HttpMethod.POST, HttpMethod.POST, HttpMethod.GET)
                ),
                url=url,
            )
        )
    return recordings
