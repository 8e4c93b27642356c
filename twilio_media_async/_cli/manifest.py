"""The archive's manifest: one JSON line per item, and what a resumed run reads back.

Everything here is pure but ``scan_manifest``, which reads the manifest and looks at the
files it names, so each rule is tested on its own.

The manifest holds four kinds of line, each a whole JSON object written in one ``write``
and fsynced before anything that depends on it happens:

- ``{"sid", "path", "bytes", "sha256", "content_type"}``: the file is in place and verified
  (``sha256`` is null when it was already there and not downloaded again: ``"skipped"``);
- the error record of fetch-many (``sid``, ``error``, ``status``, ``code``, ``message``,
  ``attempts``), with ``"stage": "delete"`` when the delete failed, not the download;
- ``{"sid", "intent": "delete"}``, written before the first DELETE of a sid, so that a run
  killed after the DELETE reached Twilio still knows the recording may be gone;
- ``{"sid", "deleted": true}``, once Twilio has confirmed the delete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Set
from typing import Any, Final

import attrs
import orjson

from twilio_media_async import DownloadResult, TwilioMediaError

from .jobs import NotAnOutputFile, sid_key
from .render import error_record

__all__ = [
    "DELETE_STAGE",
    "ManifestScan",
    "deleted_line",
    "download_line",
    "delete_error_line",
    "intent_line",
    "scan_manifest",
]

DELETE_STAGE: Final = "delete"
"""The ``stage`` of an error record whose delete failed (its file is fine)."""

Redact = Callable[[str], str]


def download_line(result: DownloadResult, directory: str, redact: Redact | None = None) -> bytes:
    """The manifest line of one download result: the file's record, or the error record."""
    if result.error is not None:
        return orjson.dumps(error_record(result.sid, result.error, result.attempts, redact))
    assert result.path is not None
    record: dict[str, Any] = {
        "sid": result.sid if isinstance(result.sid, str) else repr(result.sid),
        "path": os.path.relpath(result.path, directory),
        "bytes": result.bytes,
        "sha256": result.sha256,
        "content_type": result.content_type,
    }
    if result.skipped:
        record["skipped"] = True
    return orjson.dumps(record)


def intent_line(sid: str) -> bytes:
    """The line written before the first DELETE of ``sid``."""
    return orjson.dumps({"sid": sid, "intent": "delete"})


def deleted_line(sid: str, attempts: int) -> bytes:
    """The line written once Twilio confirmed the delete of ``sid``."""
    return orjson.dumps({"sid": sid, "deleted": True, "attempts": attempts})


def delete_error_line(
    sid: str, error: TwilioMediaError, attempts: int, redact: Redact | None = None
) -> bytes:
    """The error record of a delete that failed: its file stays, and so does the recording."""
    return orjson.dumps({**error_record(sid, error, attempts, redact), "stage": DELETE_STAGE})


@attrs.frozen
class ManifestScan:
    """What earlier runs left in a manifest, for ``--resume``."""

    done: Set[str]
    """Keys (``sid_key``) of the sids whose file is in place with the size its ok line
    gives: they are not downloaded again."""
    verified: Set[str]
    """Those of ``done`` whose ok line holds the sha256 of a transfer: the only ones a
    resumed ``--delete-after`` may delete."""
    deleted: Set[str]
    """Keys of the sids whose delete Twilio confirmed."""
    intended: Set[str]
    """Keys of the sids with a delete intent: a 404 for one of them is a delete done."""
    records: int
    failed: int
    """Error records (downloads and deletes): their sids are tried again."""
    keep: int
    """Bytes of whole lines: the manifest is cut to this length before appending."""
    torn: int
    """Bytes after them: a torn last line, left by a process killed mid-write."""

    def to_delete(self) -> Set[str]:
        """Keys of the sids an earlier run verified but did not delete."""
        return self.verified - self.deleted


def _entry(line: bytes) -> dict[str, Any] | None:
    """A manifest record, or None when the line is not one."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or type(data.get("sid")) is not str:
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
    try:
        return os.stat(os.path.join(directory, path)).st_size == entry["bytes"]
    except OSError:
        return False


def scan_manifest(path: str, directory: str) -> ManifestScan:
    """Read a manifest for ``--resume``: what is done, verified, deleted and intended, and
    where its whole lines end.

    A missing manifest is an empty one.  A line that is not a manifest record raises
    NotAnOutputFile naming it: appending to a file of another kind would only make it
    worse.  A last line without its newline is torn (and cut) only when it is not whole
    JSON; whole, it is judged like any other line.
    """
    done: set[str] = set()
    verified: set[str] = set()
    deleted: set[str] = set()
    intended: set[str] = set()
    records = failed = keep = 0
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return ManifestScan(frozenset(), frozenset(), frozenset(), frozenset(), 0, 0, 0, 0)
    with stream:
        size = os.fstat(stream.fileno()).st_size
        for number, raw in enumerate(stream, start=1):
            line = raw.rstrip(b"\r\n")
            entry = _entry(line) if line.strip() else None
            if not raw.endswith(b"\n") and entry is None:
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    break  # the torn last line
            keep += len(raw)
            if not line.strip():
                continue
            if entry is None:
                raise NotAnOutputFile(
                    f"line {number:,} of {path} is not a line of an archive manifest, so "
                    "it cannot be resumed: remove that line, or use another --manifest"
                )
            records += 1
            key = sid_key(entry["sid"])
            if "error" in entry:
                failed += 1
            elif entry.get("deleted") is True:
                deleted.add(key)
            elif entry.get("intent") == "delete":
                intended.add(key)
            elif _file_in_place(directory, entry):
                done.add(key)
                if isinstance(entry.get("sha256"), str):
                    verified.add(key)
    return ManifestScan(
        done, verified, deleted, intended, records, failed, keep=keep, torn=size - keep
    )
