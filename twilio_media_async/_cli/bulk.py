"""The bulk commands' engine: a lazy sid reader, counters, the progress bar and the summary."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import stat
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from twilio_media_async import (
    ApiError,
    DeleteResult,
    DownloadResult,
    FetchResult,
    MediaClient,
    RetryEvent,
    TransportError,
    TwilioMediaError,
)

__all__ = [
    "STOP_AFTER_CONNECT_FAILURES",
    "BulkStats",
    "Progress",
    "ProgressBar",
    "failed_to_connect",
    "error_digest",
    "drive",
    "read_sids",
    "run_bulk",
    "summary",
    "summary_table",
]

STOP_AFTER_CONNECT_FAILURES: Final = 20
"""A bulk run stops when its first this many requests all failed to connect: the host is
down or wrong, and the rest of the input would only fail the same way."""
_TOP_MESSAGES: Final = 5  # error messages the summary lists
_MAX_MESSAGES: Final = 1000  # distinct messages counted; later new ones count as "other"
_SID_IN_TEXT: Final = re.compile(r"KV[0-9a-fA-F]{32}")
_CHUNK: Final = 64 * 1024
_READ_AHEAD: Final = 4  # chunks a pipe reader may hold before the fetches catch up
_MAX_LINE: Final = 4096  # a longer line is no sid; only its start is kept
_REFRESH: Final = 0.1  # seconds between progress updates

R = TypeVar("R", FetchResult, DeleteResult)


# -- input ---------------------------------------------------------------------------------


async def _file_chunks(fd: int) -> AsyncGenerator[bytes, None]:
    # A regular file never blocks for long: read it in the loop.
    while data := os.read(fd, _CHUNK):
        yield data


async def _pipe_chunks(fd: int) -> AsyncGenerator[bytes, None]:
    """Chunks of a pipe or terminal, read in a daemon thread so a slow producer never
    blocks the event loop (and a Ctrl-C never waits for the next line)."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes | OSError] = asyncio.Queue()
    room = threading.Semaphore(_READ_AHEAD)
    stopping = threading.Event()

    def deliver(item: bytes | OSError) -> None:
        try:
            loop.call_soon_threadsafe(chunks.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stopping.set()

    def pump() -> None:
        while True:
            room.acquire()
            if stopping.is_set():
                return
            try:
                data = os.read(fd, _CHUNK)
            except OSError as exc:
                deliver(exc)
                return
            deliver(data)
            if not data:
                return

    threading.Thread(target=pump, name="twilio-media-input", daemon=True).start()
    try:
        while True:
            item = await chunks.get()
            if isinstance(item, OSError):
                raise item
            room.release()
            if not item:
                return
            yield item
    finally:
        stopping.set()
        room.release()  # wake the reader if it waits for room, so that it sees ``stopping``


async def read_sids(fd: int) -> AsyncIterator[str]:
    """Yield one sid per non-blank line of ``fd``, stripped, read lazily in 64 KiB chunks.

    Memory stays bounded whatever the input's size: a regular file is read as the fetches
    need it, a pipe at most a few chunks ahead.
    """
    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    chunks = _file_chunks(fd) if regular else _pipe_chunks(fd)
    pending = b""
    first = True
    async with contextlib.aclosing(chunks):
        async for data in chunks:
            if first:
                data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
                first = False
            lines = (pending + data).split(b"\n")
            pending = lines.pop()[:_MAX_LINE]
            for line in lines:
                sid = line.strip()
                if sid:
                    yield sid[:_MAX_LINE].decode("utf-8", "replace")
    sid = pending.strip()
    if sid:
        yield sid.decode("utf-8", "replace")


# -- counters ------------------------------------------------------------------------------


def failed_to_connect(error: BaseException | None) -> bool:
    """Whether ``error`` is a TransportError from a connection that never opened: refused,
    unresolvable host, TLS handshake refused (not a reset, a cut-off body or a timeout)."""
    return isinstance(error, TransportError) and error.connect_failed


def _message_of(sid: object, error: TwilioMediaError) -> str:
    """What the summary groups failures by: the error's type and message, with the sid
    taken out so that the same failure of different sids counts as one message."""
    if isinstance(error, ApiError):
        code = f", code {error.code}" if error.code is not None else ""
        text = f"{type(error).__name__} (HTTP {error.status}{code}): {error.message}"
    else:
        text = f"{type(error).__name__}: {error.message}"
    if isinstance(sid, str) and sid:
        text = text.replace(sid, "<sid>")
    return " ".join(_SID_IN_TEXT.sub("<sid>", text).split())


@dataclasses.dataclass
class BulkStats:
    """What a bulk run did so far: results by outcome, retries and HTTP requests."""

    ok: int = 0
    failed: Counter[str] = dataclasses.field(default_factory=Counter)
    messages: Counter[str] = dataclasses.field(default_factory=Counter)
    """Failures by message (``_message_of``), at most ``_MAX_MESSAGES`` distinct ones."""
    hooked_retries: int = 0
    """Retries reported by the RetryPolicy hook, as they happen."""
    result_retries: int = 0
    """Requests beyond the first of each finished result."""
    requests: int = 0
    started: float = dataclasses.field(default_factory=time.perf_counter)
    finished: float | None = None
    interrupted: bool = False
    failed_connects: int = 0
    """Requests seen to fail to connect (``failed_to_connect``), by the retry hook or as a
    result's last attempt."""
    connect_failure: str | None = None
    """The message of the first of them."""
    reached: bool = False
    """A request reached the server (any answer, a reset or a timeout): no early stop."""
    stopped_early: bool = False
    """The run stopped because nothing could connect (see ``cannot_connect``)."""
    on_cannot_connect: Callable[[], object] | None = None
    """Called (by ``drive``) once, as soon as ``cannot_connect`` holds."""
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    """Input sids not sent, by reason (``--resume``, ``--shard``)."""

    def on_retry(self, event: RetryEvent) -> None:
        """The ``RetryPolicy(on_retry=...)`` hook: counts each retry, and sees failures to
        connect as they happen rather than after an item's last retry."""
        self.hooked_retries += 1
        self._saw(event.error, None)

    def _saw(self, error: TwilioMediaError | None, sid: object) -> None:
        if error is None or not failed_to_connect(error):
            self.reached = True
            return
        self.failed_connects += 1
        if self.connect_failure is None:
            self.connect_failure = _message_of(sid, error)
        if self.cannot_connect and not self.stopped_early:
            self.stopped_early = True
            if self.on_cannot_connect is not None:
                self.on_cannot_connect()

    def add(self, result: FetchResult | DeleteResult | DownloadResult) -> None:
        """Count one result."""
        self.requests += result.attempts
        self.result_retries += max(result.attempts - 1, 0)
        if result.error is None:
            self.ok += 1
        else:
            self.failed[type(result.error).__name__] += 1
            message = _message_of(result.sid, result.error)
            if message in self.messages or len(self.messages) < _MAX_MESSAGES:
                self.messages[message] += 1
        if result.attempts > 0:  # an invalid sid sent nothing: it tells nothing of the host
            self._saw(result.error, result.sid)

    @property
    def cannot_connect(self) -> bool:
        """The first ``STOP_AFTER_CONNECT_FAILURES`` requests, or more, all failed to
        connect, and none reached the server: the run should stop.  A single request that
        reached the server, even for an error, rules the stop out for good."""
        return not self.reached and self.failed_connects >= STOP_AFTER_CONNECT_FAILURES

    def finish(self) -> None:
        """Stop the clock."""
        if self.finished is None:
            self.finished = time.perf_counter()

    @property
    def retries(self) -> int:
        """Retries so far: the hook sees them live, the finished results' attempts once
        they are in; the larger count is the better one at any moment."""
        return max(self.hooked_retries, self.result_retries)

    @property
    def failures(self) -> int:
        """How many sids failed, whatever the error."""
        return sum(self.failed.values())

    @property
    def done(self) -> int:
        """How many results came back."""
        return self.ok + self.failures

    @property
    def wall(self) -> float:
        """Seconds since the start (until ``finish``)."""
        end = self.finished if self.finished is not None else time.perf_counter()
        return max(end - self.started, 1e-9)


def summary_table(stats: BulkStats, *, title: str = "fetch-many") -> Table:
    """The end-of-run table: ok, failed by error type, retries, requests, time and rate."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("ok", f"{stats.ok:,}", style="green")
    table.add_row("failed", f"{stats.failures:,}", style="red" if stats.failures else None)
    for name, count in sorted(stats.failed.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"  {name}", f"{count:,}")
    if stats.skipped:
        table.add_row("skipped", f"{sum(stats.skipped.values()):,}")
        for reason, count in sorted(stats.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("retries", f"{stats.retries:,}")
    table.add_row("HTTP requests", f"{stats.requests:,}")
    table.add_row("wall time", f"{stats.wall:.2f} s")
    table.add_row("rate", f"{stats.requests / stats.wall:,.0f} req/s")
    table.add_row("throughput", f"{stats.done / stats.wall:,.0f} sids/s")
    if stats.interrupted:
        table.add_row("interrupted", "yes (Ctrl-C)", style="yellow")
    if stats.stopped_early:
        connects = f"{stats.failed_connects:,} requests failed to connect"
        table.add_row("stopped early", connects, style="yellow")
    return table


def error_digest(stats: BulkStats, *, top: int = _TOP_MESSAGES) -> Text | None:
    """The most common error messages with their counts, or None when nothing failed."""
    if not stats.messages:
        return None
    text = Text(f"Most common errors (of {stats.failures:,} failed):")
    for message, count in stats.messages.most_common(top):
        text.append(f"\n  {count:>7,}  {message}")
    others = stats.failures - sum(count for _, count in stats.messages.most_common(top))
    if others:
        text.append(f"\n  {others:>7,}  other errors")
    return text


def summary(stats: BulkStats, *, title: str = "fetch-many") -> RenderableType:
    """The summary table, then the most common error messages."""
    digest = error_digest(stats)
    return (
        summary_table(stats, title=title)
        if digest is None
        else Group(summary_table(stats, title=title), digest)
    )


# -- progress ------------------------------------------------------------------------------


class ProgressBar:
    """A rich progress bar on stderr, shown only when stderr is a terminal (and
    ``enabled``), redrawn from counters at most every 0.1 s so that a fast run does not
    spend its time redrawing.  Subclasses say what it shows: ``_columns`` and
    ``_fields``."""

    def __init__(self, *, total: int | None, console: Console, enabled: bool = True) -> None:
        self._enabled = enabled
        self._total = total
        self._console = console
        self._last = 0.0
        self._bar: Any = None
        self._task: Any = None

    def _columns(self) -> list[Any]:
        """The bar's rich columns, after its spinner."""
        raise NotImplementedError

    def _fields(self) -> dict[str, str]:
        """The text fields the columns show."""
        raise NotImplementedError

    def _completed(self) -> int:
        """How far the bar is filled."""
        return 0

    def __enter__(self) -> Self:
        if self._enabled and sys.stderr.isatty():
            from rich import progress as rp

            self._bar = rp.Progress(
                rp.SpinnerColumn(),
                *self._columns(),
                rp.TimeElapsedColumn(),
                console=self._console,
                transient=True,
                redirect_stdout=False,  # the JSON lines go to stdout's buffer directly
            )
            self._task = self._bar.add_task("run", total=self._total, **self._fields())
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, *, force: bool = False) -> None:
        """Redraw from the counters, at most every 0.1 s unless ``force``."""
        if self._bar is None:
            return
        now = time.monotonic()
        if force or now - self._last >= _REFRESH:
            self._last = now
            self._bar.update(self._task, completed=self._completed(), **self._fields())


