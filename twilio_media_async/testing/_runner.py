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
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

import attrs

from ._data import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from ._server import FakeMediaServer

__all__ = [
    "OPTIONS",
    "RunnerOption",
    "build_parser",
    "main",
    "serve_forever",
    "server_from_options",
]


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


@attrs.frozen
class RunnerOption:
    """One option of the fake server's runner, as both of its command lines take it
    (``python -m twilio_media_async.testing`` and ``twilio-media fake-server``); a command
    line of your own can offer the same ones from ``RUNNER_OPTIONS``."""

    flag: str
    """The option as typed, such as ``--fault-rate``."""
    type: type[int] | type[float] | type[str]
    """What its value is parsed as."""
    default: int | float | str | None
    """Its value when not given (None: no limit)."""
    help: str
    """One line of help."""
    low: float | None = None
    """The smallest value allowed, if any."""
    high: float | None = None
    """The largest value allowed, if any."""
    choices: tuple[str, ...] | None = None
    """The values allowed, if only some are."""

    @property
    def dest(self) -> str:
        """The option's keyword: ``--fault-rate`` is ``fault_rate``."""
        return self.flag.removeprefix("--").replace("-", "_")

    def parse(self, text: str) -> int | float | str:
        """``text`` as this option's type, within its bounds (ValueError otherwise).

        Args:
            text: The option's value as given on a command line.
        """
        value = self.type(text)
        if isinstance(value, str):
            return value
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            low = "" if self.low is None else f">= {self.low}"
            high = "" if self.high is None else f"<= {self.high}"
            raise ValueError(f"must be {' and '.join(filter(None, (low, high)))}")
        return value


OPTIONS: Final = (
    RunnerOption("--host", str, "127.0.0.1", "Address to bind."),
    RunnerOption("--port", int, 8080, "Port; 0 picks a free one.", 0, 65535),
    RunnerOption("--recordings", int, 100, "Recordings to generate.", 0),
    RunnerOption("--seed", int, 0, "Seed for data and faults."),
    RunnerOption(
        "--fault-rate",
        float,
        0.0,
        "Probability of a random fault (429, 5xx, reset) per request.",
        0,
        1,
    ),
    RunnerOption(
        "--concurrency-limit", int, None, "Answer 429 to requests beyond this many in flight.", 1
    ),
    RunnerOption("--latency", float, 0.0, "Seconds added to each answer.", 0),
    RunnerOption("--account-sid", str, DEFAULT_ACCOUNT_SID, "The account sid it accepts."),
    RunnerOption("--auth-token", str, DEFAULT_AUTH_TOKEN, "The (fake) auth token it accepts."),
    RunnerOption(
        "--payload-shape",
        str,
        "spec",
        "The recordings' JSON: media_size as the OpenAPI spec has it, or size and bitrate.",
        choices=("spec", "seed"),
    ),
)
"""The runner's options, in the order its help lists them."""


def server_from_options(**options: Any) -> FakeMediaServer:
    """A FakeMediaServer as OPTIONS describe it, keyed by their ``dest`` names; an option
    left out takes its default.  TypeError or ValueError for a bad value.

    Args:
        **options: Option values by ``dest`` name (``fault_rate=0.1``), as parsed.
    """
    values = {option.dest: option.default for option in OPTIONS} | options
    return FakeMediaServer(
        account_sid=values["account_sid"],
        auth_token=values["auth_token"],
        generate=values["recordings"],
        seed=values["seed"],
        fault_rate=values["fault_rate"],
        concurrency_limit=values["concurrency_limit"],
        latency=values["latency"],
        payload_shape=values["payload_shape"],
        host=values["host"],
        port=values["port"],
        record_requests=False,  # counters only: it may run for a long time
    )


def _argparse_type(option: RunnerOption) -> Callable[[str], int | float | str]:
    def parse(text: str) -> int | float | str:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m twilio_media_async.testing``."""
    parser = argparse.ArgumentParser(
        prog="python -m twilio_media_async.testing",
        description="Serve a fake Twilio Media API (MediaRecordings) for local testing.",
    )
    for option in OPTIONS:
        parser.add_argument(
            option.flag,
            type=_argparse_type(option),
            default=option.default,
            choices=option.choices,
            help=f"{option.help} ({option.default})" if option.default is not None else option.help,
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, serve until interrupted, and return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        server = server_from_options(**vars(args))
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
