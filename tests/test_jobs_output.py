"""What a bulk job writes (JSON lines, CSV, the delete log) and reads back for --resume."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from twilio_media_async import (
    DeleteResult,
    FetchResult,
    InvalidSidError,
    NotFoundError,
    TransportError,
    converter,
)
from twilio_media_async._cli.jobs.input import sid_key
from twilio_media_async._cli.jobs.output import (
    DELETE_LOG,
    FETCH_CSV_COLUMNS,
    FETCH_FORMATS,
    NotAnOutputFile,
    Record,
    open_output,
    scan_output,
)
from twilio_media_async.testing import make_recordings

from .conftest import SID

RECORDINGS = make_recordings(3, seed=61)


# -- record formats ------------------------------------------------------------------------


def sid_ok(record: Record | None) -> tuple[str, bool] | None:
    """A record read back, as its sid and whether it is ok."""
    return None if record is None else (record.sid, record.ok)


def ok(n: int = 0, attempts: int = 1) -> FetchResult:
    recording = RECORDINGS[n]
    return FetchResult(sid=recording.sid, recording=recording, attempts=attempts)


def failed(sid: Any, error: Any, attempts: int = 1) -> FetchResult:
    return FetchResult(sid=sid, error=error, attempts=attempts)


def test_jsonl_lines_and_reading_them_back() -> None:
    fmt = FETCH_FORMATS["jsonl"]
    assert fmt.header is None
    good = fmt.line(ok(0))
    assert converter.structure(orjson.loads(good), type(RECORDINGS[0])) == RECORDINGS[0]
    assert sid_ok(fmt.read(good)) == (RECORDINGS[0].sid, True)
    missing = NotFoundError("gone", status=404, code=20404)
    bad = fmt.line(failed(SID, missing))
    assert orjson.loads(bad) == {
        "sid": SID,
        "error": "NotFoundError",
        "status": 404,
        "code": 20404,
        "message": "gone",
        "attempts": 1,
    }
    assert sid_ok(fmt.read(bad)) == (SID, False)


@pytest.mark.parametrize(
    "line", [b"", b"{", b"[]", b"42", b'{"no_sid": 1}', b'{"sid": 7}', b'"KV"', b"\x00\x00"]
)
def test_a_json_line_that_is_not_a_record(line: bytes) -> None:
    assert FETCH_FORMATS["jsonl"].read(line) is None
    assert DELETE_LOG.read(line) is None


def test_csv_rows_and_reading_them_back() -> None:
    fmt = FETCH_FORMATS["csv"]
    assert fmt.header == ",".join(FETCH_CSV_COLUMNS).encode()
    good = fmt.line(ok(1, attempts=3))
    (row,) = csv.DictReader(io.StringIO(f"{fmt.header.decode()}\n{good.decode()}\n"))
    recording = RECORDINGS[1]
    assert row["sid"] == recording.sid
    assert row["status"] == str(recording.status)
    assert row["size"] == str(recording.size)
    assert row["date_created"] == converter.unstructure(recording)["date_created"]
    assert recording.links is not None
    assert row["media_url"] == recording.links["media"]
    assert row["error"] == row["http_status"] == row["message"] == ""
    assert row["attempts"] == "3"
    assert sid_ok(fmt.read(good)) == (recording.sid, True)


def test_a_csv_error_row_is_one_line_whatever_its_message() -> None:
    fmt = FETCH_FORMATS["csv"]
    error = TransportError('reset, "twice",\nthen\r\nagain')
    line = fmt.line(failed("not, a sid", error, attempts=4))
    assert b"\n" not in line and b"\r" not in line
    parsed = next(csv.reader([line.decode()]))
    assert dict(zip(FETCH_CSV_COLUMNS, parsed, strict=True)) == {
        **dict.fromkeys(FETCH_CSV_COLUMNS, ""),
        "sid": "not, a sid",
        "error": "TransportError",
        "message": 'reset, "twice", then  again',
        "attempts": "4",
    }
    assert sid_ok(fmt.read(line)) == ("not, a sid", False)


@pytest.mark.parametrize("line", [b"", b"a,b", b"," * 30, b'"unclosed,' + b"," * 20])
def test_a_csv_line_that_is_not_a_row(line: bytes) -> None:
    assert FETCH_FORMATS["csv"].read(line) is None


def test_the_delete_log() -> None:
    deleted = DELETE_LOG.line(DeleteResult(sid=SID, attempts=2))
    assert orjson.loads(deleted) == {"sid": SID, "deleted": True, "attempts": 2}
    assert sid_ok(DELETE_LOG.read(deleted)) == (SID, True)
    error = DELETE_LOG.line(DeleteResult(sid=None, error=InvalidSidError("bad"), attempts=0))
    assert orjson.loads(error)["sid"] == "None"
    assert sid_ok(DELETE_LOG.read(error)) == ("None", False)


def test_messages_are_redacted() -> None:
    error = TransportError("token s3cr3t leaked")
    for fmt in FETCH_FORMATS.values():
        line = fmt.line(failed(SID, error), lambda text: text.replace("s3cr3t", "[redacted]"))
        assert b"s3cr3t" not in line and b"[redacted]" in line


# -- the output file -----------------------------------------------------------------------


def jsonl(*results: FetchResult) -> bytes:
    return b"".join(FETCH_FORMATS["jsonl"].line(r) + b"\n" for r in results)


def test_scanning_a_missing_file(tmp_path: Path) -> None:
    scan = scan_output(str(tmp_path / "none.jsonl"), FETCH_FORMATS["jsonl"])
    assert (set(scan.done), scan.records, scan.keep, scan.torn) == (set(), 0, 0, 0)


def test_scanning_finds_the_ok_sids_and_the_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    missing = NotFoundError("gone", status=404)
    whole = jsonl(ok(0), failed(SID, missing), ok(1), failed(RECORDINGS[2].sid, missing)) + b"\n"
    torn = jsonl(ok(2))[:-40]
    path.write_bytes(whole + torn)
    scan = scan_output(str(path), FETCH_FORMATS["jsonl"])
    assert scan.done == {sid_key(RECORDINGS[0].sid or ""), sid_key(RECORDINGS[1].sid or "")}
    assert (scan.records, scan.failed) == (4, 2)
    assert (scan.keep, scan.torn) == (len(whole), len(torn))

    with open_output(str(path), FETCH_FORMATS["jsonl"], scan) as stream:
        stream.write(jsonl(ok(2)))
    data = path.read_bytes()
    assert data == whole + jsonl(ok(2))  # the fragment was cut, not completed
    assert all(orjson.loads(line) for line in data.splitlines() if line)


def test_scanning_refuses_a_file_it_did_not_write(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    original = jsonl(ok(0)) + b"hello\n" + jsonl(ok(1))
    path.write_bytes(original)
    with pytest.raises(NotAnOutputFile, match=r"line 2 of .*out\.jsonl"):
        scan_output(str(path), FETCH_FORMATS["jsonl"])
    assert path.read_bytes() == original


def test_csv_files_need_the_header(tmp_path: Path) -> None:
    fmt = FETCH_FORMATS["csv"]
    assert fmt.header is not None
    path = tmp_path / "out.csv"
    path.write_bytes(jsonl(ok(0)))
    with pytest.raises(NotAnOutputFile, match="header"):
        scan_output(str(path), fmt)
    path.write_bytes(fmt.header + b"\n" + fmt.line(ok(0)) + b"\n" + fmt.line(ok(1))[:25])
    scan = scan_output(str(path), fmt)
    assert scan.done == {sid_key(RECORDINGS[0].sid or "")}
    assert scan.torn == 25


def test_a_torn_header_is_written_again(tmp_path: Path) -> None:
    fmt = FETCH_FORMATS["csv"]
    assert fmt.header is not None
    path = tmp_path / "out.csv"
    path.write_bytes(fmt.header[:10])
    scan = scan_output(str(path), fmt)
    assert (scan.keep, scan.torn) == (0, 10)
    open_output(str(path), fmt, scan).close()
    assert path.read_bytes() == fmt.header + b"\n"
    # An intact header is not written twice.
    rescan = scan_output(str(path), fmt)
    open_output(str(path), fmt, rescan).close()
    assert path.read_bytes() == fmt.header + b"\n"


def test_without_resume_the_output_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(jsonl(ok(0)))
    open_output(str(path), FETCH_FORMATS["jsonl"], None).close()
    assert path.read_bytes() == b""
