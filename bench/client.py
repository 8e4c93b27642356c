"""One benchmark run of one variant, in a fresh process, printed as JSON.

``python -m bench.client VARIANT URL N CONCURRENCY [CPU]`` where VARIANT is one of:

- ``raw``: raw aiohttp, ``session.get`` and ``read`` under a semaphore (no parsing);
- ``raw_json``: the same plus ``orjson.loads`` of each body: the loop most users write;
- ``hand_pool``: the loop a careful user writes by hand for fetch_many's result: 64 worker
  coroutines over one session pulling sids from one iterator, each doing ``get``, ``read``,
  ``orjson.loads`` and cattrs structuring into an equivalent frozen attrs class;
- ``sdk_many``: ``MediaClient.fetch_many`` with full parsing and the default retry policy;
- ``sdk_many_retries_off``: the same with ``RetryPolicy(max_attempts=1)``, to show what the
  retry policy costs on the happy path;
- ``sdk_gather``: ``MediaClient.fetch`` in a hand-written gather with a semaphore;
- ``twilio``: twilio-python's ``media_recording(sid).fetch_async()``;
- ``layer_transport`` and ``layer_engine``: the SDK's transport alone, and its retry engine
  over it, with no parsing, in the same gather as ``sdk_gather``: what each layer costs
  (private API, for ``bench.instructions``).

Wall time, client CPU time, peak RSS and minor page faults (``minflt``, from
``getrusage``: stable from run to run where times are not) cover the fetching only, not
interpreter start.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "bench-token"


def sids(n: int) -> Iterator[str]:
    """Deterministic, valid sids, generated lazily."""
    return (f"KV{i:032x}" for i in range(n))


async def raw(url: str, n: int, concurrency: int) -> int:
    import aiohttp

    from twilio_media_async._config import basic_auth_header

    ok = 0
    headers = {"Authorization": basic_auth_header(ACCOUNT_SID, AUTH_TOKEN)}
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(sid: str) -> None:
            nonlocal ok
            async with semaphore, session.get(f"{url}/v1/MediaRecordings/{sid}") as resp:
                await resp.read()
                ok += resp.status == 200

        await asyncio.gather(*(one(sid) for sid in sids(n)))
    return ok


async def raw_json(url: str, n: int, concurrency: int) -> int:
    import aiohttp

    from twilio_media_async._config import basic_auth_header

    ok = 0
    headers = {"Authorization": basic_auth_header(ACCOUNT_SID, AUTH_TOKEN)}
    semaphore = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(sid: str) -> None:
            nonlocal ok
            async with semaphore, session.get(f"{url}/v1/MediaRecordings/{sid}") as resp:
                body = orjson.loads(await resp.read())
                ok += resp.status == 200 and body["sid"] == sid

        await asyncio.gather(*(one(sid) for sid in sids(n)))
    return ok


async def hand_pool(url: str, n: int, concurrency: int) -> int:
    import aiohttp

    from bench.hand import structure
    from twilio_media_async._config import basic_auth_header

    ok = 0
    headers = {"Authorization": basic_auth_header(ACCOUNT_SID, AUTH_TOKEN)}
    pending = sids(n)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def worker() -> None:
            nonlocal ok
            for sid in pending:  # one shared iterator: each sid goes to one worker
                async with session.get(f"{url}/v1/MediaRecordings/{sid}") as resp:
                    recording = structure(orjson.loads(await resp.read()))
                    ok += resp.status == 200 and recording.sid == sid

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


async def sdk_many(url: str, n: int, concurrency: int) -> int:
    from twilio_media_async import MediaClient

    ok = 0
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=url) as client:
        async for result in client.fetch_many(sids(n), concurrency=concurrency):
            ok += result.ok
    return ok


async def sdk_many_retries_off(url: str, n: int, concurrency: int) -> int:
    from twilio_media_async import MediaClient, RetryPolicy

    ok = 0
    retry = RetryPolicy(max_attempts=1)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=url, retry=retry) as client:
        async for result in client.fetch_many(sids(n), concurrency=concurrency):
            ok += result.ok
    return ok


async def _gathered(
    url: str, n: int, concurrency: int, call: Callable[[Any, str], Awaitable[object]]
) -> int:
    """``call(client, sid)`` for every sid, in a gather under a semaphore."""
    from twilio_media_async import MediaClient

    ok = 0
    semaphore = asyncio.Semaphore(concurrency)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=url) as client:

        async def one(sid: str) -> None:
            nonlocal ok
            async with semaphore:
                await call(client, sid)
                ok += 1

        await asyncio.gather(*(one(sid) for sid in sids(n)))
    return ok


async def sdk_gather(url: str, n: int, concurrency: int) -> int:
    return await _gathered(url, n, concurrency, lambda client, sid: client.fetch(sid))


async def layer_transport(url: str, n: int, concurrency: int) -> int:
    return await _gathered(
        url,
        n,
        concurrency,
        lambda client, sid: client._transport.request("GET", client._recording_url(sid)),
    )


async def layer_engine(url: str, n: int, concurrency: int) -> int:
    return await _gathered(
        url,
        n,
        concurrency,
        lambda client, sid: client._engine.call("GET", client._recording_url(sid)),
    )


async def twilio(url: str, n: int, concurrency: int) -> int:
    # Imported by name: twilio-python is a bench-only dependency, without type hints.
    AsyncTwilioHttpClient = importlib.import_module(
        "twilio.http.async_http_client"
    ).AsyncTwilioHttpClient
    Client = importlib.import_module("twilio.rest").Client

    ok = 0
    http_client = AsyncTwilioHttpClient()  # inside the running loop, as it must be
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client)
    client.media.base_url = url
    semaphore = asyncio.Semaphore(concurrency)

    async def one(sid: str) -> None:
        nonlocal ok
        async with semaphore:
            await client.media.v1.media_recording(sid).fetch_async()
            ok += 1

    try:
        await asyncio.gather(*(one(sid) for sid in sids(n)))
    finally:
        await http_client.close()
    return ok


def _import_outside_the_timing(variant: str) -> None:
    """Interpreter start and imports are not what is measured."""
    import aiohttp  # noqa: F401

    if variant == "twilio":
        importlib.import_module("twilio.http.async_http_client")
        importlib.import_module("twilio.rest")
    else:
        import twilio_media_async  # noqa: F401


VARIANTS = {
    "raw": raw,
    "raw_json": raw_json,
    "hand_pool": hand_pool,
    "sdk_many": sdk_many,
    "sdk_many_retries_off": sdk_many_retries_off,
    "sdk_gather": sdk_gather,
    "twilio": twilio,
    "layer_transport": layer_transport,
    "layer_engine": layer_engine,
}


def main() -> None:
    variant, url, n, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if len(sys.argv) > 5 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(sys.argv[5])})
    import warnings

    warnings.simplefilter("ignore")  # twilio-python uses aiohttp's deprecated BasicAuth
    _import_outside_the_timing(variant)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF)
    rss_before = before.ru_maxrss
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ok = asyncio.run(VARIANTS[variant](url, n, concurrency))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    after = resource.getrusage(resource.RUSAGE_SELF)
    rss = after.ru_maxrss
    minflt = after.ru_minflt - before.ru_minflt
    print(
        orjson.dumps(
            {"variant": variant, "n": n, "ok": ok, "wall": wall, "cpu": cpu,
             "rss_kib": rss, "rss_before_kib": rss_before, "minflt": minflt}
        ).decode()
    )  # fmt: skip


if __name__ == "__main__":
    main()
