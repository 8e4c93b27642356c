"""A minimal asyncio HTTP/1.1 keep-alive responder serving MediaRecording JSON.

It is deliberately not the SDK's FakeMediaServer: the benchmark measures the client, so
the server must be cheap enough never to be the bottleneck.  It parses only the request
line, answers every ``GET /v1/MediaRecordings/{sid}`` with a realistic body for that sid,
and reports its own CPU time on ``GET /__stats`` so the run can show it had headroom.

Run: ``python -m bench.server PORT_FILE [CPU]`` writes the port it listens on to PORT_FILE.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys

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


def response_for(path: bytes) -> bytes:
    if path.startswith(PREFIX):
        sid = path[len(PREFIX) :]
        body = TEMPLATE.replace(b"{SID}", sid)
        return HEAD + str(len(body)).encode() + b"\r\n\r\n" + body
    if path == b"/__stats":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        body = orjson.dumps({"cpu": usage.ru_utime + usage.ru_stime})
        return HEAD + str(len(body)).encode() + b"\r\n\r\n" + body
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class Responder(asyncio.Protocol):
    """Answers each complete request head; request bodies are not expected (GET only)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            path = head.split(b" ", 2)[1]
            out.append(response_for(path))
        if out:
            self.transport.write(b"".join(out))


def _publish_port(port_file: str, port: int) -> None:
    # Written then renamed, so the parent never reads a half-written file.
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(port_file + ".tmp", port_file)


async def main(port_file: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    _publish_port(port_file, port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) > 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(sys.argv[2])})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1]))
