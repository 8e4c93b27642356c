"""What several commands share: the settings from the group, sid checks, prompts, exits."""

from __future__ import annotations

from collections.abc import Sequence

import click

from twilio_media_async import InvalidSidError
from twilio_media_async._cli.exits import EXIT_OK, CommandFailed, UsageProblem
from twilio_media_async._cli.settings import Settings
from twilio_media_async._sids import check_recording_sid

__all__ = ["check_sids", "confirm_delete", "exit_with", "settings_of"]


def settings_of(ctx: click.Context) -> Settings:
    """The global options, as the group left them in ``ctx.obj``."""
    settings: Settings = ctx.obj
    return settings


def check_sids(sids: Sequence[str]) -> None:
    """Refuse the whole command (exit 2) before any request when one sid is malformed."""
    for sid in sids:
        try:
            check_recording_sid(sid)
        except InvalidSidError as exc:
            raise UsageProblem(exc.message) from None


def confirm_delete(question: str) -> None:
    """Ask ``question`` on stderr; anything but yes (end of input and Ctrl-C included)
    stops the command with exit 1 before anything is deleted."""
    try:
        confirmed = click.confirm(question, default=False, err=True)
    except click.Abort:  # end of input, or Ctrl-C at the prompt
        click.echo(err=True)
        confirmed = False
    if not confirmed:
        raise CommandFailed("nothing deleted: not confirmed (pass --yes to skip the prompt)")


def exit_with(ctx: click.Context, code: int) -> None:
    """End the command with ``code`` (returning normally is exit 0)."""
    if code != EXIT_OK:
        ctx.exit(code)
