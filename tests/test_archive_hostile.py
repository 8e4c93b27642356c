"""The archive against hostile conditions: a disk that fills and frees, two writers of one
file, runs killed between the rename and the manifest line, files changed between runs,
hand-edited manifests and storage redirects that are not URLs: each is a defect a hostile
probe found, and the rule that now holds."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import orjson
import pytest
from aiohttp import web

from twilio_media_async import (
    MediaClient,
    MediaRecording,
    RecordingStatus,
    RetryPolicy,
    TwilioMediaError,
)
from twilio_media_async.models import Links
from twilio_media_async.testing import FakeMediaServer, StorageFault

from ._archive import recording
from ._cli import connect, run_cli
from ._leaks import leaks
from .conftest import ACCOUNT_SID, AUTH_TOKEN

SID: Final = "KV" + "1" * 32
SIDS: Final = tuple(f"KV{i:032x}" for i in range(0x200, 0x204))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def served(*sids: str, size: int = 300_000) -> FakeMediaServer:
    items = [recording(sid, size=size) for sid in sids]
    return FakeMediaServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, recordings=items)


_SHORT_WRITE_SCRIPT: Final = textwrap.dedent(
    """
    import asyncio, hashlib, logging, resource, signal, sys
    from pathlib import Path
    from twilio_media_async import MediaClient, RetryPolicy
    from twilio_media_async.testing import FakeMediaServer, StorageFault

    # A full disk: writes past 200 kB fail (a short write, then EFBIG), until the SDK logs
    # at INFO (the cut it saw); then the space is back, as when another job frees some.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    unlimited = resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, unlimited))

    class Free(logging.Handler):
        def emit(self, record):
            resource.setrlimit(resource.RLIMIT_FSIZE, (unlimited, unlimited))

    logging.getLogger("twilio_media_async").addHandler(Free())
    logging.getLogger("twilio_media_async").setLevel(logging.INFO)

    async def main():
        sid = "KV" + "1" * 32
        served = {"sid": sid, "status": "completed", "format": "mp4", "media_size": 1_000_000}
        path = Path(sys.argv[1])
        async with FakeMediaServer(recordings=[served]) as server:
            async with MediaClient(**server.client_kwargs(), retry=RetryPolicy.no_wait()) as c:
                try:
                    result = await c.download(sid, path)
                except Exception as exc:
                    print("raised", type(exc).__name__)  # a full disk may end the item
                    return
                expected = server.media_sha256(sid)
                disk = hashlib.sha256(path.read_bytes()).hexdigest()
                size = path.stat().st_size
                print(result.bytes, result.sha256 == expected, size, disk == expected)

    asyncio.run(main())
    """
)


def test_a_disk_that_fills_then_frees_never_leaves_a_wrong_final_file(tmp_path: Path) -> None:
    target = tmp_path / "x.mp4"
    done = subprocess.run(
        [sys.executable, "-c", _SHORT_WRITE_SCRIPT, str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if not done.stdout.startswith("raised"):
        # today: "1000000 True 1072000 False", a result that says whole, a file that is not
        assert done.stdout.split() == ["1000000", "True", "1000000", "True"]


async def test_two_downloads_of_one_path_at_once_never_commit_a_mixed_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "x.mp4"
    served_one = recording(SID, size=1_000_000)
    async with FakeMediaServer(recordings=[served_one]) as server:
        async with MediaClient(**server.client_kwargs(), retry=RetryPolicy.no_wait()) as c:
            outcomes = await asyncio.gather(
                c.download(SID, target), c.download(SID, target), return_exceptions=True
            )
        for outcome in outcomes:  # today: one FileNotFoundError from os.replace
            assert not isinstance(outcome, BaseException) or isinstance(
                outcome, TwilioMediaError
            ), repr(outcome)
        assert target.stat().st_size == 1_000_000  # today: 2_000_000
        assert sha256(target) == server.media_sha256(SID)


def _sids_file(tmp_path: Path, *sids: str) -> Path:
    source = tmp_path / "sids.txt"
    source.write_text("".join(f"{sid}\n" for sid in sids))
    return source


async def test_a_file_in_place_without_its_line_is_deleted_or_reported(tmp_path: Path) -> None:
    directory = tmp_path / "a"
    directory.mkdir()
    async with served(SID) as server:
        # What a SIGKILL right after os.replace leaves: the whole file, no manifest line.
        (directory / f"{SID}.mp4").write_bytes(server.media_bytes(SID))
        source = _sids_file(tmp_path, SID)
        args = [*connect(server), "archive", "-d", str(directory), "-i", str(source)]
        for _ in range(2):  # the run after the kill, and any run after that
            run = await run_cli(*args, "--resume", "--delete-after", "--yes")
            assert SID not in server.recordings or run.code != 0, run.err


async def test_a_file_changed_since_its_verification_is_never_deleted(tmp_path: Path) -> None:
    directory = tmp_path / "a"
    async with served(SID) as server:
        expected = server.media_sha256(SID)
        source = _sids_file(tmp_path, SID)
        args = [*connect(server), "archive", "-d", str(directory), "-i", str(source)]
        assert (await run_cli(*args)).code == 0
        path = directory / f"{SID}.mp4"
        spoiled = bytearray(path.read_bytes())
        spoiled[1000:1010] = bytes(10)  # bit rot, or another program: the size stays
        path.write_bytes(bytes(spoiled))
        await run_cli(*args, "--resume", "--delete-after", "--yes")
        assert SID in server.recordings or sha256(path) == expected


async def test_an_ok_line_naming_another_sids_file_proves_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "a"
    directory.mkdir()
    a, b = SIDS[0], SIDS[1]
    async with served(a, b) as server:
        (directory / f"{b}.mp4").write_bytes(server.media_bytes(b))
        line = {"sid": a, "path": f"{b}.mp4", "bytes": 300_000, "sha256": "0" * 64}
        (directory / "manifest.jsonl").write_bytes(orjson.dumps(line) + b"\n")
        source = _sids_file(tmp_path, a)
        args = [*connect(server), "archive", "-d", str(directory), "-i", str(source)]
        await run_cli(*args, "--resume", "--delete-after", "--yes")
        assert a in server.recordings or (directory / f"{a}.mp4").exists()


@asynccontextmanager
async def _redirecting_storage(location: str) -> AsyncIterator[str]:
    """An API origin whose /Media redirects to a storage that redirects to ``location``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/Media"):
            where = f"http://{request.host}/storage/x.mp4?Signature=secret"
            return web.Response(status=302, headers={"Location": where})
        return web.Response(status=302, headers={"Location": location})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


