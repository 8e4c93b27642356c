"""A real HTTP forward proxy on 127.0.0.1 for the proxy tests, and a TLS front for a
FakeMediaServer (which speaks plain HTTP) so that CONNECT tunnels carry real TLS.

``ForwardProxy`` takes absolute-form requests (``GET http://host:port/path HTTP/1.1``, how a
client sends a plain-HTTP request through a proxy) and CONNECT requests (how it reaches an
https origin: a tunnel, with TLS end to end).  With ``credentials`` it wants
``Proxy-Authorization: Basic ...`` and answers 407 otherwise, with a body that quotes the
request head back, as a careless proxy's error page does: the client's errors must show
neither the proxy's credentials nor the API's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from types import TracebackType
from typing import Final, Self

import attrs
from yarl import URL

from twilio_media_async._transport import basic_auth_header

__all__ = ["ForwardProxy", "ProxiedRequest", "TlsFront"]

_HOP_BY_HOP: Final = frozenset({"proxy-authorization", "proxy-connection", "connection"})


@attrs.frozen
class ProxiedRequest:
    """One request the proxy received: its method, its request target as sent (an
    absolute URL, or ``host:port`` for CONNECT) and its Proxy-Authorization header."""

    method: str
    target: str
    proxy_authorization: str | None


class _Server:
    """An asyncio server whose connection handlers are all cancelled and awaited on close."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def _listen(self, ssl_context: ssl.SSLContext | None = None) -> int:
        self._server = await asyncio.start_server(self._tracked, "127.0.0.1", 0, ssl=ssl_context)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _tracked(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Stop listening, then end every connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Copy both ways until either side is done, then close both."""
    try:
        pipes = [asyncio.ensure_future(_pipe(a[0], b[1])), asyncio.ensure_future(_pipe(b[0], a[1]))]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
    finally:
        a[1].close()
        b[1].close()


class ForwardProxy(_Server):
    """An HTTP forward proxy on 127.0.0.1 (``async with ForwardProxy() as proxy``)."""

    def __init__(self, *, credentials: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.credentials: Final = credentials
        self.requests: list[ProxiedRequest] = []
        self.port = 0
        self._expected = None if credentials is None else basic_auth_header(*credentials)

    async def __aenter__(self) -> Self:
        self.port = await self._listen()
        return self

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without credentials."""
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        """The proxy's URL with these credentials in it."""
        return str(URL(self.url).with_user(user).with_password(password))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = [tuple(line.split(":", 1)) for line in header_lines if ":" in line]
        fields = {name.strip().lower(): value.strip() for name, value in headers}
        self.requests.append(ProxiedRequest(method, target, fields.get("proxy-authorization")))
        if self._expected is not None and fields.get("proxy-authorization") != self._expected:
            sent = fields.get("proxy-authorization", "nothing")
            body = f"Wrong proxy credentials: {sent}. Your request:\r\n".encode() + head
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test proxy"\r\n'
                b"Content-Type: text/plain\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                b"Connection: close\r\n\r\n" + body
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _splice((reader, writer), upstream)
            return
        await self._forward(method, URL(target), headers, fields, reader, writer)

    async def _forward(
        self,
        method: str,
        url: URL,
        headers: list[tuple[str, ...]],
        fields: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """One absolute-form request, sent on in origin form over a new connection; the
        answer is relayed with ``Connection: close`` (one request per connection)."""
        assert url.host is not None and url.port is not None
        up_reader, up_writer = await asyncio.open_connection(url.host, url.port)
        try:
            kept = "".join(
                f"{name}:{value}\r\n" for name, value in headers if name.lower() not in _HOP_BY_HOP
            )
            up_writer.write(
                f"{method} {url.raw_path_qs} HTTP/1.1\r\n{kept}Connection: close\r\n\r\n".encode(
                    "latin-1"
                )
            )
            length = int(fields.get("content-length", "0"))
            if length:
                up_writer.write(await reader.readexactly(length))
            await up_writer.drain()
            answer = await up_reader.readuntil(b"\r\n\r\n")
            status_line, *lines = answer.decode("latin-1").split("\r\n")
            kept_lines = [
                line for line in lines if line and not line.lower().startswith("connection:")
            ]
            writer.write(
                "\r\n".join([status_line, *kept_lines, "Connection: close", "", ""]).encode(
                    "latin-1"
                )
            )
            await _pipe(up_reader, writer)
        finally:
            up_writer.close()


class TlsFront(_Server):
    """TLS on 127.0.0.1 in front of a plain-HTTP server (``https://127.0.0.1:<port>``)."""

    def __init__(self, upstream_port: int, context: ssl.SSLContext) -> None:
        super().__init__()
        self._upstream_port = upstream_port
        self._context = context
        self.port = 0

    async def __aenter__(self) -> Self:
        self.port = await self._listen(self._context)
        return self

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        await _splice((reader, writer), upstream)
