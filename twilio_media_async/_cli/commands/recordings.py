"""The commands on recordings one at a time: ``fetch SID...``, ``list`` and
``delete SID...``.

``fetch`` and ``list`` print JSON lines, or a table with ``--table``/``--columns``;
``delete`` asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from twilio_media_async import NotFoundError, RecordingOrder, RecordingStatus
from twilio_media_async._cli.exits import EXIT_FAILED, EXIT_OK, run_async
from twilio_media_async._cli.output import (
    COLUMNS,
    DEFAULT_COLUMNS,
    RecordingOutput,
    error_line,
    parse_columns,
)
from twilio_media_async._cli.params import parsed_by

from ._shared import check_sids, confirm_delete, exit_with, settings_of

__all__ = ["delete", "fetch", "list_", "table_options"]

F = TypeVar("F", bound=Callable[..., Any])

_table = click.option("--table", is_flag=True, help="Print a table instead of JSON lines.")
_columns = click.option(
    "--columns",
    metavar="NAME,...",
    callback=parsed_by(parse_columns),
    help=(
        f"The table's columns, implies --table [default: {','.join(DEFAULT_COLUMNS)}; "
        f"also: {', '.join(name for name in COLUMNS if name not in DEFAULT_COLUMNS)}]."
    ),
)


def table_options(command: F) -> F:
    """``--table`` and ``--columns``: the options of a command that prints recordings."""
    return _table(_columns(command))


@click.command()
@click.argument("sids", nargs=-1, required=True, metavar="SID...")
@table_options
@click.pass_context
def fetch(
    ctx: click.Context, sids: tuple[str, ...], table: bool, columns: tuple[str, ...] | None
) -> None:
    """Fetch recordings by sid, one after the other: a JSON line each on stdout (or a table;
    a single recording is shown vertically, with every field).

    An unknown sid is reported on stderr and the others are still printed (exit 1).  Any
    other error stops the command.
    """
    settings = settings_of(ctx)
    check_sids(sids)
    client = settings.client()
    output = RecordingOutput(settings, table=table, columns=columns)

    async def go() -> int:
        missing = 0
        async with client:
            for sid in sids:
                try:
                    output.add(await client.fetch(sid))
                except NotFoundError as exc:
                    missing += 1
                    error_line(settings, exc)
        output.finish(empty_table=False)
        return EXIT_FAILED if missing else EXIT_OK

    exit_with(ctx, run_async(settings, go()))


@click.command("list")
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
@table_options
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
    settings = settings_of(ctx)
    client = settings.client()
    output = RecordingOutput(settings, table=table, columns=columns)

    async def go() -> int:
        async with client:
            async for recording in client.list(
                status=status,
                source_sid=source_sid,
                processor_sid=processor_sid,
                order=order,
                page_size=page_size,
                limit=limit,
            ):
                output.add(recording)
        output.finish(empty_table=True)
        return EXIT_OK

    exit_with(ctx, run_async(settings, go()))


@click.command()
@click.argument("sids", nargs=-1, required=True, metavar="SID...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete(ctx: click.Context, sids: tuple[str, ...], yes: bool) -> None:
    """Delete recordings by sid, after a confirmation prompt (skip it with --yes).

    Prints "deleted SID" on stdout for each.  An unknown sid is reported on stderr and the
    others are still deleted (exit 1); without confirmation nothing is deleted (exit 1).
    """
    settings = settings_of(ctx)
    check_sids(sids)
    client = settings.client()
    if not yes:
        shown = ", ".join(sids[:3]) + (f" and {len(sids) - 3} more" if len(sids) > 3 else "")
        confirm_delete(f"Delete {len(sids)} recording(s): {shown}?")

    async def go() -> int:
        missing = 0
        async with client:
            for sid in sids:
                try:
                    await client.delete(sid)
                except NotFoundError as exc:
                    missing += 1
                    error_line(settings, exc)
                    continue
                click.echo(f"deleted {sid}")
        return EXIT_FAILED if missing else EXIT_OK

    exit_with(ctx, run_async(settings, go()))
