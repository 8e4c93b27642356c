"""Run a FakeMediaServer on its own: ``python -m twilio_media_async.testing``.

```text
python -m twilio_media_async.testing --port 8080 --recordings 1000 --fault-rate 0.1 --seed 1
```

prints the URL and the credentials to use, then serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from ._data import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from ._server import FakeMediaServer

__all__ = ["build_parser", "main", "serve_forever"]


def banner(server: FakeMediaServer) -> str:
    """What the runner prints once the server listens: the URL and how to connect."""
    return "\n".join(
        [
            f"Fake Twilio Media API listening on {server.url}",
            f"  recordings:  {len(server.recordings)}",
            f"  account sid: {server.account_sid}",
            f"  auth token:  {server.auth_token}",
            "Point MediaClient.from_env() and the twilio-media command at it with:",
            f"  export TWILIO_MEDIA_BASE_URL={shlex.quote(server.url)}",
            f"  export TWILIO_ACCOUNT_SID={shlex.quote(server.account_sid)}",
            f"  export TWILIO_AUTH_TOKEN={shlex.quote(server.auth_token)}",
            "Press Ctrl-C to stop.",
        ]
    )


async def serve_forever(
    server: FakeMediaServer,
    *,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Start ``server``, print how to connect to it, and serve until SIGINT or SIGTERM (or
    until ``stop`` is set); then close it cleanly.

    Args:
        server: The server to run; it must not be running yet.
        out: Where the banner goes (stdout by default).
        stop: Set it to stop serving, as a signal would.
    """
    out = sys.stdout if out is None else out
    stop = asyncio.Event() if stop is None else stop
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    async with server:
        print(banner(server), file=out, flush=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not main
                continue
            installed.append(signum)
        try:
            await stop.wait()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
    print(f"Stopped after {server.request_count} requests.", file=out, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m twilio_media_async.testing``."""
    parser = argparse.ArgumentParser(
        prog="python -m twilio_media_async.testing",
        description="Serve a fake Twilio Media API (MediaRecordings) for local testing.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (8080)")
    parser.add_argument("--recordings", type=int, default=100, help="recordings to generate")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and faults (0)")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="probability of a random fault (0)"
    )
    parser.add_argument(
        "--concurrency-limit", type=int, default=None, help="429 above this many in flight"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--payload-shape", choices=("spec", "seed"), default="spec")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, serve until interrupted, and return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        server = FakeMediaServer(
            account_sid=args.account_sid,
            auth_token=args.auth_token,
            generate=args.recordings,
            seed=args.seed,
            fault_rate=args.fault_rate,
            concurrency_limit=args.concurrency_limit,
            latency=args.latency,
            payload_shape=args.payload_shape,
            host=args.host,
            port=args.port,
            record_requests=False,  # counters only: it may run for a long time
        )
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):  # where signal handlers are unavailable
        try:
            asyncio.run(serve_forever(server))
        except OSError as exc:  # the port is taken, say
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0
