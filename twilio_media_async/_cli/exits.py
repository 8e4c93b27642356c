"""Exit codes, and the two exceptions that end a command with one ``Error: ...`` line."""

from __future__ import annotations

from typing import ClassVar, Final

import click

from twilio_media_async import TwilioMediaError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandFailed",
    "UsageProblem",
    "describe_error",
    "one_line",
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
