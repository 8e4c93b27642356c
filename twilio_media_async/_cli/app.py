"""The ``twilio-media`` group: its global options, and every command under it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import click

from twilio_media_async import __version__

from .commands import COMMANDS, load_command
from .exits import EXIT_INTERRUPTED
from .output import configure_logging
from .settings import Settings

__all__ = ["PROG", "cli"]

PROG: Final = "twilio-media"
_CONTEXT: Final = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _interrupted() -> click.exceptions.Exit:
    click.echo("\nInterrupted.", err=True)
    return click.exceptions.Exit(EXIT_INTERRUPTED)


class _Group(click.Group):
    """The command group, with a hint when a global option follows the command.

    A command's module is imported when the command is looked up, so that ``fetch`` does
    not pay for importing the fake server that ``fake-server`` and ``demo`` need.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            raise _interrupted() from None

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Ctrl-C outside the event loop (reading a --resume file, say): 130 as inside
            # it, where run_async maps it; click's own handler would say "Aborted!", exit 1.
            raise _interrupted() from None
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


def _from_env(
    flag: str, envvar: str, metavar: str, help_text: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A global option that the environment variable ``envvar`` may give instead; its
    help names the variable, never its value."""
    return click.option(
        flag, envvar=envvar, show_envvar=True, show_default=False, metavar=metavar, help=help_text
    )


@click.group(cls=_Group, context_settings=_CONTEXT, no_args_is_help=True)
@click.version_option(__version__, prog_name=PROG)
@_from_env("--account-sid", "TWILIO_ACCOUNT_SID", "AC...", "Account sid ('AC' and 32 hex digits).")
@_from_env("--auth-token", "TWILIO_AUTH_TOKEN", "TOKEN", "Auth token. Never printed.")
@_from_env(
    "--api-key",
    "TWILIO_API_KEY",
    "SK...",
    "API key sid; use with --api-secret instead of the auth token.",
)
@_from_env("--api-secret", "TWILIO_API_SECRET", "SECRET", "API key secret. Never printed.")
@_from_env(
    "--base-url",
    "TWILIO_MEDIA_BASE_URL",
    "URL",
    "API origin, e.g. a fake server's http://127.0.0.1:8080 (overrides region and edge).",
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
