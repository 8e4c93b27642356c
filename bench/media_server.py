"""A FakeMediaServer with media of given sizes, in its own process, for the archive bench.

``python -m bench.media_server INFO_FILE [CPU] --files N --size BYTES [--faults SHARE]``

It serves N completed recordings of BYTES each (sids ``KV`` + 32 hex digits of 0..N-1),
their ``/Media`` links redirecting to its storage origin, and writes ``{"url",
"account_sid", "auth_token"}`` as JSON to INFO_FILE once it listens.  ``--faults`` gives a
deterministic share of the sids one storage fault each (truncated, reset and expired in
turn; see ``faulty``).  It runs until terminated; the credentials are the fake server's
own, meant to be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

from twilio_media_async.testing import FakeMediaServer, StorageFault

FAULTS = (StorageFault.truncated, StorageFault.reset, StorageFault.expired)
"""The storage faults given in turn to the faulty sids."""


def sid_of(index: int) -> str:
    """The sid of recording ``index``."""
    return f"KV{index:032x}"


def faulty(n: int, share: float) -> dict[str, StorageFault]:
    """The sids that get a fault (every ``1/share``-th one), and their fault."""
    chosen = [i for i in range(n) if int((i + 1) * share) > int(i * share)]
    return {sid_of(i): FAULTS[k % len(FAULTS)]() for k, i in enumerate(chosen)}


def recordings(n: int, size: int) -> list[dict[str, Any]]:
    """N completed recordings of ``size`` bytes, in Twilio's JSON shape."""
    return [
        {
            "sid": sid_of(i),
            "status": "completed",
            "format": "mp4",
            "media_size": size,
            "links": {"media": f"https://media.twilio.com/v1/MediaRecordings/{sid_of(i)}/Media"},
        }
        for i in range(n)
    ]


def _publish(path: str, data: bytes) -> None:
    partial = Path(f"{path}.tmp")
    partial.write_bytes(data)
    os.replace(partial, path)  # whole when it appears


async def serve(args: argparse.Namespace) -> None:
    """Serve until cancelled; write the info file once listening."""
    server = FakeMediaServer(recordings=recordings(args.files, args.size), record_requests=False)
    async with server:
        for sid, fault in faulty(args.files, args.faults).items():
            server.script_storage(sid, [fault])
        info = {"url": server.url, "account_sid": server.account_sid}
        info["auth_token"] = server.auth_token
        _publish(args.info_file, orjson.dumps(info))
        await asyncio.Event().wait()


def main() -> None:
    """Run the server from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.media_server")
    parser.add_argument("info_file")
    parser.add_argument("cpu", nargs="?", type=int, help="pin the server to this core")
    parser.add_argument("--files", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--faults", type=float, default=0.0, help="share of sids faulted")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
