"""``twilio-media archive``: download every recording's media, verified, into a directory;
then, with ``--delete-after``, free Twilio's storage of what is safely on disk.

The manifest (``_cli/jobs/manifest.py``) is the job's state: each file's line is fsynced after
the file, and a recording is deleted only after its line is on disk, so that a run killed
at any moment loses nothing and deletes nothing it cannot prove it has.

Into a store (``-d s3://bucket/prefix``), the bucket is the state: an object is done when
its sidecar names it, so workers on machines with no shared disk resume from it; and a
recording is deleted only after a HEAD of its object and its sidecar confirm this run's
transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Set
from typing import Any

import attrs
import click
from rich.console import Console

from twilio_media_async import (
    DeleteResult,
    DownloadResult,
    InvalidParameterError,
    MediaClient,
    MediaIntegrityError,
    MediaRecording,
    NotFoundError,
    RecordingStatus,
    TwilioMediaError,
)
from twilio_media_async._cli.exits import CommandFailed, UsageProblem, exit_code, run_async
from twilio_media_async._cli.jobs.input import Selection, Shard, parse_shard, read_sids
from twilio_media_async._cli.jobs.manifest import (
    MANIFEST,
    VERIFY_STAGE,
    ManifestScan,
    ManifestWriter,
    delete_error_line,
    deleted_line,
    download_line,
    earlier_verified,
    scan_manifest,
)
from twilio_media_async._cli.jobs.output import (
    NotAnOutputFile,
    SameFileError,
    check_not_input,
    delete_intent,
    open_output,
)
from twilio_media_async._cli.jobs.report import ArchiveProgress, ArchiveStats, archive_summary
from twilio_media_async._cli.jobs.sidset import SidSet
from twilio_media_async._cli.output import stderr_console
from twilio_media_async._cli.params import parsed_by
from twilio_media_async._cli.settings import Settings
from twilio_media_async._cloud import StoreDestination, is_store_url, open_store

from ._shared import confirm_delete, exit_with, settings_of

__all__ = ["archive"]


class _Deleter:
    """The ``--delete-after`` lane: verified sids go in, each is recorded as intended
    before its first DELETE, and each outcome is written to the manifest."""

    def __init__(self, manifest: ManifestWriter, stats: ArchiveStats, scan: ManifestScan | None):
        self._manifest = manifest
        self._stats = stats
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        # A sid whose DELETE an earlier run may have sent: a 404 now means it went through.
        self._maybe_gone: Set[str] = frozenset() if scan is None else scan.intended

    def add(self, sid: str) -> None:
        self._queue.put_nowait(sid)

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def _sids(self) -> AsyncIterator[str]:
        while (sid := await self._queue.get()) is not None:
            self._manifest.write(delete_intent(sid))
            yield sid

    async def run(self, client: MediaClient, concurrency: int, settings: Settings) -> None:
        results = client.delete_many(self._sids(), concurrency=concurrency)
        async with contextlib.aclosing(results):
            async for result in results:
                self._record(result, settings)

    def _record(self, result: DeleteResult, settings: Settings) -> None:
        sid = result.sid
        self._stats.files.requests += result.attempts
        gone = isinstance(result.error, NotFoundError) and sid in self._maybe_gone
        if result.error is None or gone:
            self._manifest.write(deleted_line(sid, result.attempts))
            self._stats.deleted += 1
        else:
            assert result.error is not None
            line = delete_error_line(sid, result.error, result.attempts, settings.redact)
            self._manifest.write(line)
            self._stats.delete_failed += 1


async def _selected_recordings(
    recordings: AsyncIterable[MediaRecording], selection: Selection
) -> AsyncIterator[MediaRecording]:
    async for recording in recordings:
        if recording.sid is not None and selection.admit(recording.sid):
            yield recording


async def _listed(
    client: MediaClient, filters: dict[str, str | None], stats: ArchiveStats
) -> AsyncIterator[MediaRecording]:
    """What ``list`` gives, page by page, each page counted as a request."""
    async for page in client.pages(**filters):  # type: ignore[arg-type]
        stats.files.requests += 1
        for recording in page.items:
            yield recording


def _items(
    client: MediaClient,
    fd: int | None,
    selection: Selection,
    filters: dict[str, str | None],
    stats: ArchiveStats,
) -> AsyncIterable[Any]:
    """What to archive: the sids of ``-i`` (read lazily), or what ``list`` gives; only those
    of the shard that are not done yet."""
    if fd is not None:
        return selection.filter(read_sids(fd))
    return _selected_recordings(_listed(client, filters, stats), selection)


@attrs.frozen
class _ArchiveJob:
    """One run of ``archive``, as its options describe it."""

    directory: str
    manifest_path: str
    input_path: str | None
    filters: dict[str, str | None]
    shard: Shard | None
    concurrency: int
    delete_after: bool
    demo: bool = False

    @property
    def store(self) -> bool:
        """True when the files go into object storage."""
        return is_store_url(self.directory)


@attrs.define
class _Run:
    """What a run works with once its files are open."""

    job: _ArchiveJob
    client: MediaClient | None
    """None until the demo's server is up, for ``--demo``."""
    settings: Settings
    stats: ArchiveStats
    manifest: ManifestWriter
    deleter: _Deleter | None
    destination: StoreDestination | None = None
    """The store, for ``-d s3://...``."""
    earlier: Iterator[tuple[str, str, str]] | None = None
    """What earlier runs verified and did not delete: ``(sid, file, sha256)``."""

    async def recheck(self) -> None:
        """Hash each file an earlier run verified once more, and hand it to the deleter
        only when it still holds those bytes: a file changed since is never deleted on
        Twilio, and is reported."""
        assert self.deleter is not None
        if self.earlier is None:
            return
        queued, changed = SidSet(), SidSet()
        for sid, path, sha256 in self.earlier:
            if sid in queued:
                continue
            if await asyncio.to_thread(_sha256_of, path) == sha256:
                queued.add(sid)
                self.deleter.add(sid)
            else:
                changed.add(sid)
        for sid in changed:
            if sid not in queued:
                error = MediaIntegrityError(
                    f"{sid}: its file no longer holds the bytes that were verified: "
                    "not deleted (download it again without --resume)",
                    expected=0,
                    received=0,
                )
                line = delete_error_line(sid, error, 0, self.settings.redact, VERIFY_STAGE)
                self.manifest.write(line)
                self.stats.delete_failed += 1

    async def download(self, items: AsyncIterable[Any], progress: ArchiveProgress) -> None:
        """Download every item, write its manifest line, and hand each verified sid to the
        deleter once that line is on disk (and, in a store, its object confirmed)."""
        directory = self.job.directory
        assert self.client is not None
        where = directory if self.destination is None else self.destination.store
        # What reaches here with --delete-after was not verified by an earlier run: a file
        # found in place proves nothing, so it is downloaded again, verified, and replaced.
        overwrite = self.deleter is not None and self.destination is None
        results = self.client.download_many(
            items, where, concurrency=self.job.concurrency, overwrite=overwrite
        )
        async with contextlib.aclosing(results):
            async for result in results:
                self.manifest.write(download_line(result, directory, self.settings.redact))
                self.stats.add(result)
                progress.update()
                transferred = result.ok and not result.skipped and result.sha256 is not None
                if self.deleter is not None and transferred and await self._confirmed(result):
                    self.deleter.add(result.sid)

    async def _confirmed(self, result: DownloadResult) -> bool:
        """In a store: whether a HEAD of the object confirms its size and its sidecar
        holds this transfer's sha256; a mismatch is an error record, and no delete."""
        if self.destination is None:
            return True
        assert result.path is not None
        assert result.sha256 is not None
        try:
            await self.destination.confirm(result.path, result.bytes, result.sha256)
        except TwilioMediaError as exc:
            redact = self.settings.redact
            self.manifest.write(delete_error_line(result.sid, exc, 0, redact, VERIFY_STAGE))
            self.stats.delete_failed += 1
            return False
        return True

    async def run(self, items: AsyncIterable[Any], progress: ArchiveProgress) -> None:
        """The downloads and, beside them, the deletes of what they verified."""
        assert self.client is not None
        async with self.client:
            if self.deleter is None:
                await self.download(items, progress)
                return
            lane = self.deleter.run(self.client, self.job.concurrency, self.settings)
            deleting = asyncio.create_task(lane)
            try:
                await self.recheck()
                await self.download(items, progress)
                self.deleter.close()
                await asyncio.shield(deleting)
            finally:
                # Interrupted, or a write failed: the deletes in flight are cancelled and
                # awaited; their intents are on disk for the next run.
                deleting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await deleting


