"""The bench figures, drawn with matplotlib: the limiter and the requests in flight over
one scenario run, and the archive benchmark's rates.

matplotlib is a benchmark-only dependency (the ``bench`` nox session installs it); without
it the benchmark still runs and says that it drew no figure.
"""

from __future__ import annotations

from pathlib import Path

from bench.measured import ArchiveOptions, Measured

_BARS = 100  # bars of the 429 share across the run


def draw_limiter(path: Path, name: str, measured: Measured) -> str | None:
    """Draw ``path`` (a PNG); return None, or why no figure was drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (`nox -s bench` installs it)"
    client = measured.clients[0]
    start, end = client["start"], client["end"]
    series = [s for s in measured.stats["series"] if start - 0.05 <= s[0] <= end + 0.05]
    if not series:
        return "the server recorded no samples"

    fig, (top, bottom) = plt.subplots(
        2, 1, sharex=True, figsize=(11, 5.5), gridspec_kw={"height_ratios": [3, 1]}
    )
    times = [s[0] - start for s in series]
    top.plot(
        times, [s[1] for s in series], lw=0.8, color="tab:gray", label="in flight at the server"
    )
    samples = client["samples"]
    limits = [(t - start, v) for t, v, _ in samples if v is not None]
    in_flight = [(t - start, v) for t, _, v in samples if v is not None]
    if in_flight:
        top.plot(*zip(*in_flight, strict=True), lw=0.8, color="tab:blue",
                 label="in flight by the limiter (client)")  # fmt: skip
    if limits:
        top.plot(*zip(*limits, strict=True), lw=1.6, color="tab:red", label="limiter's limit")
    if not samples:
        top.plot([], [], " ", label="limiter: not exposed by this client (no _limiter)")
    setup = measured.setup
    if setup.cap:
        top.axhline(setup.cap, ls="--", lw=0.8, color="black", label=f"server cap ({setup.cap})")
    top.axhline(setup.concurrency, ls=":", lw=0.8, color="black",
                label=f"concurrency ({setup.concurrency})")  # fmt: skip
    top.set_ylabel("requests")
    top.set_title(f"Scenario {name}: {client['ok']:,} ok in {client['wall']:.1f} s")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")

    # The share of 429s among the requests that arrived in each window.
    window = max(0.1, (end - start) / _BARS)
    bars_t, bars_v = [], []
    i = 0
    while i < len(series) - 1:
        j = i + 1
        while j < len(series) - 1 and series[j][0] - series[i][0] < window:
            j += 1
        requests = series[j][2] - series[i][2]
        if requests:
            bars_t.append(series[i][0] - start)
            bars_v.append(100 * (series[j][3] - series[i][3]) / requests)
        i = j
    bottom.bar(bars_t, bars_v, width=window, align="edge", color="tab:orange")
    bottom.set_ylabel("429s, % of\nrequests")
    bottom.set_xlabel("seconds since the run started")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def draw_archive(
    path: Path,
    medians: dict[str, float],
    options: ArchiveOptions,
    rounds: dict[str, list[float]] | None = None,
) -> str | None:
    """Draw the archive benchmark's medians as bars, each panel with its target, and each
    round's rate as a dot (``rounds``: name to rates); return None, or why no figure was
    drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (`nox -s bench` installs it)"
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(["raw aiohttp", "SDK download"], [medians["big_raw"], medians["big_sdk"]],
             color=["tab:gray", "tab:blue"])  # fmt: skip
    left.axhline(medians["big_raw"] * options.min_big_ratio, ls="--", lw=0.8, color="black",
                 label=f"target: {options.min_big_ratio}x raw")  # fmt: skip
    left.set_ylabel("MiB/s")
    left.set_title(f"One {options.big / (1 << 20):,.0f} MiB file")
    left.legend(loc="lower right", fontsize="small")
    names = ["raw aiohttp", "SDK download_many", "SDK, storage faults"]
    values = [medians["many_raw"], medians["many_sdk"], medians["faults_sdk"]]
    right.bar(names, values, color=["tab:gray", "tab:blue", "tab:orange"])
    right.axhline(medians["many_raw"] * options.min_many_ratio, ls="--", lw=0.8, color="black",
                  label=f"target: {options.min_many_ratio}x raw")  # fmt: skip
    faults_label = f"faults target: {options.min_faults_ratio}x SDK"
    right.axhline(medians["many_sdk"] * options.min_faults_ratio, ls=":", lw=0.8,
                  color="tab:red", label=faults_label)  # fmt: skip
    for axes, names_drawn in ((left, ["big_raw", "big_sdk"]),
                              (right, ["many_raw", "many_sdk", "faults_sdk"])):  # fmt: skip
        for x, name in enumerate(names_drawn):
            rates = (rounds or {}).get(name, [])
            axes.plot([x] * len(rates), rates, "o", ms=4, color="black", alpha=0.6)
    right.set_ylabel("files/s")
    right.set_title(
        f"{options.files:,} files of {options.file_size // 1024} KiB, "
        f"concurrency {options.concurrency}"
    )
    right.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
