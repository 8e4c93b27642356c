"""The archive's I/O: resolve a recording's media link, fetch the file from storage, resume.

The decisions are ``_media.py``'s; where the bytes go is a ``_destination.Place`` (a local
file from ``_files.py``, or an object in a store from ``_cloud.py``).  The resolve
is an API call (the client's credentials, its retry policy, and in a bulk run its limiter);
storage is fetched through a session of its own that never holds a credential, so no
default header, cookie or redirect can carry one there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final, cast

import aiohttp
import attrs
from yarl import URL

from . import _media
from ._api import MEDIA_SUFFIX, TTL_PARAM
from ._bulk import BulkLane
from ._config import check_at_least_one
from ._destination import Place
from ._engine import RetryEngine, Through
from ._media import Attempts, Resolved, Step, display_url
from ._replies import Reply
from ._results import DownloadResult
from ._sids import check_recording_sid
from ._transport import Transport, TransportView
from .errors import (
    ApiError,
    ForeignPageUrlError,
    InvalidParameterError,
    MediaIntegrityError,
    TransportError,
    TwilioMediaError,
    api_error_from_response,
)
from .models import MediaRecording
from .retry import parse_retry_after

__all__ = [
    "Archive",
    "Fetch",
    "MediaStream",
    "Storage",
    "as_path",
    "as_recording",
    "failed_result",
    "media_url",
]

_log = logging.getLogger("twilio_media_async")

Fetch = Callable[[str, Through | None], Awaitable[tuple[MediaRecording, int, str | None]]]
"""The client's metadata fetch, each attempt made through the given wrapper (a bulk
run's lane): (recording, attempts, request id)."""

CHUNK: Final = 1 << 18
_JSON_CAP: Final = 64 * 1024
_FAILURES: Final = (TimeoutError, aiohttp.ClientError, OSError)


def as_path(value: object, name: str) -> Path:
    """A str or os.PathLike as a Path, checked before any I/O."""
    if isinstance(value, str | os.PathLike) and str(value):
        return Path(value)
    raise InvalidParameterError(f"{name} must be a str or os.PathLike, got {type(value).__name__}")


@attrs.frozen
class Done:
    """A verified file in place."""

    size: int
    sha256: str | None
    content_type: str | None


class Storage:
    """The credential-free session storage is fetched through, for one call or one run."""

    def __init__(self, transport: Transport | TransportView, connections: int) -> None:
        self.proxy: Final = transport.proxy
        timeout = transport.timeout
        read = timeout.sock_read or timeout.total or 10.0
        # A read timeout, not a total one: a 2 GB file that makes progress is never cut.
        self.timeout: Final = aiohttp.ClientTimeout(
            total=None, connect=timeout.connect, sock_connect=timeout.sock_connect, sock_read=read
        )
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The session, created inside the running loop on first use."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,  # the bytes stored, counted as Content-Length counts
                read_bufsize=CHUNK,
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def storage_failure(exc: BaseException, url: URL, transport: Transport | TransportView) -> str:
    """What went wrong with a storage request, with no trace of its query string."""
    text = transport.describe(exc)
    for secret in {url.raw_query_string, url.query_string, str(url)}:
        if secret:
            text = text.replace(secret, "...")
    return f"GET {display_url(url)} failed: {text}"


