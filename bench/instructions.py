"""Client instructions per request, counted by valgrind: a measure that does not drift.

``python -m bench.instructions [--variants raw sdk_many ...] [--checkout DIR ...]
[--n1 300] [--n2 1300] [--jobs 2]``

Each variant runs ``bench.client`` under ``valgrind --tool=callgrind`` twice, over N1 and
over N2 sids, against one ``bench.server``; the difference of the two counts, divided by
N2 - N1, is the instructions one request costs, with interpreter start and imports taken
out.  Unlike CPU time, the count barely moves from one run to the next (a repeat agrees to
0.1 %), so it can compare versions on a machine whose speed drifts: ``--checkout DIR``
adds the same variants run from another checkout of the project (a ``git worktree`` of an
older version, say).  Instructions are not time (they ignore cache misses, which a large
heap adds), so this complements the timed benchmark; it does not replace it.

Needs valgrind; it is not part of ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.launch import serving

HERE = Path(__file__).resolve().parent.parent


def callgrind_count(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> int:
    """Instructions of ``python ARGS`` under valgrind's callgrind, start to exit."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no count for {' '.join(args)}:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def count(checkout: Path, variant: str, url: str, n: int, concurrency: int) -> int:
    """Instructions of one ``bench.client`` run from ``checkout``, start to exit."""
    return callgrind_count(
        ["-m", "bench.client", variant, url, str(n), str(concurrency)],
        checkout,
        {**os.environ, "PYTHONPATH": str(checkout)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="+", default=["raw", "sdk_many", "sdk_gather"])
    parser.add_argument("--checkout", type=Path, action="append", default=[])
    parser.add_argument("--n1", type=int, default=300)
    parser.add_argument("--n2", type=int, default=1300)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    checkouts = [HERE, *args.checkout]
    runs = [(c, v, n) for c in checkouts for v in args.variants for n in (args.n1, args.n2)]
    with serving(None) as url, ThreadPoolExecutor(args.jobs) as pool:
        counts = dict(
            zip(
                runs,
                pool.map(lambda r: count(r[0], r[1], url, r[2], args.concurrency), runs),
                strict=True,
            )
        )
    print("| checkout | variant | instructions per request | vs raw of its checkout |")
    print("|---|---|---:|---:|")
    for checkout in checkouts:
        per = {
            v: (counts[checkout, v, args.n2] - counts[checkout, v, args.n1]) / (args.n2 - args.n1)
            for v in args.variants
        }
        base = per.get("raw")
        for variant, instructions in per.items():
            ratio = f"{instructions / base:.3f}x" if base else "-"
            print(f"| {checkout} | {variant} | {instructions / 1000:,.1f} k | {ratio} |")


if __name__ == "__main__":
    main()
