"""MediaClient: fetch, delete, list and fetch_many over one transport and one retry policy."""

from __future__ import annotations

import asyncio
import builtins
import math
import os
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
import attrs
from yarl import URL

from . import _proxy, _sids
from ._api import MAX_PAGE_SIZE as _MAX_PAGE_SIZE
from ._api import RECORDINGS_PATH as _RECORDINGS_PATH
from ._bulk import bounded_map
from ._converter import loads_json, structure_recording
from ._credentials import ENVIRONMENT, check_credentials
from ._engine import RetryEngine
from ._limiter import Lane, RequestGate, RunSlots
from ._numbers import is_int as _is_int
from ._numbers import is_number
from ._redact import Redactor
from ._transport import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_BODY_SIZE,
    Reply,
    Transport,
    TransportView,
    as_timeout,
    basic_auth_header,
    build_base_url,
    clip_timeout,
    user_agent,
)
from .errors import (
    ClientClosedError,
    ForeignPageUrlError,
    InvalidParameterError,
    InvalidSidError,
    NotFoundError,
    ResponseValidationError,
    ServerError,
    TransportError,
    TwilioMediaError,
    WaitTimeoutError,
)
from .models import (
    DeleteResult,
    FetchResult,
    MediaRecording,
    Page,
    RecordingOrder,
    RecordingStatus,
)
from .retry import RetryPolicy

__all__ = ["MediaClient", "fetch_recording"]

_CREDENTIAL_FIELDS: Final = ("account_sid", "auth_token", "api_key", "api_secret")
# The congestion control's ceiling when the connection pool sets none (a borrowed session
# with an unlimited connector): each run's own ``concurrency`` still bounds it.
_UNCAPPED_REQUESTS: Final = 1024
# wait_for_completion's interval grows by half after each poll, up to four times the
# poll_interval asked for: gentle on a recording that takes long, and a completion is still
# seen within 4 x poll_interval.
POLL_BACKOFF: Final = 1.5
POLL_MAX_FACTOR: Final = 4.0


