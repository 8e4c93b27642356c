"""What a bulk run reports: its counters, the progress bar on stderr and the summary at the
end, for fetch-many, delete-many and the demo (``BulkStats``) and for the archive
(``ArchiveStats``: files and bytes)."""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Self

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from twilio_media_async import (
    ApiError,
    DeleteResult,
    DownloadResult,
    FetchResult,
    RetryEvent,
    TransportError,
    TwilioMediaError,
)

__all__ = [
    "STOP_AFTER_CONNECT_FAILURES",
    "ArchiveProgress",
    "ArchiveStats",
    "BulkStats",
    "Progress",
    "ProgressBar",
    "archive_summary",
    "error_digest",
    "failed_to_connect",
    "summary",
    "summary_table",
]

STOP_AFTER_CONNECT_FAILURES: Final = 20
"""A bulk run stops when its first this many requests all failed to connect: the host is
down or wrong, and the rest of the input would only fail the same way."""
_TOP_MESSAGES: Final = 5  # error messages the summary lists
_MAX_MESSAGES: Final = 1000  # distinct messages counted; later new ones count as "other"
_SID_IN_TEXT: Final = re.compile(r"KV[0-9a-fA-F]{32}")
_REFRESH: Final = 0.1  # seconds between progress updates


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


def _summary_table(title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    return table


def _add_counts(table: Table, label: str, counts: Counter[str], *, style: str | None) -> None:
    """A row with the total of ``counts``, then one per key, most first, indented."""
    total = sum(counts.values())
    table.add_row(label, f"{total:,}", style=style if total else None)
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"  {name}", f"{count:,}")


def _add_failed_and_skipped(table: Table, failed: Counter[str], skipped: Counter[str]) -> None:
    _add_counts(table, "failed", failed, style="red")
    if skipped:
        _add_counts(table, "skipped", skipped, style=None)


def _add_interrupted(table: Table, interrupted: bool) -> None:
    if interrupted:
        table.add_row("interrupted", "yes (Ctrl-C)", style="yellow")


def summary_table(stats: BulkStats, *, title: str = "fetch-many") -> Table:
    """The end-of-run table: ok, failed by error type, retries, requests, time and rate."""
    table = _summary_table(title)
    table.add_row("ok", f"{stats.ok:,}", style="green")
    _add_failed_and_skipped(table, stats.failed, stats.skipped)
    table.add_row("retries", f"{stats.retries:,}")
    table.add_row("HTTP requests", f"{stats.requests:,}")
    table.add_row("wall time", f"{stats.wall:.2f} s")
    table.add_row("rate", f"{stats.requests / stats.wall:,.0f} req/s")
    table.add_row("throughput", f"{stats.done / stats.wall:,.0f} sids/s")
    _add_interrupted(table, stats.interrupted)
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
    spend its time redrawing.  Subclasses say what it shows before the failures and
    retries that every bar ends with: ``_columns`` and ``_fields``."""

    def __init__(self, *, total: int | None, console: Console, enabled: bool = True) -> None:
        self._enabled = enabled
        self._total = total
        self._console = console
        self._last = 0.0
        self._bar: Any = None
        self._task: Any = None

    def _columns(self) -> list[Any]:
        """The bar's rich columns, after its spinner and before failures and retries."""
        raise NotImplementedError

    def _fields(self) -> dict[str, str]:
        """The text fields the columns show, ``failed`` and ``retries`` among them."""
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
                rp.TextColumn("[red]failed {task.fields[failed]}"),
                rp.TextColumn("[yellow]retries {task.fields[retries]}"),
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


# -- the archive ---------------------------------------------------------------------------


@dataclasses.dataclass
class ArchiveStats:
    """What an archive run did so far: files by outcome, bytes, deletes and retries."""

    files: BulkStats = dataclasses.field(default_factory=BulkStats)
    """Download results, counted as the bulk commands count theirs."""
    bytes: int = 0  # of the files archived (downloaded or found in place)
    downloaded: int = 0  # files transferred by this run (not found in place)
    in_place: int = 0  # files already there with the expected size: not downloaded again
    deleted: int = 0  # recordings deleted on Twilio
    delete_failed: int = 0
    interrupted: bool = False
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    """Input items not sent, by reason (``--resume``, ``--shard``)."""

    def on_retry(self, event: RetryEvent) -> None:
        """The ``RetryPolicy(on_retry=...)`` hook."""
        self.files.on_retry(event)

    def add(self, result: DownloadResult) -> None:
        """Count one download result."""
        self.files.add(result)
        if result.ok:
            self.bytes += result.bytes or 0
            if result.skipped:
                self.in_place += 1
            else:
                self.downloaded += 1

    @property
    def retries(self) -> int:
        """API retries, as the retry hook saw them.  (A download's ``attempts`` counts its
        resolve and storage requests too, so it tells no retry count.)"""
        return self.files.hooked_retries

    @property
    def failures(self) -> int:
        """Items whose download failed."""
        return self.files.failures

    def finish(self) -> None:
        """Stop the clock."""
        self.files.finish()


def archive_summary(stats: ArchiveStats) -> RenderableType:
    """The end-of-run table, then the most common error messages."""
    s = stats.files
    table = _summary_table("archive")
    table.add_row("archived", f"{s.ok:,}", style="green")
    table.add_row("  downloaded", f"{stats.downloaded:,}")
    table.add_row("  already in place", f"{stats.in_place:,}")
    _add_failed_and_skipped(table, s.failed, stats.skipped)
    if stats.deleted or stats.delete_failed:
        table.add_row("deleted on Twilio", f"{stats.deleted:,}")
        failed = f"{stats.delete_failed:,}"
        table.add_row("delete failed", failed, style="red" if stats.delete_failed else None)
    table.add_row("bytes", _size(stats.bytes))
    table.add_row("HTTP requests", f"{s.requests:,}")
    table.add_row("API retries", f"{stats.retries:,}")
    table.add_row("wall time", f"{s.wall:.2f} s")
    table.add_row("throughput", f"{s.done / s.wall:,.1f} files/s, {_size(stats.bytes / s.wall)}/s")
    _add_interrupted(table, stats.interrupted)
    digest = error_digest(s)
    return table if digest is None else Group(table, digest)


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class ArchiveProgress(ProgressBar):
    """The archive's bar: files done, bytes, bytes per second, failures and retries."""

    def __init__(self, stats: ArchiveStats, *, console: Console) -> None:
        super().__init__(total=None, console=console)
        self._stats = stats

    def _columns(self) -> list[Any]:
        from rich import progress as rp

        return [
            rp.TextColumn("{task.fields[files]} files"),
            rp.TextColumn("[cyan]{task.fields[bytes]}"),
            rp.TextColumn("[cyan]{task.fields[rate]}/s"),
        ]

    def _fields(self) -> dict[str, str]:
        s = self._stats
        return {
            "files": f"{s.files.done:,}",
            "bytes": _size(s.bytes),
            "rate": _size(s.bytes / s.files.wall),
            "failed": f"{s.failures:,}",
            "retries": f"{s.retries:,}",
        }
