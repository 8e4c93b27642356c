"""A minimal asyncio HTTP/1.1 keep-alive responder serving MediaRecording JSON.

It is deliberately not the SDK's FakeMediaServer: the benchmark measures the client, so
the server must be cheap enough never to be the bottleneck.  It parses only the request
line, answers every ``GET /v1/MediaRecordings/{sid}`` with a realistic body for that sid,
and reports its own CPU time and request counts on ``GET /__stats`` so the run can show it
had headroom.

Options set the conditions of a scenario, all off by default (the clean benchmark):

- ``--latency-ms MS``: every answer is written MS after its request arrived, with
  ``loop.call_later``, so a slow answer never holds up another connection;
- ``--faults RATE --faults-429 RATE429 --seed N``: a share RATE of requests, drawn at random
  from a seeded generator, fails.  A share RATE429 of all requests gets a 429 without
  ``Retry-After``; the rest of RATE is split evenly among 500, 502, 503 (small Twilio-style
  JSON bodies) and a reset (the connection is aborted without an answer).  Faults come
  after the latency, as a slow failing upstream would send them;
- ``--cap N``: a request that arrives while N requests are already in flight is answered
  429 at once (no latency, no ``Retry-After``), as an account's concurrency limit would;
- ``--sample-ms MS``: every MS the server records the time (``time.monotonic()``, the clock
  the clients use too), its requests in flight and its running counts of requests and of
  429s, and returns the series in ``/__stats``.

``/__stats`` is never delayed, faulted, capped or counted.

Run: ``python -m bench.server PORT_FILE [CPU] [options]`` writes the port it listens on to
PORT_FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import time
from collections import Counter
from typing import Any, Final

import orjson

TEMPLATE = orjson.dumps(
    {
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "date_created": "2023-05-04T09:42:00Z",
        "date_updated": "2023-05-04T09:45:31.127Z",
        "duration": 1265,
        "format": "mp4",
        "links": {
            "media": "https://media.twilio.com/v1/MediaRecordings/{SID}/Media",
            "timed_metadata": "https://media.twilio.com/v1/MediaRecordings/{SID}/TimedMetadata",
        },
        "processor_sid": "ZX0123456789abcdef0123456789abcdef",
        "resolution": "1280x720",
        "sid": "{SID}",
        "media_size": 73428911,
        "source_sid": "RT0123456789abcdef0123456789abcdef",
        "status": "completed",
        "status_callback": "https://example.com/media/callback",
        "status_callback_method": "POST",
        "url": "https://media.twilio.com/v1/MediaRecordings/{SID}",
    }
)
HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Twilio-Request-Id: RQ0123456789abcdef0123456789abcdef\r\n"
    b"Connection: keep-alive\r\nContent-Length: "
)
PREFIX = b"/v1/MediaRecordings/"
STATS = b"/__stats"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

_REASONS: Final = {
    429: ("Too Many Requests", 20429),
    500: ("Internal Server Error", 20500),
    502: ("Bad Gateway", 20500),
    503: ("Service Unavailable", 20503),
}
RESET: Final = 0
"""The outcome that aborts the connection without answering."""


def error_response(status: int) -> bytes:
    """A complete keep-alive error answer with a small Twilio-style JSON body."""
    reason, code = _REASONS[status]
    body = orjson.dumps(
        {
            "code": code,
            "message": reason,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Twilio-Request-Id: RQ0123456789abcdef0123456789abcdef\r\n"
        f"Connection: keep-alive\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


ERRORS: Final = {status: error_response(status) for status in _REASONS}
_FAULTS: Final = (500, 502, 503, RESET)


def ok_response(path: bytes) -> bytes:
    """The answer to a request for ``path``: a recording, or 404 for anything else."""
    if path.startswith(PREFIX):
        sid = path[len(PREFIX) :]
        body = TEMPLATE.replace(b"{SID}", sid)
        return HEAD + str(len(body)).encode() + b"\r\n\r\n" + body
    return NOT_FOUND


class Conditions:
    """What the server does to requests, and what it has counted so far."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        faults: float = 0.0,
        faults_429: float = 0.0,
        seed: int | None = None,
        cap: int = 0,
    ) -> None:
        if not 0.0 <= faults_429 <= faults <= 1.0:
            raise ValueError("need 0 <= faults-429 <= faults <= 1")
        self.latency = latency
        self.faults = faults
        self.faults_429 = faults_429
        self.cap = cap
        self.random = random.Random(seed)
        self.plain = latency == 0 and faults == 0 and cap == 0
        self.requests = 0
        self.status: Counter[int] = Counter()
        self.cap_rejections = 0
        self.resets = 0
        self.lost = 0  # answers due on a connection the client had already closed
        self.in_flight = 0
        self.in_flight_max = 0
        self.connections = 0
        self.connections_open = 0
        self.connections_open_max = 0
        self.series: list[tuple[float, int, int, int]] = []

    def outcome(self) -> int:
        """200, a fault status, or RESET, drawn at random at the configured rates."""
        if self.faults == 0:
            return 200
        draw = self.random.random()
        if draw < self.faults_429:
            return 429
        if draw < self.faults:
            share = (self.faults - self.faults_429) / len(_FAULTS)
            return _FAULTS[min(int((draw - self.faults_429) / share), len(_FAULTS) - 1)]
        return 200

    def sample(self) -> None:
        """Record one point of the in-flight series."""
        self.series.append((time.monotonic(), self.in_flight, self.requests, self.status[429]))

    def stats(self) -> dict[str, Any]:
        """Everything counted, for ``/__stats``."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "cpu": usage.ru_utime + usage.ru_stime,
            "requests": self.requests,
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "cap_rejections": self.cap_rejections,
            "resets": self.resets,
            "lost": self.lost,
            "in_flight": self.in_flight,
            "in_flight_max": self.in_flight_max,
            "connections": self.connections,
            "connections_open_max": self.connections_open_max,
            "series": self.series,
        }


class Responder(asyncio.Protocol):
    """Answers each complete request head; request bodies are not expected (GET only)."""

    def __init__(self, conditions: Conditions) -> None:
        self.conditions = conditions

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        c = self.conditions
        c.connections += 1
        c.connections_open += 1
        c.connections_open_max = max(c.connections_open_max, c.connections_open)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conditions.connections_open -= 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        plain = self.conditions.plain
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            path = head.split(b" ", 2)[1]
            if path == STATS or path.startswith(STATS + b"?"):
                out.append(self._stats())
            elif plain:
                # The clean benchmark's path: answer at once, in one write per read.
                self.conditions.requests += 1
                self.conditions.status[200] += 1
                out.append(ok_response(path))
            else:
                out.append(self._admit(path))
        if any(out):
            self.transport.write(b"".join(out))

    def _stats(self) -> bytes:
        body = orjson.dumps(self.conditions.stats())
        return HEAD + str(len(body)).encode() + b"\r\n\r\n" + body

    def _admit(self, path: bytes) -> bytes:
        """What to write at once for this request (often nothing: the answer comes later)."""
        c = self.conditions
        c.requests += 1
        if c.cap and c.in_flight >= c.cap:
            c.cap_rejections += 1
            c.status[429] += 1
            return ERRORS[429]
        c.in_flight += 1
        c.in_flight_max = max(c.in_flight_max, c.in_flight)
        outcome = c.outcome()
        if c.latency:
            asyncio.get_running_loop().call_later(c.latency, self._answer, path, outcome)
        else:
            self._answer(path, outcome)
        return b""

    def _answer(self, path: bytes, outcome: int) -> None:
        c = self.conditions
        c.in_flight -= 1
        if self.transport.is_closing():
            c.lost += 1
        elif outcome == RESET:
            c.resets += 1
            self.transport.abort()
        else:
            c.status[outcome] += 1
            self.transport.write(ok_response(path) if outcome == 200 else ERRORS[outcome])


def _publish_port(port_file: str, port: int) -> None:
    # Written then renamed, so the parent never reads a half-written file.
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(port_file + ".tmp", port_file)


async def serve(conditions: Conditions, port_file: str, sample: float = 0.0) -> None:
    """Listen on an ephemeral loopback port, publish it, and serve until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Responder(conditions), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    if sample:

        def tick() -> None:
            conditions.sample()
            loop.call_later(sample, tick)

        tick()
    _publish_port(port_file, port)
    async with server:
        await server.serve_forever()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line described in the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("port_file")
    parser.add_argument("cpu", nargs="?", type=int, help="pin the server to this core")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--faults", type=float, default=0.0, help="share of requests failed")
    parser.add_argument("--faults-429", type=float, default=0.0, help="share answered 429")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--cap", type=int, default=0, help="429 past this many in flight")
    parser.add_argument("--sample-ms", type=float, default=0.0)
    return parser.parse_args(argv)


def main() -> None:
    """Run the server from the command line."""
    args = parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    conditions = Conditions(
        latency=args.latency_ms / 1000,
        faults=args.faults,
        faults_429=args.faults_429,
        seed=args.seed,
        cap=args.cap,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(conditions, args.port_file, args.sample_ms / 1000))


if __name__ == "__main__":
    main()
