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
import itertools
import os
import stat
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Set
from typing import IO, Any, Final, Generic, TypeVar

import attrs
import orjson

from twilio_media_async import (
    DeleteResult,
    DownloadResult,
    FetchResult,
    ServerError,
    TransportError,
    TwilioMediaError,
    converter,
)
from twilio_media_async._config import RECORDING_SID

from .render import error_record, write_all
from .sidset import SidSet, SidSetBuilder

__all__ = [
    "DELETE_LOG",
    "FETCH_CSV_COLUMNS",
    "FETCH_FORMATS",
    "JsonLines",
    "NotAnOutputFile",
    "OutputScan",
    "Record",
    "SKIPPED_DONE",
    "SKIPPED_NOT_FOUND",
    "SameFileError",
    "SKIPPED_OTHER_SHARDS",
    "SKIPPED_REPEATED",
    "RecordFormat",
    "Redact",
    "Selection",
    "Shard",
    "check_not_input",
    "count_sids",
    "delete_intent",
    "json_object",
    "maybe_carried_out",
    "open_output",
    "parse_shard",
    "scan_output",
    "shard_of",
    "sid_key",
]

R = TypeVar("R", FetchResult, DeleteResult, DownloadResult)
Redact = Callable[[str], str]
"""Rewrites a message before it is written (the settings' redaction)."""
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
SKIPPED_NOT_FOUND: Final = "not found before"


class Selection:
    """Which input sids a run sends: those of its shard and, when resuming, each distinct
    sid once, and none that is ``done`` already.  ``skipped`` counts the others by reason.

    Without ``done`` (no resume) every line of the shard is sent, repeats included: then
    each input line gets its own output line.  ``final`` holds the sids whose last outcome
    is final (a plain 404 of delete-many): not sent again either.
    """

    def __init__(
        self,
        shard: Shard | None = None,
        done: Set[str] | None = None,
        final: Set[str] = frozenset(),
    ) -> None:
        self.shard = shard
        self.done = done
        self.final = final
        self.skipped: Counter[str] = Counter()
        self._seen = SidSet()

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
            if key in self.final:
                self.skipped[SKIPPED_NOT_FOUND] += 1
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


@attrs.frozen
class Record:
    """One line of an output file, as ``RecordFormat.read`` reads it back."""

    sid: str
    ok: bool
    intent: bool = False
    """delete-many's note, written before the first DELETE of the sid."""
    maybe_deleted: bool = False
    """An error record of a DELETE that may have been carried out all the same."""
    not_found: bool = False
    """An error record of a 404 that is final (delete-many: it is not sent again)."""


class RecordFormat(Generic[R]):
    """How a command writes its results, one line each, and reads them back on resume."""

    name: str = ""
    header: bytes | None = None
    """The first line of a file in this format, when it has one (CSV)."""

    def line(self, result: R, redact: Redact | None = None) -> bytes:
        """The line (without its newline) for one result; ``redact`` rewrites messages."""
        raise NotImplementedError

    def read(self, line: bytes) -> Record | None:
        """The record of a line this format wrote, or None when it is not one."""
        raise NotImplementedError

    def torn(self, line: bytes, *, first: bool) -> bool:
        """Whether ``line``, the last of a file and without its newline, is the start of
        a line this format writes that a killed process left unfinished (``first``: it
        is the file's first line)."""
        if first and self.header is not None:
            return self.header.startswith(line) and line != self.header
        return self.read(line) is None


