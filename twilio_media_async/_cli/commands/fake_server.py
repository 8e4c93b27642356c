"""``twilio-media fake-server``: the runner of ``python -m twilio_media_async.testing``,
with the same options, under the CLI's error handling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from twilio_media_async._cli.exits import EXIT_OK, CommandFailed, UsageProblem, run_async
from twilio_media_async.testing import (
    RUNNER_OPTIONS,
    RunnerOption,
    serve_forever,
    server_from_options,
)

from ._shared import settings_of

__all__ = ["fake_server"]


def _param_type(option: RunnerOption) -> click.ParamType[Any] | type[Any]:
    """The click type of a runner option: its choices, or its type within its bounds."""
    if option.choices is not None:
        return click.Choice(option.choices)
    if option.type is int and (option.low is not None or option.high is not None):
        return click.IntRange(
            None if option.low is None else int(option.low),
            None if option.high is None else int(option.high),
        )
    if option.type is float and (option.low is not None or option.high is not None):
        return click.FloatRange(option.low, option.high)
    return option.type


def _runner_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``command`` with every option of the runner, in the runner's order."""
    for option in reversed(RUNNER_OPTIONS):
        command = click.option(
            option.flag,
            type=_param_type(option),
            default=option.default,
            show_default=option.default is not None,
            help=option.help,
        )(command)
    return command


@click.command("fake-server")
@_runner_options
@click.pass_context
def fake_server(ctx: click.Context, /, **options: Any) -> None:
    """Serve a fake Twilio Media API in the foreground until Ctrl-C.

    It prints its URL and the (fake) credentials it accepts, as export lines to paste into
    another shell; the global credential options are not used (its own --account-sid and
    --auth-token choose what it accepts).  Point the other commands at it with those
    variables (or --base-url and the credential options).
    """
    settings = settings_of(ctx)
    try:
        server = server_from_options(**options)
    except (TypeError, ValueError) as exc:
        raise UsageProblem(str(exc)) from None

    async def go() -> int:
        try:
            await serve_forever(server)
        except OSError as exc:
            where = f"{options['host']}:{options['port']}"
            raise CommandFailed(f"cannot serve on {where}: {exc.strerror or exc}") from None
        return EXIT_OK

    run_async(settings, go())
