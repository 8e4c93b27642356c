"""MediaClient: fetch, delete, list and fetch_many over one transport and one retry policy."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
from yarl import URL

from . import _sids
from ._bulk import AIMDLimiter, bounded_map
from ._converter import loads_json, structure_recording
from ._transport import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_BODY_SIZE,
    Transport,
    as_timeout,
    basic_auth_header,
    build_base_url,
    clip_timeout,
)
from .errors import (
    ClientClosedError,
    ForeignPageUrlError,
    InvalidParameterError,
    InvalidSidError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TransportError,
    TwilioMediaError,
)
from .models import FetchResult, MediaRecording, Page, RecordingOrder, RecordingStatus
from .retry import RetryEvent, RetryPolicy

__all__ = ["MediaClient", "fetch_recording"]

_RECORDINGS_PATH: Final = "/v1/MediaRecordings"
_MAX_PAGE_SIZE: Final = 1000
# fetch_many gives an item whose retries ran out on a transient error (429, 5xx, reset,
# timeout) up to this many passes of the RetryPolicy, budget permitting.  With independent
# faults at rate p, one pass of 4 attempts still loses p**4 of the items (16 in 10,000 at
# p = 0.2); three passes lose p**12, and the shared budget still bounds an outage.
_BULK_PASSES: Final = 3

Send = Callable[[float | None], Awaitable[bytes]]


class MediaClient:
    """An asyncio client for the Twilio Media API's MediaRecording resource.

    Use it as an async context manager, or call ``aclose()`` when done:

    ```python
    async with MediaClient(account_sid, auth_token) as client:
        recording = await client.fetch("KV...")
    ```

    Authenticate with the account's auth token, or with an API key and secret (the account
    sid is required either way).  ``base_url`` overrides the host built from ``region`` and
    ``edge``.  ``timeout`` bounds each attempt (seconds, or an ``aiohttp.ClientTimeout``);
    ``retry`` decides what is retried and for how long in all.  Pass ``session`` to share
    your own ``aiohttp.ClientSession``; the client then never closes it.
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
    ) -> None:
        if not isinstance(account_sid, str) or not _sids.ACCOUNT_SID.match(account_sid):
            raise InvalidParameterError(
                "account_sid is required: 'AC' followed by 32 hex digits, got "
                + _shape_of(account_sid)
            )
        if api_key is not None or api_secret is not None:
            if not (api_key and api_secret):
                raise InvalidParameterError("api_key and api_secret must be given together")
            if auth_token is not None:
                raise InvalidParameterError("give either auth_token or api_key/api_secret")
            username, password, self._auth_kind = api_key, api_secret, "api_key"
        elif auth_token:
            username, password, self._auth_kind = account_sid, auth_token, "auth_token"
        else:
            raise InvalidParameterError(
                "missing credentials: give auth_token, or api_key and api_secret"
            )
        if not isinstance(max_body_size, int) or max_body_size < 1:
            raise InvalidParameterError(f"max_body_size must be >= 1, got {max_body_size!r}")
        if not isinstance(connection_limit, int) or connection_limit < 1:
            raise InvalidParameterError(f"connection_limit must be >= 1, got {connection_limit!r}")
        self.account_sid: Final = account_sid
        self.retry: Final = retry if retry is not None else RetryPolicy()
        self._budget = self.retry.new_budget()
        self._transport = Transport(
            base_url=base_url or _base_url(region, edge),
            authorization=basic_auth_header(username, password),
            timeout=_within(as_timeout(timeout), self.retry.deadline),
            session=session,
            max_body_size=max_body_size,
            connection_limit=connection_limit,
        )
        self._recordings_path = f"{self._transport.base_url.raw_path.rstrip('/')}{_RECORDINGS_PATH}"

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build a client from TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_API_KEY,
        TWILIO_API_SECRET, TWILIO_REGION, TWILIO_EDGE and TWILIO_MEDIA_BASE_URL (an API
        origin such as a fake server's, which overrides region and edge); keyword arguments
        win."""
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
        """Close the client and its owned session.  Idempotent; a borrowed session stays open."""
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` was called."""
        return self._transport.closed

    @property
    def base_url(self) -> str:
        """The API origin requests go to."""
        return str(self._transport.base_url)

    def __repr__(self) -> str:
        # The account sid identifies, the token authenticates: only the former, and only
        # partly, is shown.
        sid = self.account_sid
        return (
            f"MediaClient(account_sid='{sid[:6]}...{sid[-4:]}', auth={self._auth_kind!r}, "
            f"base_url={self.base_url!r}, closed={self.closed})"
        )

    # -- fetch and delete ----------------------------------------------------------------

    async def fetch(self, sid: str) -> MediaRecording:
        """Fetch one MediaRecording by sid (``KV`` and 32 hex digits).

        Raises InvalidSidError before any I/O for a bad sid, NotFoundError for an unknown
        one, and the ApiError, TransportError or ResponseValidationError that says what went
        wrong otherwise; every error carries ``.attempts``.
        """
        recording, _ = await self._fetch(_sids.check_recording_sid(sid), None)
        return recording

    async def _fetch(self, sid: str, limiter: AIMDLimiter | None) -> tuple[MediaRecording, int]:
        body, attempts = await self._call("GET", self._recording_url(sid), limiter=limiter)
        try:
            return structure_recording(loads_json(body), body), attempts
        except ResponseValidationError as exc:
            exc.attempts = attempts
            raise

    def _recording_url(self, sid: str) -> URL:
        # with_path on the parsed base skips parsing the whole URL again: about 1 µs a
        # request.  The sid was checked, so it needs no quoting.
        return self._transport.base_url.with_path(f"{self._recordings_path}/{sid}", encoded=True)

    async def delete(self, sid: str) -> None:
        """Delete one MediaRecording.  Returns None on 204; NotFoundError on 404.

        DELETE is idempotent, so it is retried like a fetch.  When an attempt failed in a
        way that may have reached the server (a timeout, a reset, a 5xx, or aiohttp's own
        silent resend on a dropped keep-alive connection) and a later one gets 404, the
        recording was deleted by the earlier one, and this returns None.
        """
        sid = _sids.check_recording_sid(sid)
        url = self._recording_url(sid)
        transport = self._transport
        maybe_deleted = False

        async def send(attempt_timeout: float | None) -> bytes:
            nonlocal maybe_deleted
            sends = 0

            def count() -> None:
                nonlocal sends
                sends += 1

            try:
                return await transport.request(
                    "DELETE", url, attempt_timeout=attempt_timeout, on_send=count
                )
            except NotFoundError:
                if maybe_deleted or sends > 1:
                    return b""
                raise
            except (TransportError, ServerError):
                maybe_deleted = True
                raise

        await self._call("DELETE", url, send=send)

    # -- the retry loop ------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        send: Send | None = None,
        limiter: AIMDLimiter | None = None,
    ) -> tuple[bytes, int]:
        """One call under the retry policy; returns the body and the number of attempts.

        The first attempt is made directly: tenacity is entered only after a retryable
        failure, so a success costs no retry machinery at all.
        """
        transport = self._transport
        started = time.monotonic()
        epoch = limiter.epoch if limiter is not None else 0
        try:
            if send is None:
                body = await transport.request(method, url, params=params)
            else:
                body = await send(None)
        except TwilioMediaError as exc:
            if limiter is not None and isinstance(exc, RateLimitError):
                limiter.rate_limited(epoch)
            if not (exc.retryable and self.retry.enabled) or transport.closed:
                if not isinstance(exc, ClientClosedError):  # that one sent nothing
                    exc.attempts = 1
                raise
            return await self._retry(exc, started, method, url, params, send, limiter)
        if self._budget is not None:
            self._budget.record_success()
        return body, 1

    async def _retry(
        self,
        first_error: TwilioMediaError,
        started: float,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        send: Send | None,
        limiter: AIMDLimiter | None,
    ) -> tuple[bytes, int]:
        policy = self.retry
        transport = self._transport
        per_attempt = transport.timeout.total
        pending: TwilioMediaError | None = first_error
        attempts = 0
        body = b""
        retrying = policy.retrying(
            method=method, url=str(url), started=started, budget=self._budget
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if pending is not None:
                        # Hand the failed first attempt to tenacity as its attempt 1.
                        error, pending = pending, None
                        raise error
                    timeout = policy.attempt_timeout(started, per_attempt)
                    epoch = limiter.epoch if limiter is not None else 0
                    try:
                        if send is None:
                            body = await transport.request(
                                method, url, params=params, attempt_timeout=timeout
                            )
                        else:
                            body = await send(timeout)
                    except RateLimitError:
                        if limiter is not None:
                            limiter.rate_limited(epoch)
                        raise
        except TwilioMediaError as exc:
            exc.attempts = attempts
            raise
        if self._budget is not None:
            self._budget.record_success()
        return body, attempts

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

        Filters are checked before any request.  ``limit`` stops early and never fetches a
        page it does not need; with only ``limit`` given, pages hold ``min(limit, 1000)``.
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

        Save a page's ``next_page_url`` and pass it as ``start_url`` to resume a crawl;
        the filters are then taken from that URL.  A URL of another origin than the
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
            body, attempts = await self._call("GET", url, params=query)
            try:
                page = _parse_page(loads_json(body), body)
            except ResponseValidationError as exc:
                exc.attempts = attempts
                raise
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
        retries become results carrying the error.  Concurrency adapts: a 429 halves it,
        successes grow it back.  An item whose retries ran out on a transient error gets up
        to two more passes of the retry policy while the retry budget lasts, so a flaky
        stretch does not cost results.  ``ordered=True`` yields in input order.  Breaking out,
        ``aclose()`` or cancellation cancels and awaits every request in flight.
        """
        if not _is_int(concurrency) or concurrency < 1:
            raise InvalidParameterError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        cap = self._transport.connection_cap
        # Never more in flight than the pool has connections: aiohttp's timeouts would
        # otherwise count the time spent queueing for one.
        limiter = AIMDLimiter(maximum=min(concurrency, cap) if cap else concurrency)

        def immediate(item: Any) -> FetchResult | None:
            if self._transport.closed:
                raise ClientClosedError("the client was closed during fetch_many")
            try:
                _sids.check_recording_sid(item)
            except InvalidSidError as exc:
                return FetchResult(sid=item, error=exc, attempts=0)
            return None

        async def run(item: Any) -> FetchResult:
            attempts = 0
            try:
                # The checked sid, a plain str: a str subclass or str-valued enum could
                # format differently in the URL than its value.
                sid = _sids.check_recording_sid(item)
                for pass_no in range(1, _BULK_PASSES + 1):
                    try:
                        recording, used = await self._fetch(sid, limiter)
                    except TwilioMediaError as exc:
                        attempts += exc.attempts
                        wait = self._another_pass(exc, attempts, pass_no, sid)
                        if wait is not None:
                            await self.retry.sleep(wait)
                            continue
                        exc.attempts = attempts
                        return FetchResult(sid=item, error=exc, attempts=attempts)
                    limiter.succeeded()
                    return FetchResult(sid=item, recording=recording, attempts=attempts + used)
                raise AssertionError("unreachable: the last pass always returns")
            except Exception as exc:  # never lose a result, even to a bug: report it
                error = TwilioMediaError(f"unexpected error: {exc!r}", attempts=attempts)
                error.__cause__ = exc
                return FetchResult(sid=item, error=error, attempts=attempts)

        return bounded_map(sids, run=run, immediate=immediate, limiter=limiter, ordered=ordered)

    def _another_pass(
        self, error: TwilioMediaError, attempts: int, pass_no: int, sid: str
    ) -> float | None:
        """The wait before another bulk pass for ``sid``, or None: no pass is left, the
        error is not transient, or the retry budget is empty (then nothing is spent)."""
        if pass_no >= _BULK_PASSES:
            return None
        wait = self.retry.another_pass_wait(error, attempts)
        if wait is None:
            return None
        if self._budget is not None:
            if not self._budget.can_retry():
                return None
            self._budget.spend()
        url = str(self._recording_url(sid))
        self.retry.announce(
            RetryEvent(attempt=attempts, wait=wait, error=error, method="GET", url=url)
        )
        return wait

    async def fetch_all(
        self,
        sids: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 64,
        ordered: bool = True,
    ) -> builtins.list[FetchResult]:
        """Collect ``fetch_many`` into a list of FetchResult, one per input item (in input
        order by default), for small jobs."""
        return [r async for r in self.fetch_many(sids, concurrency=concurrency, ordered=ordered)]


async def fetch_recording(sid: str, **client_kwargs: Any) -> MediaRecording:
    """Fetch one recording with a short-lived client, for scripts.

    Credentials come from ``client_kwargs`` or, when none are given, from the environment
    (see ``MediaClient.from_env``).
    """
    client = (
        MediaClient(**client_kwargs)
        if "account_sid" in client_kwargs
        else MediaClient.from_env(**client_kwargs)
    )
    async with client:
        return await client.fetch(sid)


def _within(timeout: aiohttp.ClientTimeout, deadline: float) -> aiohttp.ClientTimeout:
    """Clip a per-attempt timeout to the retry deadline, which spans every attempt."""
    return clip_timeout(timeout, deadline) if deadline > 0 else timeout


def _shape_of(value: object) -> str:
    """Describe a rejected credential-like value without echoing it: it may be a token
    passed in the wrong place."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        prefix = "'AC'" if value.startswith("AC") else "no 'AC' prefix"
        return f"a str of {len(value)} characters with {prefix}"
    return f"a {type(value).__name__}"


def _base_url(region: str | None, edge: str | None) -> str:
    return build_base_url(region, edge) if (region or edge) else DEFAULT_BASE_URL


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    next_url = next_url if isinstance(next_url, str) and next_url else None
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
