"""Run the benchmark: the clean-network comparison, or a scenario under faults and limits.

``python -m bench.run [--scenario clean|faults|faults-60ms|cap|share|share-16|faults-default|
archive|latency|instructions|all] [--archive] [--n 20000] [--concurrency 64] [--rounds 5]
[--variants ...] [--memory-n 200000] [--scenario-rounds 1] [--seed 1] [--archive-rounds 3]
[--archive-big BYTES] [--archive-files 2000] [--archive-file-size BYTES]
[--markdown FILE] [--figures DIR]``

``clean`` (the default): every variant against one local server, alternated, median of
rounds.  The server runs in its own process pinned to one core and the clients, each round
in a fresh process, to the other (where the machine has two).  Ratios are against raw
aiohttp from the same run, so they hold across machines better than absolute numbers do.
``--n``, ``--concurrency``, ``--rounds``, ``--variants`` and ``--memory-n`` apply to it.

The other scenarios (see ``bench/scenarios.py``) each measure fetch_many's goodput against
an oracle from the same invocation; ``all`` runs every scenario, ``clean`` first.

``archive`` (also ``--archive``; see ``bench/archive.py``) measures ``download`` and
``download_many`` against raw aiohttp on a FakeMediaServer in its own process: one big
file, many small ones, and the small ones under storage faults, each a median of
``--archive-rounds``.

``latency`` (see ``bench/latency.py``) measures what an awaited single ``fetch`` adds over
raw aiohttp, sequential calls, p50 and p99.  ``instructions`` (see
``bench/instructions.py``; needs valgrind, so ``all`` leaves it out) counts each clean
variant's instructions per request and judges #25's targets.

``--markdown FILE`` writes each report into its own section of FILE and keeps the rest:
``## Results`` for ``clean``, ``## Archive`` for ``archive``, ``## Latency`` for
``latency``, ``## Instructions`` for ``instructions``, ``## Scenario: NAME`` for the
others.  Figures of the limiter and of the archive go to ``--figures DIR`` (by default
``img/`` next to FILE; none without either).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from bench import instructions
from bench.archive import run_archive
from bench.latency import report as latency_report
from bench.latency import run_latency
from bench.launch import cores, server_stats, serving
from bench.measured import ArchiveOptions
from bench.pages import write_section
from bench.scenarios import SCENARIOS, run_scenario

LABELS = {
    "raw": "(a) raw aiohttp: get + read",
    "raw_json": "(a') raw aiohttp: get + read + orjson.loads",
    "hand_pool": "(e) a hand-written pool of 64 workers into attrs, via cattrs",
    "sdk_many": "(b) SDK fetch_many (parsing, retries on)",
    "sdk_many_retries_off": "(b') SDK fetch_many, retries off",
    "sdk_gather": "(c) SDK fetch in gather + semaphore",
    "twilio": "(d) twilio-python 9.0.2 fetch_async",
}


def _server_cpu(url: str) -> float:
    return float(server_stats(url)["cpu"])


def _run_client(variant: str, url: str, n: int, concurrency: int, cpu: str | None) -> Any:
    args = [sys.executable, "-m", "bench.client", variant, url, str(n), str(concurrency)]
    if cpu is not None:
        args.append(cpu)
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=900)
    return orjson.loads(out.stdout.strip().splitlines()[-1])


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    choices = ["clean", *SCENARIOS, "archive", "latency", "instructions", "all"]
    parser.add_argument("--scenario", choices=choices, default="clean")
    parser.add_argument("--archive", action="store_true", help="as --scenario archive")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=list(LABELS), choices=list(LABELS))
    parser.add_argument("--memory-n", type=int, default=200_000, help="0 skips the memory run")
    parser.add_argument("--scenario-rounds", type=int, default=1, help="rounds per scenario")
    parser.add_argument("--seed", type=int, default=1, help="of the scenarios' random faults")
    defaults = ArchiveOptions()
    parser.add_argument("--archive-rounds", type=int, default=defaults.rounds)
    parser.add_argument("--archive-big", type=int, default=defaults.big, help="bytes")
    parser.add_argument("--archive-files", type=int, default=defaults.files)
    parser.add_argument("--archive-file-size", type=int, default=defaults.file_size)
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    parser.add_argument("--figures", type=Path, help="draw the figures here")
    return parser.parse_args()


def main() -> None:
    args = _parse_args()
    everything = ["clean", *SCENARIOS, "archive", "latency"]
    names = everything if args.scenario == "all" else [args.scenario]
    if args.archive:
        names = ["archive"]
    command = f"nox -s bench -- {' '.join(sys.argv[1:])}".strip()
    figures = args.figures
    if figures is None and args.markdown is not None:
        figures = args.markdown.parent / "img"

    server_core, client_core = cores()
    exactly_once = True
    for name in names:
        if name == "clean":
            with serving(server_core) as url:
                report = _measure(args, url, client_core)
            print(report)
            if args.markdown:
                write_section(args.markdown, "Results", f"Produced by `{command}`:\n\n{report}")
            continue
        if name == "instructions":
            counted = instructions.measure(instructions.DEFAULT_VARIANTS, [instructions.HERE])
            section = f"Produced by `{command}`:\n\n{instructions.table(counted)}"
            _emit(args.markdown, "Instructions", section)
            continue
        if name == "latency":
            figures_of_latency = run_latency(server_core=server_core, client_core=client_core)
            _emit(args.markdown, "Latency", latency_report(figures_of_latency, command))
            continue
        if name == "archive":
            exactly_once = (
                _archive(args, command, figures, server_core, client_core) and exactly_once
            )
            continue
        scenario = SCENARIOS[name]
        figure = link = None
        if scenario.figure and figures is not None:
            figure = figures / f"limiter-{name}.png"
            if args.markdown is not None:
                link = os.path.relpath(figure, args.markdown.parent)
        outcome = run_scenario(
            scenario,
            rounds=args.scenario_rounds,
            seed=args.seed,
            server_core=server_core,
            client_core=client_core,
            command=command,
            figure=figure,
            figure_link=link,
        )
        _emit(args.markdown, f"Scenario: {name}", outcome.section)
        exactly_once = exactly_once and outcome.exactly_once
    if not exactly_once:
        raise SystemExit("exactly-once was violated: see the reports above")


def _archive(
    args: argparse.Namespace,
    command: str,
    figures: Path | None,
    server_core: str | None,
    client_core: str | None,
) -> bool:
    """Run the archive benchmark, print and record its section; whether every file was
    right."""
    options = ArchiveOptions(
        rounds=args.archive_rounds,
        big=args.archive_big,
        files=args.archive_files,
        file_size=args.archive_file_size,
    )
    figure = None if figures is None else figures / "archive.png"
    link = None
    if figure is not None and args.markdown is not None:
        link = os.path.relpath(figure, args.markdown.parent)
    outcome = run_archive(options, server_core, client_core, command, figure, link)
    _emit(args.markdown, "Archive", outcome.section)
    return outcome.correct


def _emit(markdown: Path | None, heading: str, section: str) -> None:
    """Print a report's section under its heading, and record it in ``markdown`` if given."""
    print(f"## {heading}\n\n{section}")
    if markdown:
        write_section(markdown, heading, section)


