"""What the commands write: JSON lines of recordings and error records, and rich tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, Any

import orjson
from rich.table import Table

from twilio_media_async import ApiError, MediaRecording, TwilioMediaError, converter

__all__ = ["LineWriter", "error_record", "recording_json", "recordings_table"]


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


class LineWriter:
    """Writes whole lines to a binary stream, flushing after each one.

    Each line goes out in one ``write`` call followed by ``flush``, so an interrupted run
    leaves only complete lines behind.
    """

    def __init__(self, stream: IO[bytes], redact: Callable[[bytes], bytes] | None = None) -> None:
        self._stream = stream
        self._redact = redact
        self.lines = 0

    def write(self, line: bytes) -> None:
        """Write ``line`` (redacted, when a ``redact`` was given) and a newline, then flush."""
        if self._redact is not None:
            line = self._redact(line)
        self._stream.write(line + b"\n")
        self._stream.flush()
        self.lines += 1

    def write_json(self, data: Any) -> None:
        """Write ``data`` as one line of JSON."""
        self.write(orjson.dumps(data))


def _when(recording: MediaRecording) -> str:
    created = recording.date_created
    return "" if created is None else created.strftime("%Y-%m-%d %H:%M:%SZ")


def _number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def recordings_table(recordings: Iterable[MediaRecording], *, title: str | None = None) -> Table:
    """A table of recordings: sid, status, format, duration, size, resolution, created."""
    table = Table(title=title)
    table.add_column("sid", no_wrap=True, min_width=34)
    table.add_column("status")
    table.add_column("format")
    table.add_column("duration (s)", justify="right")
    table.add_column("size (bytes)", justify="right")
    table.add_column("resolution")
    table.add_column("created (UTC)", no_wrap=True)
    for rec in recordings:
        table.add_row(
            _text(rec.sid),
            _text(rec.status),
            _text(rec.format),
            _number(rec.duration),
            _number(rec.size),
            _text(rec.resolution),
            _when(rec),
        )
    return table
