"""The fake server's media storage: a second aiohttp site, on another origin, as S3 is.

The API's ``/Media`` link answers with a redirect to a presigned URL on this site: its
query string carries an expiry and an HMAC of the path and expiry under a per-server secret.
Storage refuses any request that carries ``Authorization`` (400, as S3 does), serves
``Range`` requests, and has faults of its own, scripted per sid (``StorageFault``).

The media bytes are deterministic per sid (a 64 KiB block derived from the sid's sha256,
repeated) and their length is the recording's size, so a test can compare what it got with
``media_bytes`` or ``media_sha256``.  They are made chunk by chunk, never whole: a 1 GiB
file costs a few hundred KiB of memory to serve.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Final, Literal

import attrs
from aiohttp import web

from twilio_media_async._numbers import is_int

from ._faults import Scripts, checked_seconds
from ._site import serve

__all__ = [
    "MediaInfo",
    "StorageFault",
    "StorageFaultKind",
    "StorageRequest",
    "StorageSite",
    "iter_media",
    "media_bytes",
    "media_sha256",
    "stream_media",
]

StorageFaultKind = Literal[
    "truncated",
    "reset",
    "wrong_length",
    "expired",
    "slow",
    "unavailable",
    "ignore_range",
    "redirect",
]
"""The names a storage fault is recorded under (``StorageRequest.fault``)."""

_BLOCK: Final = 64 * 1024
_CHUNK: Final = 4 * _BLOCK
_CACHED_BLOCKS: Final = 64
_RANGE: Final = re.compile(r"bytes=([0-9]{1,19})-([0-9]{0,19})\Z")
_XML: Final = "application/xml"
_blocks: dict[str, bytes] = {}


def _tiled(sid: str) -> bytes:
    """The sid's block, tiled so that any ``_CHUNK`` window starting in the first block is
    one slice of it."""
    tiled = _blocks.get(sid)
    if tiled is None:
        seed = hashlib.sha256(f"twilio-media-async:media:{sid}".encode()).digest()
        block = b"".join(
            hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(_BLOCK // 32)
        )
        if len(_blocks) >= _CACHED_BLOCKS:
            _blocks.pop(next(iter(_blocks)))
        tiled = _blocks[sid] = block * (_CHUNK // _BLOCK + 1)
    return tiled


def iter_media(sid: str, start: int, end: int) -> Iterator[bytes]:
    """The media bytes of ``sid`` from ``start`` to ``end`` (exclusive), in chunks."""
    tiled = memoryview(_tiled(sid))
    offset = start
    while offset < end:
        take = min(_CHUNK, end - offset)
        at = offset % _BLOCK
        yield bytes(tiled[at : at + take])
        offset += take


def media_bytes(sid: str, size: int) -> bytes:
    """The whole media file the fake storage serves for ``sid`` with ``size`` bytes.

    Args:
        sid: The recording's sid.
        size: The recording's size in bytes.
    """
    return b"".join(iter_media(sid, 0, size))


def media_sha256(sid: str, size: int) -> str:
    """The sha256 (hex) of the media file the fake storage serves for ``sid``.

    Args:
        sid: The recording's sid.
        size: The recording's size in bytes.
    """
    digest = hashlib.sha256()
    for chunk in iter_media(sid, 0, size):
        digest.update(chunk)
    return digest.hexdigest()


@attrs.frozen(kw_only=True)
class StorageFault:
    """One failure of the fake storage, for one request.  Build it with the factories."""

    kind: StorageFaultKind
    """What happens; also the name recorded in ``StorageRequest.fault``."""
    seconds: float = 0.0
    """The stall of ``slow``."""
    delta: int = 0
    """How many bytes ``wrong_length`` adds (or, negative, drops)."""
    retry_after: str | None = None
    """The ``Retry-After`` of ``unavailable``."""

    @classmethod
    def truncated(cls) -> StorageFault:
        """Announce the whole Content-Length, send half the body, then close the
        connection cleanly: the client sees a body cut short."""
        return cls(kind="truncated")

    @classmethod
    def reset(cls) -> StorageFault:
        """Send half the body, then reset the connection."""
        return cls(kind="reset")

    @classmethod
    def wrong_length(cls, delta: int = -1) -> StorageFault:
        """A complete answer whose Content-Length and body are ``delta`` bytes off the
        file's true length: only a check against the recording's size catches it.

        Args:
            delta: Bytes added (positive, zeros) or dropped (negative); not 0.
        """
        if not is_int(delta) or delta == 0:
            raise ValueError(f"delta must be a non-zero int, got {delta!r}")
        return cls(kind="wrong_length", delta=delta)

    @classmethod
    def expired(cls) -> StorageFault:
        """403 as for an expired signature, whatever the URL says."""
        return cls(kind="expired")

    @classmethod
    def slow(cls, seconds: float) -> StorageFault:
        """Send half the body, stall, then send the rest: trips a read timeout.

        Args:
            seconds: How long to stall.
        """
        return cls(kind="slow", seconds=checked_seconds(seconds))

    @classmethod
    def unavailable(cls, retry_after: float | None = None) -> StorageFault:
        """503 Slow Down, with a ``Retry-After`` when given.

        Args:
            retry_after: Seconds for the Retry-After header; None for none.
        """
        header = None if retry_after is None else str(int(checked_seconds(retry_after)))
        return cls(kind="unavailable", retry_after=header)

    @classmethod
    def ignore_range(cls) -> StorageFault:
        """Answer a Range request with 200 and the whole body, as some servers do."""
        return cls(kind="ignore_range")

    @classmethod
    def redirect(cls) -> StorageFault:
        """302 to the very same URL (storage redirects are followed, without credentials)."""
        return cls(kind="redirect")


@attrs.frozen(kw_only=True)
class StorageRequest:
    """One request the fake storage saw.

    ``authorization`` is True when it carried an ``Authorization`` header (whose value is
    never kept); ``signed`` when its signature was valid and unexpired; ``range`` is its
    ``Range`` header.  ``status`` is None for a connection dropped before any answer.
    """

    method: str
    path: str
    sid: str | None
    authorization: bool
    signed: bool
    range: str | None = None
    status: int | None = None
    fault: str | None = None


@attrs.frozen
class MediaInfo:
    """What storage needs of a recording: its size and its media type."""

    size: int
    content_type: str


def sign(secret: bytes, path: str, expires: int) -> str:
    """The signature of a storage path valid until ``expires`` (Unix seconds)."""
    return hmac.new(secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def _parse_range(header: str | None, size: int) -> tuple[int, int] | Literal[False] | None:
    """A Range header as (start, end exclusive); None when absent or unreadable (the whole
    body); False when it starts past the end (416)."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    start = int(match[1])
    end = int(match[2]) + 1 if match[2] else size
    if start >= size:
        return False
    if end <= start:
        return None
    return start, min(end, size)


