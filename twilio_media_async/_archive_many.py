"""``download_many``: the archive over the bulk stream of ``_bulk``.

The bulk stream gives ordering, a bounded input, clean cancellation and exactly one result
per item; this module adds what a download needs on top: a bound on the transfers in
flight (separate from the API requests, which go through the client's limiter), one
credential-free storage session for the run, and one transfer at a time per target file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ._archive import Archive, Storage, failed_result
from ._bulk import SidInput, bounded_map
from ._files import existing_size, target_in
from ._limiter import Lane
from ._results import DownloadResult
from ._sids import check_recording_sid
from .errors import ClientClosedError, InvalidSidError, TwilioMediaError
from .models import MediaRecording

__all__ = ["download_many"]


class _Target:
    """The items of a run that write one file: they take turns."""

    __slots__ = ("done", "lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.done = False


class _Run:
    """The state of one ``download_many`` run."""

    def __init__(
        self, archive: Archive, directory: Path, lane: Lane, concurrency: int, overwrite: bool
    ) -> None:
        self.archive, self.directory, self.lane = archive, directory, lane
        self.overwrite = overwrite
        self.storage = Storage(archive.transport, concurrency)
        self.transfers = asyncio.Semaphore(concurrency)
        self.targets: dict[Path, _Target] = {}

    def check(self, item: Any) -> str | DownloadResult:
        """The item's sid, or its result at once (a bad sid)."""
        if self.archive.transport.closed:
            raise ClientClosedError("the client was closed during download_many")
        try:
            sid = item.sid if isinstance(item, MediaRecording) else item
            return check_recording_sid(sid)
        except InvalidSidError as exc:
            return failed_result(item, exc)

    async def run(self, item: Any, sid: str, epoch: int) -> DownloadResult:
        """One item's result; never raises, except on cancellation."""
        path: Path | None = None
        try:
            if isinstance(item, MediaRecording):
                # The held slot is for a first API request: a given recording makes none
                # before its resolve, which takes a slot of its own.
                self.lane.gate.release(self.lane.run, epoch, limited=False, answered=False)
                recording, spent, request_id = item, 0, None
            else:
                recording, spent, request_id = await self.archive.fetch(sid, self.lane, epoch)
            path = target_in(self.directory, sid, recording.format)
            async with self._turn(path) as target:
                return await self._download(recording, path, target, spent, request_id)
        except TwilioMediaError as exc:
            return failed_result(item, exc, path)
        except Exception as exc:  # a bug is reported as a result, never lost
            described = self.archive.transport.describe(exc)
            return failed_result(item, TwilioMediaError(f"unexpected error: {described}"), path)

    async def _download(
        self,
        recording: MediaRecording,
        path: Path,
        target: _Target,
        spent: int,
        request_id: str | None,
    ) -> DownloadResult:
        if target.done:  # an earlier item of this run wrote this very file
            self.archive.media_link(recording)
            size = existing_size(path) or 0
            return DownloadResult(
                sid=recording.sid,
                path=str(path),
                bytes=size,
                skipped=True,
                attempts=spent,
                request_id=request_id,
            )
        async with self.transfers:
            result = await self.archive.download_recording(
                recording,
                path,
                overwrite=self.overwrite,
                storage=self.storage,
                lane=self.lane,
                spent=spent,
                request_id=request_id,
            )
        target.done = True
        return result

    @asynccontextmanager
    async def _turn(self, path: Path) -> AsyncIterator[_Target]:
        target = self.targets.get(path)
        if target is None:
            target = self.targets[path] = _Target()
        target.users += 1
        try:
            async with target.lock:
                yield target
        finally:
            target.users -= 1
            if not target.users:
                del self.targets[path]


async def download_many(
    archive: Archive,
    items: SidInput,
    directory: Path,
    *,
    lane: Lane,
    concurrency: int,
    ordered: bool,
    overwrite: bool,
) -> AsyncGenerator[DownloadResult, None]:
    """One DownloadResult per item, files at ``directory/<sid>.<ext>``."""
    run = _Run(archive, directory, lane, concurrency, overwrite)
    try:
        async for result in bounded_map(
            items, run=run.run, check=run.check, lane=lane, ordered=ordered
        ):
            yield result
    finally:
        await run.storage.aclose()
