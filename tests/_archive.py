"""Helpers of the archive tests: small recordings served by a FakeMediaServer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from twilio_media_async import MediaClient, RetryPolicy
from twilio_media_async.testing import FakeMediaServer

SIZE: Final = 700_000  # a few chunks of storage's 256 KiB
COMPLETED_SIDS: Final = tuple(f"KV{i:032x}" for i in range(1, 9))


def recording(sid: str, *, size: int | None = SIZE, **fields: Any) -> dict[str, Any]:
    """A completed recording in Twilio's JSON shape (links to Twilio's origin, which the
    server points at itself)."""
    data: dict[str, Any] = {
        "sid": sid,
        "status": "completed",
        "format": "mp4",
        "media_size": size,
        "links": {"media": f"https://media.twilio.com/v1/MediaRecordings/{sid}/Media"},
    }
    data.update(fields)
    return data


@asynccontextmanager
async def serving(
    *recordings: dict[str, Any], **options: Any
) -> AsyncIterator[tuple[FakeMediaServer, MediaClient]]:
    """A server with ``recordings`` (by default the completed ones above) and a client of
    it whose retries never sleep."""
    items = recordings or tuple(recording(sid) for sid in COMPLETED_SIDS)
    retry = options.pop("retry", None) or RetryPolicy.no_wait()
    client_options = options.pop("client", {})
    async with FakeMediaServer(recordings=items, **options) as server:
        async with MediaClient(**server.client_kwargs(), retry=retry, **client_options) as client:
            yield server, client
