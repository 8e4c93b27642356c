"""The archive manifest's resume rules, on files made by hand: what counts as done, as
verified (deletable), as deleted, as intended, and what is refused or cut."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from twilio_media_async._cli.jobs.manifest import scan_manifest
from twilio_media_async._cli.jobs.output import NotAnOutputFile

SID_A = "KV" + "a" * 32
SID_B = "KV" + "b" * 32
SID_C = "KV" + "c" * 32


def ok_line(sid: str, size: int, *, sha256: str | None = "0" * 64, path: str = "") -> bytes:
    record = {"sid": sid, "path": path or f"{sid}.mp4", "bytes": size, "sha256": sha256}
    return orjson.dumps({**record, "content_type": "video/mp4"}) + b"\n"


def write(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def test_a_missing_manifest_is_an_empty_one(tmp_path: Path) -> None:
    scan = scan_manifest(str(tmp_path / "none.jsonl"), str(tmp_path))
    assert (set(scan.in_place), scan.output.records, scan.output.keep, scan.output.torn) == (
        set(),
        0,
        0,
        0,
    )


def test_done_needs_the_file_in_place_with_the_recorded_size(tmp_path: Path) -> None:
    (tmp_path / f"{SID_A}.mp4").write_bytes(b"x" * 10)
    (tmp_path / f"{SID_B}.mp4").write_bytes(b"x" * 9)  # cut short since
    manifest = write(tmp_path / "m.jsonl", ok_line(SID_A, 10), ok_line(SID_B, 10))
    manifest_c = ok_line(SID_C, 10)  # its file is gone
    manifest.write_bytes(manifest.read_bytes() + manifest_c)
    scan = scan_manifest(str(manifest), str(tmp_path))
    assert set(scan.in_place) == {SID_A}
    assert set(scan.verified) == {SID_A}
    assert scan.output.records == 3


def test_a_file_found_in_place_is_done_but_never_deletable(tmp_path: Path) -> None:
    (tmp_path / f"{SID_A}.mp4").write_bytes(b"x" * 4)
    manifest = write(tmp_path / "m.jsonl", ok_line(SID_A, 4, sha256=None))
    scan = scan_manifest(str(manifest), str(tmp_path))
    assert set(scan.in_place) == {SID_A}
    assert list(scan.to_delete()) == []


def test_deleted_and_intended_sids_are_read_back(tmp_path: Path) -> None:
    for sid in (SID_A, SID_B):
        (tmp_path / f"{sid}.mp4").write_bytes(b"x")
    manifest = write(
        tmp_path / "m.jsonl",
        ok_line(SID_A, 1),
        ok_line(SID_B, 1),
        orjson.dumps({"sid": SID_A, "intent": "delete"}) + b"\n",
        orjson.dumps({"sid": SID_A, "deleted": True, "attempts": 1}) + b"\n",
        orjson.dumps({"sid": SID_B, "intent": "delete"}) + b"\n",
    )
    scan = scan_manifest(str(manifest), str(tmp_path))
    assert set(scan.deleted) == {SID_A}
    assert set(scan.intended) == {SID_A, SID_B}
    assert list(scan.to_delete()) == [SID_B]


def test_a_path_outside_the_directory_never_counts(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(b"x")
    inner = tmp_path / "dir"
    inner.mkdir()
    manifest = write(inner / "m.jsonl", ok_line(SID_A, 1, path="../elsewhere.mp4"))
    assert set(scan_manifest(str(manifest), str(inner)).in_place) == set()


def test_error_records_are_counted_and_tried_again(tmp_path: Path) -> None:
    error = {"sid": SID_A, "error": "NotFoundError", "status": 404, "code": 20404}
    manifest = write(tmp_path / "m.jsonl", orjson.dumps({**error, "message": "m"}) + b"\n")
    scan = scan_manifest(str(manifest), str(tmp_path))
    assert (scan.output.failed, set(scan.in_place)) == (1, set())


def test_a_torn_last_line_is_cut_and_a_whole_one_without_newline_is_judged(
    tmp_path: Path,
) -> None:
    (tmp_path / f"{SID_A}.mp4").write_bytes(b"x")
    whole = ok_line(SID_A, 1)
    torn = write(tmp_path / "torn.jsonl", whole, b'{"sid": "KVbb')
    scan = scan_manifest(str(torn), str(tmp_path))
    assert (scan.output.keep, scan.output.torn, set(scan.in_place)) == (len(whole), 13, {SID_A})

    unterminated = write(tmp_path / "last.jsonl", whole.rstrip(b"\n"))
    scan = scan_manifest(str(unterminated), str(tmp_path))
    assert (scan.output.torn, scan.output.newline, set(scan.in_place)) == (0, True, {SID_A})

    settings = write(tmp_path / "settings.json", b'{"theme": "dark"}')
    with pytest.raises(NotAnOutputFile, match="line 1"):
        scan_manifest(str(settings), str(tmp_path))
    assert settings.read_bytes() == b'{"theme": "dark"}'
