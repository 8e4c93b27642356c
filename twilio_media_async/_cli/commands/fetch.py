"""``twilio-media fetch SID...``: recordings by sid, one after the other."""

from __future__ import annotations

import click

from twilio_media_async import NotFoundError
from twilio_media_async._cli.exits import EXIT_FAILED, EXIT_OK
from twilio_media_async._cli.output import RecordingOutput, error_line, table_options
from twilio_media_async._cli.running import run_async

from ._shared import check_sids, exit_with, settings_of

__all__ = ["fetch"]


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