async def test_a_storage_redirect_to_a_non_url_is_a_twilio_media_error(tmp_path: Path) -> None:
    async with _redirecting_storage("http://[::1") as origin:
        media = f"{origin}/v1/MediaRecordings/{SID}/Media"
        item = MediaRecording(
            sid=SID, status=RecordingStatus.COMPLETED, size=100, links=Links({"media": media})
        )
        async with MediaClient(
            ACCOUNT_SID, AUTH_TOKEN, base_url=origin, retry=RetryPolicy.no_wait()
        ) as client:
            with pytest.raises(TwilioMediaError):
                await client.download(item, tmp_path / "x.mp4")


async def test_the_summary_counts_every_http_request(tmp_path: Path) -> None:
    async with served(*SIDS) as server:
        run = await run_cli(
            *connect(server), "archive", "-d", str(tmp_path / "a"), "--delete-after", "--yes"
        )
        assert run.code == 0, run.err
        shown = re.search(r"HTTP requests\s*│\s*([0-9,]+)", run.err)
        assert shown is not None, run.err
        made = server.request_count + len(server.storage_requests)
        assert int(shown[1].replace(",", "")) == made  # today: 8 of 13


async def test_delete_after_on_an_archived_directory_deletes_or_says_why_not(
    tmp_path: Path,
) -> None:
    async with served(*SIDS) as server:
        args = [*connect(server), "archive", "-d", str(tmp_path / "a")]
        assert (await run_cli(*args)).code == 0
        run = await run_cli(*args, "--delete-after", "--yes")
        assert not server.recordings or run.code != 0, run.err


@pytest.mark.parametrize("fault", ["expired", "reset"])
async def test_the_storage_urls_signature_is_in_nothing_an_error_keeps(
    tmp_path: Path, fault: str
) -> None:
    """An error reporter that shows a traceback's locals (Sentry, ``capture_locals``) must
    not find the presigned URL's signature there either: it is a credential."""
    chosen = StorageFault.expired() if fault == "expired" else StorageFault.reset()
    async with served(SID) as server:
        server.script_storage(SID, [chosen] * 40)
        async with MediaClient(**server.client_kwargs(), retry=RetryPolicy.no_wait()) as client:
            with pytest.raises(TwilioMediaError) as info:
                await client.download(SID, tmp_path / "x.mp4")
            results = [r async for r in client.download_many([SID], tmp_path / "many")]
    for root in (info.value, results[0]):
        found = leaks(root, ["Signature=", server.auth_token])
        assert not found, found[:8]
