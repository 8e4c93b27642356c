"""The pure parts of long bulk jobs (twilio_media_async._cli.jobs): shards, which sids a run
sends, the record formats, and reading and repairing an output file for --resume."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
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
from twilio_media_async._cli.jobs.input import (
    SKIPPED_DONE,
    SKIPPED_OTHER_SHARDS,
    SKIPPED_REPEATED,
    Selection,
    Shard,
    count_sids,
    parse_shard,
    shard_of,
    sid_key,
)
from twilio_media_async._cli.jobs.output import (
    DELETE_LOG,
    FETCH_CSV_COLUMNS,
    FETCH_FORMATS,
    NotAnOutputFile,
    Record,
    open_output,
    scan_output,
)
from twilio_media_async._cli.jobs.sidset import SidSet, SidSetBuilder
from twilio_media_async.testing import make_recordings

RECORDINGS = make_recordings(3, seed=61)
SID = "KV0123456789abcdef0123456789abcdef"


def many_sids(n: int) -> list[str]:
    return [f"KV{i:032x}" for i in range(n)]


# -- shards --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shard"),
    [("0/1", Shard(0, 1)), ("0/4", Shard(0, 4)), ("3/4", Shard(3, 4)), (" 2 / 10 ", Shard(2, 10))],
)
def test_parse_shard(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["4/4", "5/4", "0/0", "-1/4", "1", "a/b", "1/4/2", "", "1.0/4"])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16])
def test_n_shards_cover_the_input_exactly_once(count: int) -> None:
    sids = [*many_sids(2000), "not-a-sid", "", "KVshort", "ünïcode"]
    shards = [Shard(k, count) for k in range(count)]
    owners = {sid: [s for s in shards if s.holds(sid)] for sid in sids}
    assert all(len(found) == 1 for found in owners.values())
    sizes = Counter(found[0].index for found in owners.values())
    assert set(sizes) == set(range(count))
    for size in sizes.values():  # the hash spreads them evenly
        assert abs(size - len(sids) / count) < 0.2 * len(sids) / count + 10


PINNED_SHARDS_OF_16 = [15, 3, 10, 9, 4, 11, 13, 2, 14, 13, 9, 1]
PINNED_SHARD_OF_SID = 567


def test_the_shard_hash_is_pinned() -> None:
    """Stable across machines, Python versions and runs (a salted hash() is not): a change
    here would send sids to other shards than running workers expect."""
    assert [shard_of(sid, 16) for sid in many_sids(12)] == PINNED_SHARDS_OF_16
    assert shard_of(SID, 1000) == PINNED_SHARD_OF_SID


def test_the_shard_is_the_documented_formula() -> None:
    for sid in [*many_sids(50), "KV" + SID[2:].upper(), "not-a-sid"]:
        key = sid_key(sid).encode()
        expected = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % 7
        assert shard_of(sid, 7) == expected


def test_one_recording_is_one_key_whatever_the_case_of_its_hex() -> None:
    upper = "KV" + SID[2:].upper()
    assert sid_key(upper) == sid_key(SID) == SID
    assert shard_of(upper, 9) == shard_of(SID, 9)
    assert sid_key("kv" + SID[2:]) == "kv" + SID[2:]  # not a sid: kept as given
    assert sid_key("not-a-sid") == "not-a-sid"


# -- which sids a run sends ----------------------------------------------------------------


def test_without_resume_every_line_of_the_shard_is_sent() -> None:
    selection = Selection(Shard(0, 1))
    sids = [SID, SID, "bad", "bad"]
    assert [s for s in sids if selection.admit(s)] == sids
    assert not selection.skipped


def test_resume_skips_what_is_done_and_sends_each_other_sid_once() -> None:
    a, b, c = many_sids(3)
    selection = Selection(None, done={sid_key(a)})
    sent = [s for s in [a, b, "KV" + b[2:].upper(), c, "bad", "bad", a] if selection.admit(s)]
    assert sent == [b, c, "bad"]
    assert selection.skipped == Counter({SKIPPED_DONE: 2, SKIPPED_REPEATED: 2})


def test_shard_and_resume_together() -> None:
    sids = many_sids(200)
    shard = Shard(1, 3)
    mine = [s for s in sids if shard.holds(s)]
    selection = Selection(shard, done={sid_key(mine[0])})
    assert [s for s in sids if selection.admit(s)] == mine[1:]
    assert selection.skipped[SKIPPED_OTHER_SHARDS] == len(sids) - len(mine)
    assert selection.skipped[SKIPPED_DONE] == 1


def test_count_sids_reads_lines_as_the_commands_do(tmp_path: Path) -> None:
    a, b, c = many_sids(3)
    path = tmp_path / "sids.txt"
    path.write_bytes(b"\xef\xbb\xbf" + f"{a}\n\n  {b}  \r\n{a}\n{c}".encode())
    assert count_sids(str(path), Selection(), keep=2) == (4, [a, b])
    assert count_sids(str(path), Selection(done={sid_key(c)}), keep=5) == (2, [a, b])


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


# -- the compact sid set -------------------------------------------------------------------


def test_a_sid_set_compares_sids_as_sid_key_does() -> None:
    sids = SidSet()
    upper = "KV" + "AB" * 16
    sids.add(upper)
    sids.add(upper.lower().replace("kv", "KV"))  # the same recording
    sids.add("not-a-sid")
    assert len(sids) == 2
    assert "KV" + "ab" * 16 in sids and upper in sids and "not-a-sid" in sids
    assert SID not in sids
    assert object() not in sids
    assert sorted(sids) == sorted(["KV" + "ab" * 16, "not-a-sid"])
    sids.discard(upper)
    sids.discard("not-a-sid")
    sids.discard(SID)  # not in: nothing happens
    assert len(sids) == 0 and upper not in sids


def test_a_sid_set_finds_no_entry_across_two_entries() -> None:
    # The bytes of two neighbouring entries of a bucket can spell a third sid: only an
    # entry that starts on an entry boundary counts.
    bucket = bytearray(bytes.fromhex("01" * 16) + bytes.fromhex("23" * 16))
    straddling = bytes.fromhex("01" * 8 + "23" * 8)
    assert SidSet._find(bucket, straddling) == -1
    assert SidSet._find(bucket, bytes.fromhex("23" * 16)) == 16


def test_a_sid_set_builder_gives_the_same_set() -> None:
    sids = many_sids(3000)
    builder = SidSetBuilder()
    for sid in [*sids, *sids[:100], "odd one"]:
        builder.add(sid)
    built = builder.build()
    assert len(built) == 3001
    assert all(sid in built for sid in sids) and "odd one" in built
    assert SID.replace("0", "9") not in built
    unused = SidSetBuilder()
    unused.add(SID)
    unused.close()  # no ResourceWarning: the spool is closed
