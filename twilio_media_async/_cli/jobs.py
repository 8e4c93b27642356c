"""Bulk jobs that survive restarts and span workers: shards, resumable output files, and the
records written to them.

Everything here is pure except ``scan_output`` and ``open_output``, which read and cut the
output file, so each decision is tested on its own.

- A **shard** is a stable hash of the sid modulo N: the same on every machine, Python version
  and run (``hash()`` is salted per process), so N workers given one input file share it
  with no overlap and no gap.
- An **output file** is resumable because each record is one whole line, written in one
  ``write`` and flushed: a process killed at any moment leaves whole lines, and at most a
  torn last line without its newline, which the next ``--resume`` cuts away (never
  completes) before appending.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Set
from typing import IO, Any, Final, Generic, TypeVar

import attrs
import orjson

from twilio_media_async import DeleteResult, FetchResult, converter
from twilio_media_async._sids import RECORDING_SID

from .render import error_record, recording_json

__all__ = [
    "DELETE_LOG",
    "FETCH_CSV_COLUMNS",
    "FETCH_FORMATS",
    "NotAnOutputFile",
    "OutputScan",
    "SKIPPED_DONE",
    "SKIPPED_OTHER_SHARDS",
    "SKIPPED_REPEATED",
    "RecordFormat",
    "Selection",
    "Shard",
    "count_sids",
    "open_output",
    "parse_shard",
    "scan_output",
    "shard_of",
    "sid_key",
]

R = TypeVar("R", FetchResult, DeleteResult)
Redact = Callable[[str], str]
_MAX_LINE: Final = 4096  # as read_sids: a longer line is no sid; only its start is kept

# -- shards --------------------------------------------------------------------------------


def sid_key(sid: str) -> str:
    """What identifies a sid across runs and workers: a valid sid with its hex digits in
    lower case (``KVAB...`` and ``KVab...`` name one recording), anything else as given."""
    if RECORDING_SID.match(sid):
        return "KV" + sid[2:].lower()
    return sid


def shard_of(sid: str, count: int) -> int:
    """The shard (0 to ``count - 1``) of ``sid``: the first 8 bytes of the BLAKE2b digest of
    its key (``sid_key``, UTF-8), as a big-endian integer, modulo ``count``."""
    digest = hashlib.blake2b(sid_key(sid).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@attrs.frozen
class Shard:
    """Shard ``index`` of ``count``: the sids whose ``shard_of`` is ``index``."""

    index: int
    count: int

    def holds(self, sid: str) -> bool:
        """Whether ``sid`` falls in this shard."""
        return self.count == 1 or shard_of(sid, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` as a Shard, with K from 0 to N-1; ValueError saying what is wrong."""
    index, slash, count = text.strip().partition("/")
    if not (slash and index.strip().isdigit() and count.strip().isdigit()):
        raise ValueError(f"expected K/N, such as 0/4, got {text!r}")
    k, n = int(index), int(count)
    if n < 1:
        raise ValueError(f"the number of shards must be at least 1, got {text!r}")
    if k >= n:
        raise ValueError(f"K must be from 0 to N-1 (shards are numbered from 0), got {text!r}")
    return Shard(k, n)


# -- which input sids a run sends ----------------------------------------------------------

SKIPPED_DONE: Final = "already done"
SKIPPED_REPEATED: Final = "repeated in the input"
SKIPPED_OTHER_SHARDS: Final = "in other shards"


class Selection:
    """Which input sids a run sends: those of its shard and, when resuming, each distinct
    sid once, and none that is ``done`` already.  ``skipped`` counts the others by reason.

    Without ``done`` (no resume) every line of the shard is sent, repeats included: then
    each input line gets its own output line.
    """

    def __init__(self, shard: Shard | None = None, done: Set[str] | None = None) -> None:
        self.shard = shard
        self.done = done
        self.skipped: Counter[str] = Counter()
        self._seen: set[str] = set()

    def admit(self, sid: str) -> bool:
        """Whether to send ``sid``; counts it under ``skipped`` when not."""
        if self.shard is not None and not self.shard.holds(sid):
            self.skipped[SKIPPED_OTHER_SHARDS] += 1
            return False
        if self.done is not None:
            key = sid_key(sid)
            if key in self.done:
                self.skipped[SKIPPED_DONE] += 1
                return False
            if key in self._seen:
                self.skipped[SKIPPED_REPEATED] += 1
                return False
            self._seen.add(key)
        return True

    async def filter(self, sids: AsyncIterable[str]) -> AsyncIterator[str]:
        """The sids of ``sids`` that ``admit`` lets through, read lazily."""
        async for sid in sids:
            if self.admit(sid):
                yield sid


