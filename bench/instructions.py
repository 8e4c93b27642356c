"""Client instructions per request, counted by valgrind: a measure that does not drift.

``python -m bench.instructions [--variants raw raw_json hand_pool sdk_many sdk_gather]
[--checkout DIR ...] [--n1 300] [--n2 1300] [--jobs 2]``

Each variant runs ``bench.client`` under ``valgrind --tool=callgrind`` twice, over N1 and
over N2 sids, against one ``bench.server``; the difference of the two counts, divided by
N2 - N1, is the instructions one request costs, with interpreter start and imports taken
out.  Unlike CPU time, the count barely moves from one run to the next (a repeat agrees to
0.1 %), so it can compare versions on a machine whose speed drifts: ``--checkout DIR``
adds the same variants run from another checkout of the project (a ``git worktree`` of an
older version, say).  Instructions are not time (they ignore cache misses, which a large
heap adds), so this complements the timed benchmark; it does not replace it.

The table ends with #25's targets, judged where both variants were measured:
``fetch_many`` at most 1.0x raw aiohttp with ``orjson.loads`` (``raw_json``) and 1.0x the
careful user's worker loop (``hand_pool``), ``fetch`` in a gather at most 1.1x ``raw_json``.
Needs valgrind; ``nox -s bench -- --scenario instructions`` runs it too.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

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


TARGETS: Final = {
    "sdk_many": (("raw_json", 1.0), ("hand_pool", 1.0)),
    "sdk_gather": (("raw_json", 1.1),),
}
"""#25's targets: a variant's instructions against another's from the same checkout."""
DEFAULT_VARIANTS: Final = ("raw", "raw_json", "hand_pool", "sdk_many", "sdk_gather")
N1, N2, CONCURRENCY, JOBS = 300, 1300, 64, 2
"""The defaults: the two run sizes, requests in flight, and valgrind runs at once."""


def measure(
    variants: Sequence[str],
    checkouts: Sequence[Path],
    *,
    n1: int = N1,
    n2: int = N2,
    concurrency: int = CONCURRENCY,
    jobs: int = JOBS,
) -> dict[Path, dict[str, float]]:
    """Instructions per request of each variant of each checkout, against one server."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    runs = [(c, v, n) for c in checkouts for v in variants for n in (n1, n2)]
    with serving(None) as url, ThreadPoolExecutor(jobs) as pool:
        counts = dict(
            zip(
                runs,
                pool.map(lambda r: count(r[0], r[1], url, r[2], concurrency), runs),
                strict=True,
            )
        )
    return {
        c: {v: (counts[c, v, n2] - counts[c, v, n1]) / (n2 - n1) for v in variants}
        for c in checkouts
    }


def table(per_checkout: dict[Path, dict[str, float]]) -> str:
    """A markdown table of the counts, each against raw (get + read) of its checkout, and
    the targets that can be judged from the variants measured."""
    lines = [
        "| checkout | variant | instructions per request | vs raw of its checkout |",
        "|---|---|---:|---:|",
    ]
    verdicts = []
    for checkout, per in per_checkout.items():
        base = per.get("raw")
        for variant, instructions in per.items():
            ratio = f"{instructions / base:.3f}x" if base else "-"
            lines.append(f"| {checkout} | {variant} | {instructions / 1000:,.1f} k | {ratio} |")
            for other, limit in TARGETS.get(variant, ()):
                if other in per:
                    got = instructions / per[other]
                    verdict = "met" if got <= limit else "NOT met"
                    verdicts.append(
                        f"- {checkout}: {variant} / {other} = {got:.3f}x "
                        f"(target <= {limit:.1f}x): {verdict}"
                    )
    return "\n".join(lines + (["", *verdicts] if verdicts else [])) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    parser.add_argument("--checkout", type=Path, action="append", default=[])
    parser.add_argument("--n1", type=int, default=N1)
    parser.add_argument("--n2", type=int, default=N2)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--jobs", type=int, default=JOBS, help="valgrind runs at once")
    args = parser.parse_args()
    per_checkout = measure(
        args.variants,
        [HERE, *args.checkout],
        n1=args.n1,
        n2=args.n2,
        concurrency=args.concurrency,
        jobs=args.jobs,
    )
    print(table(per_checkout), end="")


if __name__ == "__main__":
    main()
