"""A bulk job's run: the results of ``fetch_many`` or ``delete_many`` driven to the output,
counted and shown, from the options of fetch-many and delete-many to their exit code.

``drive`` is the loop every bulk run shares (the demo's too); ``run_job`` opens the input
and the output around it; ``DeleteRule`` is delete-many's idempotent DELETE across runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Set,
)
from typing import IO, Any, Generic, TypeVar

import attrs

from twilio_media_async import DeleteResult, FetchResult, MediaClient, NotFoundError, RetryEvent
from twilio_media_async._cli.exits import CommandFailed, UsageProblem, exit_code, run_async
from twilio_media_async._cli.output import LineWriter, line_writer, stderr_console
from twilio_media_async._cli.settings import Settings
from twilio_media_async._config import RECORDING_SID

from .input import SKIPPED_NOT_FOUND, Selection, Shard, read_sids
from .output import (
    DELETE_LOG,
    NotAnOutputFile,
    OutputScan,
    RecordFormat,
    Redact,
    SameFileError,
    check_not_input,
    delete_intent,
    maybe_carried_out,
    open_output,
    scan_output,
)
from .report import BulkStats, Progress, summary
from .sidset import SidSet

__all__ = [
    "DeleteRule",
    "Job",
    "JobOutput",
    "Start",
    "drive",
    "prepare",
    "run_bulk",
    "run_job",
    "selection_for",
]

R = TypeVar("R", FetchResult, DeleteResult)
Start = Callable[[MediaClient, AsyncIterable[str], "JobOutput"], AsyncGenerator[R, None]]
"""How a command starts its SDK call on the sids a run sends, given where lines go."""


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


@attrs.frozen
class Job(Generic[R]):
    """One run of a bulk command, as its options describe it."""

    title: str
    input_path: str
    output_path: str
    fmt: RecordFormat[R]
    resume: bool
    shard: Shard | None
    concurrency: int
    ordered: bool


def _scan_for_resume(settings: Settings, job: Job[Any]) -> OutputScan | None:
    """What earlier runs left in the output file (None without ``--resume``)."""
    if not job.resume:
        return None
    if job.output_path == "-":
        raise UsageProblem("--resume needs -o FILE: it reads what earlier runs wrote there")
    try:
        return scan_output(job.output_path, job.fmt)
    except NotAnOutputFile as exc:
        raise UsageProblem(settings.redact(str(exc))) from None
    except OSError as exc:
        raise CommandFailed(f"cannot read {job.output_path}: {exc.strerror or exc}") from None


def _resume_note(job: Job[Any], scan: OutputScan) -> str:
    parts = [f"{len(scan.done):,} sid(s) already done"]
    if scan.final:
        parts.append(f"{len(scan.final):,} sid(s) not found before, not sent again")
    if scan.failed:
        parts.append(f"{scan.failed:,} error record(s), whose other sids are tried again")
    if scan.torn:
        parts.append(f"a torn last line of {scan.torn:,} byte(s) cut away")
    return f"Resuming {job.output_path}: {'; '.join(parts)}."


def _open_input(job: Job[Any], files: contextlib.ExitStack) -> int:
    """The file descriptor the sids are read from: the input file's, or stdin's."""
    if job.input_path != "-":
        return files.enter_context(open(job.input_path, "rb")).fileno()
    if sys.stdin is None:
        raise UsageProblem("no stdin to read sids from: use -i FILE")
    if sys.stdin.isatty():
        stderr_console().print("Reading sids from stdin, one per line; end with Ctrl-D.")
    return sys.stdin.fileno()


def _open_output(job: Job[Any], scan: OutputScan | None, files: contextlib.ExitStack) -> IO[bytes]:
    """Where the result lines go: stdout (after the format's header), or the output file,
    truncated or, with ``--resume``, appended to after the last whole line."""
    if job.output_path == "-":
        if job.fmt.header is not None:
            sys.stdout.buffer.write(job.fmt.header + b"\n")
        return sys.stdout.buffer
    try:
        return files.enter_context(open_output(job.output_path, job.fmt, scan))
    except OSError as exc:
        raise CommandFailed(f"cannot write {job.output_path}: {exc.strerror or exc}") from None


class JobOutput:
    """The output's lines: each one whole, or one ``Error:`` line (exit 1) when the file
    cannot take it (a full disk, a file size limit), with the file still resumable."""

    def __init__(self, job: Job[Any], lines: LineWriter) -> None:
        self._where = "stdout" if job.output_path == "-" else job.output_path
        self._lines = lines
        self.intents = job.output_path != "-"
        """Whether delete-many's intents go here: only a file is ever resumed."""

    def write(self, line: bytes) -> None:
        """Write one line, or raise CommandFailed."""
        try:
            self._lines.write(line)
        except BrokenPipeError:
            raise  # click exits quietly when the reader of stdout went away
        except OSError as exc:
            raise CommandFailed(f"cannot write {self._where}: {exc.strerror or exc}") from None


def _finish(settings: Settings, job: Job[Any], stats: BulkStats) -> int:
    """Print the summary; the exit code: 130 after Ctrl-C, 1 when a sid failed (now, or
    for good in an earlier run), else 0.  A run that stopped early raises CommandFailed."""
    stderr_console().print(summary(stats, title=job.title))
    if stats.stopped_early and not stats.interrupted:
        raise CommandFailed(
            settings.redact(
                f"stopped early: the first {stats.failed_connects:,} requests all failed to "
                f"connect, so the other sids were not tried: {stats.connect_failure}"
            )
        )
    failed = stats.failures or stats.skipped[SKIPPED_NOT_FOUND]
    return exit_code(interrupted=stats.interrupted, failed=bool(failed))


def run_job(
    settings: Settings,
    job: Job[R],
    client: MediaClient,
    stats: BulkStats,
    start: Start[R],
    *,
    scan: OutputScan | None,
    line: Callable[[R, Redact], bytes] | None = None,
) -> int:
    """Run a bulk command: read the input lazily, keep the sids of the shard that are not
    done yet, write one line per result (``line``, by default the format's), print the
    summary; the exit code."""
    console = stderr_console()
    selection = selection_for(job, scan)
    to_line = job.fmt.line if line is None else line
    with contextlib.ExitStack() as files:
        in_fd = _open_input(job, files)
        out = JobOutput(job, line_writer(settings, _open_output(job, scan, files)))
        if scan is not None and (scan.records or scan.torn):
            console.print(_resume_note(job, scan), markup=False, highlight=False, soft_wrap=True)

        def write(result: R) -> None:
            out.write(to_line(result, settings.redact))

        async def go() -> int:
            async with client:
                # Lines on a terminal are progress enough; a bar would garble them.
                show_bar = not (job.output_path == "-" and sys.stdout.isatty())
                with Progress(stats, total=None, console=console, enabled=show_bar) as progress:
                    sids = read_sids(in_fd)
                    if job.shard is not None or scan is not None:
                        sids = selection.filter(sids)
                    results = start(client, sids, out)
                    await drive(results, write=write, stats=stats, progress=progress)
            return 0

        run_async(settings, go())
    stats.skipped = selection.skipped
    return _finish(settings, job, stats)


def selection_for(job: Job[Any], scan: OutputScan | None) -> Selection:
    """Which input sids the run sends: those of its shard, less what ``scan`` found done."""
    if scan is None:
        return Selection(job.shard)
    return Selection(job.shard, scan.done, scan.final)


def prepare(
    settings: Settings, job: Job[R], on_retry: Callable[[RetryEvent], object] | None = None
) -> tuple[MediaClient, BulkStats, OutputScan | None]:
    """The client and counters of a bulk run, and what an earlier run left (``--resume``):
    all checked before any input is read or output created, or anything sent."""
    try:
        check_not_input(job.input_path, job.output_path)
    except SameFileError as exc:
        raise UsageProblem(str(exc)) from None
    stats = BulkStats()

    def hook(event: RetryEvent) -> None:
        stats.on_retry(event)
        if on_retry is not None:
            on_retry(event)

    client = settings.client(on_retry=hook, connection_limit=max(100, job.concurrency))
    return client, stats, _scan_for_resume(settings, job)


class DeleteRule:
    """The idempotent DELETE rule across runs.

    Each sid's intent is written (and flushed to the OS) before its first DELETE, so a run
    killed right after sending one leaves it behind.  A sid that an earlier run may have
    deleted (``possibly_deleted``: an intent without an outcome, or an error record with
    ``maybe_deleted``) is ok on a 404.  An error record says ``maybe_deleted`` when an
    attempt of this run (seen by the retry hook), or an earlier run, may have been
    carried out.
    """

    def __init__(self) -> None:
        self.possibly_deleted: Set[str] = frozenset()
        self._carried = SidSet()

    def on_retry(self, event: RetryEvent) -> None:
        """The retry hook: remembers the sids whose failed attempt may have deleted."""
        if event.method == "DELETE" and maybe_carried_out(event.error):
            self._carried.add(event.url.rstrip("/").rpartition("/")[2])

    async def noted(self, sids: AsyncIterable[str], out: JobOutput) -> AsyncIterator[str]:
        """``sids``, each valid one's intent written before the SDK gets to send it."""
        async for sid in sids:
            if out.intents and RECORDING_SID.match(sid):
                out.write(delete_intent(sid))
            yield sid

    async def judged(
        self, results: AsyncGenerator[DeleteResult, None]
    ) -> AsyncGenerator[DeleteResult, None]:
        """``results``, with a 404 of a sid possibly deleted before made ok."""
        async with contextlib.aclosing(results):
            async for result in results:
                if isinstance(result.error, NotFoundError) and self._maybe(result.sid):
                    result = DeleteResult(
                        sid=result.sid, attempts=result.attempts, request_id=result.request_id
                    )
                yield result

    def _maybe(self, sid: object) -> bool:
        return isinstance(sid, str) and (sid in self.possibly_deleted or sid in self._carried)

    def line(self, result: DeleteResult, redact: Redact) -> bytes:
        """The log line of ``result``."""
        return DELETE_LOG.line(result, redact, maybe_deleted=self._maybe(result.sid))
