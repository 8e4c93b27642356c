"""``twilio-media list``: recordings page by page, filtered."""

from __future__ import annotations

import click

from twilio_media_async import RecordingOrder, RecordingStatus
from twilio_media_async._cli.exits import EXIT_OK
from twilio_media_async._cli.output import RecordingOutput, table_options
from twilio_media_async._cli.running import run_async

from ._shared import exit_with, settings_of

__all__ = ["list_"]


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