def count_sids(path: str, selection: Selection, *, keep: int = 0) -> tuple[int, list[str]]:
    """How many sids of the file at ``path`` ``selection`` admits, and the first ``keep``
    of them: what a confirmation prompt shows before anything is sent.  Lines are read as
    the commands read them: stripped, blank ones skipped."""
    count = 0
    first: list[str] = []
    with open(path, "rb") as stream:
        for number, raw in enumerate(stream):
            line = raw.removeprefix(b"\xef\xbb\xbf") if number == 0 else raw
            sid = line.strip()[:_MAX_LINE].decode("utf-8", "replace")
            if sid and selection.admit(sid):
                count += 1
                if len(first) < keep:
                    first.append(sid)
    return count, first


# -- record formats ------------------------------------------------------------------------


class RecordFormat(Generic[R]):
    """How a command writes its results, one line each, and reads them back on resume."""

    name: str = ""
    header: bytes | None = None
    """The first line of a file in this format, when it has one (CSV)."""

    def line(self, result: R, redact: Redact | None = None) -> bytes:
        """The line (without its newline) for one result; ``redact`` rewrites messages."""
        raise NotImplementedError

    def read(self, line: bytes) -> tuple[str, bool] | None:
        """``(sid, ok)`` of a line this format wrote, or None when it is not one."""
        raise NotImplementedError


def _read_json_line(line: bytes) -> tuple[str, bool] | None:
    """A JSON record: an object with a str ``sid``; ok unless it has an ``error`` key."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or type(data.get("sid")) is not str:
        return None
    return data["sid"], "error" not in data


def _error_line(sid: Any, error: Any, attempts: int, redact: Redact | None) -> bytes:
    return orjson.dumps(error_record(sid, error, attempts, redact))


class _FetchJsonl(RecordFormat[FetchResult]):
    name = "jsonl"

    def line(self, result: FetchResult, redact: Redact | None = None) -> bytes:
        if result.recording is not None:
            return recording_json(result.recording)
        assert result.error is not None
        return _error_line(result.sid, result.error, result.attempts, redact)

    def read(self, line: bytes) -> tuple[str, bool] | None:
        return _read_json_line(line)


FETCH_CSV_COLUMNS: Final = (
    "sid",
    "status",
    "format",
    "duration",
    "size",
    "bitrate",
    "resolution",
    "date_created",
    "date_updated",
    "source_sid",
    "processor_sid",
    "account_sid",
    "status_callback",
    "status_callback_method",
    "url",
    "media_url",
    "error",
    "http_status",
    "code",
    "message",
    "attempts",
)
"""fetch-many's CSV columns: a recording's fields (dates in ISO 8601, ``media_url`` from its
links), then, for a sid that failed, the error record's fields (``http_status`` is the
JSON record's ``status``)."""
_RECORDING_COLUMNS: Final = FETCH_CSV_COLUMNS[: FETCH_CSV_COLUMNS.index("media_url")]
_ERROR_COLUMN: Final = FETCH_CSV_COLUMNS.index("error")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    # A row is one line, so that a torn row is a torn line: no newline inside a cell.
    return str(value).replace("\r", " ").replace("\n", " ")


