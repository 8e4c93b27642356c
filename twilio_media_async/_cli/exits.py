"""How a command ends: its exit code, the two exceptions that end it with one
``Error: ...`` line, and ``run_async``, which maps the SDK's errors to them."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, ClassVar, Final, Protocol

import click

from twilio_media_async import (
    InvalidParameterError,
    InvalidSidError,
    TwilioMediaError,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandFailed",
    "UsageProblem",
    "describe_error",
    "exit_code",
    "one_line",
    "run_async",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, as shells report it


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


class _OneLineError(click.ClickException):
    """A ``click.ClickException`` shown as one ``Error: ...`` line, without a usage block."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class UsageProblem(_OneLineError):
    """Bad input that no request could fix (a bad sid, missing credentials): exit 2."""

    exit_code: ClassVar[int] = EXIT_USAGE


class CommandFailed(_OneLineError):
    """The command ran and failed (an API or transport error, nothing confirmed): exit 1."""

    exit_code: ClassVar[int] = EXIT_FAILED


def describe_error(exc: TwilioMediaError) -> str:
    """``Type: message (after N attempts)`` on one line, for stderr."""
    text = f"{type(exc).__name__}: {exc}"
    if exc.attempts > 1:
        text += f" (after {exc.attempts} attempts)"
    return one_line(text)


def exit_code(*, interrupted: bool, failed: bool) -> int:
    """How a run that went to its end exits: 130 after Ctrl-C, 1 when something failed,
    else 0."""
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK


class _Reporting(Protocol):
    """What ``run_async`` needs of the settings (``Settings`` has it): the redaction of
    every message, and whether ``-v`` asks for tracebacks."""

    @property
    def verbose(self) -> int: ...

    def redact(self, text: str) -> str: ...


def run_async(settings: _Reporting, main: Coroutine[Any, Any, int]) -> int:
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
