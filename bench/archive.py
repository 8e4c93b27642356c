"""The archive benchmark: ``download`` and ``download_many`` against raw aiohttp.

Three measurements, each a median of rounds, with the variants alternated within each round
and every client in a fresh process (``bench.archive_client``), against a FakeMediaServer in
a process of its own (``bench.media_server``), pinned apart where there are two cores:

- one big file (1 GiB): MiB/s of ``client.download`` against raw aiohttp, and the growth of
  the client's RSS over the download;
- many small files (2,000 of 256 KiB, concurrency 16): files/s of ``download_many``
  against raw aiohttp's 16 workers;
- the same files with 10 % of the sids given one storage fault each (truncated, reset,
  expired): files/s of ``download_many`` against its own fault-free run, on a fresh server
  each round (a scripted fault is spent once used).

Every run checks each file's sha256 against what storage serves and each sid for exactly
one ok result.  Files go to a temporary directory, emptied after every run.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.measured import ArchiveOptions

MiB = 1 << 20


@dataclass
class ArchiveOutcome:
    """The report, whether every file was right, and the runs behind them."""

    section: str
    correct: bool
    met: bool
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@contextmanager
def media_serving(core: str | None, files: int, size: int, faults: float = 0.0) -> Iterator[Any]:
    """Run ``bench.media_server``; yield its info (URL, credentials); stop it on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        info = Path(tmp, "info")
        cmd = [sys.executable, "-m", "bench.media_server", str(info)]
        cmd += [core] if core is not None else []
        cmd += ["--files", str(files), "--size", str(size), "--faults", str(faults)]
        server = subprocess.Popen(cmd)
        try:
            deadline = time.monotonic() + 60
            while not info.exists():
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the media server did not start")
                time.sleep(0.05)
            yield orjson.loads(info.read_bytes())
        finally:
            server.terminate()
            server.wait(timeout=10)


def run_client(
    variant: str, server: Any, directory: Path, concurrency: int, cpu: str | None
) -> Any:
    """One run of ``bench.archive_client`` in a fresh process; its JSON."""
    config = {**server, "directory": str(directory), "concurrency": concurrency, "cpu": cpu}
    args = [sys.executable, "-m", "bench.archive_client", variant, orjson.dumps(config).decode()]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=1800)
    return orjson.loads(out.stdout.strip().splitlines()[-1])


def _correct(run: dict[str, Any]) -> bool:
    files = run["files"]
    return bool(run["ok"] == run["verified"] == files and not run["duplicates"] | run["missing"])


def _log(name: str, round_no: int, run: dict[str, Any], per_file: bool) -> None:
    rate = run["files"] / run["wall"] if per_file else run["bytes"] / MiB / run["wall"]
    unit = "files/s" if per_file else "MiB/s"
    print(
        f"archive round {round_no + 1} {name:<11} {rate:>9.1f} {unit:<7} "
        f"cpu {run['cpu']:.1f} s  rss +{run['rss_growth_kib'] / 1024:.1f} MiB  "
        f"ok {run['ok']}/{run['files']} verified {run['verified']} requests {run['requests']}",
        file=sys.stderr,
    )


