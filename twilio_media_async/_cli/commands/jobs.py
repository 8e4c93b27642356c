"""``twilio-media fetch-many`` and ``delete-many``: bulk jobs over a file of sids.

Both read the sids lazily, keep those of the shard that are not done yet (``--resume``),
write one line per result, and end with a summary on stderr.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from typing import IO, Any, Generic, TypeVar

import attrs
import click

from twilio_media_async import DeleteResult, FetchResult, MediaClient
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
    NotAnOutputFile,
    OutputScan,
    RecordFormat,
    Selection,
    Shard,
    count_sids,
    open_output,
    parse_shard,
    scan_output,
)
from twilio_media_async._cli.output import line_writer
from twilio_media_async._cli.params import parsed_by
from twilio_media_async._cli.running import run_async
from twilio_media_async._cli.settings import Settings

from ._shared import confirm_delete, exit_with, settings_of

__all__ = ["delete_many", "fetch_many"]

R = TypeVar("R", FetchResult, DeleteResult)
Start = Callable[[MediaClient, AsyncIterable[str]], AsyncGenerator[R, None]]


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
    if scan.failed:
        parts.append(f"{scan.failed:,} error record(s), whose sids are tried again")
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


def _finish(ctx: click.Context, job: _Job[Any], stats: BulkStats) -> None:
    """Print the summary and exit: 130 after Ctrl-C, 1 when a sid failed or the run
    stopped early, else 0."""
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
    exit_with(ctx, EXIT_FAILED if stats.failures else EXIT_OK)


def _run_job(
    ctx: click.Context,
    job: _Job[R],
    client: MediaClient,
    stats: BulkStats,
    start: Start[R],
    *,
    scan: OutputScan | None,
) -> None:
    """Run a bulk command: read the input lazily, keep the sids of the shard that are not
    done yet, write one line per result, print the summary and exit with its code."""
    settings = settings_of(ctx)
    console = stderr_console()
    selection = Selection(job.shard, scan.done if scan is not None else None)
    with contextlib.ExitStack() as files:
        in_fd = _open_input(job, files)
        out = line_writer(settings, _open_output(job, scan, files))
        if scan is not None and (scan.records or scan.torn):
            console.print(_resume_note(job, scan), markup=False, highlight=False, soft_wrap=True)

        def write(result: R) -> None:
            out.write(job.fmt.line(result, settings.redact))

        async def go() -> int:
            async with client:
                # Lines on a terminal are progress enough; a bar would garble them.
                show_bar = not (job.output_path == "-" and sys.stdout.isatty())
                with Progress(stats, total=None, console=console, enabled=show_bar) as progress:
                    sids = read_sids(in_fd)
                    if job.shard is not None or scan is not None:
                        sids = selection.filter(sids)
                    await drive(start(client, sids), write=write, stats=stats, progress=progress)
            return 0

        run_async(settings, go())
    stats.skipped = selection.skipped
    _finish(ctx, job, stats)


def _prepare(ctx: click.Context, job: _Job[R]) -> tuple[MediaClient, BulkStats, OutputScan | None]:
    """The client and counters of a bulk run, and what an earlier run left (``--resume``):
    all checked before any input is read or output created."""
    settings = settings_of(ctx)
    stats = BulkStats()
    client = settings.client(on_retry=stats.on_retry, connection_limit=max(100, job.concurrency))
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

    def start(client: MediaClient, sids: AsyncIterable[str]) -> AsyncGenerator[FetchResult, None]:
        return client.fetch_many(sids, concurrency=concurrency, ordered=ordered)

    _run_job(ctx, job, client, stats, start, scan=scan)


def _confirm_delete_many(job: _Job[DeleteResult], scan: OutputScan | None) -> None:
    """Ask before deleting: how many sids, and the first few.  Not confirmed: exit 1."""
    if job.input_path == "-" or not stat.S_ISREG(os.stat(job.input_path).st_mode):
        raise CommandFailed(
            "nothing deleted: the sids come from a pipe, which cannot be read twice to "
            "show them first (pass --yes to skip the prompt)"
        )
    selection = Selection(job.shard, scan.done if scan is not None else None)
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
    not exist).  A delete whose retry found the recording gone after an attempt
    that may have reached the server counts as deleted.

    \b
    --resume appends to -o FILE and skips the sids already deleted there;
    --shard K/N splits one input between N workers, as in fetch-many.  Without
    confirmation nothing is sent (exit 1).  Exit 0 when every sid was deleted,
    1 when some failed, 130 on Ctrl-C.
    """
    job = _Job(
        "delete-many", input_path, output_path, DELETE_LOG, resume, shard, concurrency, ordered
    )
    client, stats, scan = _prepare(ctx, job)
    if not yes:
        _confirm_delete_many(job, scan)

    def start(client: MediaClient, sids: AsyncIterable[str]) -> AsyncGenerator[DeleteResult, None]:
        return client.delete_many(sids, concurrency=concurrency, ordered=ordered)

    _run_job(ctx, job, client, stats, start, scan=scan)
