"""One client process of a scenario: ``fetch_many`` over N sids, checked, printed as JSON.

``python -m bench.scenario_client URL --n N [--offset K] [--concurrency C]
[--policy scaled|default] [--cpu CORE] [--sample-ms MS] [--wait-go]``

- ``--policy scaled`` (the default) is ``RetryPolicy(max_attempts=10, initial_wait=0.02,
  max_wait=0.5)``: waits scaled down to loopback speed; ``default`` is the default policy
  with ``max_attempts=10``.
- The sids are ``KV`` + the 32-hex-digit numbers OFFSET to OFFSET + N - 1, so processes of
  one run can be given distinct sids.
- Every input sid must yield exactly one result, and every result must be ok: the output
  counts ok results, duplicates, missing and unexpected sids, and the errors by type.
- ``--sample-ms`` samples the client's shared limiter, when it has one, every MS: its
  ``limit`` and ``in_flight``.  Only the SDK's public API is used otherwise.
- ``--wait-go`` prints ``ready`` once set up, then waits for a line on stdin, so several
  processes can start together.

Wall time and CPU cover the run only, not interpreter start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from typing import Any

import orjson

from twilio_media_async import MediaClient, RetryPolicy

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "bench-token"

POLICIES = {
    "scaled": lambda: RetryPolicy(max_attempts=10, initial_wait=0.02, max_wait=0.5),
    "default": lambda: RetryPolicy(max_attempts=10),
}


def sid_list(n: int, offset: int = 0) -> list[str]:
    """Deterministic, valid, distinct sids."""
    return [f"KV{i:032x}" for i in range(offset, offset + n)]


async def sample_limiter(
    client: object, out: list[tuple[float, float | None, int | None]], every: float
) -> None:
    """Record the shared limiter's ``limit`` and ``in_flight`` while the run lasts.

    A client without a ``_limiter`` (or a limiter without those attributes) records
    nothing for what it lacks: the figure then says the limiter was not exposed.
    """
    while True:
        limiter = getattr(client, "_limiter", None)
        if limiter is not None:
            limit = getattr(limiter, "limit", None)
            in_flight = getattr(limiter, "in_flight", None)
            out.append(
                (
                    time.monotonic(),
                    float(limit) if isinstance(limit, int | float) else None,
                    int(in_flight) if isinstance(in_flight, int) else None,
                )
            )
        await asyncio.sleep(every)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fetch every sid once through fetch_many and check the results."""
    sids = sid_list(args.n, args.offset)
    expected = set(sids)
    seen: set[str] = set()
    ok = duplicates = unexpected = attempts = 0
    errors: Counter[str] = Counter()
    samples: list[tuple[float, float | None, int | None]] = []
    policy = POLICIES[args.policy]()
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=args.url, retry=policy) as client:
        sampler = None
        if args.sample_ms:
            sampler = asyncio.create_task(sample_limiter(client, samples, args.sample_ms / 1000))
        start, cpu0 = time.monotonic(), time.process_time()
        try:
            async for result in client.fetch_many(sids, concurrency=args.concurrency):
                attempts += result.attempts
                if result.sid not in expected:
                    unexpected += 1
                elif result.sid in seen:
                    duplicates += 1
                else:
                    seen.add(result.sid)
                if result.ok:
                    ok += 1
                else:
                    error = result.error
                    status = getattr(error, "status", None)
                    errors[f"{type(error).__name__}{f' {status}' if status else ''}"] += 1
            end, cpu = time.monotonic(), time.process_time() - cpu0
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
    return {
        "n": args.n,
        "offset": args.offset,
        "concurrency": args.concurrency,
        "policy": args.policy,
        "ok": ok,
        "duplicates": duplicates,
        "missing": len(expected - seen),
        "unexpected": unexpected,
        "errors": dict(errors),
        "attempts": attempts,
        "start": start,
        "end": end,
        "wall": end - start,
        "cpu": cpu,
        "limiter_exposed": bool(samples),
        "samples": samples,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line described in the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench.scenario_client")
    parser.add_argument("url")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--policy", choices=list(POLICIES), default="scaled")
    parser.add_argument("--cpu", type=int, help="pin this process to one core")
    parser.add_argument("--sample-ms", type=float, default=0.0)
    parser.add_argument("--wait-go", action="store_true")
    return parser.parse_args(argv)


def main() -> None:
    """Run one client from the command line; print one JSON line."""
    args = parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.wait_go:
        print("ready", flush=True)
        sys.stdin.readline()
    print(orjson.dumps(asyncio.run(run(args))).decode(), flush=True)


if __name__ == "__main__":
    main()
