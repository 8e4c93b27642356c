"""MediaClient: fetch, delete, list and fetch_many over one transport and one retry policy."""

from __future__ import annotations

import builtins
import os
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TypedDict, TypeVar, Unpack

import aiohttp
from yarl import URL

from . import _proxy, _sids
from ._api import RECORDINGS_PATH as _RECORDINGS_PATH
from ._archive import Archive, MediaStream, Storage, as_path
from ._archive import media_url as _media_url
from ._archive_many import download_many as _download_many
from ._bulk import BulkMethod, SidInput, bulk_lane, run_bulk
from ._cloud import destination as _destination
from ._cloud import is_store_url as _is_store_url
from ._config import (
    ListFilters,
    RecordingFilters,
    as_timeout,
    check_instance,
    check_seconds,
    client_config,
    same_origin,
    within,
)
from ._converter import parse_answer, parse_recording, structure_page
from ._credentials import environment_arguments
from ._engine import RetryEngine, Through, idempotent_delete
from ._files import LocalPlace
from ._limiter import RequestGate
from ._media import check_ttl
from ._polling import POLL_BACKOFF as POLL_BACKOFF
from ._polling import POLL_MAX_FACTOR as POLL_MAX_FACTOR
from ._polling import next_poll_interval as next_poll_interval
from ._polling import poll_until_done
from ._results import DeleteResult, DownloadResult, FetchResult, deleted, fetched
from ._transport import Transport, TransportView
from .errors import (
    ClientClosedError,
    InvalidParameterError,
)
from .models import (
    MediaRecording,
    Page,
)
from .retry import RetryPolicy

if TYPE_CHECKING:
    from obstore.store import ObjectStore

__all__ = ["ClientOptions", "MediaClient", "fetch_recording"]

Out = TypeVar("Out")
R = TypeVar("R")

# The congestion control's ceiling when the connection pool sets none (a borrowed session
# with an unlimited connector): each run's own ``concurrency`` still bounds it.
_UNCAPPED_REQUESTS: Final = 1024


