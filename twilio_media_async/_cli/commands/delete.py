"""``twilio-media delete SID...``: recordings by sid, after a confirmation prompt."""

from __future__ import annotations

import click

from twilio_media_async import NotFoundError
from twilio_media_async._cli.exits import EXIT_FAILED, EXIT_OK
from twilio_media_async._cli.output import error_line
from twilio_media_async._cli.running import run_async

from ._shared import check_sids, confirm_delete, exit_with, settings_of

__all__ = ["delete"]


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