async def stream_media(
    request: web.BaseRequest,
    sid: str,
    info: MediaInfo,
    fault: StorageFault | None,
    closing: asyncio.Event,
) -> tuple[int | None, web.StreamResponse]:
    """Answer a media GET (with its Range, unless the fault ignores it) under ``fault``;
    return the status (None for a dropped connection) and the response."""
    size = info.size
    wanted = (
        None if fault is not None and fault.kind == "ignore_range" else request.headers.get("Range")
    )
    span = _parse_range(wanted, size)
    if span is False:
        return 416, web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
    start, end = (0, size) if span is None else span
    length = end - start
    extra = fault.delta if fault is not None and fault.kind == "wrong_length" else 0
    response = web.StreamResponse(status=200 if span is None else 206)
    response.content_type = info.content_type
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["ETag"] = f'"{sid}"'
    if span is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response.content_length = max(0, length + extra)
    await response.prepare(request)
    if fault is not None and fault.kind in ("truncated", "reset", "slow"):
        return await _spoiled(request, response, sid, start, end, fault, closing)
    try:
        for chunk in iter_media(sid, start, end + min(extra, 0)):
            await response.write(chunk)
        if extra > 0:
            await response.write(bytes(extra))
        await response.write_eof()
    except ConnectionError:  # the client went away
        return response.status, response
    return response.status, response


async def _spoiled(
    request: web.BaseRequest,
    response: web.StreamResponse,
    sid: str,
    start: int,
    end: int,
    fault: StorageFault,
    closing: asyncio.Event,
) -> tuple[int | None, web.StreamResponse]:
    """Send the first half of the body, then cut it (truncated, reset) or stall (slow)."""
    half = start + (end - start) // 2
    try:
        for chunk in iter_media(sid, start, half):
            await response.write(chunk)
        transport = request.transport
        if fault.kind == "truncated" and transport is not None:
            transport.close()
            return response.status, response
        if fault.kind == "reset" and transport is not None:
            transport.abort()
            return response.status, response
        try:
            async with asyncio.timeout(fault.seconds):
                await closing.wait()
            if transport is not None:
                transport.abort()
            return response.status, response
        except TimeoutError:
            pass
        for chunk in iter_media(sid, half, end):
            await response.write(chunk)
        await response.write_eof()
    except ConnectionError:
        pass
    return response.status, response


def _error(status: int, code: str, message: str) -> web.Response:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return web.Response(status=status, text=body, content_type=_XML)