def json_object(line: bytes) -> dict[str, Any] | None:
    """A JSON object with a str ``sid``, or None: every JSON lines record is one."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or type(data.get("sid")) is not str:
        return None
    return data


class JsonLines(RecordFormat[R]):
    """A format whose every line is one JSON object with a ``sid``."""

    name = "jsonl"

    def torn(self, line: bytes, *, first: bool) -> bool:
        # Every line this format writes is one JSON object: a fragment of one starts with
        # "{" and does not parse.  Whole JSON is a whole line, judged as any other.
        if not line.lstrip().startswith(b"{"):
            return False
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            return True
        return False


def _error_line(sid: Any, error: Any, attempts: int, redact: Redact | None) -> dict[str, Any]:
    return error_record(sid, error, attempts, redact)


class _FetchJsonl(JsonLines[FetchResult]):
    def line(self, result: FetchResult, redact: Redact | None = None) -> bytes:
        if result.recording is not None:
            data = converter.unstructure(result.recording)
            if isinstance(result.sid, str):
                # Filed under the sid asked for, whatever the body said (or left out).
                data["sid"] = result.sid
            return orjson.dumps(data)
        assert result.error is not None
        return orjson.dumps(_error_line(result.sid, result.error, result.attempts, redact))

    def read(self, line: bytes) -> Record | None:
        data = json_object(line)
        if data is None:
            return None
        return Record(data["sid"], "error" not in data)


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
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may run as a formula at the start of a cell (OWASP's list)."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        # Text from the server, or an error message: a leading quote keeps a spreadsheet
        # from running it.  Numbers are not text, and are left as they are.
        text = "'" + value if value.startswith(_FORMULA_STARTS) else value
    else:
        text = str(value)
    # A row is one line, so that a torn row is a torn line: no newline inside a cell.
    return text.replace("\r", " ").replace("\n", " ")


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
            if isinstance(result.sid, str):  # filed under the sid asked for
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

    def read(self, line: bytes) -> Record | None:
        try:
            rows = list(csv.reader([line.decode("utf-8").rstrip("\r\n")]))
        except (UnicodeDecodeError, csv.Error):
            return None
        if len(rows) != 1 or len(rows[0]) != len(FETCH_CSV_COLUMNS) or not rows[0][0]:
            return None
        row = rows[0]
        return Record(row[0], row[_ERROR_COLUMN] == "")


def maybe_carried_out(error: TwilioMediaError | None) -> bool:
    """Whether a DELETE that failed with ``error`` may have been carried out all the same:
    a timeout, a reset or a 5xx; not a connection that was never opened, nor a 4xx."""
    if isinstance(error, TransportError):
        return not error.connect_failed
    return isinstance(error, ServerError)


def delete_intent(sid: str) -> bytes:
    """delete-many's note, written and flushed before the first DELETE of ``sid``."""
    return orjson.dumps({"sid": sid, "intent": "delete"})


def _recorded_maybe(data: Mapping[str, Any]) -> bool:
    if "maybe_deleted" in data:
        return data["maybe_deleted"] is True
    # A record from before the flag: judged by its error, erring on "maybe".
    status = data.get("status")
    return data.get("error") in ("TransportError", "RequestTimeoutError") or (
        type(status) is int and status >= 500
    )


class _DeleteJsonl(JsonLines[DeleteResult]):
    def line(
        self, result: DeleteResult, redact: Redact | None = None, *, maybe_deleted: bool = False
    ) -> bytes:
        if result.error is None:
            sid = result.sid if isinstance(result.sid, str) else repr(result.sid)
            return orjson.dumps({"sid": sid, "deleted": True, "attempts": result.attempts})
        record = _error_line(result.sid, result.error, result.attempts, redact)
        record["maybe_deleted"] = maybe_deleted or maybe_carried_out(result.error)
        return orjson.dumps(record)

    def read(self, line: bytes) -> Record | None:
        data = json_object(line)
        if data is None:
            return None
        sid = data["sid"]
        if data.get("deleted") is True:
            return Record(sid, True)
        if data.get("intent") == "delete":
            return Record(sid, False, intent=True)
        if type(data.get("error")) is str:
            not_found = data.get("status") == 404 or data["error"] == "NotFoundError"
            return Record(sid, False, maybe_deleted=_recorded_maybe(data), not_found=not_found)
        return None


FETCH_FORMATS: Final[Mapping[str, RecordFormat[FetchResult]]] = {
    "jsonl": _FetchJsonl(),
    "csv": _FetchCsv(),
}
"""fetch-many's ``--format`` choices."""
DELETE_LOG: Final = _DeleteJsonl()
"""delete-many's log: ``{"sid", "intent": "delete"}`` before the first DELETE of a sid,
then ``{"sid", "deleted": true, "attempts"}`` per deleted sid, and the error record of
fetch-many (with ``maybe_deleted``) per failed one."""


# -- the files -----------------------------------------------------------------------------


class SameFileError(ValueError):
    """An output file that is the input file under another name."""


def _identity(path: str, fd: int) -> os.stat_result | None:
    try:
        return os.fstat(fd) if path == "-" else os.stat(path)
    except OSError:
        return None


def check_not_input(input_path: str, output_path: str, *, option: str = "-o") -> None:
    """Refuse (SameFileError) an output that is the input file by any path: a symlink,
    ``./x``, a hard link, or stdout redirected to it.  Opening it for writing would wipe
    the sids before they are read.  Files that exist are compared by device and inode,
    others by their resolved paths."""
    given = _identity(input_path, 0)
    made = _identity(output_path, 1)
    if given is not None and made is not None:
        same = stat.S_ISREG(given.st_mode) and (given.st_dev, given.st_ino) == (
            made.st_dev,
            made.st_ino,
        )
    else:
        same = "-" not in (input_path, output_path) and os.path.realpath(
            input_path
        ) == os.path.realpath(output_path)
    if same:
        shown = "stdout" if output_path == "-" else output_path
        raise SameFileError(
            f"{option} {shown} is the input file {input_path}: writing there would destroy "
            "the sids before they are read; write to another file"
        )


class NotAnOutputFile(ValueError):
    """The output file holds something this command did not write: resuming refuses it."""


