"""The ``twilio-media`` command: fetch, list and delete MediaRecordings from a shell.

```text
twilio-media demo                                   # no credentials needed
twilio-media fetch KV0123456789abcdef0123456789abcdef
twilio-media fetch-many -i sids.txt -o recordings.jsonl --concurrency 64
twilio-media fetch-many -i sids.txt -o recordings.jsonl --resume --shard 0/4
twilio-media delete-many -i expired.txt -o deleted.jsonl --yes
twilio-media list --status completed --limit 20 --table
```

Needs the ``cli`` extra (``pip install "twilio-media-async[cli]"``): click and rich are
imported here and in ``twilio_media_async._cli`` only, never by the SDK itself.
``python -m twilio_media_async.cli`` works too.

Exit codes: 0 when everything succeeded, 1 when something failed (a sid that could not be
fetched, an API or transport error), 2 for a usage error (a bad option or sid, missing
credentials), 130 after Ctrl-C.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Sequence
from typing import IO, Any, Final, Generic, TypeVar

import attrs
import click

from . import _sids
from ._cli.bulk import (
    BulkStats,
    Progress,
    drive,
    read_sids,
    run_bulk,
    summary,
)
from ._cli.config import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandFailed,
    Settings,
    UsageProblem,
    configure_logging,
    describe_error,
    run_async,
    stderr_console,
    stdout_console,
)
from ._cli.jobs import (
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
from ._cli.render import (
    COLUMNS,
    DEFAULT_COLUMNS,
    LineWriter,
    parse_columns,
    recording_card,
    recording_json,
    recordings_table,
)
from ._version import __version__
from .client import MediaClient
from .errors import InvalidSidError, NotFoundError, TwilioMediaError
from .models import DeleteResult, FetchResult, MediaRecording, RecordingOrder, RecordingStatus

__all__ = ["cli", "main"]

PROG: Final = "twilio-media"
_CONTEXT: Final = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _check_sids(sids: Sequence[str]) -> None:
    """Refuse the whole command (exit 2) before any request when one sid is malformed."""
    for sid in sids:
        try:
            _sids.check_recording_sid(sid)
        except InvalidSidError as exc:
            raise UsageProblem(exc.message) from None


def _error_line(settings: Settings, exc: TwilioMediaError) -> None:
    click.echo(f"Error: {settings.redact(describe_error(exc))}", err=True)


def _exit(ctx: click.Context, code: int) -> None:
    if code != EXIT_OK:
        ctx.exit(code)


def _columns_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    if value is None:
        return None
    try:
        return parse_columns(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


_table_option = click.option("--table", is_flag=True, help="Print a table instead of JSON lines.")
_columns = click.option(
    "--columns",
    metavar="NAME,...",
    callback=_columns_option,
    help=(
        f"The table's columns, implies --table [default: {','.join(DEFAULT_COLUMNS)}; "
        f"also: {', '.join(name for name in COLUMNS if name not in DEFAULT_COLUMNS)}]."
    ),
)


def _print_table(recordings: Sequence[MediaRecording], columns: tuple[str, ...] | None) -> None:
    """One recording vertically, several as a table that fits the terminal: columns that do
    not fit are left out (and named on stderr) rather than cut."""
    console = stdout_console()
    if len(recordings) == 1:
        console.print(recording_card(recordings[0], columns=columns))
        return
    table, left_out = recordings_table(
        recordings, console=console, columns=columns or DEFAULT_COLUMNS
    )
    console.print(table)
    if left_out:
        stderr_console().print(
            f"Left out to fit {console.width} columns: {', '.join(left_out)} (--columns chooses).",
            markup=False,
        )


# -- the group -----------------------------------------------------------------------------


class _Group(click.Group):
    """The command group, with a hint when a global option follows the command."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:
            hint = self._misplaced(ctx, exc)
            if hint is None:
                raise
            raise click.UsageError(hint, ctx=exc.ctx) from None

    def _misplaced(self, ctx: click.Context, exc: click.NoSuchOption) -> str | None:
        # click only says "No such option"; the fix is to move the option, so say that.
        if exc.ctx is None or exc.ctx.parent is not ctx:
            return None
        for param in self.params:
            if isinstance(param, click.Option) and exc.option_name in (
                *param.opts,
                *param.secondary_opts,
            ):
                value = "" if param.is_flag or param.count else " ..."
                return (
                    f"{exc.option_name} is a global option: it goes before the command, "
                    f"as in {ctx.command_path} {exc.option_name}{value} {exc.ctx.info_name} ..."
                )
        return None


