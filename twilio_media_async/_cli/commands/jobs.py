"""``twilio-media fetch-many`` and ``delete-many``: bulk jobs over a file of sids.

Both read the sids lazily, keep those of the shard that are not done yet (``--resume``),
write one line per result, and end with a summary on stderr.  The job itself (input,
output, run and report) lives in ``twilio_media_async._cli.jobs``; here are its options.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from typing import Any

import click

from twilio_media_async import DeleteResult, FetchResult, MediaClient
from twilio_media_async._cli.exits import CommandFailed
from twilio_media_async._cli.jobs.input import SKIPPED_DONE, Shard, count_sids, parse_shard
from twilio_media_async._cli.jobs.output import DELETE_LOG, FETCH_FORMATS, OutputScan
from twilio_media_async._cli.jobs.run import (
    DeleteRule,
    Job,
    JobOutput,
    prepare,
    run_job,
    selection_for,
)
from twilio_media_async._cli.params import parsed_by

from ._shared import confirm_delete, exit_with, settings_of

__all__ = ["delete_many", "fetch_many"]


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
    job = Job("fetch-many", input_path, output_path, fmt, resume, shard, concurrency, ordered)
    settings = settings_of(ctx)
    client, stats, scan = prepare(settings, job)

    def start(
        client: MediaClient, sids: AsyncIterable[str], out: JobOutput
    ) -> AsyncGenerator[FetchResult, None]:
        return client.fetch_many(sids, concurrency=concurrency, ordered=ordered)

    exit_with(ctx, run_job(settings, job, client, stats, start, scan=scan))


def _confirm_delete_many(job: Job[DeleteResult], scan: OutputScan | None) -> None:
    """Ask before deleting: how many sids, and the first few.  Not confirmed: exit 1."""
    if job.input_path == "-" or not stat.S_ISREG(os.stat(job.input_path).st_mode):
        raise CommandFailed(
            "nothing deleted: the sids come from a pipe, which cannot be read twice to "
            "show them first (pass --yes to skip the prompt)"
        )
    selection = selection_for(job, scan)
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
    job = Job(
        "delete-many", input_path, output_path, DELETE_LOG, resume, shard, concurrency, ordered
    )
    rule = DeleteRule()
    settings = settings_of(ctx)
    client, stats, scan = prepare(settings, job, rule.on_retry)
    if scan is not None:
        rule.possibly_deleted = scan.possibly_deleted
    if not yes:
        _confirm_delete_many(job, scan)

    def start(
        client: MediaClient, sids: AsyncIterable[str], out: JobOutput
    ) -> AsyncGenerator[DeleteResult, None]:
        results = client.delete_many(
            rule.noted(sids, out), concurrency=concurrency, ordered=ordered
        )
        return rule.judged(results)

    exit_with(ctx, run_job(settings, job, client, stats, start, scan=scan, line=rule.line))