class Archive:
    """Downloads for one client (or view): its engine, transport and metadata fetch."""

    def __init__(
        self,
        engine: RetryEngine,
        transport: Transport | TransportView,
        fetch: Fetch,
        recording_url: Callable[[str], URL],
        same_origin: Callable[[str], URL],
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.fetch = fetch
        self.recording_url = recording_url
        self.same_origin = same_origin
        self.secure = transport.base_url.scheme == "https"

    async def recording(
        self, item: object, through: Through | None = None
    ) -> tuple[MediaRecording, int, str | None]:
        """The recording of an item: a MediaRecording as given, a sid fetched."""
        given = as_recording(item)
        if given is not None:
            check_recording_sid(given.sid)
            return given, 0, None
        return await self.fetch(check_recording_sid(item), through)

    def media_link(self, recording: MediaRecording) -> URL:
        """The recording's media link, which must have the client's origin."""
        sid = check_recording_sid(recording.sid)
        _media.check_unavailable(recording)
        link = recording.links.get("media") if recording.links is not None else None
        if link is None:
            url = self.recording_url(sid)
            return url.with_path(f"{url.raw_path}{MEDIA_SUFFIX}", encoded=True)
        try:
            return self.same_origin(link)
        except ForeignPageUrlError:
            raise ForeignPageUrlError(
                f"refusing to resolve the media link of {sid}: it does not share the "
                "client's origin, and resolving it would send the credentials there"
            ) from None

    async def resolve(
        self, link: URL, lane: BulkLane | None, ttl: int | None = None
    ) -> tuple[Resolved, int, str | None]:
        """Resolve the media link (an API call, retried as one); the storage URL, the
        attempts and the request id."""
        params = None if ttl is None else {TTL_PARAM: str(ttl)}
        found: list[Resolved] = []

        async def send(attempt_timeout: float | None) -> Reply:
            resp = await self.transport.open_response(
                "GET", link, params=params, attempt_timeout=attempt_timeout
            )
            try:
                found.append(await _resolved(link, resp))
                request_id = resp.headers.get("Twilio-Request-Id")
                return Reply(b"", resp.status, request_id)
            finally:
                resp.release()

        through = None if lane is None else lane.through()
        answer = await self.engine.call("GET", link, params=params, send=send, through=through)
        resolved = found[-1]
        _media.check_storage_url(resolved.url, secure=self.secure)
        return resolved, answer.attempts, answer.request_id

    async def download(
        self,
        item: object,
        place: Place,
        *,
        overwrite: bool,
        storage: Storage,
    ) -> DownloadResult:
        """Download one item's media to ``place``; raise on failure."""
        recording, attempts, request_id = await self.recording(item)
        return await self.download_recording(
            recording,
            place,
            overwrite=overwrite,
            storage=storage,
            lane=None,
            spent=attempts,
            request_id=request_id,
        )

    async def download_recording(
        self,
        recording: MediaRecording,
        place: Place,
        *,
        overwrite: bool,
        storage: Storage,
        lane: BulkLane | None,
        spent: int = 0,
        request_id: str | None = None,
    ) -> DownloadResult:
        """Download a recording's media to ``place`` unless it is already there."""
        link = self.media_link(recording)
        sid = recording.sid
        size = recording.size
        stored = None if overwrite or size is None else await place.stored()
        if stored is not None and stored.size == size:
            return DownloadResult(
                sid=sid,
                path=place.url,
                bytes=size,
                sha256=stored.sha256,
                skipped=True,
                attempts=spent,
                request_id=request_id,
            )
        transfer = Transfer(self, storage, link, recording, place, lane)
        failure: TwilioMediaError | None = None
        try:
            done = await transfer.run()
        except TwilioMediaError as exc:
            exc.attempts = spent + transfer.requests
            failure = exc
        if failure is not None:
            # The transfer and its frames hold the presigned URL, a credential: the error
            # leaves without them, for reporters that show a traceback's locals.
            del transfer
            raise failure.with_traceback(None)
        return DownloadResult(
            sid=sid,
            path=place.url,
            bytes=done.size,
            sha256=done.sha256,
            content_type=done.content_type,
            attempts=spent + transfer.requests,
            request_id=transfer.request_id or request_id,
        )


async def _resolved(link: URL, resp: aiohttp.ClientResponse) -> Resolved:
    content_type = resp.headers.get("Content-Type", "")
    body = None
    if resp.status == 200 and "json" in content_type.lower():
        body = await resp.content.read(_JSON_CAP)
    return _media.on_resolve(link, resp.status, resp.headers.get("Location"), content_type, body)


class Transfer:
    """One file's transfer: storage requests until the file is whole and verified."""

    def __init__(
        self,
        archive: Archive,
        storage: Storage,
        link: URL,
        recording: MediaRecording,
        place: Place,
        lane: BulkLane | None,
    ) -> None:
        self.archive, self.storage, self.link, self.lane = archive, storage, link, lane
        self.sid = str(recording.sid)
        self.size = recording.size
        self.file = place.writer()
        self.attempts = Attempts(archive.engine.policy.max_attempts)
        self.resolved: Resolved | None = None
        self.requests = 0
        self.request_id: str | None = None
        self.content_type: str | None = None
        self.error: TwilioMediaError | None = None
        self.integrity_retried = False

    async def run(self) -> Done:
        """Resolve, then fetch until done; a failure or cancellation keeps the partial
        file for a later resume (an integrity failure removes it); an upload into a
        store is aborted."""
        try:
            await self._resolve()
            await self.file.open()
            while True:
                if self.attempts.exhausted and self.error is not None:
                    raise self.error
                done = await self._request()
                if done is not None:
                    return done
        finally:
            await self.file.aclose()

    async def _resolve(self) -> None:
        self.resolved, attempts, self.request_id = await self.archive.resolve(self.link, self.lane)
        self.requests += attempts

    async def _request(self) -> Done | None:
        """One media request, and what its answer means; the file when it is done."""
        offset = self.file.size
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        resp = await self._get(headers)
        if resp is None:
            return None
        try:
            crange = _media.parse_content_range(resp.headers.get("Content-Range"))
            step = _media.on_storage_answer(resp.status, offset, crange)
            if step in (Step.APPEND, Step.RESTART):
                if step is Step.RESTART:
                    self.file.restart()
                    offset = 0
                length = _media.content_length(resp.headers)
                announced = _media.expected_total(resp.status, offset, length, crange)
                self.content_type = resp.headers.get("Content-Type")
                return await self._receive(resp, announced)
            if step is Step.VERIFY_DISK:
                return await self._finish(_unsatisfied_total(resp.headers.get("Content-Range")))
            error = self._status_error(resp)
        finally:
            resp.release()
        await self._after_error(step, error)
        return None

    async def _after_error(self, step: Step, error: TwilioMediaError) -> None:
        """Re-resolve an expired URL, wait out a 429 or 5xx, drop a bad range; or fail."""
        self.error = error
        if step is Step.FAIL or step is Step.REDIRECT:
            raise error
        self.attempts.record(progress=False)
        if step is Step.RESOLVE:
            _log.info("the storage URL of %s was refused (%s): resolving again", self.sid, error)
            await self._resolve()
        elif step is Step.BAD_RANGE:
            self.file.restart()
        else:
            await self._wait(error)

    async def _get(self, headers: dict[str, str]) -> aiohttp.ClientResponse | None:
        """The answer to a media request (storage redirects followed), or None after a
        failure to get one (counted, and waited out as the policy says)."""
        assert self.resolved is not None
        try:
            if self.resolved.direct:
                self.attempts.sent()
                self.requests += 1
                return await self.archive.transport.open_response(
                    "GET",
                    self.link,
                    headers=headers,
                    base_timeout=self.storage.timeout,
                    errors=False,
                )
            return await self._storage_get(self.resolved.url, headers)
        except TransportError as exc:
            self.error = exc
            self.attempts.record(progress=False)
            await self._wait(exc)
            return None

    async def _storage_get(self, url: URL, headers: dict[str, str]) -> aiohttp.ClientResponse:
        def sent() -> None:
            self.attempts.sent()
            self.requests += 1

        return await storage_get(self.storage, url, headers, self.archive, sent)

    async def _receive(self, resp: aiohttp.ClientResponse, announced: int | None) -> Done | None:
        """Stream the body to the partial file; on a cut, go on from the bytes on disk."""
        before = self.file.size
        limit = self.size if self.size is not None else announced
        failure: str | None = None
        try:
            async for chunk in resp.content.iter_any():
                self.file.write(chunk)
                if self.file.full:  # an upload that has not caught up yet
                    await self.file.drain()
                if limit is not None and self.file.size > limit:
                    break  # more than the file holds: the check below says so
        except _FAILURES as exc:
            failure = storage_failure(exc, resp.url, self.archive.transport)
        progress = self.file.size > before
        if failure is not None:
            self.error = TransportError(failure, method="GET", url=display_url(resp.url))
            self.attempts.record(progress=progress)
            _log.info("the media of %s was cut at %d bytes: resuming", self.sid, self.file.size)
            if not progress:
                await self._wait(self.error)
            return None
        self.attempts.record(progress=True)
        return await self._finish(announced)

    async def _finish(self, announced: int | None) -> Done | None:
        """Verify the length; commit, or start once more from scratch after a mismatch."""
        try:
            _media.verify(self.file.size, announced, self.size, self.sid)
        except MediaIntegrityError as exc:
            self.file.discard()
            if self.integrity_retried:
                raise
            self.integrity_retried = True
            self.error = exc
            _log.info("%s: downloading it again from scratch", exc)
            await self._resolve()
            await self.file.open()
            return None
        size = self.file.size
        return Done(size, await self.file.commit(), self.content_type)

    def _status_error(self, resp: aiohttp.ClientResponse) -> ApiError:
        return status_error(resp)

    async def _wait(self, error: TwilioMediaError) -> None:
        """Wait as the retry policy says before the next media request."""
        policy = self.archive.engine.policy
        if self.attempts.exhausted:
            return
        retry_after = error.retry_after if isinstance(error, ApiError) else None
        if retry_after is not None and retry_after > policy.max_retry_after:
            self.attempts.stalled = policy.max_attempts  # too long to wait: give up now
            return
        await policy.sleep(self.archive.engine.retries.wait(self.attempts.stalled, error))


def status_error(resp: aiohttp.ClientResponse) -> ApiError:
    """The error of a storage answer; its body is not kept (an S3 error can quote the
    signature), and its URL is shown without the query string."""
    reason = f"storage answered {resp.status} {resp.reason or ''}".strip()
    return api_error_from_response(
        resp.status,
        b"",
        reason=reason,
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        method="GET",
        url=display_url(resp.url),
    )


async def storage_get(
    storage: Storage,
    url: URL,
    headers: dict[str, str],
    archive: Archive,
    sent: Callable[[], None],
) -> aiohttp.ClientResponse:
    """GET from storage without any credential, following at most 5 redirects (never
    to http from https); ``sent`` is called for each request."""
    secure = archive.secure
    session = storage.session()
    for _ in range(_media.MAX_STORAGE_REDIRECTS + 1):
        _media.check_storage_url(url, secure=secure)
        sent()
        failure: str | None = None
        try:
            resp = await session.get(
                url,
                headers=headers,
                allow_redirects=False,
                proxy=storage.proxy,
                timeout=storage.timeout,
            )
        except _FAILURES as exc:
            failure = storage_failure(exc, url, archive.transport)
        if failure is not None:  # raised here: aiohttp's exception may hold the URL
            raise TransportError(failure, method="GET", url=display_url(url))
        location = resp.headers.get("Location")
        if resp.status not in _media.REDIRECTS or not location:
            return resp
        resp.release()
        secure = secure or url.scheme == "https"
        try:
            url = url.join(URL(location))
        except ValueError:  # not a URL at all (yarl's own words could quote the query)
            raise TransportError(
                "storage redirected to something that is not a URL",
                method="GET",
                url=display_url(url),
            ) from None
    raise TwilioMediaError(
        f"storage redirected {display_url(url)} more than {_media.MAX_STORAGE_REDIRECTS} times"
    )


class MediaStream:
    """An open media file, for services that forward its bytes: ``content_type``,
    ``size`` (the Content-Length, or None) and ``iter_chunks(n)``.

    Use it as an async context manager (``async with client.open_media(sid) as media``);
    leaving it closes the connection.  It is one request, with no resume: a cut raises
    TransportError.
    """

    def __init__(self, archive: Archive, item: object) -> None:
        self._archive = archive
        self._item = item
        self._storage = Storage(archive.transport, 1)
        self._resp: aiohttp.ClientResponse | None = None
        self.content_type: str | None = None
        """The media type storage sent."""
        self.size: int | None = None
        """The Content-Length storage sent, or None."""

    async def __aenter__(self) -> MediaStream:
        try:
            self._resp = await self._open()
        except BaseException:
            await self._storage.aclose()
            raise
        self.content_type = self._resp.headers.get("Content-Type")
        self.size = _media.content_length(self._resp.headers)
        return self

    async def _open(self) -> aiohttp.ClientResponse:
        archive = self._archive
        recording, _, _ = await archive.recording(self._item)
        link = archive.media_link(recording)
        resolved, _, _ = await archive.resolve(link, None)
        if resolved.direct:
            resp = await archive.transport.open_response(
                "GET", link, base_timeout=self._storage.timeout
            )
        else:
            resp = await storage_get(self._storage, resolved.url, {}, archive, lambda: None)
        if resp.status != 200:
            resp.release()
            raise status_error(resp)
        return resp

    async def __aexit__(self, *exc_info: object) -> None:
        resp, self._resp = self._resp, None
        if resp is not None:
            resp.release()
        await self._storage.aclose()

    async def iter_chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        """The body in chunks of at most ``size`` bytes.

        Args:
            size: The largest chunk, in bytes.
        """
        check_at_least_one("size", size)
        resp = self._resp
        if resp is None:
            raise TwilioMediaError("open_media() must be entered with `async with` first")
        failure: str | None = None
        try:
            async for chunk in resp.content.iter_chunked(size):
                yield chunk
        except _FAILURES as exc:
            failure = storage_failure(exc, resp.url, self._archive.transport)
        if failure is not None:
            raise TransportError(failure, method="GET", url=display_url(resp.url))


async def media_url(archive: Archive, item: object, ttl: int) -> str:
    """The storage URL the media link resolves to, valid ``ttl`` seconds."""
    recording, _, _ = await archive.recording(item)
    link = archive.media_link(recording)
    resolved, _, _ = await archive.resolve(link, None, ttl)
    if resolved.direct:
        raise TwilioMediaError(
            f"GET {display_url(link)} answered with the media itself: there is no separate "
            "URL to give; use open_media() or download()"
        )
    return str(resolved.url)


def _unsatisfied_total(value: str | None) -> int | None:
    """The total of a 416's ``Content-Range: bytes */N``."""
    if value is None or not value.startswith("bytes */"):
        return None
    tail = value[len("bytes */") :].strip()
    return int(tail) if tail.isascii() and tail.isdigit() else None


def failed_result(
    item: Any, error: TwilioMediaError, path: str | Path | None = None
) -> DownloadResult:
    """The result of an item that failed."""
    given = as_recording(item)
    sid = item if given is None else given.sid
    return DownloadResult(
        sid=sid,
        path=None if path is None else str(path),
        error=error,
        attempts=error.attempts,
        request_id=error.request_id,
    )


def as_recording(item: object) -> MediaRecording | None:
    """``item`` when it is a MediaRecording, else None; never calls the item's methods.

    ``type()``, not ``isinstance``: isinstance consults ``__class__``, which any object
    can fake (then ``.sid`` runs its code) or make raise, and a bulk item that raises
    while it is checked would end the whole stream instead of getting its own result.
    """
    return cast(MediaRecording, item) if issubclass(type(item), MediaRecording) else None
