"""What the commands write, and where: JSON lines on stdout or into a file, rich tables,
one-line errors and log records on stderr; every line passes through the settings'
redaction.

``fetch`` and ``list`` print recordings either way (``--table``, ``--columns``); the bulk
commands write one line per result (``LineWriter``), each whole.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any, Final, Literal

import click
import orjson
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from twilio_media_async import ApiError, MediaRecording, TwilioMediaError, converter

from .exits import describe_error
from .settings import Settings

__all__ = [
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "Column",
    "LineWriter",
    "RecordingOutput",
    "configure_logging",
    "error_line",
    "error_record",
    "line_writer",
    "parse_columns",
    "print_table",
    "recording_card",
    "recording_json",
    "recordings_table",
    "stderr_console",
    "stdout_console",
    "write_all",
]

# Tables written to a pipe or a file are not squeezed into 80 columns.
_PIPE_WIDTH: Final = 160


@functools.cache
def stderr_console() -> Console:
    """The one console for stderr: progress, logging and summaries share it."""
    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """A console for tables on stdout; wide when stdout is a pipe or a file."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else _PIPE_WIDTH
    return Console(file=sys.stdout, width=width, highlight=False)


# -- lines ---------------------------------------------------------------------------------


def recording_json(recording: MediaRecording) -> bytes:
    """One recording in Twilio's JSON shape (``converter.unstructure``), as compact bytes."""
    return orjson.dumps(converter.unstructure(recording))


