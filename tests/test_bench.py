"""The benchmark harness measures what it says: the server's conditions, the client's
exactly-once check, the report's verdicts and the page it writes into."""

from __future__ import annotations

import ast
import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from bench.archive import run_archive
from bench.archive_client import measure, verify
from bench.latency import report as latency_report
from bench.latency import run_latency
from bench.measured import ArchiveOptions, Measured, Setup, jain
from bench.media_server import faulty
from bench.media_server import recordings as media_recordings
from bench.pages import replace_section
from bench.retry_loop import VARIANTS, _FlakyTransport
from bench.scenario_client import parse_args, run, sample_limiter
from bench.scenarios import SCENARIOS, judge
from bench.server import RESET, Conditions, Responder
from twilio_media_async import MediaRecording
from twilio_media_async.testing import FakeMediaServer, media_bytes

SID_PATH = "/v1/MediaRecordings/KV0123456789abcdef0123456789abcdef"


@asynccontextmanager
async def bench_server(conditions: Conditions) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Responder(conditions), "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def statuses(url: str, count: int, path: str = SID_PATH) -> list[tuple[int, float]]:
    """``count`` concurrent GETs, each on its own connection: (status, seconds taken)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[int, float]:
            started = time.monotonic()
            async with session.get(url + path) as resp:
                await resp.read()
                return resp.status, time.monotonic() - started

        return await asyncio.gather(*(one() for _ in range(count)))


# -- the server --------------------------------------------------------------------------


def test_the_fault_mix_follows_the_rates_and_the_seed() -> None:
    draws = 200_000
    conditions = Conditions(faults=0.10, faults_429=0.02, seed=7)
    counts = Counter(conditions.outcome() for _ in range(draws))
    assert counts[200] / draws == pytest.approx(0.90, abs=0.003)
    for outcome in (429, 500, 502, 503, RESET):
        assert counts[outcome] / draws == pytest.approx(0.02, abs=0.002), outcome
    first = Conditions(faults=0.10, faults_429=0.02, seed=7)
    again = Conditions(faults=0.10, faults_429=0.02, seed=7)
    assert [again.outcome() for _ in range(1000)] == [first.outcome() for _ in range(1000)]


async def test_latency_delays_each_answer_without_holding_up_the_others() -> None:
    conditions = Conditions(latency=0.3)
    async with bench_server(conditions) as url:
        started = time.monotonic()
        answers = await statuses(url, 20)
        elapsed = time.monotonic() - started
    assert [status for status, _ in answers] == [200] * 20
    assert min(took for _, took in answers) >= 0.3
    assert elapsed < 2.0  # one after another would take 6 s
    assert conditions.in_flight_max == 20


async def test_the_cap_answers_429_at_once_past_the_cap() -> None:
    conditions = Conditions(latency=0.6, cap=3)
    async with bench_server(conditions) as url:
        answers = await statuses(url, 10)
    assert sorted(status for status, _ in answers) == [200] * 3 + [429] * 7
    assert all(took < 0.6 for status, took in answers if status == 429)
    assert conditions.in_flight_max == 3
    assert conditions.cap_rejections == 7
    assert conditions.status == {200: 3, 429: 7}


async def test_stats_are_never_faulted_delayed_or_counted() -> None:
    conditions = Conditions(latency=0.5, faults=1.0, cap=1)
    async with bench_server(conditions) as url:
        answers = await statuses(url, 5, path="/__stats")
        async with aiohttp.ClientSession() as session, session.get(url + "/__stats") as resp:
            stats = await resp.json()
    assert [status for status, _ in answers] == [200] * 5
    assert all(took < 0.5 for _, took in answers)
    assert stats["requests"] == 0
    assert stats["status"] == {}


async def test_a_sampled_series_tracks_requests_in_flight() -> None:
    conditions = Conditions(latency=0.2)
    async with bench_server(conditions) as url:
        task = asyncio.ensure_future(statuses(url, 6))
        await asyncio.sleep(0.1)
        conditions.sample()
        await task
        conditions.sample()
    (_, busy, _, _), (_, idle, requests, too_many) = conditions.series
    assert (busy, idle, requests, too_many) == (6, 0, 6, 0)


# -- the client process ------------------------------------------------------------------


async def test_a_client_run_counts_every_sid_exactly_once_under_faults() -> None:
    conditions = Conditions(faults=0.2, faults_429=0.05, seed=3)
    async with bench_server(conditions) as url:
        report = await run(parse_args([url, "--n", "300", "--offset", "1000"]))
    assert (report["ok"], report["duplicates"], report["missing"], report["unexpected"]) == (
        300,
        0,
        0,
        0,
    )
    assert report["errors"] == {}
    assert report["attempts"] >= conditions.requests - conditions.resets  # resends aside
    assert sum(conditions.status.values()) + conditions.resets == conditions.requests
    assert conditions.status[200] == 300


async def test_the_sampler_reads_a_limiter_only_when_the_client_has_one() -> None:
    with_limiter = SimpleNamespace(_limiter=SimpleNamespace(limit=12.5, in_flight=7))
    without: list[tuple[float, float | None, int | None]] = []
    found: list[tuple[float, float | None, int | None]] = []
    tasks = [
        asyncio.ensure_future(sample_limiter(with_limiter, found, 0.01)),
        asyncio.ensure_future(sample_limiter(SimpleNamespace(), without, 0.01)),
    ]
    await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert found
    assert {(limit, in_flight) for _, limit, in_flight in found} == {(12.5, 7)}
    assert without == []


# -- the report --------------------------------------------------------------------------


def client_report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"n": 10, "ok": 10, "duplicates": 0, "missing": 0, "unexpected": 0}
    report |= {"errors": {}, "wall": 2.0, "cpu": 1.0}
    return report | overrides


def test_jain_index_is_one_for_equal_shares_and_one_over_n_for_a_hog() -> None:
    assert jain([5.0, 5.0, 5.0, 5.0]) == pytest.approx(1.0)
    assert jain([8.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert jain([2.0, 1.0]) == pytest.approx(0.9)


def test_goodput_and_fairness_come_from_the_slowest_and_each_process() -> None:
    measured = Measured(
        setup=Setup(n=10, concurrency=4, processes=2),
        clients=[client_report(wall=1.0), client_report(wall=2.0)],
        stats={"requests": 25, "status": {"200": 20, "429": 5}},
    )
    assert measured.goodput == 10.0  # 20 ok over the slowest wall
    assert measured.rates == [10.0, 5.0]
    assert measured.fairness == pytest.approx(0.9)
    assert measured.share_429 == 0.2
    assert measured.requests_per_item == 1.25
    assert measured.violations() == []


@pytest.mark.parametrize("flaw", [{"ok": 9}, {"duplicates": 1}, {"missing": 1}, {"unexpected": 1}])
def test_any_breach_of_exactly_once_is_a_violation(flaw: dict[str, int]) -> None:
    measured = Measured(
        setup=Setup(n=10, concurrency=4),
        clients=[client_report(**flaw)],
        stats={"requests": 10, "status": {"200": 10}},
    )
    assert len(measured.violations()) == 1


def test_the_verdict_names_each_missed_target() -> None:
    share = SCENARIOS["share"]
    assert judge(share, 0.95, 0.01, 0.99, exactly_once=True) == "pass"
    assert judge(share, 0.85, 0.05, 0.90, exactly_once=False) == (
        "FAIL: not exactly once, ratio, 429s, fairness"
    )
    assert judge(SCENARIOS["faults-default"], 0.05, 0.02, 1.0, exactly_once=True) == ("(no target)")


def test_the_16_process_share_keeps_the_share_targets() -> None:
    share, wide = SCENARIOS["share"], SCENARIOS["share-16"]
    assert wide.setup.processes == 16 and wide.oracle.cap == 0
    assert wide.setup.n * 16 == share.setup.n * 4  # the same 20,000 sids in all
    assert wide.oracle.concurrency * 16 == wide.setup.cap  # the oracle runs at fair shares
    assert (wide.min_ratio, wide.max_429_share, wide.min_fairness) == (
        share.min_ratio,
        share.max_429_share,
        share.min_fairness,
    )


def test_the_latency_report_holds_the_added_p50_to_structuring_plus_3_us() -> None:
    figures: dict[str, Any] = {
        "calls": 10,
        "structuring_us": 2.0,
        "raw_json": {"p50_us": 100.0, "p99_us": 200.0},
        "fetch": {"p50_us": 104.9, "p99_us": 190.0},
    }
    met = latency_report(figures, "cmd")
    assert "+4.9 µs | -10.0 µs" in met
    assert "= 5.0 µs: met" in met
    figures["fetch"]["p50_us"] = 105.1
    assert "= 5.0 µs: NOT met" in latency_report(figures, "cmd")


def test_the_latency_bench_times_both_variants_against_the_server() -> None:
    figures = run_latency(calls=30, warmup=3, block=10, server_core=None, client_core=None)
    assert figures["calls"] == 30
    for variant in ("raw_json", "fetch"):
        assert 0 < figures[variant]["p50_us"] <= figures[variant]["p99_us"]
    assert figures["structuring_us"] > 0


def test_the_bench_modules_import_no_circle() -> None:
    bench = Path(__file__).parent.parent / "bench"
    imports: dict[str, set[str]] = {}
    for path in bench.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bench."):
                found.add(node.module or "")
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("bench.")}
        imports[f"bench.{path.stem}"] = found

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for module in imports.get(start, set()) - seen:
            if module == target or reaches(module, target, seen | {module}):
                return True
        return False

    assert [m for m in imports if reaches(m, m, set())] == []


PAGE = """# Performance