class MediaClient:
    """An asyncio client for the Twilio Media API's MediaRecording resource.

    Use it as an async context manager, or call ``aclose()`` when done:

    ```python
    async with MediaClient(account_sid, auth_token) as client:
        recording = await client.fetch("KV...")
    ```

    Authenticate with the account's auth token, or with an API key and secret (the account
    sid is required either way).  ``with_options()`` gives a view with another timeout or
    retry policy.

    Args:
        account_sid: The account sid (``AC`` and 32 hex digits).
        auth_token: The account's auth token; or give ``api_key`` and ``api_secret``.
        api_key: An API key's sid (``SK...``), with ``api_secret``.
        api_secret: The API key's secret.
        region: A Twilio region such as ``ie1``: the host becomes
            ``media.{region}.twilio.com``.
        edge: A Twilio edge such as ``dublin`` (region ``us1`` unless one is given).
        base_url: The API origin, such as a fake server's ``http://127.0.0.1:8080``; it
            overrides ``region`` and ``edge``.
        session: Your own ``aiohttp.ClientSession`` to share, borrowed: the client never
            closes it, and sets back on each request the defaults that would change what
            it does.
        retry: What is retried, and for how long in all (``RetryPolicy()`` by default).
        timeout: Bounds each attempt: seconds, or an ``aiohttp.ClientTimeout`` (10 s in
            all, 5 s to connect, by default); clipped to ``retry.deadline``.
        max_body_size: The most bytes of a response body read; a larger one raises
            ResponseTooLargeError.  16 MiB by default.
        connection_limit: The size of the client's own connection pool, which also
            bounds the bulk methods' requests in flight (a borrowed session's connector
            sets its own).  100 by default.
        proxy: An HTTP proxy for every request; its credentials may be in the URL, and
            are never shown.
        trust_env: Without ``proxy``, let the client's own session take ``HTTPS_PROXY``
            or ``HTTP_PROXY`` (by the base URL's scheme) and ``NO_PROXY`` from the
            environment, once, when the client is built.  True by default.
        trace_configs: aiohttp trace configs for the client's own session
            (OpenTelemetry's among them).
        user_agent_extra: Appended to the User-Agent header, such as
            ``acme-archiver/2.1``.
    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        region: str | None = None,
        edge: str | None = None,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | aiohttp.ClientTimeout | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        connection_limit: int = 100,
        proxy: str | None = None,
        trust_env: bool = True,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        user_agent_extra: str | None = None,
    ) -> None:
        checked = check_credentials(account_sid, auth_token, api_key, api_secret)
        self._auth_kind = checked.kind
        if not isinstance(max_body_size, int) or max_body_size < 1:
            raise InvalidParameterError(f"max_body_size must be >= 1, got {max_body_size!r}")
        if not isinstance(connection_limit, int) or connection_limit < 1:
            raise InvalidParameterError(f"connection_limit must be >= 1, got {connection_limit!r}")
        self.account_sid: Final = checked.account_sid
        """The account sid the client was built with."""
        self.retry: Final = retry if retry is not None else RetryPolicy()
        """The retry policy every call follows."""
        self._requested_timeout = as_timeout(timeout)
        origin = _base_url(region, edge) if base_url is None else base_url
        proxy_url = _proxy_for(proxy, origin, from_env=trust_env and session is None)
        credentials = [(checked.username, checked.password)]
        if proxy_url is not None:
            credentials += _proxy.secrets(proxy_url)
        transport = Transport(
            base_url=origin,
            authorization=basic_auth_header(checked.username, checked.password),
            timeout=_within(self._requested_timeout, self.retry.deadline),
            session=session,
            max_body_size=max_body_size,
            connection_limit=connection_limit,
            redactor=Redactor.for_credentials(credentials),
            user_agent=user_agent(user_agent_extra),
            proxy=proxy_url,
            trace_configs=_trace_configs(trace_configs),
        )
        self._transport: Transport | TransportView = transport
        self._recordings_path = f"{transport.base_url.raw_path.rstrip('/')}{_RECORDINGS_PATH}"
        self._engine = RetryEngine(self.retry, transport)
        # One limiter for every bulk run of this client: they draw on one account.
        self._limiter = RequestGate(maximum=transport.connection_cap or _UNCAPPED_REQUESTS)
        self._is_view = False

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build a client from TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_API_KEY,
        TWILIO_API_SECRET, TWILIO_REGION, TWILIO_EDGE and TWILIO_MEDIA_BASE_URL (an API
        origin such as a fake server's, which overrides region and edge); keyword arguments
        win.

        A missing or malformed value is reported under the name it came from: the
        environment variable, or the keyword argument that overrode it.

        Args:
            **overrides: Any argument of ``MediaClient()``; each wins over its variable.
        """
        env = os.environ
        kwargs: dict[str, Any] = {
            "account_sid": env.get("TWILIO_ACCOUNT_SID"),
            "region": env.get("TWILIO_REGION") or None,
            "edge": env.get("TWILIO_EDGE") or None,
            "base_url": env.get("TWILIO_MEDIA_BASE_URL") or None,
        }
        if env.get("TWILIO_API_KEY") or env.get("TWILIO_API_SECRET"):
            kwargs["api_key"] = env.get("TWILIO_API_KEY")
            kwargs["api_secret"] = env.get("TWILIO_API_SECRET")
        else:
            kwargs["auth_token"] = env.get("TWILIO_AUTH_TOKEN")
        kwargs.update(overrides)
        names = attrs.evolve(
            ENVIRONMENT,
            **{field: field for field in _CREDENTIAL_FIELDS if field in overrides},
        )
        check_credentials(
            kwargs.get("account_sid"),
            kwargs.get("auth_token"),
            kwargs.get("api_key"),
            kwargs.get("api_secret"),
            names=names,
        )
        return cls(**kwargs)

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._transport.closed:
            raise ClientClosedError("the client is closed; create a new MediaClient")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and its owned session.  Idempotent; a borrowed session stays open.

        Closing a view (``with_options``) closes only the view.
        """
        if not self._is_view:  # the limiter is the parent's, shared with its other views
            self._limiter.close()
        await self._transport.aclose()

    def with_options(
        self,
        *,
        timeout: float | aiohttp.ClientTimeout | None = None,
        retry: RetryPolicy | None = None,
    ) -> MediaClient:
        """A view of this client with another per-attempt ``timeout`` or ``retry`` policy.

        The view shares this client's session, connection pool, proxy, retry budget and
        bulk limiter: it is cheap, and meant to be made per call site
        (``client.with_options(timeout=2.0).fetch(sid)``).  What it is not given, it takes
        from this client.  The budget stays the client's: a view's ``retry`` policy decides
        attempts, waits and deadline, not the size of the budget.  Closing the view leaves
        this client open; closing this client closes its views too.

        Args:
            timeout: The view's per-attempt timeout, as ``MediaClient(timeout=...)``.
            retry: The view's retry policy.
        """
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidParameterError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        policy = self.retry if retry is None else retry
        requested = self._requested_timeout if timeout is None else as_timeout(timeout)
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.retry = policy  # type: ignore[misc]  # Final for users; a view is built here
        view._requested_timeout = requested
        view._transport = TransportView(self._transport, _within(requested, policy.deadline))
        view._engine = RetryEngine(policy, view._transport)
        view._engine.budget = self._engine.budget  # one budget per client, views included
        view._is_view = True
        return view

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` was called."""
        return self._transport.closed

    @property
    def base_url(self) -> str:
        """The API origin requests go to."""
        return str(self._transport.base_url)

    @property
    def proxy(self) -> str | None:
        """The proxy requests go through, without its credentials; None when there is
        none (or a borrowed session picks its own)."""
        proxy = self._transport.proxy
        return None if proxy is None else _proxy.display(proxy)

    def __repr__(self) -> str:
        # The account sid identifies, the token authenticates: only the former, and only
        # partly, is shown.  The proxy's credentials are not shown either.
        sid = self.account_sid
        proxy = self.proxy
        return (
            f"MediaClient(account_sid='{sid[:6]}...{sid[-4:]}', auth={self._auth_kind!r}, "
            f"base_url={self.base_url!r}, "
            + (f"proxy={proxy!r}, " if proxy is not None else "")
            + ("view=True, " if self._is_view else "")
            + f"closed={self.closed})"
        )

    # -- fetch and delete ----------------------------------------------------------------

    async def fetch(self, sid: str) -> MediaRecording:
        """Fetch one MediaRecording by sid (``KV`` and 32 hex digits).

        Raises InvalidSidError before any I/O for a bad sid, NotFoundError for an unknown
        one, and the ApiError, TransportError or ResponseValidationError that says what went
        wrong otherwise; every error carries ``.attempts``.

        Args:
            sid: The recording's sid.
        """
        recording, _, _ = await self._fetch(_sids.check_recording_sid(sid))
        return recording

    async def _fetch(
        self, sid: str, lane: Lane | None = None, held: int | None = None
    ) -> tuple[MediaRecording, int, str | None]:
        url = self._recording_url(sid)
        body, attempts, request_id = await self._engine.call("GET", url, lane=lane, held=held)
        try:
            return structure_recording(loads_json(body), body), attempts, request_id
        except ResponseValidationError as exc:
            error = exc
        # Raised outside the handler, so the unredacted error is not its __context__.
        error = self._redacted_parse_error(error, body, structure_recording)
        error.attempts = attempts
        error.request_id = request_id
        raise error

    def _redacted_parse_error(
        self, error: ResponseValidationError, body: bytes, parse: Callable[[Any, bytes], object]
    ) -> ResponseValidationError:
        """``error``, or when ``body`` holds the credential (a server echoing the request's
        headers), the error that parsing the redacted body gives: its field errors and
        excerpt then show no secret, not even cut short.  Only failed parses pay for this."""
        clean = self._transport.redact_body(body)
        if clean == body:
            return error
        try:
            parse(loads_json(clean), clean)
        except ResponseValidationError as redacted:
            return redacted
        return ResponseValidationError(
            "response is not valid", errors=["$: (details withheld: they quote a credential)"]
        )

    def _recording_url(self, sid: str) -> URL:
        # with_path on the parsed base skips parsing the whole URL again, on every request
        # (docs/performance.md).  The sid was checked, so it needs no quoting.
        return self._transport.base_url.with_path(f"{self._recordings_path}/{sid}", encoded=True)

    async def delete(self, sid: str) -> None:
        """Delete one MediaRecording.  Returns None on 204; NotFoundError on 404.

        DELETE is idempotent, so it is retried like a fetch.  When an attempt failed in a
        way that may have reached the server (a timeout, a reset, a 5xx, or aiohttp's own
        silent resend on a dropped keep-alive connection) and a later one gets 404, the
        recording was deleted by the earlier one, and this returns None.  (aiohttp's resend
        is noticed only through a session the client owns: see the docs on DELETE.)

        Args:
            sid: The recording's sid.
        """
        await self._delete(_sids.check_recording_sid(sid))

    async def _delete(
        self, sid: str, lane: Lane | None = None, held: int | None = None
    ) -> tuple[int, str | None]:
        """Delete a checked sid under the idempotent DELETE rule; return the attempts and
        the request id of the answer that decided it."""
        url = self._recording_url(sid)
        transport = self._transport
        maybe_deleted = False

        async def send(attempt_timeout: float | None) -> Reply:
            nonlocal maybe_deleted
            sends = 0

            def count() -> None:
                nonlocal sends
                sends += 1

            try:
                return await transport.request(
                    "DELETE", url, attempt_timeout=attempt_timeout, on_send=count
                )
            except NotFoundError as exc:
                # An earlier attempt, or aiohttp's own resend of this one, may have been
                # carried out: the recording is gone either way.
                if maybe_deleted or sends > 1:
                    return b"", exc.status, exc.request_id
                raise
            except (TransportError, ServerError):
                maybe_deleted = True
                raise

        _, attempts, request_id = await self._engine.call(
            "DELETE", url, send=send, lane=lane, held=held
        )
        return attempts, request_id

    # The signature is pinned public API: ``timeout`` is the wait's own, as in asyncio.wait_for.
    async def wait_for_completion(
        self,
        sid: str,
        *,
        timeout: float = 600.0,  # noqa: ASYNC109
        poll_interval: float = 5.0,
    ) -> MediaRecording:
        """Poll a recording until its status is no longer ``processing``; return it.

        Each poll is a fetch, with its retries.  The interval starts at ``poll_interval``
        seconds and grows by half after each poll, up to four times ``poll_interval``.  A
        poll that fails in a way worth retrying (a 429, a 5xx, a timeout or a connection
        error, once the retry policy gave up on it) does not end the wait; any other error
        (NotFoundError, AuthenticationError...) is raised at once.  When ``timeout``
        seconds have passed since the call, WaitTimeoutError (a TimeoutError) is raised,
        even in the middle of a poll.

        Args:
            sid: The recording's sid.
            timeout: Seconds to wait in all, polls included; finite.
            poll_interval: Seconds between the first polls.
        """
        sid = _sids.check_recording_sid(sid)
        _check_seconds("timeout", timeout, finite=True)
        _check_seconds("poll_interval", poll_interval, finite=False)
        recording: MediaRecording | None = None
        last_error: TwilioMediaError | None = None
        attempts = polls = 0
        interval = float(poll_interval)
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                while True:
                    polls += 1
                    try:
                        recording, used, _ = await self._fetch(sid)
                    except TwilioMediaError as exc:
                        attempts += exc.attempts
                        if not exc.retryable:
                            raise
                        last_error = exc
                    else:
                        attempts += used
                        last_error = None
                        if recording.status != RecordingStatus.PROCESSING:
                            return recording
                    # Never longer than the timeout: the scope ends the wait by then anyway.
                    await asyncio.sleep(min(interval, timeout))
                    interval = next_poll_interval(interval, poll_interval)
        except TimeoutError:
            if not scope.expired():
                raise
        # Raised outside the handler: the cancellation that ended the poll is no context.
        seen = "no poll got an answer" if recording is None else f"status {recording.status!s}"
        failed = f"; the last poll failed: {last_error.message}" if last_error is not None else ""
        raise WaitTimeoutError(
            f"recording {sid} still not done after {timeout:g} s and {polls} poll(s) "
            f"({seen}){failed}",
            sid=sid,
            timeout=float(timeout),
            recording=recording,
            last_error=last_error,
            attempts=attempts,
        )

    # -- list and pages ------------------------------------------------------------------

    async def list(
        self,
        *,
        status: RecordingStatus | str | None = None,
        source_sid: str | None = None,
        processor_sid: str | None = None,
        order: RecordingOrder | str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> AsyncGenerator[MediaRecording, None]:
        """Iterate over MediaRecordings across pages, fetched lazily.

        Filters are checked before any request.

        Args:
            status: Only recordings with this status.
            source_sid: Only recordings of this source (two letters and 32 hex digits).
            processor_sid: Only recordings of this MediaProcessor (``ZX`` and 32 hex).
            order: ``"asc"`` or ``"desc"`` (the API's default) by ``date_created``.
            page_size: Recordings per page, from 1 to 1000.
            limit: Stop after this many recordings, never fetching a page not needed;
                with only ``limit`` given, pages hold ``min(limit, 1000)``.
        """
        if limit is not None and (not _is_int(limit) or limit < 0):
            raise InvalidParameterError(f"limit must be an integer >= 0, got {limit!r}")
        if page_size is None and limit is not None:
            page_size = max(1, min(limit, _MAX_PAGE_SIZE))
        params = _list_params(status, source_sid, processor_sid, order, page_size)
        if limit == 0:
            return
        count = 0
        async for page in self._pages(params, None):
            for recording in page.items:
                yield recording
                count += 1
                if limit is not None and count >= limit:
                    return

    def pages(
        self,
        *,
        status: RecordingStatus | str | None = None,
        source_sid: str | None = None,
        processor_sid: str | None = None,
        order: RecordingOrder | str | None = None,
        page_size: int | None = None,
        start_url: str | None = None,
    ) -> AsyncGenerator[Page, None]:
        """Iterate over pages of MediaRecordings, each with its ``next_page_url``.

        Save a page's ``next_page_url`` and pass it as ``start_url`` to resume a crawl.

        Args:
            status: Only recordings with this status.
            source_sid: Only recordings of this source (two letters and 32 hex digits).
            processor_sid: Only recordings of this MediaProcessor (``ZX`` and 32 hex).
            order: ``"asc"`` or ``"desc"`` (the API's default) by ``date_created``.
            page_size: Recordings per page, from 1 to 1000.
            start_url: A ``next_page_url`` saved from an earlier crawl: the crawl resumes
                there, with the filters in that URL.  A URL of another origin than the
                client's is refused before anything is sent to it.
        """
        params = _list_params(status, source_sid, processor_sid, order, page_size)
        if start_url is not None:
            self._check_same_origin(start_url)
        return self._pages(params, start_url)

    async def _pages(
        self, params: Mapping[str, str], start_url: str | None
    ) -> AsyncGenerator[Page, None]:
        url: URL
        if start_url is None:
            url = self._transport.base_url.with_path(self._recordings_path, encoded=True)
            query = params
        else:
            url, query = self._check_same_origin(start_url), None
        while True:
            body, attempts, request_id = await self._engine.call("GET", url, params=query)
            try:
                page = _parse_page(loads_json(body), body)
            except ResponseValidationError as exc:
                error: ResponseValidationError | None = exc
            else:
                error = None
            if error is not None:  # raised outside the handler, as in _fetch
                error = self._redacted_parse_error(error, body, _parse_page)
                error.attempts = attempts
                error.request_id = request_id
                raise error
            yield page
            if not page.next_page_url:
                return
            url, query = self._check_same_origin(page.next_page_url), None

    def _check_same_origin(self, page_url: str) -> URL:
        base = self._transport.base_url
        try:
            url = URL(page_url)
            # .port fills in the scheme's default, so https://host and https://host:443
            # are one origin; a URL with userinfo never is (aiohttp would refuse it anyway).
            same = (
                url.is_absolute()
                and (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)
                and url.user is None
                and url.password is None
            )
        except (TypeError, ValueError):
            same = False
        if not same:
            raise ForeignPageUrlError(
                f"refusing to follow page URL {_sids.describe(page_url)}: it does not share "
                f"the client's origin {self._transport.origin}, and following it would send "
                "the credentials there"
            )
        return url

    # -- bulk ----------------------------------------------------------------------------

    def fetch_many(
        self,
        sids: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 64,
        ordered: bool = False,
    ) -> AsyncGenerator[FetchResult, None]:
        """Fetch many recordings concurrently; yield exactly one FetchResult per input item.

        The input (any iterable or async iterable) is read lazily, so memory is bounded by
        ``concurrency``, not by the input's length.  Invalid sids, 404s and exhausted
        retries become results carrying the error.

        ``concurrency`` bounds the requests in flight.  An item waiting out a backoff holds
        no request slot, and the items in progress have their own bound (four per slot).
        The client's limiter adapts the requests in flight to congestion: a sustained share
        of 429s shrinks it quickly, scattered ones do not, and a 429 with ``Retry-After``
        pauses the run's new requests until it passes.  Each item follows the retry policy
        as a single fetch does: at most ``max_attempts`` requests within ``deadline``
        seconds of its first one.  Breaking out, ``aclose()`` or cancellation cancels and
        awaits every request in flight.

        Args:
            sids: The sids, as any iterable or async iterable; each item gets its result,
                even one that is not a sid at all.
            concurrency: The most requests in flight (at most the connection pool's size).
            ordered: Yield in input order (within a bounded window) instead of as
                completed.
        """
        lane = self._bulk_lane(concurrency)

        def immediate(item: Any) -> FetchResult | None:
            if self._transport.closed:
                raise ClientClosedError("the client was closed during fetch_many")
            try:
                _sids.check_recording_sid(item)
            except InvalidSidError as exc:
                return FetchResult(sid=item, error=exc, attempts=0)
            return None

        async def run(item: Any, epoch: int) -> FetchResult:
            try:
                # The checked sid, a plain str: a str subclass or str-valued enum could
                # format differently in the URL than its value.
                sid = _sids.check_recording_sid(item)
                recording, attempts, request_id = await self._fetch(sid, lane, epoch)
            except TwilioMediaError as exc:
                return FetchResult(
                    sid=item, error=exc, attempts=exc.attempts, request_id=exc.request_id
                )
            except Exception as exc:  # never lose a result, even to a bug: report it
                return FetchResult(sid=item, error=self._unexpected(exc), attempts=0)
            return FetchResult(
                sid=item, recording=recording, attempts=attempts, request_id=request_id
            )

        return bounded_map(sids, run=run, immediate=immediate, lane=lane, ordered=ordered)

    def delete_many(
        self,
        sids: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 32,
        ordered: bool = False,
    ) -> AsyncGenerator[DeleteResult, None]:
        """Delete many recordings concurrently; yield exactly one DeleteResult per input item.

        It runs as ``fetch_many`` does (a lazy input, memory bounded by ``concurrency``,
        the client's adaptive limiter, one retry policy per item, ``ordered``, clean
        cancellation), and each delete follows ``delete``'s idempotent DELETE rule: a
        404 after an attempt that may have reached the server is an ok result, a 404 for
        a sid that never existed is a ``NotFoundError`` result.  Invalid sids and
        exhausted retries are results too, never exceptions.

        Args:
            sids: The sids, as any iterable or async iterable; each item gets its result.
            concurrency: The most requests in flight (at most the connection pool's size).
            ordered: Yield in input order (within a bounded window) instead of as
                completed.
        """
        lane = self._bulk_lane(concurrency)

        def immediate(item: Any) -> DeleteResult | None:
            if self._transport.closed:
                raise ClientClosedError("the client was closed during delete_many")
            try:
                _sids.check_recording_sid(item)
            except InvalidSidError as exc:
                return DeleteResult(sid=item, error=exc, attempts=0)
            return None

        async def run(item: Any, epoch: int) -> DeleteResult:
            try:
                sid = _sids.check_recording_sid(item)
                attempts, request_id = await self._delete(sid, lane, epoch)
            except TwilioMediaError as exc:
                return DeleteResult(
                    sid=item, error=exc, attempts=exc.attempts, request_id=exc.request_id
                )
            except Exception as exc:  # never lose a result, even to a bug: report it
                return DeleteResult(sid=item, error=self._unexpected(exc), attempts=0)
            return DeleteResult(sid=item, attempts=attempts, request_id=request_id)

        return bounded_map(sids, run=run, immediate=immediate, lane=lane, ordered=ordered)

    def _bulk_lane(self, concurrency: int) -> Lane:
        """A bulk run's lane: the client's request gate, and the run's own cap."""
        if not _is_int(concurrency) or concurrency < 1:
            raise InvalidParameterError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        cap = self._transport.connection_cap
        # Never more in flight than the pool has connections: aiohttp's timeouts would
        # otherwise count the time spent queueing for one.
        concurrency = min(concurrency, cap) if cap else concurrency
        return Lane(self._limiter, RunSlots(cap=concurrency))

    def _unexpected(self, exc: Exception) -> TwilioMediaError:
        # Described, not chained: an exception from inside aiohttp may hold the request's
        # headers, and nothing reachable from our errors may.
        return TwilioMediaError(f"unexpected error: {self._transport.describe(exc)}")

    async def fetch_all(
        self,
        sids: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 64,
        ordered: bool = True,
    ) -> builtins.list[FetchResult]:
        """Collect ``fetch_many`` into a list of FetchResult, one per input item, for small
        jobs.

        Args:
            sids: The sids, as any iterable or async iterable.
            concurrency: The most requests in flight.
            ordered: Keep the input order (the default here).
        """
        return [r async for r in self.fetch_many(sids, concurrency=concurrency, ordered=ordered)]


async def fetch_recording(sid: str, **client_kwargs: Any) -> MediaRecording:
    """Fetch one recording with a short-lived client, for scripts.

    Args:
        sid: The recording's sid.
        **client_kwargs: Arguments of ``MediaClient()``.  Without ``account_sid``, the
            client comes from ``MediaClient.from_env(**client_kwargs)``.
    """
    client = (
        MediaClient(**client_kwargs)
        if "account_sid" in client_kwargs
        else MediaClient.from_env(**client_kwargs)
    )
    async with client:
        return await client.fetch(sid)


def next_poll_interval(interval: float, poll_interval: float) -> float:
    """The wait before the next poll of ``wait_for_completion``: half as long again as the
    last one, up to ``POLL_MAX_FACTOR`` times the ``poll_interval`` asked for."""
    return min(interval * POLL_BACKOFF, poll_interval * POLL_MAX_FACTOR)


def _check_seconds(name: str, value: object, *, finite: bool) -> None:
    """A number of seconds above 0 (NaN never is; infinity only when not ``finite``)."""
    if not is_number(value) or math.isnan(value) or value <= 0 or (finite and math.isinf(value)):
        what = "a finite number" if finite else "a number"
        raise InvalidParameterError(f"{name} must be {what} of seconds > 0, got {value!r:.40}")


def _proxy_for(proxy: object, origin: object, *, from_env: bool) -> URL | None:
    """The proxy a client's requests go through: ``proxy`` when given; else, when
    ``from_env``, the environment's for the origin's scheme.  (A borrowed session's own
    ``trust_env`` decides for it.)"""
    if proxy is not None:
        return _proxy.parse_proxy(proxy)
    if not from_env:
        return None
    try:
        target = URL(origin) if isinstance(origin, str) else None
    except (TypeError, ValueError):
        target = None
    if target is None or target.scheme not in ("http", "https"):
        return None  # the transport reports the bad base URL
    found = _proxy.environment_proxy(target)
    return None if found is None else found[0]


def _trace_configs(value: object) -> list[aiohttp.TraceConfig]:
    if value is None:
        return []
    if isinstance(value, list | tuple) and all(isinstance(t, aiohttp.TraceConfig) for t in value):
        return list(value)
    raise InvalidParameterError(
        f"trace_configs must be a list of aiohttp.TraceConfig, got {type(value).__name__}"
    )


def _within(timeout: aiohttp.ClientTimeout, deadline: float) -> aiohttp.ClientTimeout:
    """Clip a per-attempt timeout to the retry deadline, which spans every attempt."""
    return clip_timeout(timeout, deadline) if deadline > 0 else timeout


def _base_url(region: str | None, edge: str | None) -> str:
    return build_base_url(region, edge) if (region or edge) else DEFAULT_BASE_URL


def _list_params(
    status: RecordingStatus | str | None,
    source_sid: str | None,
    processor_sid: str | None,
    order: RecordingOrder | str | None,
    page_size: int | None,
) -> dict[str, str]:
    """Check the list filters (before any I/O) and turn them into query parameters."""
    params: dict[str, str] = {}
    if status is not None:
        known = {s.value for s in RecordingStatus}
        if not isinstance(status, str) or str.__str__(status) not in known:
            raise InvalidParameterError(
                f"invalid status {_sids.describe(status)}: expected one of {sorted(known)}"
            )
        params["Status"] = str.__str__(status)
    if source_sid is not None:
        params["SourceSid"] = _sids.check_source_sid(source_sid)
    if processor_sid is not None:
        params["ProcessorSid"] = _sids.check_processor_sid(processor_sid)
    if order is not None:
        if not isinstance(order, str) or str.__str__(order) not in ("asc", "desc"):
            raise InvalidParameterError(
                f"invalid order {_sids.describe(order)}: expected 'asc' or 'desc'"
            )
        params["Order"] = str.__str__(order)
    if page_size is not None:
        if not _is_int(page_size) or not 1 <= page_size <= _MAX_PAGE_SIZE:
            raise InvalidParameterError(
                f"page_size must be an integer from 1 to {_MAX_PAGE_SIZE}, got {page_size!r}"
            )
        params["PageSize"] = str(page_size)
    return params


def _parse_page(data: Any, body: bytes) -> Page:
    """A list response: ``{"media_recordings": [...], "meta": {...}}``."""
    if type(data) is not dict or type(data.get("media_recordings")) is not list:
        raise ResponseValidationError(
            "response is not a page of MediaRecordings",
            errors=["$.media_recordings: expected an array"],
            body=body,
        )
    items = []
    for index, item in enumerate(data["media_recordings"]):
        try:
            items.append(structure_recording(item))
        except ResponseValidationError as exc:
            raise ResponseValidationError(
                "response is not a page of MediaRecordings",
                errors=[e.replace("$", f"$.media_recordings[{index}]", 1) for e in exc.errors],
                body=body,
            ) from None
    meta = data.get("meta")
    meta = meta if type(meta) is dict else {}
    next_url = meta.get("next_page_url")
    if next_url is not None and type(next_url) is not str:
        # Treating it as "no next page" would end the list silently, losing the rest.
        kinds = {bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}
        kind = kinds.get(type(next_url), type(next_url).__name__)
        raise ResponseValidationError(
            "response is not a page of MediaRecordings",
            errors=[f"$.meta.next_page_url: expected a string or null, got {kind}"],
            body=body,
        )
    next_url = next_url or None
    try:
        token = URL(next_url).query.get("PageToken") if next_url else None
    except ValueError:  # a malformed URL: the page is still good, following it is refused
        token = None
    return Page(
        items=tuple(items),
        next_page_url=next_url,
        page_token=token,
        url=meta.get("url") if isinstance(meta.get("url"), str) else None,
        page=meta.get("page") if _is_int(meta.get("page")) else None,
        page_size=meta.get("page_size") if _is_int(meta.get("page_size")) else None,
    )
