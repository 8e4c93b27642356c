"""The archive command's counters, progress bar (files and bytes per second) and summary."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Final

from rich.console import Console, Group, RenderableType
from rich.table import Table

from twilio_media_async import DownloadResult, RetryEvent

from .bulk import BulkStats, ProgressBar, error_digest

__all__ = ["ArchiveProgress", "ArchiveStats", "archive_summary"]

_REFRESH: Final = 0.1  # seconds between progress updates


@dataclasses.dataclass
class ArchiveStats:
    """What an archive run did so far: files by outcome, bytes, deletes and retries."""

    files: BulkStats = dataclasses.field(default_factory=BulkStats)
    """Download results, counted as the bulk commands count theirs."""
    bytes: int = 0
    """Bytes of the files archived (downloaded or found in place)."""
    downloaded: int = 0
    """Files transferred by this run (not found in place)."""
    in_place: int = 0
    """Files already in the directory with the expected size: not downloaded again."""
    deleted: int = 0
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
    table = Table(title="archive", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("archived", f"{s.ok:,}", style="green")
    table.add_row("  downloaded", f"{stats.downloaded:,}")
    table.add_row("  already in place", f"{stats.in_place:,}")
    table.add_row("failed", f"{s.failures:,}", style="red" if s.failures else None)
    for name, count in sorted(s.failed.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"  {name}", f"{count:,}")
    if stats.skipped:
        table.add_row("skipped", f"{sum(stats.skipped.values()):,}")
        for reason, count in sorted(stats.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(f"  {reason}", f"{count:,}")
    if stats.deleted or stats.delete_failed:
        table.add_row("deleted on Twilio", f"{stats.deleted:,}")
        failed = f"{stats.delete_failed:,}"
        table.add_row("delete failed", failed, style="red" if stats.delete_failed else None)
    table.add_row("bytes", _size(stats.bytes))
    table.add_row("HTTP requests", f"{s.requests:,}")
    table.add_row("API retries", f"{stats.retries:,}")
    table.add_row("wall time", f"{s.wall:.2f} s")
    table.add_row("throughput", f"{s.done / s.wall:,.1f} files/s, {_size(stats.bytes / s.wall)}/s")
    if stats.interrupted:
        table.add_row("interrupted", "yes (Ctrl-C)", style="yellow")
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
            rp.TextColumn("[red]failed {task.fields[failed]}"),
            rp.TextColumn("[yellow]retries {task.fields[retries]}"),
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