def _scan(settings: Settings, job: _ArchiveJob) -> ManifestScan:
    manifest_path = job.manifest_path
    try:
        return scan_manifest(manifest_path, job.directory)
    except NotAnOutputFile as exc:
        raise UsageProblem(settings.redact(str(exc))) from None
    except OSError as exc:
        raise CommandFailed(f"cannot read {manifest_path}: {exc.strerror or exc}") from None


def _confirm(yes: bool) -> None:
    """``--delete-after`` without ``--yes``: ask on a terminal, or stop before any request."""
    if yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        raise CommandFailed(
            "nothing archived or deleted: --delete-after needs --yes when there is no "
            "terminal to confirm on"
        )
    confirm_delete("Delete each recording on Twilio once its file is verified and recorded?")


@click.command("archive")
@click.option(
    "-d",
    "--directory",
    required=True,
    type=click.Path(file_okay=False),
    help="Where the files go, as DIR/<sid>.<ext> (created when missing), or a store: "
    "s3://bucket/prefix, gs://..., az://... (the [cloud] extra; credentials from the "
    "cloud's environment).",
)
@click.option(
    "-i",
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="File of sids, one per line; without it, the recordings list gives.",
)
@click.option(
    "--status",
    type=click.Choice([s.value for s in RecordingStatus]),
    default="completed",
    show_default=True,
    help="Without -i: only recordings with this status.",
)
@click.option("--source-sid", metavar="SID", help="Without -i: only this source's recordings.")
@click.option("--processor-sid", metavar="ZX...", help="Without -i: only this processor's.")
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
    help="Most transfers at once.",
)  # fmt: skip
@click.option(
    "--resume", is_flag=True,
    help="Append to the manifest, skipping every sid whose file is in place as recorded.",
)  # fmt: skip
@click.option(
    "--shard", metavar="K/N", callback=parsed_by(parse_shard),
    help="Only the sids whose stable hash falls in shard K of N.",
)  # fmt: skip
@click.option(
    "--manifest", "manifest_path", type=click.Path(dir_okay=False),
    help="The JSON lines manifest [default: DIR/manifest.jsonl, or ./manifest.jsonl for "
    "a store].",
)  # fmt: skip
@click.option(
    "--delete-after", is_flag=True,
    help="Delete each recording on Twilio once its file is verified and recorded.",
)  # fmt: skip
@click.option("-y", "--yes", is_flag=True, help="With --delete-after: do not ask.")
@click.option(
    "--demo", is_flag=True,
    help="Archive an in-process fake server's recordings, with --delete-after: no "
    "credentials needed.",
)  # fmt: skip
@click.pass_context
def archive(
    ctx: click.Context,
    directory: str,
    input_path: str | None,
    status: str,
    source_sid: str | None,
    processor_sid: str | None,
    concurrency: int,
    resume: bool,
    shard: Shard | None,
    manifest_path: str | None,
    delete_after: bool,
    yes: bool,
    demo: bool,
) -> None:
    """Download every recording's media into DIR, verified, with a manifest line each.

    \b
    Each file is streamed to DIR/<sid>.<ext>.partial, checked against its size, then
    renamed: a file under its final name is whole.  The manifest gets one JSON line
    per item: {"sid", "path", "bytes", "sha256", "content_type"}, or fetch-many's
    error record.  --resume skips every sid whose file is in place as recorded and
    continues cut transfers; --shard K/N splits the work between N workers.

    \b
    --delete-after deletes a recording on Twilio only once its file is verified and
    its manifest line is on disk, and a resumed run deletes what an earlier one
    verified but did not delete.  A failed download is never deleted.  Exit 0 when
    every item was archived (and deleted), 1 when some failed, 130 on Ctrl-C.

    \b
    Into a store (-d s3://bucket/prefix), each object gets a sidecar <name>.sha256 once
    verified; the bucket is the state, and --delete-after first checks the object.
    """
    settings = settings_of(ctx)
    job = _ArchiveJob(
        directory=directory,
        manifest_path=manifest_path or _default_manifest(directory),
        input_path=input_path,
        filters={"status": status, "source_sid": source_sid, "processor_sid": processor_sid},
        shard=shard,
        concurrency=concurrency,
        delete_after=delete_after or demo,
        demo=demo,
    )
    if input_path is not None:
        try:
            check_not_input(input_path, job.manifest_path, option="--manifest")
        except SameFileError as exc:
            raise UsageProblem(str(exc)) from None
    destination = _store(directory, demo)
    stats = ArchiveStats()
    client = None
    if not demo:  # the demo's client is made once its server is up
        client = settings.client(on_retry=stats.on_retry, connection_limit=max(100, concurrency))
    scan = _scan(settings, job) if resume else None
    if delete_after and not demo:
        _confirm(yes)
    prepared = _prepared(job, client, settings, stats, scan, destination)
    _execute(ctx, job, prepared, scan)


