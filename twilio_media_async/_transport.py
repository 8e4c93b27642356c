"""The aiohttp session wrapper: one session, auth, headers, timeouts and a body cap.

Everything that can be computed once is computed once (the Authorization header, the
default headers, the timeout object, the base URL), because a bulk run sends hundreds of
thousands of requests through here.  The transport knows HTTP and nothing of retries or of
the MediaRecording shape.
"""

from __future__ import annotations

import asyncio
import socket
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypedDict, Unpack

import aiohttp
from multidict import istr
from yarl import URL

from ._config import (
    DEFAULT_MAX_BODY_SIZE,
    USER_AGENT,
    basic_auth_header,
    check_borrowed_session,
    clip_timeout,
    parse_base_url,
)
from ._redact import Redactor
from ._replies import Reply
from .errors import (
    ClientClosedError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ResponseValidationError,
    TransportError,
    TwilioMediaError,
    WrongEventLoopError,
    api_error_from_response,
    cap_text,
)
from .retry import parse_retry_after

# What the client, the retry engine, the bench and the tests import from here;
# basic_auth_header is _config's, the one the client's settings are built with.
__all__ = [
    "Reply",
    "Transport",
    "TransportView",
    "basic_auth_header",
]

# Error bodies are only excerpted, so a small cap is plenty.
_ERROR_BODY_CAP: Final = 64 * 1024
# aiohttp's own defaults, set on each request through a borrowed session.
_READ_BUFSIZE: Final = 2**16
_MAX_LINE_SIZE: Final = 8190
_MAX_FIELD_SIZE: Final = 8190
# aiohttp quotes what the server sent in its messages; a reason this long says enough.
_REASON_CHARS: Final = 300
# The most one read of a connection of the client's own asks the socket for.  asyncio's
# selector transport recv()s into a fresh buffer of its ``max_size`` (256 KiB) per read,
# which glibc serves with mmap, mremap and munmap: two page faults and three syscalls per
# answer.  64 KiB stays under malloc's mmap threshold and still holds a fetch's answer
# many times over (docs/performance.md, "The receive size").
RECEIVE_CAP: Final = 64 * 1024
# An istr is case-folded once, here, rather than on every lookup.
_REQUEST_ID: Final = istr("Twilio-Request-Id")


