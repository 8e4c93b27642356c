"""What several commands share: the settings from the group, sid checks, prompts, exits."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from twilio_media_async import InvalidSidError
from twilio_media_async._cli.exits import EXIT_OK, CommandFailed, UsageProblem
from twilio_media_async._cli.settings import Settings
from twilio_media_async._config import check_recording_sid

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
    """Ask ``question`` on stderr; anything but yes (end of input included) stops the
    command with exit 1 before anything is deleted.  Ctrl-C stops it too, with 130 as
    anywhere else (click's own prompt would turn it into an abort, exit 1)."""
    click.echo(f"{question} [y/N]: ", nl=False, err=True)
    answer = sys.stdin.readline() if sys.stdin is not None else ""
    if not answer.endswith("\n"):  # end of input: end the prompt's line
        click.echo(err=True)
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandFailed("nothing deleted: not confirmed (pass --yes to skip the prompt)")


def exit_with(ctx: click.Context, code: int) -> None:
    """End the command with ``code`` (returning normally is exit 0)."""
    if code != EXIT_OK:
        ctx.exit(code)
