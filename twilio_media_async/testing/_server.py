"""FakeMediaServer: a real aiohttp server that behaves like Twilio's MediaRecording API.

One catch-all handler routes by hand, so every request goes through the same pipeline:

    count it -> concurrency cap (429 20429, consumes nothing) -> latency -> auth (401 20003)
    -> pick a fault: the sid's script, else the ``script_next`` queue, else the seeded draw
    -> answer (fetch, delete, list or 404), spoiled by the fault if there is one

The happy path is a dict lookup and a ready-made body: bulk tests push tens of thousands of
requests through it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import itertools
import os
import random
import re
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, Self, TypedDict, assert_never

import attrs
import orjson
from aiohttp import web

from twilio_media_async._api import RECORDINGS_PATH
from twilio_media_async._numbers import is_finite, is_int, is_number
from twilio_media_async._sids import ACCOUNT_SID
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.models import MediaRecording, RecordingStatus

from ._data import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, make_recordings
from ._faults import DEFAULT_FAULT_KINDS, Fault, error_body, html_page, twilio_code_for
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

_JSON: Final = "application/json; charset=utf-8"
_HTML: Final = "text/html; charset=utf-8"
_ITEM_PREFIX: Final = RECORDINGS_PATH + "/"
_AUTH_FAILED: Final = error_body(401, 20003, "Authenticate")
_AUTH_CHALLENGE: Final = 'Basic realm="Twilio API"'
_CONCURRENCY_BODY: Final = error_body(429, 20429, "Too Many Requests")
_WILDCARD_HOSTS: Final = frozenset({"", "0.0.0.0", "::"})
_SID_LIKE: Final = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}\Z")
# A backstop only: close() wakes every handler that is sleeping on purpose.
_SHUTDOWN_TIMEOUT: Final = 2.0
_MEDIA_SUFFIX: Final = "/Media"
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


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the server saw.  Never holds a password, token or secret.

    ``auth_user`` is the Basic username when it looks like a sid (an account sid or API
    key), else None.  ``status`` is None for a reset connection (and while in flight);
    ``fault`` names the fault applied (``"rate_limited"``, ``"reset"``, ...,
    ``"concurrency_limit"`` for the cap), or None.  Times are ``time.monotonic()``.
    ``request_id`` is the ``Twilio-Request-Id`` the server gave the request (sent with its
    answer, when it answered); ``user_agent`` is the request's ``User-Agent``.
    """

    method: str
    path: str
    query: dict[str, str] = attrs.field(factory=dict, hash=False)
    auth_user: str | None = None
    sid: str | None = None
    status: int | None = None
    started: float = 0.0
    finished: float | None = None
    fault: str | None = None
    request_id: str | None = None
    user_agent: str | None = None


@attrs.define
class _Completion:
    """A recording scripted to stop processing: after so many reads, or at a time."""

    status: RecordingStatus
    reads_left: int | None = None
    due: float | None = None


def _request_id() -> str:
    return "RQ" + os.urandom(16).hex()


