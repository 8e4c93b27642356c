"""Servers on loopback for tests that need their own: a raw TCP server that answers
whatever bytes a test gives it, and a tiny aiohttp server with one handler.

The raw server sends what no well-behaved HTTP server would (bad status lines, bad lengths,
a request head echoed back), which aiohttp's own server refuses to.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

Responder = Callable[[bytes], bytes]
"""Turns the request head into the bytes to answer."""


@asynccontextmanager
async def raw_server(respond: Responder) -> AsyncIterator[str]:
    """Serve on 127.0.0.1: read each request head, write ``respond(head)``, close."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(respond(head))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def http_response(status: bytes, content_type: bytes, body: bytes) -> bytes:
    """A well-formed HTTP/1.1 response that closes the connection."""
    head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
    return head % (status, content_type, len(body)) + body


@asynccontextmanager
async def aiohttp_server(
    handler: Callable[[web.Request], Any],
) -> AsyncIterator[str]:
    """A tiny aiohttp server on 127.0.0.1 with one catch-all route."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        await web.SockSite(runner, sock).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        sock.close()
