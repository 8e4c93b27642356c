"""Minor page faults and syscalls per request: what the kernel does for the client.

``python -m bench.kernel [--variants raw sdk_many ...] [--checkout DIR ...] [--n 10000]
[--runs 5]``

Each variant runs ``bench.client`` ``--runs`` times over N sids against one
``bench.server``, under ``strace -f -c -e trace=mmap,munmap,mremap,recvfrom`` when strace
is installed (the calls a fresh receive buffer per read costs: ``RECEIVE_CAP`` in
``_transport.py``).  Page faults are ``getrusage``'s ``ru_minflt`` over the fetching (the
``minflt`` that ``bench.client`` prints); syscalls are the whole process's, interpreter
start included (some 260 mmap calls, 0.03 per request at N = 10,000).  Each run's count
per request is shown, then the median: whether glibc serves a fresh 256 KiB buffer with
mmap depends on malloc's state, which differs from one run to the next, so a run is
either all in or all out.  Unlike times, the counts do not drift with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from bench.launch import serving

HERE = Path(__file__).resolve().parent.parent
SYSCALLS = ("mmap", "munmap", "mremap", "recvfrom")


def run(checkout: Path, variant: str, url: str, n: int) -> dict[str, float]:
    """One run's minor faults and syscalls (if strace is there), per request."""
    client = [sys.executable, "-m", "bench.client", variant, url, str(n), "64"]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as summary:
        traced = shutil.which("strace") is not None
        prefix = ["strace", "-f", "-c", "-e", f"trace={','.join(SYSCALLS)}", "-o", summary.name]
        out = subprocess.run(
            [*prefix, *client] if traced else client,
            cwd=checkout,
            env=env,
            capture_output=True,
            check=True,
        )
        text = summary.read()
    counts = {"minflt": float(orjson.loads(out.stdout)["minflt"])}
    if traced:
        counts |= dict.fromkeys(SYSCALLS, 0.0)
    for line in text.splitlines():
        # % time, seconds, usecs/call, calls, [errors,] syscall
        fields = line.split()
        if len(fields) > 4 and fields[-1] in counts and fields[3].isdigit():
            counts[fields[-1]] = float(fields[3])
    return {name: value / n for name, value in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="+", default=["raw", "sdk_many", "sdk_gather"])
    parser.add_argument("--checkout", type=Path, action="append", default=[])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    names = ["minflt", *(SYSCALLS if shutil.which("strace") else ())]
    print(f"| checkout | variant | {' | '.join(names)} |")
    print(f"|---|---|{'---:|' * len(names)}")
    with serving(None) as url:
        for checkout in [HERE, *args.checkout]:
            for variant in args.variants:
                runs = [run(checkout, variant, url, args.n) for _ in range(args.runs)]
                cells = []
                for name in names:
                    values = [r[name] for r in runs]
                    each = ", ".join(f"{v:.2f}" for v in values)
                    cells.append(f"{statistics.median(values):.2f} ({each})")
                print(f"| {checkout} | {variant} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