@attrs.frozen
class OutputScan:
    """What an earlier run left in an output file."""

    done: Set[str]
    """The sids with an ok record (compared as ``sid_key`` does)."""
    records: int
    """Whole records read."""
    failed: int
    """Error records among them."""
    keep: int
    """Bytes of whole lines: the file is cut to this length before appending."""
    torn: int
    """Bytes after them: a torn last line, left by a process killed mid-write."""
    possibly_deleted: Set[str] = frozenset()
    """delete-many: sids without an ok record whose DELETE may have been carried out (an
    intent without an outcome, or an ambiguous error record): a 404 for them is ok."""
    final: Set[str] = frozenset()
    """delete-many: sids whose last outcome is a plain 404: not sent again."""
    newline: bool = False
    """The last whole line has no newline: one is written before appending."""


class _Scan:
    """The sids' states as the records of an output file are read, in order."""

    def __init__(self) -> None:
        self.done = SidSetBuilder()  # only added to until the end: built once, compactly
        self.pending = SidSet()  # an intent, and no outcome after it yet
        self.maybe = SidSet()  # an error record of a DELETE that may have been carried out
        self.final = SidSet()  # a plain 404 last
        self.records = self.failed = 0

    def take(self, record: Record) -> None:
        self.records += 1
        sid = record.sid
        if record.intent:
            self.pending.add(sid)
            return
        self.pending.discard(sid)
        if record.ok:
            self.done.add(sid)
            self.final.discard(sid)
            self.maybe.discard(sid)
            return
        self.failed += 1
        if record.maybe_deleted:
            self.maybe.add(sid)
        if record.not_found and not record.maybe_deleted and sid not in self.maybe:
            self.final.add(sid)
        else:
            self.final.discard(sid)

    def result(self, keep: int, torn: int, newline: bool) -> OutputScan:
        done = self.done.build()
        possibly = SidSet()
        for sid in itertools.chain(self.pending, self.maybe):
            if sid not in done:
                possibly.add(sid)
        return OutputScan(
            done=done,
            records=self.records,
            failed=self.failed,
            keep=keep,
            torn=torn,
            possibly_deleted=possibly,
            final=self.final,
            newline=newline,
        )


def _judge(path: str, fmt: RecordFormat[Any], number: int, line: bytes, scan: _Scan) -> None:
    """Take one whole line into ``scan``; NotAnOutputFile when it is not this format's."""
    if number == 1 and fmt.header is not None:
        if line != fmt.header:
            raise NotAnOutputFile(
                f"{path} does not start with the {fmt.name.upper()} header this "
                "command writes: was it written with another --format?"
            )
        return
    if not line.strip():
        return
    record = fmt.read(line)
    if record is None:
        raise NotAnOutputFile(
            f"line {number:,} of {path} is not a {fmt.name.upper()} record this "
            "command writes, so the file cannot be resumed: remove that line, or "
            "write to a new file"
        )
    scan.take(record)


def scan_output(path: str, fmt: RecordFormat[Any]) -> OutputScan:
    """Read an output file for ``--resume``: the sids done, and where its whole lines end.

    A missing file is an empty one.  Every whole line must be a record of ``fmt`` (blank
    lines aside), and a CSV file must start with ``fmt.header``; anything else raises
    NotAnOutputFile naming the line, since appending to a file of another kind would only
    make things worse.  Only a last line without its newline that is the unfinished start
    of a record (``fmt.torn``) is forgiven: it is torn.  One that is whole is judged as
    any other line.
    """
    scan = _Scan()
    keep = 0
    newline = False
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            for number, raw in enumerate(stream, start=1):
                ended = raw.endswith(b"\n")
                if not ended and fmt.torn(raw, first=number == 1):
                    break
                _judge(path, fmt, number, raw.rstrip(b"\r\n"), scan)
                keep += len(raw)
                newline = not ended
    except FileNotFoundError:
        size = 0
    except BaseException:
        scan.done.close()
        raise
    return scan.result(keep, size - keep, newline)


def open_output(path: str, fmt: RecordFormat[Any], scan: OutputScan | None) -> IO[bytes]:
    """Open ``path`` for a run, unbuffered (each line is one ``write``): truncated, or with
    a ``scan`` (``--resume``) for appending, after its torn last line was cut away.  A file
    without a line yet gets the header."""
    stream = open(path, "wb" if scan is None else "ab", buffering=0)  # noqa: SIM115
    try:
        if scan is not None and scan.torn:
            # Cut, not completed: a torn record is not a record.  Appending goes on
            # from the new end (O_APPEND writes at the end as it is).
            stream.truncate(scan.keep)
        if scan is not None and scan.newline:
            write_all(stream, b"\n")
        if fmt.header is not None and (scan is None or scan.keep == 0):
            write_all(stream, fmt.header + b"\n")
    except BaseException:
        stream.close()
        raise
    return stream
