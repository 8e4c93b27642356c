"""Recordings scripted to finish processing: after so many reads, or at a time."""

from __future__ import annotations

import time

import attrs

from twilio_media_async._numbers import is_finite, is_int
from twilio_media_async.models import RecordingStatus

from ._store import Store

__all__ = ["Completions"]


@attrs.define
class _Completion:
    """A recording scripted to stop processing: after so many reads, or at a time."""

    status: RecordingStatus
    reads_left: int | None = None
    due: float | None = None


class Completions:
    """The scripted completions of a store's recordings, carried out as requests come."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: dict[str, _Completion] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def script(
        self,
        sid: str,
        after_reads: int | None,
        after_seconds: float | None,
        status: RecordingStatus | str,
    ) -> None:
        """Make ``sid`` read as ``processing`` now, and as ``status`` later (see
        ``FakeMediaServer.script_completion``)."""
        if (after_reads is None) == (after_seconds is None):
            raise ValueError("give exactly one of after_reads and after_seconds")
        if after_reads is not None and (not is_int(after_reads) or after_reads < 0):
            raise ValueError(f"after_reads must be an int >= 0, got {after_reads!r}")
        if after_seconds is not None and (not is_finite(after_seconds) or after_seconds < 0):
            raise ValueError(f"after_seconds must be a finite number >= 0, got {after_seconds!r}")
        entry = self._store.get(sid)
        if entry is None:
            raise ValueError(f"the server holds no recording {sid!r}")
        final = RecordingStatus(status)
        self._store.add(attrs.evolve(entry.recording, status=RecordingStatus.PROCESSING))
        due = None if after_seconds is None else time.monotonic() + after_seconds
        self._pending[sid] = _Completion(final, reads_left=after_reads, due=due)

    def advance(self, sid: str | None, method: str) -> None:
        """Carry out the completions that are due, before answering a request."""
        now = time.monotonic()
        for key, completion in list(self._pending.items()):
            if completion.due is not None and now >= completion.due:
                self._complete(key, completion)
        if sid is None or method != "GET":
            return
        pending = self._pending.get(sid)
        if pending is None or pending.reads_left is None:
            return
        if pending.reads_left == 0:
            self._complete(sid, pending)
        else:
            pending.reads_left -= 1

    def _complete(self, sid: str, completion: _Completion) -> None:
        del self._pending[sid]
        entry = self._store.get(sid)
        if entry is not None:  # not deleted in the meantime
            self._store.add(attrs.evolve(entry.recording, status=completion.status))