class Progress(ProgressBar):
    """The bulk commands' bar: results so far (of ``total`` when known), the rate, ok,
    failed and retries."""

    def __init__(
        self, stats: BulkStats, *, total: int | None, console: Console, enabled: bool = True
    ) -> None:
        super().__init__(total=total, console=console, enabled=enabled)
        self._stats = stats

    def _columns(self) -> list[Any]:
        from rich import progress as rp

        return [
            rp.BarColumn(),
            rp.TextColumn("{task.fields[count]}"),
            rp.TextColumn("[cyan]{task.fields[rate]} req/s"),
            rp.TextColumn("[green]ok {task.fields[ok]}"),
            rp.TextColumn("[red]failed {task.fields[failed]}"),
            rp.TextColumn("[yellow]retries {task.fields[retries]}"),
        ]

    def _fields(self) -> dict[str, str]:
        s = self._stats
        count = f"{s.done:,}" if self._total is None else f"{s.done:,}/{self._total:,}"
        return {
            "count": count,
            "rate": f"{s.requests / s.wall:,.0f}",
            "ok": f"{s.ok:,}",
            "failed": f"{s.failures:,}",
            "retries": f"{s.retries:,}",
        }

    def _completed(self) -> int:
        return self._stats.done


# -- the run -------------------------------------------------------------------------------


