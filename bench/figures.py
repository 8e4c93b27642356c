"""The limiter and the requests in flight over one scenario run, drawn with matplotlib.

matplotlib is a benchmark-only dependency (the ``bench`` nox session installs it); without
it the benchmark still runs and says that it drew no figure.
"""

from __future__ import annotations

from pathlib import Path

from bench.measured import Measured

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