class ClientOptions(TypedDict, total=False):
    """The keyword options of ``MediaClient()`` (and of ``from_env()``), every one
    optional; a dict of them can be passed with ``**``.  Each is checked when the client is
    built, before any I/O: a bad one raises InvalidParameterError naming it."""

    api_key: str | None
    """An API key's sid (``SK...``), with ``api_secret``, instead of the auth token."""
    api_secret: str | None
    """The API key's secret."""
    region: str | None
    """A Twilio region such as ``ie1``: the host becomes ``media.{region}.twilio.com``."""
    edge: str | None
    """A Twilio edge such as ``dublin`` (region ``us1`` unless one is given)."""
    base_url: str | None
    """The API origin, such as a fake server's ``http://127.0.0.1:8080``; it overrides
    ``region`` and ``edge``."""
    session: aiohttp.ClientSession | None
    """Your own ``aiohttp.ClientSession`` to share, borrowed: the client never closes it,
    and sets back on each request the defaults that would change what it does."""
    retry: RetryPolicy | None
    """What is retried, and for how long in all (``RetryPolicy()`` by default)."""
    timeout: float | aiohttp.ClientTimeout | None
    """Bounds each attempt: seconds, or an ``aiohttp.ClientTimeout`` (10 s in all, 5 s to
    connect, by default); clipped to ``retry.deadline``."""
    max_body_size: int
    """The most bytes of a response body read; a larger one raises
    ResponseTooLargeError.  16 MiB by default."""
    connection_limit: int
    """The size of the client's own connection pool, which also bounds the bulk methods'
    requests in flight (a borrowed session's connector sets its own).  100 by default."""
    proxy: str | None
    """An HTTP proxy for every request; its credentials may be in the URL, and are never
    shown."""
    trust_env: bool
    """Without ``proxy``, let the client's own session take ``HTTPS_PROXY`` or
    ``HTTP_PROXY`` (by the base URL's scheme) and ``NO_PROXY`` from the environment, once,
    when the client is built.  True by default."""
    trace_configs: Sequence[aiohttp.TraceConfig] | None
    """aiohttp trace configs for the client's own session (OpenTelemetry's among them)."""
    user_agent_extra: str | None
    """Appended to the User-Agent header, such as ``acme-archiver/2.1``."""


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
        **options: ``api_key``, ``api_secret``, ``region``, ``edge``, ``base_url``,
            ``session``, ``retry``, ``timeout``, ``max_body_size``, ``connection_limit``,
            ``proxy``, ``trust_env``, ``trace_configs`` and ``user_agent_extra``: see
            ClientOptions.
    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        # Every argument is checked here, before anything else: see _config.client_config.
        self._retry = check_instance("retry", options.get("retry"), RetryPolicy, RetryPolicy)
        config = client_config(account_sid, auth_token, options, deadline=self._retry.deadline)
        self._auth_kind = config.auth_kind
        self._account_sid = config.account_sid
        self._requested_timeout = config.timeout
        transport = Transport(**config.transport)
        self._transport: Transport | TransportView = transport
        self._recordings_path = f"{transport.base_url.raw_path.rstrip('/')}{_RECORDINGS_PATH}"
        self._engine = RetryEngine(self.retry, transport)
        # What every view is made from, so that a view's views are the root's too.
        self._root_engine = self._engine
        # One limiter for every bulk run of this client: they draw on one account.
        self._limiter = RequestGate(maximum=transport.connection_cap or _UNCAPPED_REQUESTS)
        self._is_view = False

    @property
    def account_sid(self) -> str:
        """The account sid the client was built with."""
        return self._account_sid

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy every call follows."""
        return self._retry

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
        return cls(**environment_arguments(overrides))

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
        attempts, waits and deadline, not the size of the budget.  A view's own
        ``with_options`` gives a view of the root client, so views never nest.  Closing a
        view closes that view only; closing the root client closes every view.

        Args:
            timeout: The view's per-attempt timeout, as ``MediaClient(timeout=...)``.
            retry: The view's retry policy.
        """
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidParameterError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        policy = self.retry if retry is None else retry
        requested = self._requested_timeout if timeout is None else as_timeout(timeout)
        return self._view(policy, requested)

    def _view(self, policy: RetryPolicy, requested: aiohttp.ClientTimeout) -> Self:
        """A view of the root client, whichever client or view this is: chained views never
        nest, so any depth of chaining costs the same.  The session, limiter and budget
        stay the root's."""
        view = type(self).__new__(type(self))
        view._auth_kind = self._auth_kind
        view._account_sid = self._account_sid
        view._retry = policy
        view._requested_timeout = requested
        view._root_engine = self._root_engine
        view._engine = self._root_engine.view(policy, within(requested, policy.deadline))
        view._transport = view._engine.transport
        view._recordings_path = self._recordings_path
        view._limiter = self._limiter
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
        self, sid: str, through: Through | None = None
    ) -> tuple[MediaRecording, int, str | None]:
        # The answer is never a local here: a frame kept by an error's traceback must
        # not keep the raw body, which may echo a credential.
        url = self._recording_url(sid)
        return parse_recording(
            await self._engine.call("GET", url, through=through), sid, self._transport
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

    async def _delete(self, sid: str, through: Through | None = None) -> tuple[int, str | None]:
        """Delete a checked sid under the idempotent DELETE rule; return the attempts and
        the request id of the answer that decided it."""
        url = self._recording_url(sid)
        send = idempotent_delete(self._transport, url)
        answer = await self._engine.call("DELETE", url, send=send, through=through)
        return answer.attempts, answer.request_id

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
        check_seconds("timeout", timeout, finite=True)
        check_seconds("poll_interval", poll_interval, finite=False)
        return await poll_until_done(self._fetch, sid, wait=timeout, poll_interval=poll_interval)

    # -- list and pages ------------------------------------------------------------------

    def list(
        self, *, limit: int | None = None, **filters: Unpack[RecordingFilters]
    ) -> AsyncGenerator[MediaRecording, None]:
        """Iterate over MediaRecordings across pages, fetched lazily.

        Filters are checked before any request.

        Args:
            limit: Stop after this many recordings, never fetching a page not needed;
                with only ``limit`` given, pages hold ``min(limit, 1000)``.
            **filters: ``status``, ``source_sid``, ``processor_sid``, ``order`` and
                ``page_size``: see RecordingFilters.
        """
        checked = ListFilters.check("list", filters, limit)
        return self._recordings(checked)

    async def _recordings(self, filters: ListFilters) -> AsyncGenerator[MediaRecording, None]:
        if filters.limit == 0:
            return
        count = 0
        async for page in self._pages(filters.params, None):
            for recording in page.items:
                yield recording
                count += 1
                if filters.limit is not None and count >= filters.limit:
                    return

    def pages(
        self, *, start_url: str | None = None, **filters: Unpack[RecordingFilters]
    ) -> AsyncGenerator[Page, None]:
        """Iterate over pages of MediaRecordings, each with its ``next_page_url``.

        Save a page's ``next_page_url`` and pass it as ``start_url`` to resume a crawl.

        Args:
            start_url: A ``next_page_url`` saved from an earlier crawl: the crawl resumes
                there, with the filters in that URL.  A URL of another origin than the
                client's is refused before anything is sent to it.
            **filters: ``status``, ``source_sid``, ``processor_sid``, ``order`` and
                ``page_size``: see RecordingFilters.
        """
        checked = ListFilters.check("pages", filters)
        if start_url is not None:
            self._check_same_origin(start_url)
        return self._pages(checked.params, start_url)

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
            page = parse_answer(
                structure_page, await self._engine.call("GET", url, params=query), self._transport
            )
            yield page
            if not page.next_page_url:
                return
            url, query = self._check_same_origin(page.next_page_url), None

    def _check_same_origin(self, page_url: str) -> URL:
        return same_origin(page_url, self._transport.base_url, self._transport.origin)

    # -- bulk ----------------------------------------------------------------------------

    def fetch_many(
        self, sids: SidInput, *, concurrency: int = 64, ordered: bool = False
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
        return self._bulk(sids, self._fetch, _FETCH_MANY, concurrency, ordered)

    def delete_many(
        self, sids: SidInput, *, concurrency: int = 32, ordered: bool = False
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
        return self._bulk(sids, self._delete, _DELETE_MANY, concurrency, ordered)

    def _bulk(
        self,
        sids: SidInput,
        work: Callable[[str, Through], Awaitable[Out]],
        method: BulkMethod[Out, R],
        concurrency: int,
        ordered: bool,
    ) -> AsyncGenerator[R, None]:
        lane = bulk_lane(self._limiter, self._transport.connection_cap, concurrency, self.retry)
        return run_bulk(sids, work, method, transport=self._transport, lane=lane, ordered=ordered)

    async def fetch_all(
        self, sids: SidInput, *, concurrency: int = 64, ordered: bool = True
    ) -> builtins.list[FetchResult]:
        """Collect ``fetch_many`` into a list of FetchResult, one per input item, for small
        jobs.

        Args:
            sids: The sids, as any iterable or async iterable.
            concurrency: The most requests in flight.
            ordered: Keep the input order (the default here).
        """
        return [r async for r in self.fetch_many(sids, concurrency=concurrency, ordered=ordered)]

    # -- media ---------------------------------------------------------------------------

    def _archive(self) -> Archive:
        return Archive(
            self._engine, self._transport, self._fetch, self._recording_url, self._check_same_origin
        )

    async def download(
        self,
        recording: str | MediaRecording,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
    ) -> DownloadResult:
        """Download a recording's media file to ``path``, verified; raise on failure.

        A sid costs one metadata request first; a MediaRecording is used as given.  The
        media link is resolved with the client's credentials, and the file is fetched from
        storage with none.  Bytes go to ``<path>.partial`` (resumed with ``Range`` after a
        cut, or from an earlier run), are hashed (sha256) on the way and checked against
        Content-Length and the recording's size; then the file is fsynced and renamed onto
        ``path``.  See docs/archive.md for every rule.

        Raises MediaUnavailableError for a recording that is processing, failed or
        deleted, MediaIntegrityError for a file of the wrong length twice, and the
        ApiError or TransportError that ended it otherwise.

        Args:
            recording: A sid, or a MediaRecording (from ``list()`` or ``fetch()``).
            path: The final file; missing parent directories are created.
            overwrite: Replace a file already there with the expected size (by default
                it is kept, and the result says ``skipped``).
        """
        if _is_store_url(path):
            raise InvalidParameterError(
                "download() writes a local file: for a store, use download_many(items, url)"
            )
        target = as_path(path, "path")
        storage = Storage(self._transport, 1)
        try:
            return await self._archive().download(
                recording, LocalPlace(target), overwrite=overwrite, storage=storage
            )
        finally:
            await storage.aclose()

    def open_media(self, recording: str | MediaRecording) -> MediaStream:
        """Open a recording's media file for streaming: an async context manager with
        ``content_type``, ``size`` and ``iter_chunks(n)``, for services that forward the
        bytes (no file, no resume).

        Args:
            recording: A sid, or a MediaRecording.
        """
        return MediaStream(self._archive(), recording)

    async def media_url(self, recording: str | MediaRecording, *, ttl: int = 600) -> str:
        """The short-lived storage URL of a recording's media file.

        The URL is a credential (its query string is a signature): hand it only to whom
        may fetch the file.  TwilioMediaError when the media link answers with the media
        itself, since there is then no separate URL.

        Args:
            recording: A sid, or a MediaRecording.
            ttl: Seconds the URL stays valid: a whole number from 1 to 3600.
        """
        return await _media_url(self._archive(), recording, check_ttl(ttl))

    def download_many(
        self,
        items: SidInput,
        directory: str | os.PathLike[str] | ObjectStore,
        *,
        concurrency: int = 8,
        ordered: bool = False,
        overwrite: bool = False,
        prefix: str | None = None,
    ) -> AsyncGenerator[DownloadResult, None]:
        """Download many recordings' media to ``directory/<sid>.<ext>``; yield exactly one
        DownloadResult per input item.

        ``directory`` may also be an object store (the ``[cloud]`` extra): a URL
        (``s3://bucket/prefix/``, ``gs://``, ``az://``, configured from the cloud's
        environment) or an obstore store object, with ``prefix=`` inside it.  Each file
        then streams into a multipart upload that completes only once its length is
        verified, and a sidecar ``<name>.sha256`` marks it done; ``path`` is the
        object's URL.  See docs/archive.md.

        Items are sids or MediaRecordings (which cost no metadata request), from any
        iterable or async iterable, read lazily.  ``ext`` is the recording's format when it
        matches ``[a-z0-9]{1,8}``, else ``bin``.  Bad items, 404s, unavailable media and
        exhausted retries are results, never exceptions.  Each file follows ``download``'s
        rules.  Items with the same target file run one after the other, the later one
        skipped.  Breaking out or cancelling stops every transfer and leaves ``.partial``
        files for a later resume, never an incomplete final file.

        Args:
            items: Sids or MediaRecordings, as any iterable or async iterable.
            directory: Where the files go (created when missing), or a store.
            concurrency: The most transfers at once; the API calls (metadata, resolve)
                go through the client's limiter, as ``fetch_many``'s do.
            ordered: Yield in input order (within a bounded window).
            overwrite: Replace files already there with the expected size.
            prefix: With a store: the path inside it, before each name.
        """
        target = _destination(directory, prefix)
        lane = bulk_lane(self._limiter, self._transport.connection_cap, concurrency, self.retry)
        return _download_many(
            self._archive(),
            items,
            target,
            lane=lane,
            concurrency=concurrency,
            ordered=ordered,
            overwrite=overwrite,
        )


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


def _fetched(item: Any, out: tuple[MediaRecording, int, str | None]) -> FetchResult:
    recording, attempts, request_id = out
    return fetched(item, recording, attempts, request_id)


def _deleted(item: Any, out: tuple[int, str | None]) -> DeleteResult:
    attempts, request_id = out
    return deleted(item, attempts, request_id)


_FETCH_MANY: Final = BulkMethod("fetch_many", _fetched, FetchResult)
_DELETE_MANY: Final = BulkMethod("delete_many", _deleted, DeleteResult)