def _default_manifest(directory: str) -> str:
    """``DIR/manifest.jsonl``; for a store, ``manifest.jsonl`` in the current directory."""
    return (
        "manifest.jsonl" if is_store_url(directory) else os.path.join(directory, "manifest.jsonl")
    )


def _store(directory: str, demo: bool) -> StoreDestination | None:
    """The store of ``-d s3://...``, opened before any request (exit 2 when it cannot
    be); None for a directory."""
    if not is_store_url(directory):
        return None
    if demo:
        raise UsageProblem("--demo archives into a local directory, not a store")
    try:
        return StoreDestination(open_store(directory))
    except InvalidParameterError as exc:
        raise UsageProblem(str(exc)) from None


def _prepared(
    job: _ArchiveJob,
    client: MediaClient | None,
    settings: Settings,
    stats: ArchiveStats,
    scan: ManifestScan | None,
    destination: StoreDestination | None = None,
) -> contextlib.AbstractContextManager[_Run]:
    """The directory made, the manifest and input opened: the run, ready to go."""

    @contextlib.contextmanager
    def opened() -> Iterator[_Run]:
        try:
            if not job.store:
                os.makedirs(job.directory, exist_ok=True)
            stream = open_output(job.manifest_path, MANIFEST, None if scan is None else scan.output)
        except OSError as exc:
            where = exc.filename or job.manifest_path
            raise CommandFailed(f"cannot write {where}: {exc.strerror or exc}") from None
        with stream:
            manifest = ManifestWriter(stream, job.manifest_path, settings.redact_bytes)
            deleter = _Deleter(manifest, stats, scan) if job.delete_after else None
            earlier = None
            if deleter is not None and scan is not None:
                if job.store:  # the object is checked again before its delete
                    for sid in scan.to_delete():
                        deleter.add(sid)
                else:  # each file is hashed again before its delete
                    earlier = earlier_verified(job.manifest_path, job.directory, scan)
            yield _Run(job, client, settings, stats, manifest, deleter, destination, earlier)

    return opened()