@click.group(cls=_Group, context_settings=_CONTEXT, no_args_is_help=True)
@click.version_option(__version__, prog_name=PROG)
@click.option(
    "--account-sid",
    envvar="TWILIO_ACCOUNT_SID",
    show_envvar=True,
    metavar="AC...",
    help="Account sid ('AC' and 32 hex digits).",
)
@click.option(
    "--auth-token",
    envvar="TWILIO_AUTH_TOKEN",
    show_envvar=True,
    show_default=False,
    metavar="TOKEN",
    help="Auth token. Never printed.",
)
@click.option(
    "--api-key",
    envvar="TWILIO_API_KEY",
    show_envvar=True,
    metavar="SK...",
    help="API key sid; use with --api-secret instead of the auth token.",
)
@click.option(
    "--api-secret",
    envvar="TWILIO_API_SECRET",
    show_envvar=True,
    show_default=False,
    metavar="SECRET",
    help="API key secret. Never printed.",
)
@click.option(
    "--base-url",
    envvar="TWILIO_MEDIA_BASE_URL",
    show_envvar=True,
    metavar="URL",
    help="API origin, e.g. a fake server's http://127.0.0.1:8080 (overrides region and edge).",
)
@click.option("--region", envvar="TWILIO_REGION", show_envvar=True, help="Twilio region (us1...).")
@click.option("--edge", envvar="TWILIO_EDGE", show_envvar=True, help="Twilio edge (ashburn...).")
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    help="Attempts per request, retries included; 1 turns retries off.  [default: 4]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Timeout of each attempt.  [default: 10]",
)
@click.option(
    "--proxy",
    metavar="URL",
    help=(
        "HTTP proxy for every request, e.g. http://proxy.example.com:3128; credentials in "
        "the URL are never printed.  Without it, HTTPS_PROXY or HTTP_PROXY (by the API's "
        "scheme) and NO_PROXY apply."
    ),
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log to stderr: -v shows each retry and other info, -vv debug output.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    account_sid: str | None,
    auth_token: str | None,
    api_key: str | None,
    api_secret: str | None,
    base_url: str | None,
    region: str | None,
    edge: str | None,
    max_attempts: int | None,
    timeout: float | None,
    proxy: str | None,
    verbose: int,
) -> None:
    """Fetch, list and delete Twilio Media recordings (MediaRecordings).

    Credentials come from the options or the environment.  Global options go before the
    command: twilio-media --base-url http://127.0.0.1:8080 fetch KV...

    Try it without an account: twilio-media demo
    """
    ctx.obj = settings = Settings(
        account_sid=account_sid or None,
        auth_token=auth_token or None,
        api_key=api_key or None,
        api_secret=api_secret or None,
        base_url=base_url or None,
        region=region or None,
        edge=edge or None,
        max_attempts=max_attempts,
        timeout=timeout,
        proxy=proxy or None,
        verbose=verbose,
    )
    configure_logging(verbose, redact=settings.redact)


# -- fetch ---------------------------------------------------------------------------------


@cli.command()
@click.argument("sids", nargs=-1, required=True, metavar="SID...")
@_table_option
@_columns
@click.pass_context
def fetch(
    ctx: click.Context, sids: tuple[str, ...], table: bool, columns: tuple[str, ...] | None
) -> None:
    """Fetch recordings by sid, one after the other: a JSON line each on stdout (or a table;
    a single recording is shown vertically, with every field).

    An unknown sid is reported on stderr and the others are still printed (exit 1).  Any
    other error stops the command.
    """
    settings: Settings = ctx.obj
    _check_sids(sids)
    client = settings.client()
    table = table or columns is not None

    async def go() -> int:
        found: list[MediaRecording] = []
        missing = 0
        out = LineWriter(sys.stdout.buffer, settings.redact_bytes)
        async with client:
            for sid in sids:
                try:
                    recording = await client.fetch(sid)
                except NotFoundError as exc:
                    missing += 1
                    _error_line(settings, exc)
                    continue
                if table:
                    found.append(recording)
                else:
                    out.write(recording_json(recording))
        if table and found:
            _print_table(found, columns)
        return EXIT_FAILED if missing else EXIT_OK

    _exit(ctx, run_async(settings, go()))