def _decode_basic(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


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
        self._init_media(host, media_answer, media_redirect_status, record_requests)
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
        self._port = port
        self._latency = _latency_range(latency)
        self._secrets = _secrets(account_sid, auth_token, api_keys)
        # Authorization header value -> username, computed once: the check is a dict lookup.
        # Built as the SDK builds it; any other spelling (a lower-case scheme, say) takes
        # the slow path, which decodes the header on its own (_check_auth).
        self._accepted = {basic_auth_header(u, s): u for u, s in self._secrets.items()}

        self._store = Store(payload_shape)
        generated = (
            make_recordings(generate, seed=seed, account_sid=account_sid) if generate else ()
        )
        for item in itertools.chain(recordings, generated):
            self._store.add(item)

        self._fault_rng = random.Random(f"twilio-media-async:faults:{seed}")
        self._latency_rng = random.Random(f"twilio-media-async:latency:{seed}")
        self._scripts: dict[str, deque[Fault | None]] = {}
        self._next: deque[Fault | None] = deque()
        self._completions: dict[str, _Completion] = {}
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        self._in_flight = 0
        self._reset_counters()

    def _init_media(
        self, host: str, answer: MediaAnswer, redirect_status: int, record_requests: bool
    ) -> None:
        """Check the media options and set up the storage site (not started yet)."""
        if answer not in _MEDIA_ANSWERS:
            raise ValueError(f"media_answer must be one of {sorted(_MEDIA_ANSWERS)}")
        if redirect_status not in _REDIRECTS:
            raise ValueError(f"media_redirect_status must be one of {sorted(_REDIRECTS)}")
        self._media_answer = answer
        self._media_redirect_status = redirect_status
        self._storage = StorageSite(host, self._media_info, record_requests=record_requests)

    def _reset_counters(self) -> None:
        self._requests: list[RecordedRequest] = []
        self._attempts: dict[str, int] = {}
        self._request_count = 0
        self._max_in_flight = self._in_flight
        self._seen_transports: weakref.WeakSet[Any] = weakref.WeakSet()
        self._seen_peers: set[Any] = set()
        self._connections = 0
        self._storage.reset_stats()

    def __repr__(self) -> str:
        state = self._url or "not running"
        return (
            f"FakeMediaServer(url={state!r}, account_sid={self.account_sid!r}, "
            f"recordings={len(self._store)}, requests={self._request_count})"
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
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
            # A client that hangs up (a timeout, a cancelled task) ends its handler at once,
            # as it would end the work on a real server: in_flight drops, and the record
            # shows when the client gave up.
            handler_cancellation=True,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        try:
            await self._storage.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._url = f"http://{host}:{port}"
        self._store.rebase(self._url)

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
        if (after_reads is None) == (after_seconds is None):
            raise ValueError("give exactly one of after_reads and after_seconds")
        if after_reads is not None and (not is_int(after_reads) or after_reads < 0):
            raise ValueError(f"after_reads must be an int >= 0, got {after_reads!r}")
        if after_seconds is not None and (not is_finite(after_seconds) or after_seconds < 0):
            raise ValueError(f"after_seconds must be a finite number >= 0, got {after_seconds!r}")
        entry = self._store.get(sid)
        if entry is None:
            raise ValueError(f"the server holds no recording {sid!r}")
        final = RecordingStatus(status)
        self._store.add(attrs.evolve(entry.recording, status=RecordingStatus.PROCESSING))
        due = None if after_seconds is None else time.monotonic() + after_seconds
        self._completions[sid] = _Completion(final, reads_left=after_reads, due=due)

    def _advance_completions(self, sid: str | None, method: str) -> None:
        """Carry out the scripted completions that are due, before answering a request."""
        now = time.monotonic()
        for key, completion in list(self._completions.items()):
            if completion.due is not None and now >= completion.due:
                self._complete(key, completion)
        if sid is None or method != "GET":
            return
        pending = self._completions.get(sid)
        if pending is None or pending.reads_left is None:
            return
        if pending.reads_left == 0:
            self._complete(sid, pending)
        else:
            pending.reads_left -= 1

    def _complete(self, sid: str, completion: _Completion) -> None:
        del self._completions[sid]
        entry = self._store.get(sid)
        if entry is not None:  # not deleted in the meantime
            self._store.add(attrs.evolve(entry.recording, status=completion.status))

    # -- faults -------------------------------------------------------------------------

    def script(self, sid: str, faults: Iterable[Fault | None]) -> None:
        """The next requests for ``sid`` (fetch or delete) take these faults in order.
        Calling it again appends.

        Args:
            sid: The recording sid whose requests get the faults.
            faults: One per request, in order; None answers that request normally.
        """
        self._scripts.setdefault(sid, deque()).extend(_checked(faults))

    def script_next(self, faults: Iterable[Fault | None]) -> None:
        """The next requests of any kind (list included) take these faults in order, after
        any per-sid script has had its turn.  Calling it again appends.

        Args:
            faults: One per request, in order; None answers that request normally.
        """
        self._next.extend(_checked(faults))

    def _pick_fault(self, sid: str | None) -> Fault | None:
        if sid is not None:
            script = self._scripts.get(sid)
            if script:
                fault = script.popleft()
                if not script:
                    del self._scripts[sid]
                return fault
        if self._next:
            return self._next.popleft()
        if self.fault_rate and self._fault_rng.random() < self.fault_rate:
            return self._fault_rng.choice(self.fault_kinds)
        return None

    # -- storage ------------------------------------------------------------------------

    @property
    def media_answer(self) -> MediaAnswer:
        """How ``/Media`` answers (see MediaAnswer)."""
        return self._media_answer

    @property
    def media_redirect_status(self) -> int:
        """The status of ``/Media``'s redirect."""
        return self._media_redirect_status

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
    def storage_requests(self) -> list[StorageRequest]:
        """Every request the storage site saw, in arrival order."""
        return list(self._storage.requests)

    @property
    def storage_max_in_flight(self) -> int:
        """The most storage requests handled at once."""
        return self._storage.max_in_flight

    @property
    def storage_saw_authorization(self) -> bool:
        """True when any storage request carried an ``Authorization`` header."""
        return any(r.authorization for r in self._storage.requests)

    def media_bytes(self, sid: str) -> bytes:
        """The whole media file served for ``sid`` (its length is the recording's size).

        Args:
            sid: A recording the server holds.
        """
        info = self._media_info(sid)
        if info is None:
            raise ValueError(f"the server holds no recording {sid!r}")
        return _media_bytes(sid, info.size)

    def media_sha256(self, sid: str) -> str:
        """The sha256 (hex) of the media file served for ``sid``, computed chunk by chunk.

        Args:
            sid: A recording the server holds.
        """
        info = self._media_info(sid)
        if info is None:
            raise ValueError(f"the server holds no recording {sid!r}")
        return media_sha256(sid, info.size)

    # -- observability ------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request seen since the start (or ``reset_stats``), in arrival order."""
        return list(self._requests)

    def attempts(self, sid: str) -> int:
        """How many requests targeted ``sid`` (its fetch or delete URL).

        Args:
            sid: A recording sid.
        """
        return self._attempts.get(sid, 0)

    @property
    def request_count(self) -> int:
        """How many requests arrived."""
        return self._request_count

    @property
    def in_flight(self) -> int:
        """Requests being handled now (requests refused by the concurrency cap never are)."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests handled at once (not counting those refused by the cap).

        A plain answer is produced without yielding to the event loop, so requests overlap
        only while they wait: give the server some ``latency`` to measure a client's
        concurrency.
        """
        return self._max_in_flight

    @property
    def connections(self) -> int:
        """Distinct TCP connections that carried requests (1 when keep-alive reuse works)."""
        return self._connections

    def reset_stats(self) -> None:
        """Forget requests, attempts, connections and max_in_flight (storage's too); keep
        the store and any scripts."""
        self._reset_counters()

    # -- the handler --------------------------------------------------------------------

    def _count_connection(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is None:
            return
        try:
            if transport in self._seen_transports:
                return
            self._seen_transports.add(transport)
        except TypeError:  # a transport without weakref support (uvloop): use the peer
            peer = transport.get_extra_info("peername")
            if peer in self._seen_peers:
                return
            self._seen_peers.add(peer)
        self._connections += 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        method = request.method
        path = request.path
        sid = path[len(_ITEM_PREFIX) :] if path.startswith(_ITEM_PREFIX) else None
        media = sid is not None and sid.endswith(_MEDIA_SUFFIX) and method == "GET"
        if media:
            sid = sid[: -len(_MEDIA_SUFFIX)]  # type: ignore[index]
        header = request.headers.get("Authorization")
        user = self._accepted.get(header) if header is not None else None
        authenticated = user is not None
        if not authenticated:
            user, authenticated = self._check_auth(header)

        request_id = _request_id()
        records = self._requests
        index = self._count(request, sid, user, started, request_id)

        cap = self.concurrency_limit
        if cap is not None and self._in_flight >= cap:
            self._finish(records, index, 429, "concurrency_limit")
            return _reply(429, _CONCURRENCY_BODY, _JSON, request_id)

        self._in_flight += 1
        if self._in_flight > self._max_in_flight:
            self._max_in_flight = self._in_flight
        status: int | None = None
        fault_name: str | None = None
        try:
            low, high = self._latency
            if high > 0:
                delay = low if low == high else self._latency_rng.uniform(low, high)
                if await self._sleep(delay):
                    return _abort(request)
            if not authenticated:
                status = 401
                response: web.StreamResponse = _reply(401, _AUTH_FAILED, _JSON, request_id)
                response.headers["WWW-Authenticate"] = _AUTH_CHALLENGE
                return response
            fault = self._pick_fault(sid)
            if media and (fault is None or fault.kind not in _RESOLVE_FAULTS):
                # A resolve has no JSON body to spoil: only latency applies to it.
                if fault is not None and fault.kind == "latency":
                    fault_name = fault.kind
                    if await self._sleep(fault.seconds):
                        return _abort(request)
                status, response = await self._media(sid, request, request_id)
                return response
            if fault is None:
                status, body = self._route(method, path, sid, request)
                return _reply(status, body, _JSON if body else None, request_id)
            fault_name = fault.kind
            status, response = await self._faulty(fault, method, path, sid, request, request_id)
            return response
        finally:
            self._in_flight -= 1
            self._finish(records, index, status, fault_name)

    def _count(
        self,
        request: web.Request,
        sid: str | None,
        user: str | None,
        started: float,
        request_id: str,
    ) -> int:
        """Count a request, and record it when ``record_requests``; its index, or -1."""
        self._request_count += 1
        self._count_connection(request)
        if sid is not None:
            self._attempts[sid] = self._attempts.get(sid, 0) + 1
        if not self.record_requests:
            return -1
        self._requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                auth_user=user,
                sid=sid,
                started=started,
                request_id=request_id,
                user_agent=request.headers.get("User-Agent"),
            )
        )
        return len(self._requests) - 1

    def _finish(
        self, records: list[RecordedRequest], index: int, status: int | None, fault: str | None
    ) -> None:
        # ``records`` is the list this request was appended to: after reset_stats() the
        # server holds a new one, and this request is forgotten with the old one.
        if index < 0:
            return
        old = records[index]
        records[index] = RecordedRequest(
            method=old.method,
            path=old.path,
            query=old.query,
            auth_user=old.auth_user,
            sid=old.sid,
            status=status,
            started=old.started,
            finished=time.monotonic(),
            fault=fault,
            request_id=old.request_id,
            user_agent=old.user_agent,
        )

    def _check_auth(self, header: str | None) -> tuple[str | None, bool]:
        """The slow path, for headers that are not byte-for-byte a known one: returns the
        username to record and whether the credentials are accepted."""
        credentials = _decode_basic(header) if header is not None else None
        if credentials is None:
            return None, False
        username, password = credentials
        secret = self._secrets.get(username)
        if secret is not None and hmac.compare_digest(secret.encode(), password.encode()):
            return username, True  # a lower-case "basic", say
        # Only a username shaped like a sid is recorded: a caller who swapped the sid and
        # the token must not find the token in the records.
        return (username if _SID_LIKE.match(username) else None), False

    def _route(
        self, method: str, path: str, sid: str | None, request: web.Request
    ) -> tuple[int, bytes]:
        """The normal answer: (status, JSON body or b"").  Carries out deletes."""
        if self._completions:
            self._advance_completions(sid, method)
        if sid is not None:
            if method == "GET":
                entry = self._store.get(sid)
                if entry is not None:
                    return 200, entry.body
                return 404, _not_found(path)
            if method == "DELETE":
                if self._store.delete(sid) is not None:
                    return 204, b""
                return 404, _not_found(path)
        elif path == RECORDINGS_PATH and method == "GET":
            try:
                return 200, self._store.page(request.query, self._page_origin(request))
            except ListError as exc:
                return 400, error_body(400, 20001, str(exc))
        return 404, _not_found(path)

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
            return 404, _reply(404, _not_found(path), _JSON, request_id)
        ttl = _ttl(request.query.get("Ttl"))
        if ttl is None:
            body = error_body(400, 20001, f"Invalid Ttl: expected 1 to {_MAX_TTL} seconds")
            return 400, _reply(400, body, _JSON, request_id)
        fmt = str(entry.recording.format or "")
        ext = fmt if _EXTENSION.match(fmt) else "bin"
        answer = self.media_answer
        if answer == "direct":
            info = self._media_info(sid)
            assert info is not None
            return await stream_media(request, sid, info, None, self._closing)
        if answer == "json":
            body = orjson.dumps({"redirect_to": self._storage.presign(sid, ext, ttl)})
            return 200, _reply(200, body, _JSON, request_id)
        origin = "" if answer == "relative" else None
        response = _reply(self.media_redirect_status, b"", None, request_id)
        response.headers["Location"] = self._storage.presign(sid, ext, ttl, origin=origin)
        return self.media_redirect_status, response

    async def _faulty(
        self,
        fault: Fault,
        method: str,
        path: str,
        sid: str | None,
        request: web.Request,
        request_id: str,
    ) -> tuple[int | None, web.StreamResponse]:
        """Answer under ``fault``: (the status recorded, None for a dropped connection; the
        response)."""
        if fault.applied:  # carried out before failing: a DELETE really deletes
            self._route(method, path, sid, request)
        match fault.kind:
            case "rate_limited" | "server_error" | "status":
                return _error_reply(fault, request_id)
            case "reset":
                return None, _abort(request)
            case "latency":
                if await self._sleep(fault.seconds):
                    return None, _abort(request)
                status, body = self._route(method, path, sid, request)
                return status, _reply(status, body, _JSON if body else None, request_id)
            case "wrong_content_type":
                status, body = self._spoilable(method, path, sid, request)
                return status, _reply(status, body, _HTML, request_id)
            case "invalid_json":
                status, body = self._spoilable(method, path, sid, request)
                return status, _reply(status, body[: len(body) // 2] or b"<", _JSON, request_id)
            case "altered_body":
                status, body = self._route(method, path, sid, request)
                body = fault.alter(body) if 200 <= status < 300 else body
                return status, _reply(status, body, _JSON if body else None, request_id)
            case "truncated" | "slow_body":
                status, body = self._spoilable(method, path, sid, request)
                return await self._send_in_halves(fault, status, body, request, request_id)
            case unknown:
                assert_never(unknown)

    def _spoilable(
        self, method: str, path: str, sid: str | None, request: web.Request
    ) -> tuple[int, bytes]:
        """The normal answer, carried out, with a body to spoil: a 204 has none, so it
        becomes a 200 with an empty object."""
        status, body = self._route(method, path, sid, request)
        return (status, body) if body else (200, b"{}")

    async def _send_in_halves(
        self, fault: Fault, status: int, body: bytes, request: web.Request, request_id: str
    ) -> tuple[int | None, web.StreamResponse]:
        """Announce the whole body's length and send half of it; then ``truncated`` closes
        the connection, and ``slow_body`` stalls before sending the rest."""
        half = len(body) // 2
        response = web.StreamResponse(status=status, headers=_headers(_JSON, request_id))
        response.content_length = len(body)
        try:
            await response.prepare(request)
            await response.write(body[:half])
            if fault.kind == "truncated":
                if request.transport is not None:
                    request.transport.close()  # flushes the half, then closes
                return status, response
            if await self._sleep(fault.seconds):
                _abort(request)
                return None, response
            await response.write(body[half:])
        except ConnectionError:  # the client gave up (a read timeout, say)
            return status, response
        return status, response

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


def _ttl(raw: str | None) -> int | None:
    """The ``Ttl`` query parameter in seconds, the default without one; None when bad."""
    if raw is None:
        return _DEFAULT_TTL
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5):
        return None
    value = int(raw)
    return value if 1 <= value <= _MAX_TTL else None


def _checked(faults: Iterable[Fault | None]) -> list[Fault | None]:
    items = list(faults)
    for item in items:
        if item is not None and not isinstance(item, Fault):
            raise TypeError(f"expected Fault or None, got {type(item).__name__}")
    return items


def _not_found(path: str) -> bytes:
    return error_body(404, 20404, f"The requested resource {path} was not found")


def _headers(content_type: str | None, request_id: str) -> dict[str, str]:
    if content_type is None:
        return {"Twilio-Request-Id": request_id}
    return {"Content-Type": content_type, "Twilio-Request-Id": request_id}


def _error_reply(fault: Fault, request_id: str) -> tuple[int, web.Response]:
    """The status and the answer of a status fault: Twilio's error JSON, or a proxy's page."""
    status = fault.http_status or 500
    if fault.html:
        response = _reply(status, html_page(status), _HTML, request_id)
    else:
        code = fault.twilio_code or twilio_code_for(status)
        body = error_body(status, code, fault.message or "Error")
        response = _reply(status, body, _JSON, request_id)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return status, response


def _reply(status: int, body: bytes, content_type: str | None, request_id: str) -> web.Response:
    return web.Response(
        status=status, body=body or None, headers=_headers(content_type, request_id)
    )


def _abort(request: web.BaseRequest) -> web.Response:
    """Drop the connection without a byte of answer.  aiohttp then fails to write the
    response it is handed, which it treats as a client that went away: no log, no error."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)


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


def _secrets(
    account_sid: str, auth_token: str, api_keys: Mapping[str, str] | None
) -> dict[str, str]:
    """Username -> secret for every credential the server accepts."""
    secrets = {account_sid: auth_token, **dict(api_keys or {})}
    for username, secret in secrets.items():
        if not (isinstance(username, str) and isinstance(secret, str) and username and secret):
            raise ValueError("api_keys must map non-empty str keys to non-empty str secrets")
    return secrets
