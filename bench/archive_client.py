"""One archive benchmark run of one variant, in a fresh process, printed as JSON.

``python -m bench.archive_client VARIANT CONFIG`` where CONFIG is JSON with ``url``,
``account_sid``, ``auth_token``, ``directory``, ``concurrency`` and optionally ``cpu``, and
VARIANT is one of:

- ``raw``: plain aiohttp doing the work by hand: 16 (``concurrency``) worker coroutines,
  each resolving a media link with Basic auth and ``allow_redirects=False``, then GETting
  the storage URL without auth, streaming it to ``<file>.partial`` with sha256 on the way,
  fsync, rename, fsync of the directory (fsyncs in a thread, as the SDK does);
- ``sdk``: ``client.download`` for a single recording, ``client.download_many`` for more.

Both get MediaRecordings listed before the clock starts, so neither makes a metadata
request.  Wall time, client CPU time and RSS growth (the peak over the run against the RSS
at its start) cover the downloads only.  After the clock stops, every file on disk is
hashed and checked against the bytes the fake storage serves, each sid must have exactly
one ok result, and the directory is emptied (the files can be GiBs).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import resource
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from twilio_media_async import MediaClient, MediaRecording
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import media_sha256

Outcome = tuple[str, Path | None, int]
"""(sid, final path or None on failure, requests made)."""


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> int:
    """Reset the peak RSS where Linux allows it; the RSS now, in KiB."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    now = _status_kib("VmRSS")
    return now if now is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak() -> int:
    """The peak RSS since ``reset_peak`` (or since the start), in KiB."""
    hwm = _status_kib("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _raw_file(
    api: aiohttp.ClientSession, storage: aiohttp.ClientSession, rec: MediaRecording, path: Path
) -> None:
    assert rec.links is not None
    async with api.get(rec.links["media"], allow_redirects=False) as resp:
        if resp.status != 302:
            raise RuntimeError(f"resolve answered {resp.status}")
        location = resp.headers["Location"]
    partial = path.with_name(path.name + ".partial")
    digest = hashlib.sha256()
    async with storage.get(location) as resp:
        resp.raise_for_status()
        with partial.open("wb") as f:
            async for chunk in resp.content.iter_any():
                f.write(chunk)
                digest.update(chunk)
            f.flush()
            await asyncio.to_thread(os.fsync, f.fileno())
    os.replace(partial, path)
    await asyncio.to_thread(_fsync_dir, path.parent)
    digest.hexdigest()


async def raw(config: dict[str, Any], recs: list[MediaRecording]) -> list[Outcome]:
    """Plain aiohttp: ``concurrency`` workers, each resolve + stream + write + sha256 +
    fsync + rename, one file after another."""
    directory = Path(config["directory"])
    auth = {"Authorization": basic_auth_header(config["account_sid"], config["auth_token"])}
    outcomes: list[Outcome] = []
    queue: Iterator[MediaRecording] = iter(recs)
    async with aiohttp.ClientSession(headers=auth) as api, aiohttp.ClientSession() as storage:

        async def worker() -> None:
            for rec in queue:
                sid = str(rec.sid)
                path = directory / f"{sid}.mp4"
                try:
                    await _raw_file(api, storage, rec, path)
                    outcomes.append((sid, path, 2))
                except (aiohttp.ClientError, OSError, RuntimeError):
                    outcomes.append((sid, None, 2))

        await asyncio.gather(*(worker() for _ in range(config["concurrency"])))
    return outcomes


async def sdk(client: MediaClient, config: dict[str, Any], recs: list[MediaRecording]) -> Any:
    """``client.download`` for one recording, ``client.download_many`` for more."""
    directory = Path(config["directory"])
    if len(recs) == 1:
        result = await client.download(recs[0], directory / f"{recs[0].sid}.mp4")
        return [(result.sid, Path(str(result.path)), result.attempts)], []
    outcomes: list[Outcome] = []
    errors: list[str] = []
    async for result in client.download_many(recs, directory, concurrency=config["concurrency"]):
        ok = result.ok and result.path is not None
        outcomes.append((result.sid, Path(str(result.path)) if ok else None, result.attempts))
        if result.error is not None and len(errors) < 5:
            errors.append(str(result.error))
    return outcomes, errors


def verify(outcomes: list[Outcome], recs: list[MediaRecording]) -> dict[str, int]:
    """Every sid exactly once and ok, every file's bytes those storage serves."""
    sizes = {str(rec.sid): rec.size or 0 for rec in recs}
    seen = Counter(sid for sid, _, _ in outcomes)
    good = 0
    for sid, path, _ in outcomes:
        if path is None or seen[sid] != 1 or sid not in sizes:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        good += digest.hexdigest() == media_sha256(sid, sizes[sid])
    return {
        "ok": sum(path is not None for _, path, _ in outcomes),
        "verified": good,
        "duplicates": sum(count - 1 for count in seen.values()),
        "missing": len(set(sizes) - set(seen)),
        "requests": sum(requests for _, _, requests in outcomes),
    }


async def measure(variant: str, config: dict[str, Any]) -> dict[str, Any]:
    """List the recordings, then time the downloads of ``variant``; verify; clean up."""
    directory = Path(config["directory"])
    os.makedirs(directory, exist_ok=True)
    kwargs = {k: config[k] for k in ("account_sid", "auth_token")}
    try:
        async with MediaClient(**kwargs, base_url=config["url"]) as client:
            recs = [rec async for rec in client.list(page_size=1000)]
            rss_before = reset_peak()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime
            started = time.perf_counter()
            if variant == "raw":
                outcomes, errors = await raw(config, recs), []
            else:
                outcomes, errors = await sdk(client, config, recs)
            wall = time.perf_counter() - started
            usage = resource.getrusage(resource.RUSAGE_SELF)
            rss_peak = peak()
        checked = verify(outcomes, recs)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime - cpu,
        "rss_before_kib": rss_before,
        "rss_growth_kib": rss_peak - rss_before,
        "files": len(recs),
        "bytes": sum(rec.size or 0 for rec in recs),
        "errors": errors,
        **checked,
    }


def main() -> None:
    """Run one variant from the command line; print its measurement as JSON."""
    variant, config = sys.argv[1], orjson.loads(sys.argv[2])
    if variant not in ("raw", "sdk"):
        raise SystemExit(f"unknown variant {variant!r}")
    if config.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(config["cpu"])})
    print(orjson.dumps(asyncio.run(measure(variant, config))).decode())


if __name__ == "__main__":
    main()
