"""The archive's manifest: one JSON line per item, and what a resumed run reads back.

Everything here is pure but ``scan_manifest``, which reads the manifest and looks at the
files it names, and ``ManifestWriter``, which appends to it, so each rule is tested on its
own.

The manifest holds four kinds of line, each a whole JSON object written in one ``write``
and fsynced before anything that depends on it happens:

- ``{"sid", "path", "bytes", "sha256", "content_type"}``: the file is in place and verified
  (``sha256`` is null when it was already there and not downloaded again: ``"skipped"``);
  ``path`` is relative to the directory, or the object's URL in a store (whose skipped
  objects keep the sha256 of their sidecar);
- the error record of fetch-many (``sid``, ``error``, ``status``, ``code``, ``message``,
  ``attempts``), with ``"stage": "delete"`` when the delete failed, not the download;
- ``{"sid", "intent": "delete"}`` (delete-many's ``delete_intent``), written before the
  first DELETE of a sid, so that a run killed after the DELETE reached Twilio still knows
  the recording may be gone;
- ``{"sid", "deleted": true}``, once Twilio has confirmed the delete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Set
from typing import IO, Any, Final

import attrs
import orjson

from twilio_media_async import DownloadResult, TwilioMediaError
from twilio_media_async._cli.exits import CommandFailed
from twilio_media_async._cli.output import error_record, write_all
from twilio_media_async._cloud import is_store_url

from .output import JsonLines, NotAnOutputFile, OutputScan, Record, Redact, json_object
from .sidset import SidSet

__all__ = [
    "DELETE_STAGE",
    "MANIFEST",
    "ManifestWriter",
    "VERIFY_STAGE",
    "ManifestScan",
    "deleted_line",
    "earlier_verified",
    "download_line",
    "delete_error_line",
    "scan_manifest",
]

DELETE_STAGE: Final = "delete"
"""The ``stage`` of an error record whose delete failed (its file is fine)."""

VERIFY_STAGE: Final = "verify"
"""The ``stage`` of an error record whose object, checked before its delete, did not hold
the run's transfer: the recording is not deleted."""


def download_line(result: DownloadResult, directory: str, redact: Redact | None = None) -> bytes:
    """The manifest line of one download result: the file's record, or the error record."""
    if result.error is not None:
        return orjson.dumps(error_record(result.sid, result.error, result.attempts, redact))
    assert result.path is not None
    record: dict[str, Any] = {
        "sid": result.sid if isinstance(result.sid, str) else repr(result.sid),
        "path": result.path
        if is_store_url(result.path)
        else os.path.relpath(result.path, directory),
        "bytes": result.bytes,
        "sha256": result.sha256,
        "content_type": result.content_type,
    }
    if result.skipped:
        record["skipped"] = True
    return orjson.dumps(record)


def deleted_line(sid: str, attempts: int) -> bytes:
    """The line written once Twilio confirmed the delete of ``sid``."""
    return orjson.dumps({"sid": sid, "deleted": True, "attempts": attempts})


def delete_error_line(
    sid: str,
    error: TwilioMediaError,
    attempts: int,
    redact: Redact | None = None,
    stage: str = DELETE_STAGE,
) -> bytes:
    """The error record of a delete that failed, or (``VERIFY_STAGE``) that was not sent:
    its file stays, and so does the recording."""
    return orjson.dumps({**error_record(sid, error, attempts, redact), "stage": stage})


class _ManifestLines(JsonLines[DownloadResult]):
    """The manifest as a bulk-job output file: its torn-line rule and how it is opened
    are fetch-many's, so that a resumed archive cuts and appends as a resumed fetch does."""

    def line(self, result: DownloadResult, redact: Redact | None = None) -> bytes:
        raise NotImplementedError("the archive writes its lines with download_line")

    def read(self, line: bytes) -> Record | None:
        data = _entry(line)
        return None if data is None else Record(data["sid"], "error" not in data)


MANIFEST: Final = _ManifestLines()
"""The manifest's format, for ``open_output`` and the torn-line rule."""


class ManifestWriter:
    """The manifest, open for appending: each line is written whole and fsynced before
    the caller goes on, so that what it records is on disk before anything depends on
    it.  A write that fails (a full disk) is one ``Error:`` line, exit 1, and the
    manifest stays resumable."""

    def __init__(self, stream: IO[bytes], path: str, redact: Callable[[bytes], bytes]) -> None:
        self._stream = stream
        self._path = path
        self._redact = redact

    def write(self, line: bytes) -> None:
        """Write one line and fsync it, or raise CommandFailed."""
        try:
            write_all(self._stream, self._redact(line) + b"\n")
            os.fsync(self._stream.fileno())
        except OSError as exc:
            raise CommandFailed(f"cannot write {self._path}: {exc.strerror or exc}") from None


