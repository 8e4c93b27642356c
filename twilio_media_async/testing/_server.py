"""FakeMediaServer: a real aiohttp server that behaves like Twilio's MediaRecording API.

One catch-all handler routes by hand, so every request goes through the same pipeline:

    count it -> concurrency cap (429 20429, consumes nothing) -> latency -> auth (401 20003)
    -> pick a fault: the sid's script, else the ``script_next`` queue, else the seeded draw
    -> answer (fetch, delete, list or 404), spoiled by the fault if there is one

This module routes; the bookkeeping is ``_records``, the faults ``_faults`` (which one) and
``_replies`` (how it spoils the answer), the credentials ``_auth``, the recordings
``_store`` and ``_completions``, and the media ``_storage``.  The happy path is a dict
lookup and a ready-made body: bulk tests push tens of thousands of requests through it.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, Self, TypedDict

import attrs
import orjson
from aiohttp import web

from twilio_media_async._api import MEDIA_SUFFIX, RECORDINGS_PATH, TTL_PARAM
from twilio_media_async._numbers import is_int, is_number
from twilio_media_async._sids import ACCOUNT_SID
from twilio_media_async.models import MediaRecording, RecordingStatus

from ._auth import Credentials
from ._completions import Completions
from ._data import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, make_recordings
from ._faults import DEFAULT_FAULT_KINDS, Fault, FaultPlan, error_body
from ._records import Ledger, RecordedRequest
from ._replies import JSON, abort, json_reply, new_request_id, not_found, reply, under_fault
from ._site import serve
from ._storage import (
    MediaInfo,
    StorageFault,
    StorageRequest,
    StorageSite,
    media_sha256,
    stream_media,
)
from ._storage import media_bytes as _media_bytes
from ._store import ListError, PayloadShape, Store

__all__ = [
    "DEFAULT_MEDIA_SIZE",
    "ClientKwargs",
    "FakeMediaServer",
    "MediaAnswer",
    "RecordedRequest",
]

MediaAnswer = Literal["redirect", "relative", "json", "direct"]
"""How ``/Media`` answers: a redirect to storage (absolute ``Location``), a redirect with a
relative ``Location`` (storage mounted on the API origin), a 200 JSON ``redirect_to``, or
the media itself."""

_ITEM_PREFIX: Final = RECORDINGS_PATH + "/"
_AUTH_FAILED: Final = error_body(401, 20003, "Authenticate")
_AUTH_CHALLENGE: Final = 'Basic realm="Twilio API"'
_CONCURRENCY_BODY: Final = error_body(429, 20429, "Too Many Requests")
_WILDCARD_HOSTS: Final = frozenset({"", "0.0.0.0", "::"})
_RESOLVE_FAULTS: Final = frozenset({"rate_limited", "server_error", "status", "reset"})
_MEDIA_ANSWERS: Final = frozenset({"redirect", "relative", "json", "direct"})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_EXTENSION: Final = re.compile(r"[a-z0-9]{1,8}\Z")
_CONTENT_TYPES: Final = {"mp4": "video/mp4", "webm": "video/webm"}
_DEFAULT_TTL: Final = 600
_MAX_TTL: Final = 3600
DEFAULT_MEDIA_SIZE: Final = 4096
"""The media length served for a recording whose ``size`` is None."""


class ClientKwargs(TypedDict):
    """What ``FakeMediaServer.client_kwargs()`` returns: ``MediaClient(**kwargs)`` type-checks."""

    account_sid: str
    auth_token: str
    base_url: str


@attrs.define
class _Outcome:
    """What a request's record gets when it ends, however it ends (a cancelled handler
    included): the status answered, and the fault applied."""

    status: int | None = None
    fault: str | None = None


def _latency_range(latency: float | tuple[float, float]) -> tuple[float, float]:
    low, high = latency if isinstance(latency, tuple) else (latency, latency)
    if not (0 <= low <= high):
        raise ValueError(f"latency must be >= 0 seconds, or a (low, high) range: {latency!r}")
    return float(low), float(high)


class FakeMediaServer:
    """A local stand-in for ``https://media.twilio.com``'s MediaRecording API.

    ```python
    async with FakeMediaServer(generate=100, seed=1) as server:
        async with MediaClient(**server.client_kwargs()) as client:
            recording = await client.fetch(server.sids[0])
    ```

    It serves ``GET`` and ``DELETE /v1/MediaRecordings/{Sid}`` and ``GET
    /v1/MediaRecordings`` (filters, ordering, paging with page tokens) with Twilio's
    headers and error JSON, checks HTTP Basic auth, and injects faults: scripted per sid
    (``script``), scripted for the next requests (``script_next``), or drawn at random
    (``fault_rate``, seeded).  ``concurrency_limit`` answers 429 (code 20429) to requests
    beyond that many in flight.  ``requests``, ``attempts``, ``max_in_flight`` and
    ``connections`` show what the client did.

    Args:
        account_sid: The account sid accepted as the Basic user name
            (``DEFAULT_ACCOUNT_SID`` by default).
        auth_token: The auth token accepted with it (``DEFAULT_AUTH_TOKEN`` by default).
        api_keys: API key sids to their secrets: more credentials the server accepts.
        recordings: Recordings to serve: MediaRecordings, or dicts in Twilio's JSON shape.
        generate: How many deterministic recordings to add besides (``make_recordings``).
        seed: Seeds the generated recordings, the random faults and the latency draws.
        fault_rate: The probability, from 0 to 1, that a request gets a random fault.
        fault_kinds: The faults random ones are drawn from, with equal odds
            (``DEFAULT_FAULT_KINDS`` by default).
        concurrency_limit: Requests beyond this many in flight get 429 (code 20429) at
            once; None: no cap.
        latency: Seconds every request waits before it is handled, or a (low, high)
            range each wait is drawn from.
        payload_shape: ``"spec"`` (``media_size``, no ``bitrate``, as the OpenAPI spec)
            or ``"seed"`` (``size`` and ``bitrate``, as the documented fetch page).
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one.
        record_requests: Whether ``requests`` keeps a RecordedRequest per request;
            False keeps only the counters, for very long runs.
        media_answer: How ``/Media`` answers (see MediaAnswer): ``"redirect"`` by
            default, as Twilio does.
        media_redirect_status: The status of the redirect (301, 302, 303, 307 or 308).
    """

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        api_keys: Mapping[str, str] | None = None,
        recordings: Iterable[MediaRecording | Mapping[str, Any]] = (),
        generate: int = 0,
        seed: int = 0,
        fault_rate: float = 0.0,
        fault_kinds: Sequence[Fault] | None = None,
        concurrency_limit: int | None = None,
        latency: float | tuple[float, float] = 0.0,
        payload_shape: PayloadShape = "spec",
        host: str = "127.0.0.1",
        port: int = 0,
        record_requests: bool = True,
        media_answer: MediaAnswer = "redirect",
        media_redirect_status: int = 302,
    ) -> None:
        _check_media(media_answer, media_redirect_status)
        kinds = _checked_options(
            account_sid, auth_token, fault_rate, fault_kinds, concurrency_limit
        )
        self.account_sid: Final = account_sid
        """The account sid accepted as the Basic username (with ``auth_token``)."""
        self.auth_token: Final = auth_token
        """The auth token accepted (a fake one: it is meant to be printed and shared)."""
        self.host: Final = host
        """The address listened on."""
        self.fault_rate: Final = fault_rate
        """The probability that a request gets a random fault."""
        self.fault_kinds: Final = kinds
        """The faults random ones are drawn from, with equal odds."""
        self.concurrency_limit: Final = concurrency_limit
        """Requests beyond this many in flight get 429 (code 20429); None: no cap."""
        self.record_requests: Final = record_requests
        """Whether ``requests`` keeps a RecordedRequest per request."""
        self.media_answer: Final = media_answer
        """How ``/Media`` answers (see MediaAnswer)."""
        self.media_redirect_status: Final = media_redirect_status
        """The status of ``/Media``'s redirect."""
        self._port = port
        self._latency = _latency_range(latency)
        self._latency_rng = random.Random(f"twilio-media-async:latency:{seed}")
        self._credentials = Credentials(account_sid, auth_token, api_keys)
        self._store = _filled_store(payload_shape, recordings, generate, seed, account_sid)
        self._faults = FaultPlan(seed, fault_rate, kinds)
        self._completions = Completions(self._store)
        self._ledger = Ledger(record_requests)
        self._storage = StorageSite(host, self._media_info, record_requests=record_requests)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()

    def __repr__(self) -> str:
        state = self._url or "not running"
        return (
            f"FakeMediaServer(url={state!r}, account_sid={self.account_sid!r}, "
            f"recordings={len(self._store)}, requests={self._ledger.request_count})"
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening on ``host:port`` (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        self._closing = asyncio.Event()
        app = web.Application()
        # Storage on the API origin too, for relative redirects ("relative").
        app.router.add_route("*", "/media/{tail:.*}", self._storage.handle)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner, url = await serve(app, self.host, self._port)
        try:
            await self._storage.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._url = runner, url
        self._store.rebase(url)

    async def close(self) -> None:
        """Stop the server and drop every connection.  Idempotent.

        Handlers sleeping on purpose (latency, slow_body) are woken and their connections
        aborted, so closing never waits for them.
        """
        runner, self._runner = self._runner, None
        self._url = None
        if runner is None:
            return
        self._closing.set()
        await runner.cleanup()
        await self._storage.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``close()``."""
        return self._runner is not None

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash): pass it to MediaClient as ``base_url``."""
        if self._url is None:
            raise RuntimeError("the server is not running: use `async with` or start()")
        return self._url

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        return int(self.url.rpartition(":")[2])

    def client_kwargs(self) -> ClientKwargs:
        """Keyword arguments for a MediaClient talking to this server."""
        return {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "base_url": self.url,
        }

    # -- the store ----------------------------------------------------------------------

    def add(self, recording: MediaRecording | Mapping[str, Any]) -> MediaRecording:
        """Add a recording; a sid that is already there is replaced in place.

        Args:
            recording: A MediaRecording, or a dict in Twilio's JSON shape.

        Returns the MediaRecording as stored, which is exactly what a client reads back:
        with ``payload_shape="spec"`` its ``bitrate`` is None, because that shape has none.
        """
        return self._store.add(recording)

    @property
    def sids(self) -> list[str]:
        """The sids of the recordings held, in insertion order."""
        return self._store.sids()

    @property
    def recordings(self) -> Mapping[str, MediaRecording]:
        """A live, read-only mapping of sid to MediaRecording (deleted ones are gone), each
        equal to what a client fetching it gets."""
        return self._store.recordings()

    @property
    def payload_shape(self) -> PayloadShape:
        """``"spec"`` (``media_size``, no ``bitrate``) or ``"seed"`` (``size``, ``bitrate``)."""
        return self._store.payload_shape

    def script_completion(
        self,
        sid: str,
        *,
        after_reads: int | None = None,
        after_seconds: float | None = None,
        status: RecordingStatus | str = RecordingStatus.COMPLETED,
    ) -> None:
        """Make the recording ``sid`` read as ``processing`` now, and as ``status`` later:
        after a number of reads, or of seconds (give exactly one of the two).

        Only fetches that were answered count as reads (a scripted fault that does not
        carry the request out is none).  A time-based change shows in lists too.

        Args:
            sid: A recording the server holds.
            after_reads: How many fetches of it answer ``processing`` first.
            after_seconds: How long it reads as ``processing``.
            status: What it reads as afterwards (``completed`` by default).
        """
        self._completions.script(sid, after_reads, after_seconds, status)

    # -- faults -------------------------------------------------------------------------

    def script(self, sid: str, faults: Iterable[Fault | None]) -> None:
        """The next requests for ``sid`` (fetch or delete) take these faults in order.
        Calling it again appends.

        Args:
            sid: The recording sid whose requests get the faults.
            faults: One per request, in order; None answers that request normally.
        """
        self._faults.scripts.extend(sid, faults)

    def script_next(self, faults: Iterable[Fault | None]) -> None:
        """The next requests of any kind (list included) take these faults in order, after
        any per-sid script has had its turn.  Calling it again appends.

        Args:
            faults: One per request, in order; None answers that request normally.
        """
        self._faults.script_next(faults)

    # -- storage ------------------------------------------------------------------------

    @property
    def storage_url(self) -> str:
        """The storage site's ``http://host:port``: another origin than ``url``."""
        return self._storage.url

    def script_storage(self, sid: str, faults: Iterable[StorageFault | None]) -> None:
        """The next storage requests for ``sid``'s file take these faults in order.
        Calling it again appends.

        Args:
            sid: The recording whose file gets the faults.
            faults: One per storage request; None answers that one normally.
        """
        self._storage.script(sid, faults)

    @property
    def storage_max_in_flight(self) -> int:
        """The most storage requests handled at once."""
        return self._storage.max_in_flight

    @property
    def storage_requests(self) -> list[StorageRequest]:
        """Every request the storage site saw, in arrival order."""
        return list(self._storage.requests)

    @property
    def storage_saw_authorization(self) -> bool:
        """True when any storage request carried an ``Authorization`` header."""
        return any(r.authorization for r in self._storage.requests)

    def media_bytes(self, sid: str) -> bytes:
        """The whole media file served for ``sid`` (its length is the recording's size).

        Args:
            sid: A recording the server holds.
        """
        return _media_bytes(sid, self._media_size(sid))

    def media_sha256(self, sid: str) -> str:
        """The sha256 (hex) of the media file served for ``sid``, computed chunk by chunk.

        Args:
            sid: A recording the server holds.
        """
        return media_sha256(sid, self._media_size(sid))

    def _media_size(self, sid: str) -> int:
        info = self._media_info(sid)
        if info is None:
            raise ValueError(f"the server holds no recording {sid!r}")
        return info.size

    # -- observability ------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request seen since the start (or ``reset_stats``), in arrival order."""
        return list(self._ledger.requests)

    @property
    def request_count(self) -> int:
        """How many requests arrived."""
        return self._ledger.request_count

    def attempts(self, sid: str) -> int:
        """How many requests targeted ``sid`` (its fetch or delete URL).

        Args:
            sid: A recording sid.
        """
        return self._ledger.attempts.get(sid, 0)

    @property
    def in_flight(self) -> int:
        """Requests being handled now (requests refused by the concurrency cap never are)."""
        return self._ledger.in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests handled at once (not counting those refused by the cap).

        A plain answer is produced without yielding to the event loop, so requests overlap
        only while they wait: give the server some ``latency`` to measure a client's
        concurrency.
        """
        return self._ledger.max_in_flight

    @property
    def connections(self) -> int:
        """Distinct TCP connections that carried requests (1 when keep-alive reuse works)."""
        return self._ledger.connections

    def reset_stats(self) -> None:
        """Forget requests, attempts, connections and max_in_flight (storage's too); keep
        the store and any scripts."""
        self._ledger.reset()
        self._storage.reset_stats()

    # -- the handler --------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        sid, media = _target(request.method, request.path)
        user, authenticated = self._credentials.check(request.headers.get("Authorization"))
        request_id = new_request_id()
        ledger = self._ledger
        slot = ledger.count(request, sid, user, request_id)
        cap = self.concurrency_limit
        if cap is not None and ledger.in_flight >= cap:
            ledger.finish(slot, 429, "concurrency_limit")
            return reply(429, _CONCURRENCY_BODY, JSON, request_id)
        outcome = _Outcome()
        ledger.enter()
        try:
            return await self._answer(request, sid, media, authenticated, request_id, outcome)
        finally:
            ledger.leave()
            ledger.finish(slot, outcome.status, outcome.fault)

    async def _answer(
        self,
        request: web.Request,
        sid: str | None,
        media: bool,
        authenticated: bool,
        request_id: str,
        outcome: _Outcome,
    ) -> web.StreamResponse:
        """Latency, auth, then the answer, spoiled by the fault if there is one."""
        low, high = self._latency
        if high > 0:
            delay = low if low == high else self._latency_rng.uniform(low, high)
            if await self._sleep(delay):
                return abort(request)
        if not authenticated:
            outcome.status = 401
            response = reply(401, _AUTH_FAILED, JSON, request_id)
            response.headers["WWW-Authenticate"] = _AUTH_CHALLENGE
            return response
        fault = self._faults.pick(sid)
        if media and (fault is None or fault.kind not in _RESOLVE_FAULTS):
            return await self._resolve(sid, fault, request, request_id, outcome)
        route = functools.partial(self._route, request.method, request.path, sid, request)
        if fault is None:
            outcome.status, body = route()
            return json_reply(outcome.status, body, request_id)
        outcome.fault = fault.kind
        outcome.status, answer = await under_fault(fault, route, request, request_id, self._sleep)
        return answer

    async def _resolve(
        self,
        sid: str | None,
        fault: Fault | None,
        request: web.Request,
        request_id: str,
        outcome: _Outcome,
    ) -> web.StreamResponse:
        """Answer ``GET .../Media``: a resolve has no JSON body to spoil, so only a latency
        fault applies to it."""
        if fault is not None and fault.kind == "latency":
            outcome.fault = fault.kind
            if await self._sleep(fault.seconds):
                return abort(request)
        outcome.status, response = await self._media(sid, request, request_id)
        return response

    def _route(
        self, method: str, path: str, sid: str | None, request: web.Request
    ) -> tuple[int, bytes]:
        """The normal answer: (status, JSON body or b"").  Carries out deletes."""
        if self._completions:
            self._completions.advance(sid, method)
        if sid is not None:
            if method == "GET":
                entry = self._store.get(sid)
                if entry is not None:
                    return 200, entry.body
                return 404, not_found(path)
            if method == "DELETE":
                if self._store.delete(sid) is not None:
                    return 204, b""
                return 404, not_found(path)
        elif path == RECORDINGS_PATH and method == "GET":
            try:
                return 200, self._store.page(request.query, self._page_origin(request))
            except ListError as exc:
                return 400, error_body(400, 20001, str(exc))
        return 404, not_found(path)

    def _page_origin(self, request: web.BaseRequest) -> str:
        """The origin of page URLs: the server's URL, or, when it listens on every
        address (0.0.0.0, ::), the host the client asked for."""
        if self.host in _WILDCARD_HOSTS:
            return f"http://{request.host}"
        return self.url

    def _media_info(self, sid: str) -> MediaInfo | None:
        """What storage serves for ``sid``: None once the recording is gone."""
        entry = self._store.get(sid)
        if entry is None:
            return None
        recording = entry.recording
        size = recording.size if recording.size is not None else DEFAULT_MEDIA_SIZE
        kind = _CONTENT_TYPES.get(str(recording.format), "application/octet-stream")
        return MediaInfo(size, kind)

    async def _media(
        self, sid: str | None, request: web.Request, request_id: str
    ) -> tuple[int | None, web.StreamResponse]:
        """Answer ``GET .../{Sid}/Media``: a redirect to a presigned storage URL (or its
        JSON, or the media itself), 404 for an unknown or unfinished recording."""
        entry = self._store.get(sid) if sid is not None else None
        path = request.path
        if sid is None or entry is None or entry.recording.status != RecordingStatus.COMPLETED:
            return 404, reply(404, not_found(path), JSON, request_id)
        ttl = _ttl(request.query.get(TTL_PARAM))
        if ttl is None:
            body = error_body(400, 20001, f"Invalid Ttl: expected 1 to {_MAX_TTL} seconds")
            return 400, reply(400, body, JSON, request_id)
        fmt = str(entry.recording.format or "")
        ext = fmt if _EXTENSION.match(fmt) else "bin"
        answer = self.media_answer
        if answer == "direct":
            info = self._media_info(sid)
            assert info is not None
            return await stream_media(request, sid, info, None, self._closing)
        if answer == "json":
            body = orjson.dumps({"redirect_to": self._storage.presign(sid, ext, ttl)})
            return 200, reply(200, body, JSON, request_id)
        origin = "" if answer == "relative" else None
        response = reply(self.media_redirect_status, b"", None, request_id)
        response.headers["Location"] = self._storage.presign(sid, ext, ttl, origin=origin)
        return self.media_redirect_status, response

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, or stop early when the server closes; returns True when it is closing."""
        if seconds <= 0:
            return self._closing.is_set()
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            return False
        return True


def _target(method: str, path: str) -> tuple[str | None, bool]:
    """The sid a request is for (None: the list, or no recording), and whether it asks for
    the recording's media."""
    if not path.startswith(_ITEM_PREFIX):
        return None, False
    sid = path[len(_ITEM_PREFIX) :]
    if method == "GET" and sid.endswith(MEDIA_SUFFIX):
        return sid[: -len(MEDIA_SUFFIX)], True
    return sid, False


def _filled_store(
    payload_shape: PayloadShape,
    recordings: Iterable[MediaRecording | Mapping[str, Any]],
    generate: int,
    seed: int,
    account_sid: str,
) -> Store:
    """A store holding ``recordings``, then ``generate`` made ones."""
    store = Store(payload_shape)
    generated = make_recordings(generate, seed=seed, account_sid=account_sid) if generate else ()
    for item in itertools.chain(recordings, generated):
        store.add(item)
    return store


def _check_media(answer: object, redirect_status: object) -> None:
    """Check the media options (ValueError)."""
    if answer not in _MEDIA_ANSWERS:
        raise ValueError(f"media_answer must be one of {sorted(_MEDIA_ANSWERS)}")
    if redirect_status not in _REDIRECTS:
        raise ValueError(f"media_redirect_status must be one of {sorted(_REDIRECTS)}")


def _ttl(raw: str | None) -> int | None:
    """The ``Ttl`` query parameter in seconds, the default without one; None when bad."""
    if raw is None:
        return _DEFAULT_TTL
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5):
        return None
    value = int(raw)
    return value if 1 <= value <= _MAX_TTL else None


def _checked_options(
    account_sid: object,
    auth_token: object,
    fault_rate: object,
    fault_kinds: Sequence[Fault] | None,
    concurrency_limit: object,
) -> tuple[Fault, ...]:
    """Check the server's options (ValueError or TypeError); return its fault kinds."""
    if not isinstance(account_sid, str) or not ACCOUNT_SID.match(account_sid):
        raise ValueError("account_sid must be 'AC' followed by 32 hex digits")
    if not isinstance(auth_token, str) or not auth_token:
        raise ValueError("auth_token must be a non-empty str")
    if not (is_number(fault_rate) and 0.0 <= fault_rate <= 1.0):
        raise ValueError(f"fault_rate must be from 0 to 1, got {fault_rate!r}")
    kinds = tuple(DEFAULT_FAULT_KINDS if fault_kinds is None else fault_kinds)
    if fault_rate > 0 and not kinds:
        raise ValueError("fault_kinds is empty but fault_rate is above 0")
    if not all(isinstance(kind, Fault) for kind in kinds):
        raise TypeError("fault_kinds must hold Fault instances")
    limit = concurrency_limit
    if limit is not None and (not is_int(limit) or limit < 1):
        raise ValueError(f"concurrency_limit must be an int >= 1, got {concurrency_limit!r}")
    return kinds
