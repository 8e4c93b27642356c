"""The local file of a download: what can wait on the disk runs off the event loop, and a
cancellation never leaves a file handle open."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from twilio_media_async import _files
from twilio_media_async._files import PartialFile
from twilio_media_async.testing import media_sha256

from ._archive import COMPLETED_SIDS, SIZE, serving


async def test_creating_renaming_and_fsyncing_the_file_never_run_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    seen: dict[str, set[bool]] = {"open": set(), "replace": set(), "fsync": set()}

    def recording(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen[name].add(threading.get_ident() == loop_thread)
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(_files, "_open_partial", recording("open", _files._open_partial))
    monkeypatch.setattr(os, "replace", recording("replace", os.replace))
    monkeypatch.setattr(os, "fsync", recording("fsync", os.fsync))
    async with serving() as (_, client):
        async for result in client.download_many(COMPLETED_SIDS[:4], tmp_path, concurrency=2):
            assert result.ok, result.error
            assert result.sha256 == media_sha256(result.sid, SIZE)
    assert seen == {"open": {False}, "replace": {False}, "fsync": {False}}


async def test_a_cancelled_open_closes_the_file_it_opened_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    opened: list[Any] = []

    def slow_open(final: Path, path: Path) -> Any:
        release.wait(timeout=10)
        result = real(final, path)
        opened.append(result[0])
        return result

    real = _files._open_partial
    monkeypatch.setattr(_files, "_open_partial", slow_open)
    partial = PartialFile(tmp_path / "a" / "f.mp4")
    task = asyncio.create_task(partial.open())
    await asyncio.sleep(0.01)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(500):  # the thread finishes the open after the cancellation
        if opened and opened[0].closed:
            break
        await asyncio.sleep(0.01)
    assert opened and opened[0].closed
    assert partial.path.exists()  # the partial file stays, for a later resume
