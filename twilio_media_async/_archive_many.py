"""``download_many``: the archive over the bulk stream of ``_bulk``.

The bulk stream gives ordering, a bounded input, clean cancellation and exactly one result
per item; this module adds what a download needs on top: a bound on the transfers in
flight (separate from the API requests, which go through the client's limiter), one
credential-free storage session for the run, and one transfer at a time per target file.
The files go to a ``_destination.Destination``: a local directory or a store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Any

from ._archive import Archive, Storage, as_recording, failed_result
from ._bulk import BulkLane, SidInput, bounded_map
from ._destination import Destination, Place
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
        self,
        archive: Archive,
        destination: Destination,
        lane: BulkLane,
        concurrency: int,
        overwrite: bool,
    ) -> None:
        self.archive, self.destination, self.lane = archive, destination, lane
        self.overwrite = overwrite
        self.storage = Storage(archive.transport, concurrency)
        self.transfers = asyncio.Semaphore(concurrency)
        self.targets: dict[Hashable, _Target] = {}

    def check(self, item: Any) -> str | DownloadResult:
        """The item's sid, or its result at once (a bad sid)."""
        if self.archive.transport.closed:
            raise ClientClosedError("the client was closed during download_many")
        try:
            given = as_recording(item)
            return check_recording_sid(item if given is None else given.sid)
        except InvalidSidError as exc:
            return failed_result(item, exc)

    async def run(self, item: Any, sid: str, epoch: int) -> DownloadResult:
        """One item's result; never raises, except on cancellation."""
        path: str | None = None
        try:
            given = as_recording(item)
            if given is not None:
                # The held slot is for a first API request: a given recording makes none
                # before its resolve, which takes a slot of its own.
                self.lane.give_back(epoch)
                recording, spent, request_id = given, 0, None
            else:
                recording, spent, request_id = await self.archive.fetch(
                    sid, self.lane.through(epoch)
                )
            place = self.destination.place(sid, recording.format)
            path = place.url
            async with self._turn(place.key) as target:
                return await self._download(recording, place, target, spent, request_id)
        except TwilioMediaError as exc:
            return failed_result(item, exc, path)
        except Exception as exc:  # a bug is reported as a result, never lost
            described = self.archive.transport.describe(exc)
            return failed_result(item, TwilioMediaError(f"unexpected error: {described}"), path)

    async def _download(
        self,
        recording: MediaRecording,
        place: Place,
        target: _Target,
        spent: int,
        request_id: str | None,
    ) -> DownloadResult:
        if target.done:  # an earlier item of this run wrote this very file
            self.archive.media_link(recording)
            stored = await place.stored()
            return DownloadResult(
                sid=recording.sid,
                path=place.url,
                bytes=0 if stored is None else stored.size,
                sha256=None if stored is None else stored.sha256,
                skipped=True,
                attempts=spent,
                request_id=request_id,
            )
        async with self.transfers:
            result = await self.archive.download_recording(
                recording,
                place,
                overwrite=self.overwrite,
                storage=self.storage,
                lane=self.lane,
                spent=spent,
                request_id=request_id,
            )
        target.done = True
        return result

    @asynccontextmanager
    async def _turn(self, key: Hashable) -> AsyncIterator[_Target]:
        target = self.targets.get(key)
        if target is None:
            target = self.targets[key] = _Target()
        target.users += 1
        try:
            async with target.lock:
                yield target
        finally:
            target.users -= 1
            if not target.users:
                del self.targets[key]


async def download_many(
    archive: Archive,
    items: SidInput,
    destination: Destination,
    *,
    lane: BulkLane,
    concurrency: int,
    ordered: bool,
    overwrite: bool,
) -> AsyncGenerator[DownloadResult, None]:
    """One DownloadResult per item, files at ``<destination>/<sid>.<ext>``."""
    run = _Run(archive, destination, lane, concurrency, overwrite)
    results = bounded_map(items, run=run.run, check=run.check, lane=lane.lane, ordered=ordered)
    try:
        # Closed here, not left to the loop's finalizer: otherwise the storage session
        # below would close under transfers still running, and this stream's aclose()
        # would return with the pool's workers (and the input) still alive.
        async with contextlib.aclosing(results):
            async for result in results:
                yield result
    finally:
        try:
            await run.storage.aclose()
        finally:
            await destination.aclose()
