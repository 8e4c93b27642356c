"""What an awaited single ``fetch`` adds over raw aiohttp, one call at a time.

``python -m bench.latency [--calls 5000] [--warmup 500] [--block 500]`` runs, in one
client process pinned to one core against ``bench.server`` pinned to the other, a loop of
sequential calls of each variant, alternated in blocks so that the machine's drift falls
on both alike:

- ``raw_json``: ``session.get``, ``read`` and ``orjson.loads`` on one aiohttp session;
- ``fetch``: ``await client.fetch(sid)`` on one MediaClient (retries on, full parsing).

It prints p50 and p99 of each, in µs, what ``fetch`` adds at each, and the structuring
cost measured in the same process (``structure_recording`` of the same body, beyond
``orjson.loads``, best of timeit runs): the target is an added p50 of no more than the
structuring cost plus 3 µs.  ``bench.run --scenario latency`` runs it too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bench.launch import cores, serving

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "bench-token"
TARGET_SLACK_US = 3.0
CALLS, WARMUP, BLOCK = 5000, 500, 500
"""The defaults: sequential calls of each variant, warm-up calls, calls per block."""


def _sid(i: int) -> str:
    return f"KV{i:032x}"


async def _measure(url: str, calls: int, warmup: int, block: int) -> dict[str, list[float]]:
    """Per-call seconds of each variant, alternating blocks of ``block`` calls."""
    import aiohttp

    from twilio_media_async import MediaClient
    from twilio_media_async._config import basic_auth_header

    headers = {"Authorization": basic_auth_header(ACCOUNT_SID, AUTH_TOKEN)}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=url) as client,
    ):

        async def raw_json(sid: str) -> None:
            async with session.get(f"{url}/v1/MediaRecordings/{sid}") as resp:
                body = orjson.loads(await resp.read())
            if resp.status != 200 or body["sid"] != sid:
                raise SystemExit(f"raw_json: a bad answer for {sid}")

        async def fetch(sid: str) -> None:
            if (await client.fetch(sid)).sid != sid:
                raise SystemExit(f"fetch: a bad answer for {sid}")

        variants: dict[str, Callable[[str], Awaitable[None]]] = {
            "raw_json": raw_json,
            "fetch": fetch,
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for call in variants.values():  # warm both: connections, caches, code paths
            for i in range(warmup):
                await call(_sid(i))
        clock = time.perf_counter
        done = 0
        while done < calls:
            size = min(block, calls - done)
            names = list(variants) if (done // block) % 2 == 0 else list(reversed(variants))
            for name in names:
                call, out = variants[name], samples[name]
                for i in range(done, done + size):
                    sid = _sid(i)
                    start = clock()
                    await call(sid)
                    out.append(clock() - start)
            done += size
        return samples


def _structuring_us(number: int) -> float:
    """µs ``structure_recording`` adds to ``orjson.loads`` of the benchmark's body, best
    of five timeit runs of ``number`` each."""
    from bench.server import TEMPLATE
    from twilio_media_async._converter import loads_json, structure_recording

    sid = _sid(1)
    body = TEMPLATE.replace(b"{SID}", sid.encode())
    parsed = min(
        timeit.repeat(
            lambda: structure_recording(loads_json(body), body, sid), number=number, repeat=5
        )
    )
    bare = min(timeit.repeat(lambda: orjson.loads(body), number=number, repeat=5))
    return (parsed - bare) / number * 1e6


def _percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(share * 1000) - 1]


def client_main(url: str, calls: int, warmup: int, block: int) -> dict[str, Any]:
    """Measure in this process; the figures as a dict of µs."""
    samples = asyncio.run(_measure(url, calls, warmup, block))
    # 100,000 conversions per timeit run for the default 5,000 calls: stable to 0.1 µs.
    out: dict[str, Any] = {"calls": calls, "structuring_us": _structuring_us(calls * 20)}
    for name, values in samples.items():
        out[name] = {
            "p50_us": statistics.median(values) * 1e6,
            "p99_us": _percentile(values, 0.99) * 1e6,
        }
    return out


def report(figures: dict[str, Any], command: str) -> str:
    """The figures as a markdown section."""
    raw, fetch = figures["raw_json"], figures["fetch"]
    structuring = figures["structuring_us"]
    added50 = fetch["p50_us"] - raw["p50_us"]
    added99 = fetch["p99_us"] - raw["p99_us"]
    target = structuring + TARGET_SLACK_US
    verdict = "met" if added50 <= target else "NOT met"
    return (
        f"Produced by `{command}`: {figures['calls']:,} sequential calls of each, after a "
        "warm-up, alternated in blocks, in one client process.\n\n"
        "| variant | p50 | p99 |\n|---|---:|---:|\n"
        f"| raw aiohttp: get + read + orjson.loads | {raw['p50_us']:.1f} µs "
        f"| {raw['p99_us']:.1f} µs |\n"
        f"| `await client.fetch(sid)` | {fetch['p50_us']:.1f} µs | {fetch['p99_us']:.1f} µs |\n"
        f"| added by `fetch` | {added50:+.1f} µs | {added99:+.1f} µs |\n\n"
        f"Structuring one recording (`structure_recording` beyond `orjson.loads`, timeit, same "
        f"process): {structuring:.1f} µs.  Target: an added p50 of at most structuring + "
        f"{TARGET_SLACK_US:.0f} µs = {target:.1f} µs: {verdict}.\n"
    )


def run_latency(
    calls: int = CALLS,
    warmup: int = WARMUP,
    block: int = BLOCK,
    *,
    server_core: str | None,
    client_core: str | None,
) -> dict[str, Any]:
    """Serve, run the client in a fresh process pinned to ``client_core``, return figures."""
    with serving(server_core) as url:
        args = [sys.executable, "-m", "bench.latency", "--client", url]
        args += ["--calls", str(calls), "--warmup", str(warmup), "--block", str(block)]
        if client_core is not None:
            args += ["--core", client_core]
        out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=900)
    figures: dict[str, Any] = orjson.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--block", type=int, default=BLOCK)
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--core", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        if args.core is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {int(args.core)})
        figures = client_main(args.client, args.calls, args.warmup, args.block)
        print(orjson.dumps(figures).decode())
        return
    server_core, client_core = cores()
    figures = run_latency(
        args.calls, args.warmup, args.block, server_core=server_core, client_core=client_core
    )
    print(report(figures, f"python -m bench.latency {' '.join(sys.argv[1:])}".strip()))


if __name__ == "__main__":
    main()
