"""``twilio-media fetch-many`` and ``delete-many``: bulk jobs over a file of sids.

Both read the sids lazily, keep those of the shard that are not done yet (``--resume``),
write one line per result, and end with a summary on stderr.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Set
from typing import IO, Any, Generic, TypeVar

import attrs
import click

from twilio_media_async import DeleteResult, FetchResult, MediaClient, NotFoundError, RetryEvent
from twilio_media_async._cli.bulk import BulkStats, Progress, drive, read_sids, summary
from twilio_media_async._cli.consoles import stderr_console
from twilio_media_async._cli.exits import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandFailed,
    UsageProblem,
)
from twilio_media_async._cli.jobs import (
    DELETE_LOG,
    FETCH_FORMATS,
    SKIPPED_DONE,
    SKIPPED_NOT_FOUND,
    NotAnOutputFile,
    OutputScan,
    RecordFormat,
    Redact,
    SameFileError,
    Selection,
    Shard,
    check_not_input,
    count_sids,
    delete_intent,
    maybe_carried_out,
    open_output,
    parse_shard,
    scan_output,
)
from twilio_media_async._cli.output import line_writer
from twilio_media_async._cli.params import parsed_by
from twilio_media_async._cli.render import LineWriter
from twilio_media_async._cli.running import run_async
from twilio_media_async._cli.settings import Settings
from twilio_media_async._cli.sidset import SidSet
from twilio_media_async._config import RECORDING_SID

from ._shared import confirm_delete, exit_with, settings_of

__all__ = ["delete_many", "fetch_many"]

R = TypeVar("R", FetchResult, DeleteResult)
Start = Callable[[MediaClient, AsyncIterable[str], "_Output"], AsyncGenerator[R, None]]


_resume_option = click.option(
    "--resume",
    is_flag=True,
    help=(
        "Append to -o FILE instead of truncating it, skipping every sid that already has an "
        "ok record there (and sending each other sid once); a torn last line is cut away."
    ),
)
_shard_opt = click.option(
    "--shard",
    metavar="K/N",
    callback=parsed_by(parse_shard),
    help="Only the sids whose stable hash falls in shard K of N (K from 0 to N-1).",
)
_ordered_option = click.option("--ordered", is_flag=True, help="Write results in input order.")


def _concurrency_option(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--concurrency",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help="Most requests in flight (it adapts down on 429s).",
    )


def _input_option(
    help_text: str, *, required: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # Required, it has no default to show; else stdin is the default.
    extra: dict[str, Any] = (
        {"required": True} if required else {"default": "-", "show_default": True}
    )
    return click.option(
        "-i",
        "--input",
        "input_path",
        type=click.Path(exists=True, dir_okay=False, allow_dash=True),
        help=help_text,
        **extra,
    )


def _output_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "-o",
        "--output",
        "output_path",
        type=click.Path(dir_okay=False, allow_dash=True, writable=True),
        default="-",
        show_default=True,
        help=help_text,
    )


@attrs.frozen
class _Job(Generic[R]):
    """One run of a bulk command, as its options describe it."""

    title: str
    input_path: str
    output_path: str
    fmt: RecordFormat[R]
    resume: bool
    shard: Shard | None
    concurrency: int
    ordered: bool


def _scan_for_resume(settings: Settings, job: _Job[Any]) -> OutputScan | None:
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


def _resume_note(job: _Job[Any], scan: OutputScan) -> str:
    parts = [f"{len(scan.done):,} sid(s) already done"]
    if scan.final:
        parts.append(f"{len(scan.final):,} sid(s) not found before, not sent again")
    if scan.failed:
        parts.append(f"{scan.failed:,} error record(s), whose other sids are tried again")
    if scan.torn:
        parts.append(f"a torn last line of {scan.torn:,} byte(s) cut away")
    return f"Resuming {job.output_path}: {'; '.join(parts)}."


def _open_input(job: _Job[Any], files: contextlib.ExitStack) -> int:
    """The file descriptor the sids are read from: the input file's, or stdin's."""
    if job.input_path != "-":
        return files.enter_context(open(job.input_path, "rb")).fileno()
    if sys.stdin is None:
        raise UsageProblem("no stdin to read sids from: use -i FILE")
    if sys.stdin.isatty():
        stderr_console().print("Reading sids from stdin, one per line; end with Ctrl-D.")
    return sys.stdin.fileno()


def _open_output(job: _Job[Any], scan: OutputScan | None, files: contextlib.ExitStack) -> IO[bytes]:
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


class _Output:
    """The output's lines: each one whole, or one ``Error:`` line (exit 1) when the file
    cannot take it (a full disk, a file size limit), with the file still resumable."""

    def __init__(self, job: _Job[Any], lines: LineWriter) -> None:
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


def _finish(ctx: click.Context, job: _Job[Any], stats: BulkStats) -> None:
    """Print the summary and exit: 130 after Ctrl-C, 1 when a sid failed (now, or for
    good in an earlier run) or the run stopped early, else 0."""
    stderr_console().print(summary(stats, title=job.title))
    if stats.interrupted:
        ctx.exit(EXIT_INTERRUPTED)
    if stats.stopped_early:
        raise CommandFailed(
            settings_of(ctx).redact(
                f"stopped early: the first {stats.failed_connects:,} requests all failed to "
                f"connect, so the other sids were not tried: {stats.connect_failure}"
            )
        )
    failed = stats.failures or stats.skipped[SKIPPED_NOT_FOUND]
    exit_with(ctx, EXIT_FAILED if failed else EXIT_OK)


def _run_job(
    ctx: click.Context,
    job: _Job[R],
    client: MediaClient,
    stats: BulkStats,
    start: Start[R],
    *,
    scan: OutputScan | None,
    line: Callable[[R, Redact], bytes] | None = None,
) -> None:
    """Run a bulk command: read the input lazily, keep the sids of the shard that are not
    done yet, write one line per result (``line``, by default the format's), print the
    summary and exit with its code."""
    settings = settings_of(ctx)
    console = stderr_console()
    selection = _selection(job, scan)
    to_line = job.fmt.line if line is None else line
    with contextlib.ExitStack() as files:
        in_fd = _open_input(job, files)
        out = _Output(job, line_writer(settings, _open_output(job, scan, files)))
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
    _finish(ctx, job, stats)


def _selection(job: _Job[Any], scan: OutputScan | None) -> Selection:
    if scan is None:
        return Selection(job.shard)
    return Selection(job.shard, scan.done, scan.final)


def _prepare(
    ctx: click.Context, job: _Job[R], on_retry: Callable[[RetryEvent], object] | None = None
) -> tuple[MediaClient, BulkStats, OutputScan | None]:
    """The client and counters of a bulk run, and what an earlier run left (``--resume``):
    all checked before any input is read or output created, or anything sent."""
    settings = settings_of(ctx)
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


@click.command("fetch-many")
@_input_option("File of sids, one per line (blank lines skipped); - reads stdin.")
@_output_option("Where the records go (truncated, unless --resume); - is stdout.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(FETCH_FORMATS)),
    default="jsonl",
    show_default=True,
    help="JSON lines, or CSV with a header line.",
)
@_resume_option
@_shard_opt
@_concurrency_option(64)
@_ordered_option
@click.pass_context
def fetch_many(
    ctx: click.Context,
    input_path: str,
    output_path: str,
    output_format: str,
    resume: bool,
    shard: Shard | None,
    concurrency: int,
    ordered: bool,
) -> None:
    """Fetch many recordings concurrently; one record per input sid.

    \b
    A recording is written as its JSON; a sid that failed as an error record:
      {"sid": ..., "error": "NotFoundError", "status": 404, "code": 20404,
       "message": ..., "attempts": 1}
    (status and code are null when the error is not an HTTP error).  No sid is
    dropped.  The input is read lazily, so it may be endless or very large.
    --format csv writes the same as CSV rows, under a header line.

    \b
    Long jobs: --resume appends to -o FILE and skips the sids that already have
    an ok record there, so a run killed at any moment (even with SIGKILL) is
    picked up where it stopped; --shard K/N splits one input between N workers.

    A progress bar shows on stderr when it is a terminal, and a summary at the
    end, with the most common error messages.  When the first 20 sids sent all
    fail to connect (host down, wrong --base-url), the run stops there.  Exit 0
    when every sid was fetched, 1 when some failed or the run stopped early, 130
    on Ctrl-C (the output then holds only complete lines).
    """
    fmt = FETCH_FORMATS[output_format]
    job = _Job("fetch-many", input_path, output_path, fmt, resume, shard, concurrency, ordered)
    client, stats, scan = _prepare(ctx, job)

    def start(
        client: MediaClient, sids: AsyncIterable[str], out: _Output
    ) -> AsyncGenerator[FetchResult, None]:
        return client.fetch_many(sids, concurrency=concurrency, ordered=ordered)

    _run_job(ctx, job, client, stats, start, scan=scan)


class _DeleteRule:
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

    async def noted(self, sids: AsyncIterable[str], out: _Output) -> AsyncIterator[str]:
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


def _confirm_delete_many(job: _Job[DeleteResult], scan: OutputScan | None) -> None:
    """Ask before deleting: how many sids, and the first few.  Not confirmed: exit 1."""
    if job.input_path == "-" or not stat.S_ISREG(os.stat(job.input_path).st_mode):
        raise CommandFailed(
            "nothing deleted: the sids come from a pipe, which cannot be read twice to "
            "show them first (pass --yes to skip the prompt)"
        )
    selection = _selection(job, scan)
    count, first = count_sids(job.input_path, selection, keep=3)
    if count == 0:
        return
    shown = ", ".join(first) + (f" and {count - len(first):,} more" if count > len(first) else "")
    where = f" (shard {job.shard})" if job.shard is not None else ""
    done = selection.skipped[SKIPPED_DONE]
    skipping = f", skipping {done:,} already deleted" if done else ""
    confirm_delete(
        f"Delete {count:,} recording(s) listed in {job.input_path}{where}{skipping}: {shown}?"
    )


@click.command("delete-many")
@_input_option(
    "File of sids, one per line (blank lines skipped); - reads stdin (needs --yes).",
    required=True,
)
@_output_option("Where the JSON lines log goes (truncated, unless --resume); - is stdout.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_resume_option
@_shard_opt
@_concurrency_option(32)
@_ordered_option
@click.pass_context
def delete_many(
    ctx: click.Context,
    input_path: str,
    output_path: str,
    yes: bool,
    resume: bool,
    shard: Shard | None,
    concurrency: int,
    ordered: bool,
) -> None:
    """Delete many recordings concurrently, after a confirmation prompt (skip it with
    --yes); one JSON line per input sid.

    \b
    A deleted sid is logged as {"sid": ..., "deleted": true, "attempts": 1}; a sid
    that failed as fetch-many's error record (a NotFoundError for a sid that does
    not exist), with maybe_deleted.  A delete whose retry found the recording gone
    after an attempt that may have reached the server counts as deleted.  With -o
    FILE, {"sid": ..., "intent": "delete"} is logged before the first DELETE of a
    sid, so that a resumed run takes a 404 for it as deleted too.

    \b
    --resume appends to -o FILE and skips the sids already deleted there;
    --shard K/N splits one input between N workers, as in fetch-many.  Without
    confirmation nothing is sent (exit 1).  Exit 0 when every sid was deleted,
    1 when some failed, 130 on Ctrl-C.
    """
    job = _Job(
        "delete-many", input_path, output_path, DELETE_LOG, resume, shard, concurrency, ordered
    )
    rule = _DeleteRule()
    client, stats, scan = _prepare(ctx, job, rule.on_retry)
    if scan is not None:
        rule.possibly_deleted = scan.possibly_deleted
    if not yes:
        _confirm_delete_many(job, scan)

    def start(
        client: MediaClient, sids: AsyncIterable[str], out: _Output
    ) -> AsyncGenerator[DeleteResult, None]:
        results = client.delete_many(
            rule.noted(sids, out), concurrency=concurrency, ordered=ordered
        )
        return rule.judged(results)

    _run_job(ctx, job, client, stats, start, scan=scan, line=rule.line)
