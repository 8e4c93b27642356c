"""The demo's fake server: many recordings and a realistic fault profile."""

from __future__ import annotations

from typing import Final

from twilio_media_async.testing import FakeMediaServer, Fault

__all__ = ["DEMO_CONCURRENCY_LIMIT", "DEMO_FAULT_RATE", "describe_profile", "fake_server_for_demo"]

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


def fake_server_for_demo(recordings: int, seed: int) -> FakeMediaServer:
    """A FakeMediaServer holding ``recordings`` recordings, with the demo's fault profile."""
    return FakeMediaServer(
        generate=recordings,
        seed=seed,
        fault_rate=DEMO_FAULT_RATE,
        fault_kinds=demo_faults(),
        concurrency_limit=DEMO_CONCURRENCY_LIMIT,
        latency=DEMO_LATENCY,
        record_requests=False,
    )


def describe_profile(server: FakeMediaServer) -> str:
    """One sentence on what the server does wrong, for the demo's header."""
    return (
        f"{server.fault_rate:.0%} of requests fail at random (a dropped connection, 503, a "
        f"proxy's HTML 502, now and then a 429 with Retry-After 0.2 s), and requests "
        f"beyond {server.concurrency_limit} in flight get 429"
    )