async def run_bulk(
    client: MediaClient,
    sids: Iterable[str] | AsyncIterable[str],
    *,
    write: Callable[[FetchResult], object] | None,
    stats: BulkStats,
    progress: Progress,
    concurrency: int,
    ordered: bool,
    on_result: Callable[[FetchResult], object] | None = None,
) -> None:
    """Fetch every sid with ``client.fetch_many``, and ``drive`` the results."""
    results = client.fetch_many(sids, concurrency=concurrency, ordered=ordered)
    await drive(results, write=write, stats=stats, progress=progress, on_result=on_result)


async def drive(
    results: AsyncGenerator[R, None],
    *,
    write: Callable[[R], object] | None,
    stats: BulkStats,
    progress: Progress,
    on_result: Callable[[R], object] | None = None,
) -> None:
    """Take every result of a bulk run (``fetch_many`` or ``delete_many``): ``write`` it
    (one output line per result: no sid is dropped), count it, and show the progress.

    ``on_result`` sees every result.
    When the first ``STOP_AFTER_CONNECT_FAILURES`` requests all failed to connect, the
    run stops as on Ctrl-C, but with ``stats.stopped_early`` set instead of
    ``interrupted``: the rest of the input is not read.
    Ctrl-C (a cancellation of this task) stops the run cleanly: the requests in flight are
    cancelled, every line written is whole, and ``stats.interrupted`` is set.
    """
    stats.started = time.perf_counter()
    task = asyncio.current_task()
    if task is not None:
        # Stop as Ctrl-C does: the retry hook sees the failures to connect long before an
        # item's retries run out and its result comes back.
        stats.on_cannot_connect = task.cancel
    try:
        async for result in results:
            if write is not None:
                write(result)
            stats.add(result)
            if on_result is not None:
                on_result(result)
            progress.update()
    except asyncio.CancelledError:
        stats.interrupted = not stats.stopped_early
        if task is not None:
            task.uncancel()
    finally:
        await results.aclose()  # cancels and awaits whatever is still in flight
        stats.finish()
        progress.update(force=True)
