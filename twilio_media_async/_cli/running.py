"""Running a command's coroutine, with the SDK's errors mapped to exit codes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import click

from twilio_media_async import InvalidParameterError, InvalidSidError, TwilioMediaError

from .exits import EXIT_INTERRUPTED, CommandFailed, UsageProblem, describe_error
from .settings import Settings

__all__ = ["run_async"]


def run_async(settings: Settings, main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; map the SDK's errors to one line on stderr and an exit
    code (2 for bad input, 1 for failures, 130 for Ctrl-C), never a traceback."""
    try:
        return asyncio.run(main)
    except (InvalidSidError, InvalidParameterError) as exc:
        raise UsageProblem(settings.redact(exc.message)) from None
    except TwilioMediaError as exc:
        raise CommandFailed(settings.redact(describe_error(exc))) from None
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise  # click exits quietly when the reader of stdout went away
        raise CommandFailed(settings.redact(f"{type(exc).__name__}: {exc}")) from None
    except Exception as exc:
        if settings.verbose:
            raise
        raise CommandFailed(
            settings.redact(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)")
        ) from None