# -- fetch-many and delete-many -------------------------------------------------------------

R = TypeVar("R", FetchResult, DeleteResult)


def _shard_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    if value is None:
        return None
    try:
        return parse_shard(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


_input_option = click.option(
    "-i",
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="File of sids, one per line (blank lines skipped); - reads stdin.",
)
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
    callback=_shard_option,
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


def _run_job(
    ctx: click.Context,
    job: _Job[R],
    client: MediaClient,
    stats: BulkStats,
    start: Callable[[MediaClient, AsyncIterable[str]], AsyncGenerator[R, None]],
    *,
    scan: OutputScan | None,
) -> None:
    """Run a bulk command: read the input lazily, keep the sids of the shard that are not
    done yet, write one line per result, print the summary and exit with its code."""
    settings: Settings = ctx.obj
    console = stderr_console()
    selection = Selection(job.shard, scan.done if scan is not None else None)
    in_file: IO[bytes] | None = None
    out_file: IO[bytes] | None = None
    try:
        if job.input_path == "-":
            if sys.stdin is None:
                raise UsageProblem("no stdin to read sids from: use -i FILE")
            in_fd = sys.stdin.fileno()
            if sys.stdin.isatty():
                console.print("Reading sids from stdin, one per line; end with Ctrl-D.")
        else:
            in_file = open(job.input_path, "rb")  # noqa: SIM115 - closed below
            in_fd = in_file.fileno()
        if job.output_path == "-":
            stream = sys.stdout.buffer
            if job.fmt.header is not None:
                stream.write(job.fmt.header + b"\n")
        else:
            try:
                out_file = stream = open_output(job.output_path, job.fmt, scan)
            except OSError as exc:
                raise CommandFailed(
                    f"cannot write {job.output_path}: {exc.strerror or exc}"
                ) from None
        if scan is not None and (scan.records or scan.torn):
            console.print(_resume_note(job, scan), markup=False, highlight=False, soft_wrap=True)
        out = LineWriter(stream, settings.redact_bytes)

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
                    results = start(client, sids)
                    await drive(results, write=write, stats=stats, progress=progress)
            return 0

        run_async(settings, go())
    finally:
        if in_file is not None:
            in_file.close()
        if out_file is not None:
            out_file.close()
    stats.skipped = selection.skipped
    console.print(summary(stats, title=job.title))
    if stats.interrupted:
        ctx.exit(EXIT_INTERRUPTED)
    if stats.stopped_early:
        raise CommandFailed(
            settings.redact(
                f"stopped early: the first {stats.failed_connects:,} requests all failed to "
                f"connect, so the other sids were not tried: {stats.connect_failure}"
            )
        )
    _exit(ctx, EXIT_FAILED if stats.failures else EXIT_OK)


@cli.command("fetch-many")
@_input_option
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, allow_dash=True, writable=True),
    default="-",
    show_default=True,
    help="Where the records go (truncated, unless --resume); - is stdout.",
)
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
    settings: Settings = ctx.obj
    stats = BulkStats()
    client = settings.client(on_retry=stats.on_retry, connection_limit=max(100, concurrency))
    job = _Job(
        "fetch-many",
        input_path,
        output_path,
        FETCH_FORMATS[output_format],
        resume,
        shard,
        concurrency,
        ordered,
    )
    scan = _scan_for_resume(settings, job)

    def start(client: MediaClient, sids: AsyncIterable[str]) -> AsyncGenerator[FetchResult, None]:
        return client.fetch_many(sids, concurrency=concurrency, ordered=ordered)

    _run_job(ctx, job, client, stats, start, scan=scan)


# -- list ----------------------------------------------------------------------------------