class Transport:
    """Sends one HTTP request and returns a 2xx answer's Reply, or raises.

    A non-2xx answer raises the matching ApiError subclass; a failure to get a complete
    answer raises TransportError (RequestTimeoutError for timeouts).  An owned session is
    created inside the running loop on first use and closed by ``aclose()``; a borrowed one
    is used as is and never closed.  ``proxy`` (with its credentials, if any) goes to the
    owned session, or to each request through a borrowed one; ``trace_configs`` go to the
    owned session only (a borrowed session has its own).
    """

    def __init__(
        self,
        *,
        base_url: object,
        authorization: str,
        timeout: aiohttp.ClientTimeout,
        session: aiohttp.ClientSession | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        connection_limit: int = 100,
        redactor: Redactor | None = None,
        user_agent: str = USER_AGENT,
        proxy: URL | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self.base_url = parse_base_url(base_url)
        self.origin = self.base_url.origin()
        self.timeout = timeout
        self.max_body_size = max_body_size
        self.connection_limit = connection_limit
        self.proxy: Final = proxy
        self._trace_configs: Final = list(trace_configs)
        self._headers: Final = {
            "Authorization": authorization,
            "User-Agent": user_agent,
            "Accept": "application/json",
        }
        self._redactor = redactor if redactor is not None else Redactor(())
        self._session = session
        self._owns_session = session is None
        self._closed = False
        # The loop the session belongs to: a borrowed one's from the start, an owned one's
        # once _open() created it.
        self._loop = None if session is None else _loop_of(session)
        check_borrowed_session(session, self._trace_configs)
        # A borrowed session's defaults must not change what the SDK does: every setting
        # aiohttp lets a request override is set back to what an owned session uses.
        self._borrowed_overrides: Final[dict[str, Any]] = {
            "headers": self._headers,
            "timeout": self.timeout,
            "raise_for_status": False,  # a non-2xx is an ApiError, never a TransportError
            "auto_decompress": True,  # a gzip body is JSON once decompressed
            "read_bufsize": _READ_BUFSIZE,
            "max_line_size": _MAX_LINE_SIZE,  # a small one would fail every response
            "max_field_size": _MAX_FIELD_SIZE,
        }
        if proxy is not None:
            self._borrowed_overrides["proxy"] = proxy  # it wins over the session's own

    @property
    def closed(self) -> bool:
        """True after ``aclose()``."""
        return self._closed

    @property
    def connection_cap(self) -> int:
        """How many requests the connection pool lets run at once (0: no cap)."""
        if self._session is not None and not self._owns_session:
            connector = self._session.connector
            if connector is not None:
                limits = [n for n in (connector.limit, connector.limit_per_host) if n]
                return min(limits) if limits else 0
        return self.connection_limit

    def _session_here(self) -> aiohttp.ClientSession:
        """The session to send through: the one of this loop, opened on first use;
        WrongEventLoopError when it belongs to another loop."""
        session = self._session
        if session is None or self._closed:
            return self._open()
        if asyncio.get_running_loop() is not self._loop and self._loop is not None:
            raise self._wrong_loop()
        return session

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("the client is closed; create a new MediaClient")
        # Created here, inside the running loop, never in __init__ (which may run outside).
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            # One host only, so ``limit`` alone caps the pool; a per-host limit would only
            # add bookkeeping to every acquire.
            connector=CappedConnector(limit=self.connection_limit),
            headers=self._headers,
            timeout=self.timeout,
            cookie_jar=aiohttp.DummyCookieJar(),  # an API client has no use for cookies
            raise_for_status=False,
            # aiohttp sends the URL's credentials as Proxy-Authorization, to the proxy only.
            proxy=self.proxy,
            trace_configs=self._trace_configs or None,
        )
        return self._session

    async def request(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        base_timeout: aiohttp.ClientTimeout | None = None,
        attempt_timeout: float | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> Reply:
        """Send one request; return a 2xx response's body, status and request id.

        ``base_timeout`` replaces the transport's own (a client view's); ``attempt_timeout``
        clips it further (a retry's share of the deadline).  ``on_send`` is called each
        time the request goes out on a connection, which is more than once when aiohttp
        silently resends an idempotent request after a dropped keep-alive connection.  Only
        through an owned session: counting takes a per-request middleware, which replaces
        the session's own, and aiohttp has no public way to read a borrowed session's
        middlewares so as to keep them.  Through a borrowed session ``on_send`` is never
        called, and its middlewares always run.
        """
        session = self._session_here()
        resp: aiohttp.ClientResponse | None
        body: bytes | None
        failure: TwilioMediaError | None
        try:
            # Awaited directly rather than through ``async with``: one context-manager
            # round trip less per request, released in ``finally`` all the same.  The
            # options are no local: through a borrowed session they hold the headers.
            resp = await session.request(
                method, url, **self._options(params, base_timeout, attempt_timeout, on_send)
            )
            try:
                status = resp.status
                if 200 <= status < 300:
                    body = await self._read(resp, self.max_body_size, method, url)
                    return self._reply(body, status, resp.headers)
                failure = await self._api_error(resp, method, url)
            finally:
                resp.release()
        except TwilioMediaError as exc:  # the answer was too large, or not JSON
            failure = exc
        except (TimeoutError, aiohttp.ClientError, OSError, RuntimeError) as exc:
            failure = self._failure(exc, method, url, session)
            if failure is None:
                raise
        # Raised here, outside the handler: aiohttp's exceptions must not stay reachable
        # as __context__ or __cause__, since ClientResponseError's request_info holds the
        # request's headers, Authorization included.  Only their text is kept, redacted.
        # The error's traceback keeps this frame and its locals, so the response (its
        # request_info again) and the raw body are dropped from them, and so are the
        # frames that read it.
        resp = body = None
        raise failure.with_traceback(None)

    async def open_response(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        base_timeout: aiohttp.ClientTimeout | None = None,
        attempt_timeout: float | None = None,
        errors: bool = True,
    ) -> aiohttp.ClientResponse:
        """Send one request with the client's credentials, redirects not followed, and
        return the response unread: the caller reads it (the media link's resolve, or the
        media itself) and must release it.  With ``errors``, a status of 400 or more
        raises its ApiError; failures to get an answer map as in ``request``."""
        session = self._session_here()
        resp: aiohttp.ClientResponse | None
        failure: TwilioMediaError | None
        try:
            # The options are no local: through a borrowed session they hold the headers.
            resp = await session.request(
                method, url, **self._options_with(params, base_timeout, attempt_timeout, headers)
            )
            if not (errors and resp.status >= 400):
                return resp
            try:
                failure = await self._api_error(resp, method, url)
            finally:
                resp.release()
        except (TimeoutError, aiohttp.ClientError, OSError, RuntimeError) as exc:
            failure = self._failure(exc, method, url, session)
            if failure is None:
                raise
        # As in ``request``: raised outside the handler, with neither the response nor the
        # frames that read it reachable from the error's traceback.
        resp = None
        raise failure.with_traceback(None)

    def _options_with(
        self,
        params: Mapping[str, str] | None,
        base_timeout: aiohttp.ClientTimeout | None,
        attempt_timeout: float | None,
        headers: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        """``_options``, with ``headers`` added to the request's own."""
        options = self._options(params, base_timeout, attempt_timeout, None)
        if headers:
            options["headers"] = {**options.get("headers", {}), **headers}
        return options

    def redact_text(self, text: str) -> str:
        """``text`` with every form of the client's credentials replaced."""
        return self._redactor.text(text)

    def _options(
        self,
        params: Mapping[str, str] | None,
        base_timeout: aiohttp.ClientTimeout | None,
        attempt_timeout: float | None,
        on_send: Callable[[], None] | None,
    ) -> dict[str, Any]:
        """The keyword arguments of one ``session.request``."""
        options: dict[str, Any] = {"allow_redirects": False}
        if not self._owns_session:
            options.update(self._borrowed_overrides)
        if attempt_timeout is not None:
            base = self.timeout if base_timeout is None else base_timeout
            options["timeout"] = clip_timeout(base, attempt_timeout)
        elif base_timeout is not None:
            options["timeout"] = base_timeout
        if params:
            options["params"] = params
        if on_send is not None and self._owns_session:
            # An owned session has no middlewares of its own for this one to replace.  Only
            # the requests that ask to be counted pay for it: a fetch never does.
            options["middlewares"] = (_counting(on_send),)
        return options

    async def _api_error(
        self, resp: aiohttp.ClientResponse, method: str, url: URL
    ) -> TwilioMediaError:
        """The ApiError of a non-2xx response, its body excerpted and redacted."""
        headers = resp.headers
        body = await self._read(resp, _ERROR_BODY_CAP, method, url, truncate=True)
        request_id = headers.get(_REQUEST_ID)
        return api_error_from_response(
            resp.status,
            self.redact_body(body),
            reason=self._redactor.shown(resp.reason or ""),
            request_id=None if request_id is None else self._redactor.shown(request_id),
            retry_after=parse_retry_after(headers.get("Retry-After")),
            method=method,
            url=str(url),
            redact=self._redactor.shown,
        )

    def _reply(self, body: bytes, status: int, headers: Mapping[str, str]) -> Reply:
        """A 2xx response's Reply, or ResponseValidationError for a body that is not JSON."""
        content_type = headers.get("Content-Type", "json")
        request_id = headers.get(_REQUEST_ID)
        if request_id is not None:
            # A header that echoes the request's own is not shown either.
            request_id = self._redactor.value(request_id)
        if body and "json" not in content_type:
            # A proxy's HTML page with a 200 is not a recording; say so plainly.
            not_json = ResponseValidationError(
                f"expected a JSON response, got Content-Type {content_type!r}",
                errors=[f"$: content type {content_type!r}"],
                body=self.redact_body(body),
            )
            not_json.request_id = request_id
            raise not_json
        return Reply(body, status, request_id)

    def _failure(
        self, exc: BaseException, method: str, url: URL, session: aiohttp.ClientSession
    ) -> TwilioMediaError | None:
        """Our error for a failure to get an answer; None for one that is not ours to map."""
        where = f"{method} {url}"
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            return RequestTimeoutError(f"{where} timed out", method=method, url=str(url))
        if isinstance(exc, aiohttp.ClientPayloadError):
            return TransportError(
                f"{where}: the response was cut off ({self.describe(exc)})",
                method=method,
                url=str(url),
            )
        if isinstance(exc, RuntimeError):
            # A borrowed session closed by its owner; any other RuntimeError is a bug.
            if not session.closed:
                return None
            return ClientClosedError(f"{where}: the aiohttp session was closed by its owner")
        connect_failed = isinstance(
            exc, aiohttp.ClientConnectorError | ConnectionRefusedError | socket.gaierror
        )
        return TransportError(
            f"{where} failed: {self.describe(exc)}",
            method=method,
            url=str(url),
            connect_failed=connect_failed,
        )

    def _wrong_loop(self) -> WrongEventLoopError:
        # Checked before anything is sent: the session's connections, timers and futures
        # all belong to its own loop, and aiohttp would fail half-way with a bare
        # RuntimeError ("Event loop is closed"), or hang when that loop runs elsewhere.
        loop = self._loop
        state = "has ended" if loop is not None and loop.is_closed() else "is another one"
        whose = "its own aiohttp session" if self._owns_session else "the borrowed aiohttp session"
        return WrongEventLoopError(
            f"this MediaClient was used in another event loop than the one {whose} belongs "
            f"to (that loop {state}): create one MediaClient per event loop, inside it, and "
            "close it (async with, or aclose()) before that loop ends"
        )

    def redact_body(self, body: bytes) -> bytes:
        """``body`` with every form of the client's credential replaced, for error excerpts
        (a misbehaving server may echo the request's headers)."""
        return self._redactor.body(body)

    def describe(self, exc: BaseException) -> str:
        """What went wrong, on one line, redacted and capped: aiohttp quotes the server's
        bytes (a status line, a header line of any length) in its messages."""
        if isinstance(exc, aiohttp.ClientResponseError):
            text = f"{exc.status} {exc.message}"
        elif isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
            text = exc.strerror or str(exc)
        else:
            text = str(exc)
        text = " ".join(self._redactor.shown(text).split())
        text = cap_text(text, _REASON_CHARS)
        # aiohttp's messages can be empty (ServerDisconnectedError()); say what it was.
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    async def _read(
        self,
        resp: aiohttp.ClientResponse,
        cap: int,
        method: str,
        url: URL,
        *,
        truncate: bool = False,
    ) -> bytes:
        length = resp.content_length
        # Content-Length counts the bytes on the wire; a compressed body can expand far
        # past it, so only an uncompressed one is read whole on its word.
        if length is not None and length <= cap and "Content-Encoding" not in resp.headers:
            return await resp.read()
        if length is not None and length > cap and not truncate:
            raise ResponseTooLargeError(
                f"{method} {url}: the response declares {length} bytes, over the "
                f"{cap}-byte cap (max_body_size)"
            )
        # No length (chunked), a compressed body (counted after decompression), or an
        # error body we only want the start of: read up to the cap and stop, never
        # buffering more than cap + one chunk.
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                if truncate:
                    break
                raise ResponseTooLargeError(
                    f"{method} {url}: the response passed the {cap}-byte cap (max_body_size)"
                )
        return b"".join(chunks)[:cap]

    async def aclose(self) -> None:
        """Close an owned session (idempotent); a borrowed session is left open.

        From another event loop than the session's: when that loop has ended, the session
        is only marked closed (aiohttp cannot close its connections any more); when it still
        runs, in another thread, the session is closed there.  When it exists but does not
        run, WrongEventLoopError is raised and the client stays open, to be closed there.
        """
        session = self._session
        owned = session is not None and self._owns_session and not session.closed
        loop, running = self._loop, asyncio.get_running_loop()
        elsewhere = loop is not None and loop is not running and not loop.is_closed()
        if owned and elsewhere and loop is not None and not loop.is_running():
            raise WrongEventLoopError(
                "this MediaClient's session belongs to another event loop, which is not "
                "running: close the client in that loop"
            )
        self._closed = True
        self._session = None
        if not owned or session is None:
            return
        if elsewhere and loop is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(session.close(), loop))
        else:
            await session.close()


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of ``Transport.request``, which a view passes on."""

    params: Mapping[str, str] | None
    base_timeout: aiohttp.ClientTimeout | None
    attempt_timeout: float | None
    on_send: Callable[[], None] | None


class RawRequestOptions(TypedDict, total=False):
    """The keyword arguments of ``Transport.open_response``, which a view passes on."""

    params: Mapping[str, str] | None
    headers: Mapping[str, str] | None
    base_timeout: aiohttp.ClientTimeout | None
    attempt_timeout: float | None
    errors: bool


class TransportView:
    """A parent transport's session under another timeout, for a client view.

    Requests go through the parent (and so through its session, whoever opens it first).
    ``aclose()`` closes the view alone; once the parent is closed, so is the view.
    """

    def __init__(self, parent: Transport | TransportView, timeout: aiohttp.ClientTimeout) -> None:
        self._parent: Final = parent
        self.timeout: Final = timeout
        self._closed = False

    @property
    def closed(self) -> bool:
        """True after this view's ``aclose()``, or once its parent is closed."""
        return self._closed or self._parent.closed

    @property
    def base_url(self) -> URL:
        """The parent's base URL."""
        return self._parent.base_url

    @property
    def origin(self) -> URL:
        """The parent's origin."""
        return self._parent.origin

    @property
    def proxy(self) -> URL | None:
        """The parent's proxy."""
        return self._parent.proxy

    @property
    def connection_cap(self) -> int:
        """The parent's connection cap."""
        return self._parent.connection_cap

    def redact_body(self, body: bytes) -> bytes:
        """See ``Transport.redact_body``."""
        return self._parent.redact_body(body)

    def describe(self, exc: BaseException) -> str:
        """See ``Transport.describe``."""
        return self._parent.describe(exc)

    async def request(self, method: str, url: URL, **options: Unpack[RequestOptions]) -> Reply:
        """See ``Transport.request``; this view's timeout is the base one."""
        if self._closed:
            raise ClientClosedError("this client view is closed; its parent client may not be")
        if options.get("base_timeout") is None:
            options["base_timeout"] = self.timeout
        return await self._parent.request(method, url, **options)

    async def open_response(
        self, method: str, url: URL, **options: Unpack[RawRequestOptions]
    ) -> aiohttp.ClientResponse:
        """See ``Transport.open_response``; this view's timeout is the base one."""
        if self._closed:
            raise ClientClosedError("this client view is closed; its parent client may not be")
        if options.get("base_timeout") is None:
            options["base_timeout"] = self.timeout
        return await self._parent.open_response(method, url, **options)

    def redact_text(self, text: str) -> str:
        """See ``Transport.redact_text``."""
        return self._parent.redact_text(text)

    async def aclose(self) -> None:
        """Close this view only: the parent and its session stay open."""
        self._closed = True


def _loop_of(session: aiohttp.ClientSession) -> asyncio.AbstractEventLoop | None:
    """The event loop a borrowed session belongs to, through its public ``loop``.

    aiohttp 3 deprecates that property without a replacement; the warning is for code
    that drives the loop through the session, which this does not.  Where aiohttp no
    longer has it, the loop is not known and the check is skipped.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loop = getattr(session, "loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def cap_receive_size(transport: object) -> None:
    """Lower ``transport``'s read size to RECEIVE_CAP.

    ``max_size`` is asyncio's selector transport's own, undocumented attribute, so it is
    only ever lowered, and only where it is there and an int: uvloop's transports have
    none (and reuse their buffer anyway), nor do asyncio's TLS transports.
    """
    size = getattr(transport, "max_size", None)
    if type(size) is int and size > RECEIVE_CAP:
        transport.max_size = RECEIVE_CAP  # type: ignore[attr-defined]


class CappedConnector(aiohttp.TCPConnector):
    """The owned session's connector: each connection it hands out reads at most
    RECEIVE_CAP bytes per recv, from its first read on.

    Through aiohttp's public ``BaseConnector.connect`` and ``Connection.transport``; a
    borrowed session's connector is its owner's, and is never changed.
    """

    # aiohttp's own signature, timeout included: it calls this with keywords.
    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109
    ) -> aiohttp.connector.Connection:
        """A connection from the pool or a new one, its read size capped."""
        connection = await super().connect(req, traces, timeout)
        cap_receive_size(connection.transport)
        return connection


def _counting(on_send: Callable[[], None]) -> aiohttp.ClientMiddlewareType:
    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        on_send()
        return await handler(request)

    return middleware
