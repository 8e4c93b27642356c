"""Where the commands' records go: JSON lines on stdout, or a table at the end.

``fetch`` and ``list`` print recordings either way (``--table``, ``--columns``); the bulk
commands write one line per result.  Every line passes through the settings' redaction.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, TypeVar

import click

from twilio_media_async import MediaRecording, TwilioMediaError

from .consoles import stderr_console, stdout_console
from .exits import describe_error
from .params import parsed_by
from .render import (
    COLUMNS,
    DEFAULT_COLUMNS,
    LineWriter,
    parse_columns,
    recording_card,
    recording_json,
    recordings_table,
)
from .settings import Settings

__all__ = ["RecordingOutput", "error_line", "line_writer", "print_table", "table_options"]

F = TypeVar("F", bound=Callable[..., Any])


_table = click.option("--table", is_flag=True, help="Print a table instead of JSON lines.")
_columns = click.option(
    "--columns",
    metavar="NAME,...",
    callback=parsed_by(parse_columns),
    help=(
        f"The table's columns, implies --table [default: {','.join(DEFAULT_COLUMNS)}; "
        f"also: {', '.join(name for name in COLUMNS if name not in DEFAULT_COLUMNS)}]."
    ),
)


def table_options(command: F) -> F:
    """``--table`` and ``--columns``: the options of a command that prints recordings."""
    return _table(_columns(command))


def line_writer(settings: Settings, stream: IO[bytes] | None = None) -> LineWriter:
    """Whole lines to ``stream`` (stdout by default), each redacted."""
    return LineWriter(sys.stdout.buffer if stream is None else stream, settings.redact_bytes)


def error_line(settings: Settings, exc: TwilioMediaError) -> None:
    """Report an error that does not stop the command (an unknown sid) on stderr."""
    click.echo(f"Error: {settings.redact(describe_error(exc))}", err=True)


def print_table(recordings: Sequence[MediaRecording], columns: tuple[str, ...] | None) -> None:
    """One recording vertically, several as a table that fits the terminal: columns that do
    not fit are left out (and named on stderr) rather than cut."""
    console = stdout_console()
    if len(recordings) == 1:
        console.print(recording_card(recordings[0], columns=columns))
        return
    table, left_out = recordings_table(
        recordings, console=console, columns=columns or DEFAULT_COLUMNS
    )
    console.print(table)
    if left_out:
        stderr_console().print(
            f"Left out to fit {console.width} columns: {', '.join(left_out)} (--columns chooses).",
            markup=False,
        )


class RecordingOutput:
    """The recordings a command prints: a JSON line each as it comes, or (with ``--table``
    or ``--columns``) kept for one table when the command is done."""

    def __init__(self, settings: Settings, *, table: bool, columns: tuple[str, ...] | None) -> None:
        self._columns = columns
        self._kept: list[MediaRecording] | None = [] if table or columns is not None else None
        self._out = line_writer(settings)

    def add(self, recording: MediaRecording) -> None:
        """Print ``recording`` now, or keep it for the table."""
        if self._kept is None:
            self._out.write(recording_json(recording))
        else:
            self._kept.append(recording)

    def finish(self, *, empty_table: bool) -> None:
        """Print the table, if one was asked for; with no recording, only if
        ``empty_table``."""
        if self._kept is not None and (self._kept or empty_table):
            print_table(self._kept, self._columns)