@cli.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in RecordingStatus]),
    help="Only recordings with this status.",
)
@click.option("--source-sid", metavar="SID", help="Only recordings of this source.")
@click.option("--processor-sid", metavar="ZX...", help="Only recordings of this processor.")
@click.option(
    "--order",
    type=click.Choice([o.value for o in RecordingOrder]),
    help="By date created (the API's default: desc).",
)
@click.option("--page-size", type=click.IntRange(1, 1000), help="Recordings per request.")
@click.option("--limit", type=click.IntRange(min=0), help="Stop after this many.")
@_table_option
@_columns
@click.pass_context
def list_(
    ctx: click.Context,
    status: str | None,
    source_sid: str | None,
    processor_sid: str | None,
    order: str | None,
    page_size: int | None,
    limit: int | None,
    table: bool,
    columns: tuple[str, ...] | None,
) -> None:
    """List recordings, newest first unless --order asc: JSON lines or a table."""
    settings: Settings = ctx.obj
    client = settings.client()
    table = table or columns is not None

    async def go() -> int:
        found: list[MediaRecording] = []
        out = LineWriter(sys.stdout.buffer, settings.redact_bytes)
        async with client:
            async for recording in client.list(
                status=status,
                source_sid=source_sid,
                processor_sid=processor_sid,
                order=order,
                page_size=page_size,
                limit=limit,
            ):
                if table:
                    found.append(recording)
                else:
                    out.write(recording_json(recording))
        if table:
            _print_table(found, columns)
        return EXIT_OK

    _exit(ctx, run_async(settings, go()))


# -- delete --------------------------------------------------------------------------------


@cli.command()
@click.argument("sids", nargs=-1, required=True, metavar="SID...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete(ctx: click.Context, sids: tuple[str, ...], yes: bool) -> None:
    """Delete recordings by sid, after a confirmation prompt (skip it with --yes).

    Prints "deleted SID" on stdout for each.  An unknown sid is reported on stderr and the
    others are still deleted (exit 1); without confirmation nothing is deleted (exit 1).
    """
    settings: Settings = ctx.obj
    _check_sids(sids)
    client = settings.client()
    if not yes:
        shown = ", ".join(sids[:3]) + (f" and {len(sids) - 3} more" if len(sids) > 3 else "")
        try:
            confirmed = click.confirm(
                f"Delete {len(sids)} recording(s): {shown}?", default=False, err=True
            )
        except click.Abort:  # end of input, or Ctrl-C at the prompt
            click.echo(err=True)
            confirmed = False
        if not confirmed:
            raise CommandFailed("nothing deleted: not confirmed (pass --yes to skip the prompt)")

    async def go() -> int:
        missing = 0
        async with client:
            for sid in sids:
                try:
                    await client.delete(sid)
                except NotFoundError as exc:
                    missing += 1
                    _error_line(settings, exc)
                    continue
                click.echo(f"deleted {sid}")
        return EXIT_FAILED if missing else EXIT_OK

    _exit(ctx, run_async(settings, go()))


# -- delete-many ---------------------------------------------------------------------------


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
    try:
        confirmed = click.confirm(
            f"Delete {count:,} recording(s) listed in {job.input_path}{where}{skipping}: {shown}?",
            default=False,
            err=True,
        )
    except click.Abort:  # end of input, or Ctrl-C at the prompt
        click.echo(err=True)
        confirmed = False
    if not confirmed:
        raise CommandFailed("nothing deleted: not confirmed (pass --yes to skip the prompt)")


@cli.command("delete-many")
@click.option(
    "-i",
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    required=True,
    help="File of sids, one per line (blank lines skipped); - reads stdin (needs --yes).",
)
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, allow_dash=True, writable=True),
    default="-",
    show_default=True,
    help="Where the JSON lines log goes (truncated, unless --resume); - is stdout.",
)
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
    settings: Settings = ctx.obj
    stats = BulkStats()
    client = settings.client(on_retry=stats.on_retry, connection_limit=max(100, concurrency))
    job = _Job(
        "delete-many", input_path, output_path, DELETE_LOG, resume, shard, concurrency, ordered
    )
    scan = _scan_for_resume(settings, job)
    if not yes:
        _confirm_delete_many(job, scan)

    def start(client: MediaClient, sids: AsyncIterable[str]) -> AsyncGenerator[DeleteResult, None]:
        return client.delete_many(sids, concurrency=concurrency, ordered=ordered)

    _run_job(ctx, job, client, stats, start, scan=scan)


# -- fake-server ---------------------------------------------------------------------------