@attrs.frozen
class ManifestScan:
    """What earlier runs left in a manifest, for ``--resume``."""

    output: OutputScan
    """The file as an output file: its whole lines, torn tail and error records; its
    ``done`` is the sids with an ok line, whether or not their file is still in place."""
    in_place: Set[str]
    """The sids whose file is in place with the size its ok line gives: they are not
    downloaded again."""
    verified: Set[str]
    """Those of ``in_place`` whose ok line holds the sha256 of a transfer: the only ones
    a resumed ``--delete-after`` may delete."""
    deleted: Set[str]
    """The sids whose delete Twilio confirmed."""
    intended: Set[str]
    """The sids with a delete intent: a 404 for one of them is a delete done."""

    def to_delete(self) -> Iterator[str]:
        """The sids an earlier run verified but did not delete."""
        return (sid for sid in self.verified if sid not in self.deleted)


def _entry(line: bytes) -> dict[str, Any] | None:
    """A manifest record, or None when the line is not one."""
    data = json_object(line)
    if data is None:
        return None
    if "error" in data or data.get("deleted") is True or data.get("intent") == "delete":
        return data
    path, size = data.get("path"), data.get("bytes")
    if type(path) is not str or type(size) is not int or "sha256" not in data:
        return None
    return data


def _file_in_place(directory: str, entry: dict[str, Any]) -> bool:
    """Whether the file an ok line names is in the directory with that size.  A path that
    is not a plain name of the directory (a manifest edited by hand) never counts."""
    path: str = entry["path"]
    if path != os.path.basename(path) or path in ("", ".", ".."):
        return False
    if os.path.splitext(path)[0].lower() != entry["sid"].lower():
        return False  # another sid's file proves nothing of this one
    try:
        size: int = entry["bytes"]
        return os.stat(os.path.join(directory, path)).st_size == size
    except OSError:
        return False


class _Tally:
    """The sids' states as the manifest's lines are read, in order."""

    def __init__(self) -> None:
        self.in_place = SidSet()
        self.verified = SidSet()
        self.deleted = SidSet()
        self.intended = SidSet()
        self.records = self.failed = 0

    def take(self, directory: str, entry: dict[str, Any]) -> None:
        self.records += 1
        sid = entry["sid"]
        if "error" in entry:
            self.failed += 1
        elif entry.get("deleted") is True:
            self.deleted.add(sid)
        elif entry.get("intent") == "delete":
            self.intended.add(sid)
        elif _file_in_place(directory, entry):
            self.in_place.add(sid)
            if isinstance(entry.get("sha256"), str):
                self.verified.add(sid)


def earlier_verified(
    path: str, directory: str, scan: ManifestScan
) -> Iterator[tuple[str, str, str]]:
    """``(sid, file, sha256)`` of every ok line, among the manifest's whole lines, of a sid
    an earlier run verified and did not delete: read again, lazily, so that a resumed
    ``--delete-after`` hashes each file once more before it deletes anything."""
    with open(path, "rb") as stream:
        left = scan.output.keep
        for raw in stream:
            if left <= 0:
                return
            left -= len(raw)
            entry = _entry(raw.rstrip(b"\r\n")) if raw.strip() else None
            if entry is None or "path" not in entry or "error" in entry:
                continue
            sid, sha256 = entry["sid"], entry.get("sha256")
            if isinstance(sha256, str) and sid in scan.verified and sid not in scan.deleted:
                yield sid, os.path.join(directory, entry["path"]), sha256


def scan_manifest(path: str, directory: str) -> ManifestScan:
    """Read a manifest for ``--resume``: what is in place, verified, deleted and intended,
    and where its whole lines end.

    A missing manifest is an empty one.  A line that is not a manifest record raises
    NotAnOutputFile naming it: appending to a file of another kind would only make it
    worse.  A last line without its newline is cut only when it is the unfinished start
    of a record; a whole one is judged as any other line.
    """
    tally = _Tally()
    keep = size = 0
    newline = False
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        for number, raw in enumerate(stream, start=1):
            ended = raw.endswith(b"\n")
            if not ended and MANIFEST.torn(raw, first=number == 1):
                break
            keep += len(raw)
            newline = not ended
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            entry = _entry(line)
            if entry is None:
                raise NotAnOutputFile(
                    f"line {number:,} of {path} is not a line of an archive manifest, so "
                    "it cannot be resumed: remove that line, or use another --manifest"
                )
            tally.take(directory, entry)
    output = OutputScan(
        done=tally.in_place,
        records=tally.records,
        failed=tally.failed,
        keep=keep,
        torn=size - keep,
        newline=newline,
    )
    return ManifestScan(output, tally.in_place, tally.verified, tally.deleted, tally.intended)