def error_record(
    sid: Any,
    error: TwilioMediaError,
    attempts: int,
    redact: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The JSON record fetch-many writes for a sid that failed.

    ``status`` and ``code`` are the HTTP status and Twilio error code of an ApiError, and
    null for any other error (an invalid sid, a transport error...).  ``redact`` rewrites
    the message.
    """
    api = error if isinstance(error, ApiError) else None
    return {
        "sid": sid if isinstance(sid, str) else repr(sid),
        "error": type(error).__name__,
        "status": api.status if api is not None else None,
        "code": api.code if api is not None else None,
        "message": error.message if redact is None else redact(error.message),
        "attempts": attempts,
    }


def write_all(stream: IO[bytes], data: bytes) -> None:
    """Write all of ``data`` to ``stream``: an unbuffered file may take part of it (a disk
    that fills up, a file size limit), and then the rest is written again, so that the
    error comes from the next ``write``, as an OSError."""
    while data:
        written = stream.write(data)
        if written is None:  # a non-blocking stream that would block: try again
            continue
        data = data[written:]  # a copy, but only after a short write


class LineWriter:
    """Writes whole lines to a binary stream, flushing after each one.

    Each line goes out in one ``write`` call followed by ``flush``, so an interrupted run
    leaves only complete lines behind (and at most a torn last one, when a write fails
    half-way).
    """

    def __init__(self, stream: IO[bytes], redact: Callable[[bytes], bytes] | None = None) -> None:
        self._stream = stream
        self._redact = redact

    def write(self, line: bytes) -> None:
        """Write ``line`` (redacted, when a ``redact`` was given) and a newline, then flush."""
        if self._redact is not None:
            line = self._redact(line)
        write_all(self._stream, line + b"\n")
        self._stream.flush()

    def write_json(self, data: Any) -> None:
        """Write ``data`` as one line of JSON."""
        self.write(orjson.dumps(data))


def line_writer(settings: Settings, stream: IO[bytes] | None = None) -> LineWriter:
    """Whole lines to ``stream`` (stdout by default), each redacted."""
    return LineWriter(sys.stdout.buffer if stream is None else stream, settings.redact_bytes)


def error_line(settings: Settings, exc: TwilioMediaError) -> None:
    """Report an error that does not stop the command (an unknown sid) on stderr."""
    click.echo(f"Error: {settings.redact(describe_error(exc))}", err=True)


# -- tables --------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _number(value: int | None, unit: str = "") -> str:
    return "" if value is None else f"{value:,}{unit}"


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of the recordings table: its header and how a recording fills its cell."""

    header: str
    cell: Callable[[MediaRecording], str]
    numeric: bool = False


COLUMNS: Final[Mapping[str, Column]] = {
    "sid": Column("sid", lambda r: _text(r.sid)),
    "status": Column("status", lambda r: _text(r.status)),
    "format": Column("format", lambda r: _text(r.format)),
    "duration": Column("duration", lambda r: _number(r.duration, " s"), numeric=True),
    "size": Column("size (bytes)", lambda r: _number(r.size), numeric=True),
    "bitrate": Column("bitrate", lambda r: _number(r.bitrate), numeric=True),
    "resolution": Column("resolution", lambda r: _text(r.resolution)),
    "created": Column("created (UTC)", lambda r: _when(r.date_created)),
    "updated": Column("updated (UTC)", lambda r: _when(r.date_updated)),
    "source_sid": Column("source sid", lambda r: _text(r.source_sid)),
    "processor_sid": Column("processor sid", lambda r: _text(r.processor_sid)),
    "account_sid": Column("account sid", lambda r: _text(r.account_sid)),
    "status_callback": Column("status callback", lambda r: _text(r.status_callback)),
    "status_callback_method": Column(
        "status callback method", lambda r: _text(r.status_callback_method)
    ),
    "url": Column("url", lambda r: _text(r.url)),
    "media": Column("media", lambda r: _text(r.links.get("media") if r.links else None)),
}
"""Every column ``--columns`` can name, in the order the vertical layout shows them."""

_UNBOUNDED: Final = 1_000_000

DEFAULT_COLUMNS: Final = ("sid", "status", "duration", "size", "created")
"""The table's columns unless ``--columns`` says otherwise, most important first: when the
terminal is too narrow for all of them, the last ones are left out."""


def parse_columns(text: str) -> tuple[str, ...]:
    """``"sid, size"`` -> ``("sid", "size")``; ValueError naming the choices for an unknown
    or repeated name, or for none at all."""
    names = tuple(name.strip().lower().replace("-", "_") for name in text.split(","))
    names = tuple(name for name in names if name)
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or not names:
        what = f"unknown column {', '.join(map(repr, unknown))}" if unknown else "no column"
        raise ValueError(f"{what}: choose from {', '.join(COLUMNS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"a column is named twice in {text!r}")
    return names


def _table(recordings: Sequence[MediaRecording], names: Sequence[str]) -> Table:
    table = Table()
    for name in names:
        column = COLUMNS[name]
        # Nothing is ever cut or wrapped: the caller leaves out columns until it fits.
        justify: Literal["left", "right"] = "right" if column.numeric else "left"
        table.add_column(column.header, justify=justify, no_wrap=True)
    for recording in recordings:
        table.add_row(*(COLUMNS[name].cell(recording) for name in names))
    return table


def recordings_table(
    recordings: Sequence[MediaRecording],
    *,
    console: Console,
    columns: Sequence[str] = DEFAULT_COLUMNS,
) -> tuple[Table, tuple[str, ...]]:
    """A table of ``recordings`` with ``columns`` that fits ``console``'s width, and the
    names of the columns left out to make it fit.

    A cell is never cut: a number cut short misstates the data. Columns are left out from
    the end of ``columns`` instead, down to the first one.
    """
    names = list(columns)
    unbounded = console.options.update_width(_UNBOUNDED)  # the table's natural width
    while True:
        table = _table(recordings, names)
        width = Measurement.get(console, unbounded, table).maximum
        if width <= console.width or len(names) == 1:
            return table, tuple(column for column in columns if column not in names)
        names.pop()


def recording_card(recording: MediaRecording, *, columns: Sequence[str] | None = None) -> Table:
    """One recording, vertically: a row per field (every field unless ``columns``).

    Long values (a URL) fold onto the next line rather than being cut.
    """
    table = Table(show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in COLUMNS if columns is None else columns:
        table.add_row(COLUMNS[name].header, COLUMNS[name].cell(recording))
    return table


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


# -- logging -------------------------------------------------------------------------------


class _Redacting(logging.Filter):
    """Rewrites each record as its redacted text (the traceback included, as text)."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self._redact(text), None
        record.exc_info, record.exc_text = None, None
        return True


def configure_logging(verbose: int, redact: Callable[[str], str] | None = None) -> None:
    """Log to stderr: errors only by default; ``-v`` adds INFO and WARNING records (each
    retry among them), ``-vv`` debug output.  ``redact`` rewrites every line before it is
    shown."""
    level = logging.ERROR if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=stderr_console(), show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if redact is not None:
        handler.addFilter(_Redacting(redact))
    logging.basicConfig(level=level, handlers=[handler], force=True)