def _rounds(
    options: ArchiveOptions,
    names: Sequence[str],
    start: Callable[[str, int], Any],
    per_file: bool,
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    """``options.rounds`` rounds of ``names``, alternated; ``start(name, round)`` runs one."""
    for round_no in range(options.rounds):
        order = names if round_no % 2 == 0 else list(reversed(names))
        for name in order:
            run = start(name, round_no)
            runs.setdefault(name, []).append(run)
            _log(name, round_no, run, per_file)


def measure(
    options: ArchiveOptions, server_core: str | None, client_core: str | None
) -> dict[str, list[dict[str, Any]]]:
    """Every round of the three measurements (``big_raw``, ``big_sdk``, ``many_raw``,
    ``many_sdk``, ``faults_sdk``)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    c = options.concurrency
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as tmp:
        work = Path(tmp)
        with media_serving(server_core, 1, options.big) as big:

            def one_big(name: str, _round: int) -> Any:
                variant = name.removeprefix("big_")
                return run_client(variant, big, work / name, c, client_core)

            _rounds(options, ["big_raw", "big_sdk"], one_big, False, runs)
        with media_serving(server_core, options.files, options.file_size) as many:

            def one_many(name: str, _round: int) -> Any:
                if name != "faults_sdk":
                    variant = name.removeprefix("many_")
                    return run_client(variant, many, work / name, c, client_core)
                with media_serving(
                    server_core, options.files, options.file_size, options.faults
                ) as faulty:
                    return run_client("sdk", faulty, work / name, c, client_core)

            run_client("sdk", many, work / "warm", c, client_core)  # page cache, imports
            _rounds(options, ["many_raw", "many_sdk", "faults_sdk"], one_many, True, runs)
    return runs


def run_archive(
    options: ArchiveOptions,
    server_core: str | None,
    client_core: str | None,
    command: str,
    figure: Path | None = None,
    figure_link: str | None = None,
) -> ArchiveOutcome:
    """Measure, judge and report (and draw ``figure`` when given)."""
    runs = measure(options, server_core, client_core)
    correct = all(_correct(run) for group in runs.values() for run in group)
    section, met, medians = report(options, runs, command, client_core is not None)
    if figure is not None:
        from bench.figures import draw_archive

        rates = {
            name: [_mibs(run) if name.startswith("big") else _files(run) for run in group]
            for name, group in runs.items()
        }
        why_not = draw_archive(figure, medians, options, rates)
        if why_not is not None:
            section += f"\nNo figure was drawn: {why_not}.\n"
        else:
            section += (
                f"\n![The archive benchmark: medians as bars, each round as a dot]"
                f"({figure_link or figure})\n"
            )
    if not correct:
        section += "\n**A file was missing, duplicated or wrong: see the runs above.**\n"
    return ArchiveOutcome(section, correct, met, runs)


def _median(runs: list[dict[str, Any]], rate: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(rate(run) for run in runs)


def _mibs(run: dict[str, Any]) -> float:
    return float(run["bytes"]) / MiB / float(run["wall"])


def _files(run: dict[str, Any]) -> float:
    return float(run["files"]) / float(run["wall"])


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(
    options: ArchiveOptions, runs: dict[str, list[dict[str, Any]]], command: str, pinned: bool
) -> tuple[str, bool, dict[str, float]]:
    """The markdown section, whether every target was met, and the medians drawn."""
    med = {
        "big_raw": _median(runs["big_raw"], _mibs),
        "big_sdk": _median(runs["big_sdk"], _mibs),
        "many_raw": _median(runs["many_raw"], _files),
        "many_sdk": _median(runs["many_sdk"], _files),
        "faults_sdk": _median(runs["faults_sdk"], _files),
        "rss_sdk": _median(runs["big_sdk"], lambda r: r["rss_growth_kib"] * 1024),
        "rss_raw": _median(runs["big_raw"], lambda r: r["rss_growth_kib"] * 1024),
    }
    big = med["big_sdk"] / med["big_raw"]
    many = med["many_sdk"] / med["many_raw"]
    faults = med["faults_sdk"] / med["many_sdk"]
    rss_sdk = max(run["rss_growth_kib"] * 1024 for run in runs["big_sdk"])
    checks = [
        big >= options.min_big_ratio,
        rss_sdk < options.max_rss_growth,
        many >= options.min_many_ratio,
        faults >= options.min_faults_ratio,
    ]
    n, size = options.files, options.file_size
    faulted = f"{options.faults:.0%} of the sids"
    lines = [
        f"Produced by `{command}`: median of {options.rounds} rounds, variants alternated, "
        f"every client in a fresh process; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; server and client pinned to different cores: {pinned}.",
        "",
        "| measurement | raw aiohttp | SDK | SDK vs baseline | target | met |",
        "|---|---:|---:|---:|---|---|",
        f"| one {_size(options.big)} file, `download`, MiB/s | {med['big_raw']:,.1f} | "
        f"{med['big_sdk']:,.1f} | {big:.2f}x raw | >= {options.min_big_ratio}x | "
        f"{_verdict(checks[0])} |",
        f"| client RSS growth over it, MiB (worst round) | {med['rss_raw'] / MiB:.1f} | "
        f"{rss_sdk / MiB:.1f} | | < {options.max_rss_growth / 1e6:.0f} MB | "
        f"{_verdict(checks[1])} |",
        f"| {n:,} files of {_size(size)}, concurrency {options.concurrency}, "
        f"`download_many`, files/s | {med['many_raw']:,.1f} | {med['many_sdk']:,.1f} | "
        f"{many:.2f}x raw | >= {options.min_many_ratio}x | {_verdict(checks[2])} |",
        f"| the same, storage faults on {faulted}, files/s | | {med['faults_sdk']:,.1f} | "
        f"{faults:.2f}x fault-free | >= {options.min_faults_ratio}x | {_verdict(checks[3])} |",
        "",
        *_round_table(runs),
    ]
    return "\n".join(lines) + "\n", all(checks), med


def _size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size:,} B"


def _round_table(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every run: its rate, client CPU, RSS growth and what was checked."""
    lines = [
        "Every run (faults: one fault each, truncated, reset and expired in turn):",
        "",
        "| run | round | rate | client CPU s | RSS growth MiB | ok, hash-verified | requests |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, group in runs.items():
        for round_no, run in enumerate(group, 1):
            rate = (
                f"{_mibs(run):,.1f} MiB/s"
                if name.startswith("big")
                else f"{_files(run):,.1f} files/s"
            )
            lines.append(
                f"| {name} | {round_no} | {rate} | {run['cpu']:.2f} | "
                f"{run['rss_growth_kib'] / 1024:.1f} | {run['verified']:,} of {run['files']:,}"
                f"{'' if _correct(run) else ' **wrong**'} | {run['requests']:,} |"
            )
    return lines
