"""``twilio-media demo``: every recording of a misbehaving in-process fake server, fetched."""

from __future__ import annotations

import attrs
import click

from twilio_media_async import FetchResult, MediaRecording
from twilio_media_async._cli.demo import describe_profile, fake_server_for_demo
from twilio_media_async._cli.exits import EXIT_OK, exit_code, run_async
from twilio_media_async._cli.jobs.report import BulkStats, Progress, summary
from twilio_media_async._cli.jobs.run import run_bulk
from twilio_media_async._cli.output import recordings_table, stderr_console, stdout_console
from twilio_media_async._cli.settings import Settings

from ._shared import exit_with, settings_of

__all__ = ["demo"]

_SAMPLES = 3


@attrs.define
class _Outcome:
    """What the demo shows once done: a few recordings and the server's request count."""

    samples: list[MediaRecording] = attrs.Factory(list)
    server_requests: int = 0

    def keep_sample(self, result: FetchResult) -> None:
        if result.recording is not None and len(self.samples) < _SAMPLES:
            self.samples.append(result.recording)


async def _fetch_all(
    settings: Settings,
    stats: BulkStats,
    outcome: _Outcome,
    *,
    recordings: int,
    seed: int,
    concurrency: int,
) -> int:
    console = stderr_console()
    async with fake_server_for_demo(recordings, seed) as server:
        console.print(
            f"Fake Twilio Media API on {server.url} with {recordings:,} recordings; "
            f"{describe_profile(server)}.",
            markup=False,
        )
        client = settings.pointed_at(**server.client_kwargs()).client(
            on_retry=stats.on_retry,
            connection_limit=max(100, concurrency),
            trust_env=False,  # the demo's server is on this machine, never behind a proxy
        )
        async with client:
            with Progress(stats, total=recordings, console=console) as progress:
                await run_bulk(
                    client,
                    server.sids,
                    write=None,
                    on_result=outcome.keep_sample,
                    stats=stats,
                    progress=progress,
                    concurrency=concurrency,
                    ordered=False,
                )
        outcome.server_requests = server.request_count
    return EXIT_OK


def _report(stats: BulkStats, outcome: _Outcome) -> None:
    if outcome.samples:  # before the summary, so that the summary is what stays on the screen
        out = stdout_console()
        out.print(f"{len(outcome.samples)} of the recordings fetched:", markup=False)
        out.print(recordings_table(outcome.samples, console=out)[0])
    console = stderr_console()
    console.print(summary(stats, title="demo summary"))
    console.print(
        f"The fake server answered {outcome.server_requests:,} requests "
        "(aiohttp silently resends a GET once after a dropped connection).",
        markup=False,
    )


@click.command()
@click.option(
    "--recordings",
    type=click.IntRange(1, 1_000_000),
    default=5000,
    show_default=True,
    help="How many recordings the fake server holds (all are fetched).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data and faults.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="As in fetch-many.",
)
@click.pass_context
def demo(ctx: click.Context, recordings: int, seed: int, concurrency: int) -> None:
    """Fetch every recording of an in-process fake server that misbehaves on purpose.

    \b
    No credentials needed.  The fake server answers some requests with 429 and a
    short Retry-After, 503, a proxy's HTML 502 or a dropped connection, and
    refuses requests beyond 50 in flight with 429.  The SDK retries, and adapts its
    concurrency, until every recording is fetched; then three of the recordings
    (a table on stdout) and the summary (last, on stderr) are printed.  Exit 0
    when all were fetched.
    """
    settings = settings_of(ctx)
    stats = BulkStats()
    outcome = _Outcome()
    work = _fetch_all(
        settings, stats, outcome, recordings=recordings, seed=seed, concurrency=concurrency
    )
    run_async(settings, work)
    _report(stats, outcome)
    exit_with(ctx, exit_code(interrupted=stats.interrupted, failed=bool(stats.failures)))