Prose that stays.

## Results

old clean results

## Scenario: cap

old cap
"""


def test_a_section_replaces_only_itself_and_keeps_the_prose() -> None:
    page = replace_section(PAGE, "Results", "new clean results")
    assert page == PAGE.replace("old clean results", "new clean results")
    page = replace_section(page, "Scenario: cap", "new cap\n\n| a | b |")
    assert page.endswith("## Scenario: cap\n\nnew cap\n\n| a | b |\n")
    assert "Prose that stays." in page
    assert "new clean results" in page


def test_a_new_section_goes_at_the_end_and_writing_twice_changes_nothing() -> None:
    page = replace_section(PAGE, "Scenario: faults", "faults table")
    assert page == PAGE + "\n## Scenario: faults\n\nfaults table\n"
    assert replace_section(page, "Scenario: faults", "faults table") == page


# -- the retry loop micro benchmark ------------------------------------------------------


@pytest.mark.parametrize("name", list(VARIANTS))
async def test_each_retry_loop_variant_makes_the_attempts_it_claims(name: str) -> None:
    make, fail_every = VARIANTS[name]
    transport = _FlakyTransport(fail_every)
    call = make(transport)
    for _ in range(5):
        await call()
    assert transport.sent == 5 * (2 if fail_every else 1)


# -- the archive benchmark ---------------------------------------------------------------


def test_the_archive_faults_hit_a_deterministic_share_of_the_sids_in_turn() -> None:
    chosen = faulty(2000, 0.10)
    assert len(chosen) == 200
    assert chosen == faulty(2000, 0.10)
    kinds = Counter(fault.kind for fault in chosen.values())
    assert kinds == {"truncated": 67, "reset": 67, "expired": 66}


@pytest.mark.parametrize(("variant", "share"), [("raw", 0.0), ("sdk", 0.0), ("sdk", 0.5)])
async def test_an_archive_client_run_verifies_every_file_then_removes_them(
    tmp_path: Path, variant: str, share: float
) -> None:
    server = FakeMediaServer(recordings=media_recordings(6, 70_000), record_requests=False)
    async with server:
        for sid, fault in faulty(6, share).items():
            server.script_storage(sid, [fault])
        config = {**server.client_kwargs(), "directory": str(tmp_path / "d"), "concurrency": 2}
        config["url"] = config.pop("base_url")
        run = await measure(variant, config)
    assert run["files"] == run["ok"] == run["verified"] == 6
    assert run["duplicates"] == run["missing"] == 0
    # A resolve and a GET each; a cut adds a GET (the resume), an expiry a resolve and a GET.
    assert run["requests"] == (16 if share else 12)
    assert not (tmp_path / "d").exists()


def test_the_archive_check_catches_a_wrong_a_missing_and_a_duplicated_file(
    tmp_path: Path,
) -> None:
    sids = [f"KV{i:032x}" for i in range(4)]
    recs = [MediaRecording(sid=sid, size=1000) for sid in sids]
    paths = []
    for sid in sids:
        path = tmp_path / sid
        path.write_bytes(media_bytes(sid, 1000))
        paths.append(path)
    paths[1].write_bytes(b"x" * 1000)
    outcomes: list[tuple[str, Path | None, int]] = [(sids[0], paths[0], 2), (sids[1], paths[1], 2)]
    outcomes += [(sids[2], paths[2], 2), (sids[2], paths[2], 2)]
    checked = verify(outcomes, recs)
    assert checked == {"ok": 4, "verified": 1, "duplicates": 1, "missing": 1, "requests": 8}
    assert verify(outcomes[:1], recs[:1])["verified"] == 1


def test_the_archive_bench_runs_end_to_end_at_tiny_sizes(tmp_path: Path) -> None:
    options = ArchiveOptions(rounds=2, big=300_000, files=6, file_size=70_000, faults=0.5)
    outcome = run_archive(options, None, None, "nox -s bench -- --archive", tmp_path / "a.png")
    assert outcome.correct
    assert {name: len(group) for name, group in outcome.runs.items()} == dict.fromkeys(
        ["big_raw", "big_sdk", "many_raw", "many_sdk", "faults_sdk"], 2
    )
    assert all(run["requests"] > 12 for run in outcome.runs["faults_sdk"])
    assert "`download_many`, files/s" in outcome.section
    assert outcome.section.startswith("Produced by `nox -s bench -- --archive`")