def _csv_line(cells: Mapping[str, Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(
        [_cell(cells.get(name)) for name in FETCH_CSV_COLUMNS]
    )
    return buffer.getvalue().encode("utf-8")


class _FetchCsv(RecordFormat[FetchResult]):
    name = "csv"
    header = ",".join(FETCH_CSV_COLUMNS).encode()

    def line(self, result: FetchResult, redact: Redact | None = None) -> bytes:
        if result.recording is not None:
            data = converter.unstructure(result.recording)
            cells = {name: data.get(name) for name in _RECORDING_COLUMNS}
            if cells["sid"] is None:  # a server that left the sid out: the one asked for
                cells["sid"] = result.sid
            links = data.get("links") or {}
            cells["media_url"] = links.get("media")
            cells["attempts"] = result.attempts
            return _csv_line(cells)
        assert result.error is not None
        record = error_record(result.sid, result.error, result.attempts, redact)
        return _csv_line(
            {
                "sid": record["sid"],
                "error": record["error"],
                "http_status": record["status"],
                "code": record["code"],
                "message": record["message"],
                "attempts": record["attempts"],
            }
        )

    def read(self, line: bytes) -> tuple[str, bool] | None:
        try:
            rows = list(csv.reader([line.decode("utf-8").rstrip("\r\n")]))
        except (UnicodeDecodeError, csv.Error):
            return None
        if len(rows) != 1 or len(rows[0]) != len(FETCH_CSV_COLUMNS) or not rows[0][0]:
            return None
        row = rows[0]
        return row[0], row[_ERROR_COLUMN] == ""


class _DeleteJsonl(RecordFormat[DeleteResult]):
    name = "jsonl"

    def line(self, result: DeleteResult, redact: Redact | None = None) -> bytes:
        if result.error is None:
            sid = result.sid if isinstance(result.sid, str) else repr(result.sid)
            return orjson.dumps({"sid": sid, "deleted": True, "attempts": result.attempts})
        return _error_line(result.sid, result.error, result.attempts, redact)

    def read(self, line: bytes) -> tuple[str, bool] | None:
        return _read_json_line(line)


FETCH_FORMATS: Final[Mapping[str, RecordFormat[FetchResult]]] = {
    "jsonl": _FetchJsonl(),
    "csv": _FetchCsv(),
}
"""fetch-many's ``--format`` choices."""
DELETE_LOG: Final[RecordFormat[DeleteResult]] = _DeleteJsonl()
"""delete-many's log: ``{"sid", "deleted": true, "attempts"}`` per deleted sid, and the
error record of fetch-many per failed one."""


# -- the output file -----------------------------------------------------------------------


class NotAnOutputFile(ValueError):
    """The output file holds something this command did not write: resuming refuses it."""


@attrs.frozen
class OutputScan:
    """What an earlier run left in an output file."""

    done: Set[str]
    """The keys (``sid_key``) of the sids with an ok record."""
    records: int
    """Whole records read."""
    failed: int
    """Error records among them."""
    keep: int
    """Bytes of whole lines: the file is cut to this length before appending."""
    torn: int
    """Bytes after them: a torn last line, left by a process killed mid-write."""


def scan_output(path: str, fmt: RecordFormat[Any]) -> OutputScan:
    """Read an output file for ``--resume``: the sids done, and where its whole lines end.

    A missing file is an empty one.  Every whole line must be a record of ``fmt`` (blank
    lines aside), and a CSV file must start with ``fmt.header``; anything else raises
    NotAnOutputFile naming the line, since appending to a file of another kind would only
    make things worse.  Only a last line without its newline is forgiven: it is torn.
    """
    done: set[str] = set()
    records = failed = keep = 0
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return OutputScan(done=done, records=0, failed=0, keep=0, torn=0)
    with stream:
        size = os.fstat(stream.fileno()).st_size
        for number, raw in enumerate(stream, start=1):
            if not raw.endswith(b"\n"):
                break  # the torn last line
            keep += len(raw)
            line = raw.rstrip(b"\r\n")
            if number == 1 and fmt.header is not None:
                if line != fmt.header:
                    raise NotAnOutputFile(
                        f"{path} does not start with the {fmt.name.upper()} header this "
                        "command writes: was it written with another --format?"
                    )
                continue
            if not line.strip():
                continue
            record = fmt.read(line)
            if record is None:
                raise NotAnOutputFile(
                    f"line {number:,} of {path} is not a {fmt.name.upper()} record this "
                    "command writes, so the file cannot be resumed: remove that line, or "
                    "write to a new file"
                )
            records += 1
            sid, ok = record
            if ok:
                done.add(sid_key(sid))
            else:
                failed += 1
    return OutputScan(done=done, records=records, failed=failed, keep=keep, torn=size - keep)


def open_output(path: str, fmt: RecordFormat[Any], scan: OutputScan | None) -> IO[bytes]:
    """Open ``path`` for a run: truncated, or with a ``scan`` (``--resume``) for appending,
    after its torn last line was cut away.  A file without a line yet gets the header."""
    if scan is None:
        stream = open(path, "wb")  # noqa: SIM115 - the caller closes it
    else:
        stream = open(path, "ab")  # noqa: SIM115 - the caller closes it
        try:
            if scan.torn:
                # Cut, not completed: a torn record is not a record.  Appending goes on
                # from the new end (O_APPEND writes at the end as it is).
                stream.truncate(scan.keep)
        except BaseException:
            stream.close()
            raise
    if fmt.header is not None and (scan is None or scan.keep == 0):
        stream.write(fmt.header + b"\n")
        stream.flush()
    return stream
