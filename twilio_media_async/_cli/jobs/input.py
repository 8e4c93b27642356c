"""A bulk job's input: the sids of a file or a pipe, read lazily, and which of them a run
sends (its shard, and with ``--resume`` those not done yet).

- A **line** is one sid: stripped, a blank one skipped, a UTF-8 byte order mark at the start
  of the input dropped, and only the first ``_MAX_LINE`` bytes kept of a longer one (no sid
  is that long).
- A **shard** is a stable hash of the sid modulo N: the same on every machine, Python version
  and run (``hash()`` is salted per process), so N workers given one input file share it
  with no overlap and no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import threading
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Set
from typing import Final

import attrs

from twilio_media_async._config import RECORDING_SID

from .sidset import SidSet

__all__ = [
    "SKIPPED_DONE",
    "SKIPPED_NOT_FOUND",
    "SKIPPED_OTHER_SHARDS",
    "SKIPPED_REPEATED",
    "Selection",
    "Shard",
    "count_sids",
    "parse_shard",
    "read_sids",
    "shard_of",
    "sid_key",
]

_CHUNK: Final = 64 * 1024
_READ_AHEAD: Final = 4  # chunks a pipe reader may hold before the fetches catch up
_MAX_LINE: Final = 4096  # a longer line is no sid; only its start is kept
_BOM: Final = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, as editors on Windows write


def _without_bom(data: bytes) -> bytes:
    """The input's first bytes without a byte order mark."""
    return data.removeprefix(_BOM)


def _sid_of(line: bytes) -> str:
    """The sid of one line: stripped, cut to ``_MAX_LINE`` bytes; empty for a blank line."""
    return line.strip()[:_MAX_LINE].decode("utf-8", "replace")


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
            sid = _sid_of(_without_bom(raw) if number == 0 else raw)
            if sid and selection.admit(sid):
                count += 1
                if len(first) < keep:
                    first.append(sid)
    return count, first


# -- reading -------------------------------------------------------------------------------


async def _file_chunks(fd: int) -> AsyncGenerator[bytes, None]:
    # A regular file never blocks for long: read it in the loop.
    while data := os.read(fd, _CHUNK):
        yield data


async def _pipe_chunks(fd: int) -> AsyncGenerator[bytes, None]:
    """Chunks of a pipe or terminal, read in a daemon thread so a slow producer never
    blocks the event loop (and a Ctrl-C never waits for the next line)."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes | OSError] = asyncio.Queue()
    room = threading.Semaphore(_READ_AHEAD)
    stopping = threading.Event()

    def deliver(item: bytes | OSError) -> None:
        try:
            loop.call_soon_threadsafe(chunks.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stopping.set()

    def pump() -> None:
        while True:
            room.acquire()
            if stopping.is_set():
                return
            try:
                data = os.read(fd, _CHUNK)
            except OSError as exc:
                deliver(exc)
                return
            deliver(data)
            if not data:
                return

    threading.Thread(target=pump, name="twilio-media-input", daemon=True).start()
    try:
        while True:
            item = await chunks.get()
            if isinstance(item, OSError):
                raise item
            room.release()
            if not item:
                return
            yield item
    finally:
        stopping.set()
        room.release()  # wake the reader if it waits for room, so that it sees ``stopping``


async def read_sids(fd: int) -> AsyncIterator[str]:
    """Yield one sid per non-blank line of ``fd``, stripped, read lazily in 64 KiB chunks.

    Memory stays bounded whatever the input's size: a regular file is read as the fetches
    need it, a pipe at most a few chunks ahead.
    """
    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    chunks = _file_chunks(fd) if regular else _pipe_chunks(fd)
    pending = b""
    first = True
    async with contextlib.aclosing(chunks):
        async for data in chunks:
            if first:
                data = _without_bom(data)
                first = False
            lines = (pending + data).split(b"\n")
            pending = lines.pop()[:_MAX_LINE]
            for line in lines:
                if sid := _sid_of(line):
                    yield sid
    if sid := _sid_of(pending):
        yield sid