def _measure(args: argparse.Namespace, url: str, client_core: str | None) -> str:
    results: dict[str, list[Any]] = {v: [] for v in args.variants}
    server_cpu: dict[str, list[float]] = {v: [] for v in args.variants}
    _run_client(args.variants[0], url, min(args.n, 2000), args.concurrency, client_core)  # warm
    for round_no in range(args.rounds):
        order = args.variants if round_no % 2 == 0 else list(reversed(args.variants))
        for variant in order:
            before = _server_cpu(url)
            result = _run_client(variant, url, args.n, args.concurrency, client_core)
            server_cpu[variant].append(_server_cpu(url) - before)
            if result["ok"] != args.n:
                raise SystemExit(f"{variant}: only {result['ok']} of {args.n} succeeded")
            results[variant].append(result)
            print(
                f"round {round_no + 1} {variant:<10} {args.n / result['wall']:>9.0f} req/s "
                f"{result['cpu'] / args.n * 1e6:>6.1f} us CPU/req",
                file=sys.stderr,
            )

    def med(variant: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in results[variant])

    rows = []
    base = args.variants[0] if "raw" not in args.variants else "raw"
    base_rps = args.n / med(base, "wall")
    base_cpu = med(base, "cpu") / args.n * 1e6
    base_rss = med(base, "rss_kib") / 1024
    for variant in args.variants:
        rps = args.n / med(variant, "wall")
        cpu_us = med(variant, "cpu") / args.n * 1e6
        rss = med(variant, "rss_kib") / 1024
        srv = statistics.median(server_cpu[variant]) / med(variant, "wall") * 100
        rows.append(
            f"| {LABELS[variant]} | {rps:,.0f} | {rps / base_rps:.2f}x | {cpu_us:.1f} | "
            f"{cpu_us / base_cpu:.2f}x | {rss:.1f} | {rss / base_rss:.2f}x | {srv:.0f} % |"
        )
    lines = [
        f"N = {args.n:,} fetches per run, concurrency {args.concurrency}, median of "
        f"{args.rounds} rounds, variants alternated; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; client and server pinned to different cores: "
        f"{client_core is not None}.",
        "",
        "| variant | req/s | vs (a) | client CPU µs/req | vs (a) | peak RSS MiB | vs (a) "
        "| server CPU busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    if "sdk_many_retries_off" in args.variants and "sdk_many" in args.variants:
        on = med("sdk_many", "cpu")
        off = med("sdk_many_retries_off", "cpu")
        lines += [
            "",
            f"Retries on cost {(on / off - 1) * 100:+.1f} % client CPU against retries off.",
        ]
    for other in ("raw_json", "hand_pool"):
        if other in args.variants and "sdk_many" in args.variants:
            ratio = med(other, "wall") / med("sdk_many", "wall")
            cpu = med("sdk_many", "cpu") / med(other, "cpu")
            lines += [
                "",
                f"(b) against {LABELS[other].split(' ')[0]}: {ratio:.2f}x its throughput, "
                f"{cpu:.2f}x its client CPU.",
            ]
    if "twilio" in args.variants and "sdk_many" in args.variants:
        ratio = med("twilio", "wall") / med("sdk_many", "wall")
        lines += ["", f"(b) against (d): {ratio:.2f}x the throughput of twilio-python."]
    if args.memory_n:
        small = _run_client("sdk_many", url, args.n, args.concurrency, client_core)
        large = _run_client("sdk_many", url, args.memory_n, args.concurrency, client_core)
        delta = (large["rss_kib"] - small["rss_kib"]) / 1024
        lines += [
            "",
            f"Memory: fetch_many over {args.memory_n:,} sids from a generator peaked at "
            f"{large['rss_kib'] / 1024:.1f} MiB RSS, against {small['rss_kib'] / 1024:.1f} MiB "
            f"over {args.n:,} sids: {delta:+.1f} MiB.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