class StorageSite:
    """The storage origin: presigns URLs, checks them, and serves media bytes.

    Args:
        host: The address to listen on.
        lookup: A sid's MediaInfo, or None when storage holds no such file.
        record_requests: Keep a StorageRequest per request.
    """

    def __init__(
        self,
        host: str,
        lookup: Callable[[str], MediaInfo | None],
        *,
        record_requests: bool = True,
    ) -> None:
        self.host: Final = host
        self.record_requests: Final = record_requests
        self._lookup = lookup
        self._secret = os.urandom(32)
        self._scripts = Scripts(StorageFault)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        self.requests: list[StorageRequest] = []
        self.request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def url(self) -> str:
        """``http://host:port`` of the storage site."""
        if self._url is None:
            raise RuntimeError("the storage site is not running")
        return self._url

    async def start(self) -> None:
        """Listen on a free port of ``host``."""
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner, self._url = await serve(app, self.host, 0)

    async def close(self) -> None:
        """Stop listening and drop every connection.  Idempotent."""
        runner, self._runner = self._runner, None
        self._url = None
        if runner is not None:
            self._closing.set()
            await runner.cleanup()

    def presign(self, sid: str, ext: str, ttl: int, *, origin: str | None = None) -> str:
        """A presigned URL for ``sid``'s file, valid ``ttl`` seconds; relative to
        ``origin`` when given ("" for a path only)."""
        path = f"/media/{sid}.{ext}"
        expires = int(time.time()) + ttl
        query = f"Expires={expires}&Signature={sign(self._secret, path, expires)}"
        base = self.url if origin is None else origin
        return f"{base}{path}?{query}"

    def reset_stats(self) -> None:
        """Forget the requests seen and the concurrency high-water mark."""
        self.requests = []
        self.request_count = 0
        self.max_in_flight = self.in_flight

    def script(self, sid: str, faults: Iterable[StorageFault | None]) -> None:
        """The next storage requests for ``sid`` take these faults in order (None: a
        normal answer).  Calling it again appends."""
        self._scripts.extend(sid, faults)

    def _pick(self, sid: str | None) -> StorageFault | None:
        if sid is None or sid not in self._scripts:
            return None
        return self._scripts.pop(sid)

    def _signed(self, request: web.BaseRequest) -> bool:
        expires, signature = request.query.get("Expires", ""), request.query.get("Signature", "")
        if not (expires.isascii() and expires.isdigit() and len(expires) < 12):
            return False
        good = hmac.compare_digest(sign(self._secret, request.path, int(expires)), signature)
        return good and int(expires) >= time.time()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one storage request (also mounted on the API site for relative
        redirects)."""
        self.request_count += 1
        name = request.path.rpartition("/")[2]
        sid = name.partition(".")[0] if request.path.startswith("/media/") else None
        authorization = "Authorization" in request.headers
        signed = self._signed(request)
        fault = self._pick(sid) if not authorization else None
        record = StorageRequest(
            method=request.method,
            path=request.path,
            sid=sid,
            authorization=authorization,
            signed=signed,
            range=request.headers.get("Range"),
            fault=None if fault is None else fault.kind,
        )
        # Recorded on arrival: a handler cancelled by a client that gave up still shows.
        records, index = self.requests, len(self.requests)
        if self.record_requests:
            records.append(record)
        status: int | None = None
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            status, response = await self._answer(request, sid, authorization, signed, fault)
        finally:
            self.in_flight -= 1
            if self.record_requests:
                records[index] = attrs.evolve(record, status=status)
        return response

    async def _answer(
        self,
        request: web.Request,
        sid: str | None,
        authorization: bool,
        signed: bool,
        fault: StorageFault | None,
    ) -> tuple[int | None, web.StreamResponse]:
        if authorization:
            message = "Only one auth mechanism allowed"
            return 400, _error(400, "InvalidArgument", message)
        if not signed or (fault is not None and fault.kind == "expired"):
            return 403, _error(403, "AccessDenied", "Request has expired")
        info = self._lookup(sid) if sid is not None else None
        if info is None or request.method not in ("GET", "HEAD"):
            return 404, _error(404, "NoSuchKey", "The specified key does not exist.")
        if fault is not None and fault.kind == "unavailable":
            response = _error(503, "SlowDown", "Please reduce your request rate.")
            if fault.retry_after is not None:
                response.headers["Retry-After"] = fault.retry_after
            return 503, response
        if fault is not None and fault.kind == "redirect":
            return 302, web.Response(status=302, headers={"Location": str(request.rel_url)})
        assert sid is not None
        return await stream_media(request, sid, info, fault, self._closing)
