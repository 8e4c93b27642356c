"""The demo's fake server: many recordings and a realistic fault profile."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

import attrs

from twilio_media_async import MediaRecording, RecordingFormat, RecordingStatus
from twilio_media_async.testing import FakeMediaServer, Fault, StorageFault, make_recordings

__all__ = [
    "ARCHIVE_DEMO_RECORDINGS",
    "ARCHIVE_DEMO_STORAGE_FAULT_RATE",
    "DEMO_CONCURRENCY_LIMIT",
    "DEMO_FAULT_RATE",
    "archive_demo_server",
    "describe_profile",
    "fake_server_for_demo",
]

DEMO_FAULT_RATE: Final = 0.02
"""The share of requests that get a random fault."""
DEMO_CONCURRENCY_LIMIT: Final = 50
"""Requests beyond this many in flight get a 429 (without Retry-After)."""
DEMO_LATENCY: Final = (0.001, 0.01)
"""Seconds each answer takes, uniformly drawn: what makes requests overlap."""


def demo_faults() -> tuple[Fault, ...]:
    """What the random faults are drawn from, one each time: in 20 draws, two 429s with
    Retry-After 0.2 s, six 503s, four HTML 502s from a proxy and eight dropped connections.

    Most 429s come from the concurrency cap instead, as they do from a real API under load.
    A Retry-After pauses the whole run's new requests, as an account told to wait should, so
    the random ones ask for short waits.
    """
    return (
        *[Fault.rate_limited(retry_after=0.2)] * 2,
        *[Fault.server_error(503)] * 6,
        *[Fault.server_error(502, html=True)] * 4,
        *[Fault.reset()] * 8,
    )


def _misbehaving(
    *,
    seed: int,
    recordings: Sequence[MediaRecording] = (),
    generate: int = 0,
    concurrency_limit: int | None = None,
) -> FakeMediaServer:
    """A FakeMediaServer with the demo's random faults and latency (and no request log,
    which a long demo would only fill)."""
    return FakeMediaServer(
        recordings=recordings,
        generate=generate,
        seed=seed,
        fault_rate=DEMO_FAULT_RATE,
        fault_kinds=demo_faults(),
        concurrency_limit=concurrency_limit,
        latency=DEMO_LATENCY,
        record_requests=False,
    )


def fake_server_for_demo(recordings: int, seed: int) -> FakeMediaServer:
    """A FakeMediaServer holding ``recordings`` recordings, with the demo's fault profile."""
    return _misbehaving(generate=recordings, seed=seed, concurrency_limit=DEMO_CONCURRENCY_LIMIT)


def describe_profile(server: FakeMediaServer) -> str:
    """One sentence on what the server does wrong, for the demo's header."""
    return (
        f"{server.fault_rate:.0%} of requests fail at random (a dropped connection, 503, a "
        f"proxy's HTML 502, now and then a 429 with Retry-After 0.2 s), and requests "
        f"beyond {server.concurrency_limit} in flight get 429"
    )


ARCHIVE_DEMO_RECORDINGS: Final = 200
"""How many recordings ``archive --demo`` archives."""
ARCHIVE_DEMO_STORAGE_FAULT_RATE: Final = 0.1
"""The share of files whose first storage request fails (``archive --demo``)."""


def archive_demo_server(seed: int = 0) -> FakeMediaServer:
    """A FakeMediaServer for ``archive --demo``: small completed recordings (8 to 512 KiB,
    so that the demo writes a few tens of MiB), the API's demo fault profile, and one file
    in ten whose first storage request is cut short, reset, expired or refused with 503."""
    rng = random.Random(f"twilio-media-async:archive-demo:{seed}")
    recordings = [
        attrs.evolve(
            recording,
            status=RecordingStatus.COMPLETED,
            size=rng.randrange(8 << 10, 512 << 10),
            format=RecordingFormat.MP4,
        )
        for recording in make_recordings(ARCHIVE_DEMO_RECORDINGS, seed=seed)
    ]
    server = _misbehaving(recordings=recordings, seed=seed)
    faults = (
        StorageFault.truncated(),
        StorageFault.reset(),
        StorageFault.expired(),
        StorageFault.unavailable(),
    )
    for recording in recordings:
        if recording.sid is not None and rng.random() < ARCHIVE_DEMO_STORAGE_FAULT_RATE:
            server.script_storage(recording.sid, [rng.choice(faults)])
    return server
