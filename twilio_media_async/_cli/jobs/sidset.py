"""A compact set of sids, for what ``--resume`` remembers of a million-line output file.

A Python ``set`` of str costs about 170 bytes per sid; this costs 16 and a little.  A valid
recording sid (``KV`` and 32 hex digits) is kept as the 16 bytes its hex digits spell, so
``KVAB...`` and ``KVab...`` are one entry, in one of ``_BUCKETS`` bytearrays picked by the
bytes' hash; a lookup scans that one bucket (a few KiB for a million sids) at C speed.  Any
other text, which the SDK never sends, falls back to a plain set, small in practice.
"""

from __future__ import annotations

import array
import tempfile
from collections.abc import Iterator, Set
from typing import IO, Final

from twilio_media_async._config import RECORDING_SID

__all__ = ["SidSet", "SidSetBuilder"]

_BUCKETS: Final = 4096
_WIDTH: Final = 16  # bytes of one canonical sid
_SPOOL_CHUNK: Final = 1 << 16


class SidSet(Set[str]):
    """A set of sids compared as ``sid_key`` compares them (hex digits in any case)."""

    def __init__(self) -> None:
        self._buckets: list[bytearray | None] = [None] * _BUCKETS
        self._canonical = 0
        self._others: set[str] = set()

    @staticmethod
    def _digest(sid: str) -> bytes | None:
        return bytes.fromhex(sid[2:]) if RECORDING_SID.match(sid) else None

    @staticmethod
    def _find(bucket: bytearray, digest: bytes, end: int | None = None) -> int:
        """The offset of ``digest`` in ``bucket`` (up to ``end``) on an entry boundary, or
        -1."""
        at = bucket.find(digest, 0, end)
        while at != -1 and at % _WIDTH:
            at = bucket.find(digest, at + 1, end)
        return at

    def add(self, sid: str) -> None:
        """Add ``sid`` (a no-op when it is in already)."""
        digest = self._digest(sid)
        if digest is None:
            self._others.add(sid)
            return
        index = hash(digest) % _BUCKETS
        bucket = self._buckets[index]
        if bucket is None:
            self._buckets[index] = bytearray(digest)
        elif self._find(bucket, digest) == -1:
            bucket += digest
        else:
            return
        self._canonical += 1

    def _fill(self, spool: IO[bytes], counts: array.array[int]) -> None:
        """Fill empty buckets of ``counts`` entries each from ``spool``'s digests."""
        buckets = [bytearray(count * _WIDTH) if count else None for count in counts]
        used = [0] * _BUCKETS
        while chunk := spool.read(_SPOOL_CHUNK):
            for at in range(0, len(chunk), _WIDTH):
                digest = chunk[at : at + _WIDTH]
                index = hash(digest) % _BUCKETS
                bucket = buckets[index]
                assert bucket is not None
                end = used[index]
                if self._find(bucket, digest, end) == -1:  # a repeat takes no room
                    bucket[end : end + _WIDTH] = digest
                    used[index] = end + _WIDTH
        for index, bucket in enumerate(buckets):
            if bucket is not None and used[index] < len(bucket):
                del bucket[used[index] :]
        self._buckets = buckets
        self._canonical = sum(used) // _WIDTH

    def discard(self, sid: str) -> None:
        """Remove ``sid`` if it is in."""
        digest = self._digest(sid)
        if digest is None:
            self._others.discard(sid)
            return
        bucket = self._buckets[hash(digest) % _BUCKETS]
        at = -1 if bucket is None else self._find(bucket, digest)
        if bucket is not None and at != -1:
            del bucket[at : at + _WIDTH]
            self._canonical -= 1

    def __contains__(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        digest = self._digest(sid)
        if digest is None:
            return sid in self._others
        bucket = self._buckets[hash(digest) % _BUCKETS]
        return bucket is not None and self._find(bucket, digest) != -1

    def __len__(self) -> int:
        return self._canonical + len(self._others)

    def __iter__(self) -> Iterator[str]:
        for bucket in self._buckets:
            if bucket is not None:
                for at in range(0, len(bucket), _WIDTH):
                    yield "KV" + bucket[at : at + _WIDTH].hex()
        yield from self._others


class SidSetBuilder:
    """Builds a large SidSet without the slack of growing it: the sids go to a temporary
    file first, counted by bucket, and each bucket is then made at its final size.

    Growing 4096 buckets together leaves freed blocks behind in the heap: about a third
    more than the 16 bytes a sid needs.  Only ``add`` and ``build`` are offered, since a
    lookup before ``build`` could not see the spooled sids.
    """

    def __init__(self) -> None:
        self._counts = array.array("L", bytes(array.array("L").itemsize * _BUCKETS))
        self._pending = bytearray()
        self._others: set[str] = set()
        self._spool: IO[bytes] | None = tempfile.TemporaryFile()  # noqa: SIM115 - closed in build

    def add(self, sid: str) -> None:
        """Add ``sid`` to the set that ``build`` returns."""
        digest = SidSet._digest(sid)
        if digest is None:
            self._others.add(sid)
            return
        self._counts[hash(digest) % _BUCKETS] += 1
        self._pending += digest
        if len(self._pending) >= _SPOOL_CHUNK:
            self._flush()

    def _flush(self) -> None:
        assert self._spool is not None
        self._spool.write(self._pending)
        self._pending.clear()

    def close(self) -> None:
        """Remove the temporary file (``build`` does it too)."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def build(self) -> SidSet:
        """The set of every sid added; the builder is spent."""
        self._flush()
        assert self._spool is not None
        spool, self._spool = self._spool, None
        with spool:
            spool.seek(0)
            result = SidSet()
            result._fill(spool, self._counts)
        result._others = self._others
        return result
