"""Which sids a bulk job sends: shards, the sid key, --resume's skipping, the done-sid set."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

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
from twilio_media_async._cli.jobs.sidset import SidSet, SidSetBuilder

from .conftest import SID


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