def _sha256_of(path: str) -> str | None:
    """The sha256 of the file at ``path``, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _done(job: _ArchiveJob, scan: ManifestScan | None) -> Set[str] | None:
    """The sids a resumed run does not download again: those in place as recorded; with
    ``--delete-after``, only those an earlier run verified (the others must be verified
    before they may be deleted)."""
    if scan is None:
        return None
    return scan.verified if job.delete_after and not job.store else scan.in_place


def _execute(
    ctx: click.Context,
    job: _ArchiveJob,
    prepared: contextlib.AbstractContextManager[_Run],
    scan: ManifestScan | None,
) -> None:
    """Run the job, print the summary, and exit: 130 after Ctrl-C, 1 when an item failed."""
    console = stderr_console()
    selection = Selection(job.shard, _done(job, scan))
    with prepared as run, contextlib.ExitStack() as files:
        fd = None
        if job.input_path == "-":
            fd = sys.stdin.fileno()
        elif job.input_path is not None:
            fd = files.enter_context(open(job.input_path, "rb")).fileno()

        async def go() -> int:
            async with contextlib.AsyncExitStack() as stack:
                if job.demo:
                    await stack.enter_async_context(_demo(run, console))
                assert run.client is not None
                with ArchiveProgress(run.stats, console=console) as progress:
                    try:
                        items = _items(run.client, fd, selection, job.filters, run.stats)
                        await run.run(items, progress)
                    except asyncio.CancelledError:
                        run.stats.interrupted = True
                        task = asyncio.current_task()
                        if task is not None:
                            task.uncancel()
            return 0

        run_async(run.settings, go())
    run.stats.skipped = selection.skipped
    run.stats.finish()
    console.print(archive_summary(run.stats))
    failed = bool(run.stats.failures or run.stats.delete_failed)
    exit_with(ctx, exit_code(interrupted=run.stats.interrupted, failed=failed))


@contextlib.asynccontextmanager
async def _demo(run: _Run, console: Console) -> AsyncIterator[None]:
    """``--demo``: an in-process fake server to archive from, and, once the run is done,
    every file checked by its sha256 against what the server holds."""
    from twilio_media_async._cli.demo import ARCHIVE_DEMO_RECORDINGS, archive_demo_server

    async with archive_demo_server() as server:
        console.print(
            f"Fake Twilio Media API on {server.url}, its storage on {server.storage_url}: "
            f"{ARCHIVE_DEMO_RECORDINGS} recordings to archive into {run.job.directory}, "
            "with API faults, and storage that cuts, resets or refuses one file in ten.",
            markup=False,
        )
        run.client = run.settings.pointed_at(**server.client_kwargs()).client(
            on_retry=run.stats.on_retry, trust_env=False
        )
        # Known before the run: a deleted recording's bytes are no longer served.
        expected = {sid: server.media_sha256(sid) for sid in server.sids}
        yield
        if run.stats.interrupted:
            return
        checked = _verify_demo(run.job.directory, expected.__getitem__)
        deleted = sum(1 for sid in checked if sid not in server.recordings)
        console.print(
            f"All {len(checked)} files verified by sha256 against the fake server's bytes; "
            f"{deleted} recordings deleted there after their files were recorded.",
            markup=False,
        )


def _verify_demo(directory: str, expected: Callable[[str], str]) -> list[str]:
    """The sids of the demo's files, each checked against ``expected``; CommandFailed for
    one that does not match (which would be a bug of the SDK)."""
    checked = []
    for name in sorted(os.listdir(directory)):
        sid, _, ext = name.partition(".")
        if ext == "partial" or not name.endswith(".mp4"):
            continue
        if _sha256_of(os.path.join(directory, name)) != expected(sid):
            raise CommandFailed(f"{name} does not match the fake server's bytes")
        checked.append(sid)
    return checked