@cli.command("fake-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0: any."
)
@click.option(
    "--recordings",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Recordings to generate.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data and faults.")
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Probability of a random fault (429, 5xx, reset) per request.",
)
@click.option(
    "--concurrency-limit",
    type=click.IntRange(min=1),
    help="Answer 429 to requests beyond this many in flight.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds added to each answer.",
)
@click.pass_context
def fake_server(
    ctx: click.Context,
    host: str,
    port: int,
    recordings: int,
    seed: int,
    fault_rate: float,
    concurrency_limit: int | None,
    latency: float,
) -> None:
    """Serve a fake Twilio Media API in the foreground until Ctrl-C.

    It prints its URL and the (fake) credentials it accepts, as export lines to paste into
    another shell; the global credential options are not used.  Point the other commands
    at it with those variables (or --base-url and the credential options).
    """
    from .testing import FakeMediaServer, serve_forever

    settings: Settings = ctx.obj
    try:
        server = FakeMediaServer(
            generate=recordings,
            seed=seed,
            fault_rate=fault_rate,
            concurrency_limit=concurrency_limit,
            latency=latency,
            host=host,
            port=port,
            record_requests=False,  # counters only: it may run for a long time
        )
    except (TypeError, ValueError) as exc:
        raise UsageProblem(str(exc)) from None

    async def go() -> int:
        try:
            await serve_forever(server)
        except OSError as exc:
            raise CommandFailed(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
        return EXIT_OK

    run_async(settings, go())


# -- demo ----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--recordings",
    type=click.IntRange(1, 1_000_000),
    default=5000,
    show_default=True,
    help="How many recordings the fake server holds (all are fetched).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data and faults.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="As in fetch-many.",
)
@click.pass_context
def demo(ctx: click.Context, recordings: int, seed: int, concurrency: int) -> None:
    """Fetch every recording of an in-process fake server that misbehaves on purpose.

    \b
    No credentials needed.  The fake server answers some requests with 429 and a
    short Retry-After, 503, a proxy's HTML 502 or a dropped connection, and
    refuses requests beyond 50 in flight with 429.  The SDK retries, and adapts its
    concurrency, until every recording is fetched; then three of the recordings
    (a table on stdout) and the summary (last, on stderr) are printed.  Exit 0
    when all were fetched.
    """
    from ._cli.demo import describe_profile, fake_server_for_demo

    settings: Settings = ctx.obj
    stats = BulkStats()
    console = stderr_console()
    samples: list[MediaRecording] = []
    server_requests = 0

    async def go() -> int:
        nonlocal server_requests
        async with fake_server_for_demo(recordings, seed) as server:
            console.print(
                f"Fake Twilio Media API on {server.url} with {recordings:,} recordings; "
                f"{describe_profile(server)}.",
                markup=False,
            )
            retry = settings.retry_policy(on_retry=stats.on_retry)
            client = MediaClient(
                **server.client_kwargs(),
                retry=retry,
                timeout=settings.timeout,
                connection_limit=max(100, concurrency),
                trust_env=False,  # the demo's server is on this machine, never behind a proxy
            )

            def keep_samples(result: FetchResult) -> None:
                if result.recording is not None and len(samples) < 3:
                    samples.append(result.recording)

            async with client:
                with Progress(stats, total=recordings, console=console) as progress:
                    await run_bulk(
                        client,
                        server.sids,
                        write=None,
                        on_result=keep_samples,
                        stats=stats,
                        progress=progress,
                        concurrency=concurrency,
                        ordered=False,
                    )
            server_requests = server.request_count
        return EXIT_OK

    run_async(settings, go())
    if samples:  # before the summary, so that the summary is what stays on the screen
        out = stdout_console()
        out.print(f"{len(samples)} of the recordings fetched:", markup=False)
        out.print(recordings_table(samples, console=out)[0])
    console.print(summary(stats, title="demo summary"))
    console.print(
        f"The fake server answered {server_requests:,} requests "
        "(aiohttp silently resends a GET once after a dropped connection).",
        markup=False,
    )
    if stats.interrupted:
        ctx.exit(EXIT_INTERRUPTED)
    _exit(ctx, EXIT_FAILED if stats.failures else EXIT_OK)


def main(argv: Sequence[str] | None = None) -> None:
    """The console entry point of ``twilio-media`` (and ``python -m twilio_media_async.cli``)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name=PROG)


if __name__ == "__main__":
    main()
