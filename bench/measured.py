"""What one run of a scenario's setup measured, and the figures computed from it.

Shared by ``bench.scenarios``, which runs the setups, and ``bench.figures``, which draws a
run: neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setup:
    """One side of a scenario: the server's conditions and the clients' load."""

    n: int
    """Sids per client process."""
    concurrency: int
    processes: int = 1
    latency_ms: float = 0.0
    faults: float = 0.0
    faults_429: float = 0.0
    cap: int = 0
    policy: str = "scaled"

    def server_options(self, seed: int, sample_ms: float) -> list[str]:
        """The command-line options of ``bench.server`` for these conditions."""
        options = [
            "--latency-ms", str(self.latency_ms),
            "--faults", str(self.faults),
            "--faults-429", str(self.faults_429),
            "--seed", str(seed),
            "--cap", str(self.cap),
        ]  # fmt: skip
        if sample_ms:
            options += ["--sample-ms", str(sample_ms)]
        return options


def percent(share: float, digits: int = 2) -> str:
    """``0.0123`` as ``1.23 %``, the way the rest of the page writes percentages."""
    return f"{share * 100:.{digits}f} %"


def jain(rates: list[float]) -> float:
    """Jain's fairness index: 1 when every rate is equal, 1/n when one takes everything."""
    squares = sum(r * r for r in rates)
    return sum(rates) ** 2 / (len(rates) * squares) if squares else 1.0


@dataclass
class Measured:
    """One run of one setup: what the clients saw and what the server counted."""

    setup: Setup
    clients: list[dict[str, Any]]
    stats: dict[str, Any]

    @property
    def ok(self) -> int:
        return sum(int(c["ok"]) for c in self.clients)

    @property
    def wall(self) -> float:
        """The slowest process's wall time."""
        return max(float(c["wall"]) for c in self.clients)

    @property
    def goodput(self) -> float:
        """Ok results per second: total ok over the slowest process's wall time."""
        return self.ok / self.wall

    @property
    def rates(self) -> list[float]:
        """Each process's own ok results per second."""
        return [c["ok"] / c["wall"] for c in self.clients]

    @property
    def fairness(self) -> float:
        return jain(self.rates)

    @property
    def requests(self) -> int:
        return int(self.stats["requests"])

    @property
    def share_429(self) -> float:
        return int(self.stats["status"].get("429", 0)) / max(self.requests, 1)

    @property
    def requests_per_item(self) -> float:
        return self.requests / (self.setup.n * self.setup.processes)

    def violations(self) -> list[str]:
        """Every breach of exactly-once and all-ok, in words (empty when there is none)."""
        found = []
        for i, c in enumerate(self.clients):
            who = f"process {i + 1}: " if len(self.clients) > 1 else ""
            if c["ok"] != c["n"] or c["duplicates"] or c["missing"] or c["unexpected"]:
                found.append(
                    f"{who}{c['ok']:,} ok of {c['n']:,}, {c['duplicates']} duplicates, "
                    f"{c['missing']} missing, {c['unexpected']} unexpected; errors: "
                    f"{c['errors'] or 'none'}"
                )
        return found

    def describe(self) -> str:
        """One line of details: counts, statuses, peaks and CPU."""
        status = ", ".join(f"{k}: {v:,}" for k, v in self.stats["status"].items())
        checked = "every sid exactly once, all ok" if not self.violations() else "VIOLATED"
        client_cpu = sum(c["cpu"] for c in self.clients)
        line = (
            f"{self.ok:,} ok of {self.setup.n * self.setup.processes:,} ({checked}); "
            f"wall {self.wall:.2f} s; {self.requests:,} requests ({status}; resets "
            f"{self.stats['resets']:,})"
        )
        if self.setup.latency_ms:  # without latency an answer leaves before the next arrives
            line += f"; server peak {self.stats['in_flight_max']} in flight"
        line += (
            f"; client CPU {client_cpu:.2f} s ({percent(client_cpu / self.wall, 0)} of a core), "
            f"server CPU {self.stats['run_cpu']:.2f} s "
            f"({percent(self.stats['run_cpu'] / self.wall, 0)})"
        )
        if len(self.clients) > 1:
            line += "; per-process ok/s: " + ", ".join(f"{r:,.0f}" for r in self.rates)
        return line


@dataclass(frozen=True)
class ArchiveOptions:
    """The sizes, counts and rounds of the archive benchmark."""

    rounds: int = 3
    big: int = 1 << 30
    files: int = 2000
    file_size: int = 256 * 1024
    concurrency: int = 16
    faults: float = 0.10
    min_big_ratio: float = 0.9
    max_rss_growth: int = 20_000_000
    min_many_ratio: float = 0.9
    min_faults_ratio: float = 0.8
