"""``download_many`` into object storage: moto's S3 server on loopback, not a mock of
obstore.  Objects and sidecars checked by hash, the bucket as the state of a resume,
aborted uploads that leave no object and no multipart upload, a store failing parts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import timedelta
from typing import Any, Final

import pytest

from twilio_media_async import DownloadResult, MediaClient, RetryPolicy
from twilio_media_async.errors import MediaIntegrityError
from twilio_media_async.testing import FakeMediaServer, StorageFault

from ._archive import recording
from ._s3 import S3, SECRET, failing_parts, s3, s3_server

__all__ = ["s3", "s3_server"]

SIDS: Final = tuple(f"KV{i:032x}" for i in range(0x200, 0x206))
SIZE: Final = 700_000
BIG: Final = 20 << 20  # more than two parts of a multipart upload


def served(*sids: str, size: int = SIZE) -> FakeMediaServer:
    items = [recording(sid, size=size) for sid in sids or SIDS]
    return FakeMediaServer(recordings=items)


@contextlib.asynccontextmanager
async def client_of(server: FakeMediaServer, **options: Any) -> Any:
    async with MediaClient(**server.client_kwargs(), retry=RetryPolicy.no_wait(), **options) as c:
        yield c


async def archive(client: MediaClient, items: Any, where: Any, **kw: Any) -> list[DownloadResult]:
    return [r async for r in client.download_many(items, where, **kw)]


def sidecar(s3: S3, bucket: str, key: str) -> bytes:
    return s3.get(bucket, key + ".sha256")


async def test_objects_and_sidecars_are_correct_by_hash(s3: S3) -> None:
    bucket = s3.bucket()
    async with served() as server, client_of(server) as client:
        results = await archive(client, SIDS, f"s3://{bucket}/calls/")
        assert all(r.ok and not r.skipped for r in results), [r.error for r in results]
        for r in results:
            name = f"{r.sid}.mp4"
            assert r.path == f"s3://{bucket}/calls/{name}"
            assert r.bytes == SIZE
            assert r.sha256 == server.media_sha256(r.sid)
            assert s3.sha256(bucket, f"calls/{name}") == r.sha256
            # sha256sum's format, so that `sha256sum -c` works on a downloaded copy
            assert sidecar(s3, bucket, f"calls/{name}") == f"{r.sha256}  {name}\n".encode()
        assert s3.uploads(bucket) == []
        assert not server.storage_saw_authorization


async def test_a_second_run_skips_what_the_bucket_holds_with_the_sidecar_sha(s3: S3) -> None:
    bucket = s3.bucket()
    async with served() as server, client_of(server) as client:
        await archive(client, SIDS[:3], f"s3://{bucket}/p")
        before = len(server.storage_requests)
        results = {r.sid: r for r in await archive(client, SIDS, f"s3://{bucket}/p")}
        for sid in SIDS[:3]:
            assert results[sid].skipped and results[sid].sha256 == server.media_sha256(sid)
        for sid in SIDS[3:]:
            assert not results[sid].skipped and results[sid].ok
        fetched = {req.sid for req in server.storage_requests[before:]}
        assert fetched == set(SIDS[3:])


async def test_an_object_without_its_sidecar_or_of_another_size_is_not_done(s3: S3) -> None:
    bucket = s3.bucket()
    async with served() as server, client_of(server) as client:
        await archive(client, SIDS[:3], f"s3://{bucket}/")
        s3.client.delete_object(Bucket=bucket, Key=f"{SIDS[0]}.mp4.sha256")
        s3.client.put_object(Bucket=bucket, Key=f"{SIDS[1]}.mp4", Body=b"short")
        other = f"{'0' * 64}  {SIDS[0]}.mp4\n"  # a sidecar naming another object
        s3.client.put_object(Bucket=bucket, Key=f"{SIDS[2]}.mp4.sha256", Body=other.encode())
        results = await archive(client, SIDS[:3], f"s3://{bucket}/")
        assert [r.skipped for r in results] == [False, False, False]
        for sid in SIDS[:3]:
            assert s3.sha256(bucket, f"{sid}.mp4") == server.media_sha256(sid)
            assert sidecar(s3, bucket, f"{sid}.mp4").split()[1].decode() == f"{sid}.mp4"


async def test_a_store_object_with_its_own_prefix_joins_store_prefix_then_prefix(
    s3: S3,
) -> None:
    from obstore.store import S3Store

    bucket = s3.bucket()
    store = S3Store(bucket, prefix="tenant", client_options={"allow_http": True})
    async with served() as server, client_of(server) as client:
        results = await archive(client, SIDS[:2], store, prefix="calls/2026/")
        for r in results:
            assert r.ok, r.error
            assert r.path == f"s3://{bucket}/tenant/calls/2026/{r.sid}.mp4"
        assert s3.keys(bucket) == sorted(
            f"tenant/calls/2026/{sid}.mp4{tail}" for sid in SIDS[:2] for tail in ("", ".sha256")
        )


async def test_a_wrong_length_aborts_the_upload_and_leaves_nothing(s3: S3) -> None:
    bucket = s3.bucket()
    sid = SIDS[0]
    async with served(sid, size=BIG) as server, client_of(server) as client:
        # Both tries send a body 1 byte short: the final error, and never an object.
        server.script_storage(sid, [StorageFault.wrong_length(-1)] * 2)
        [result] = await archive(client, [sid], f"s3://{bucket}/x")
        assert isinstance(result.error, MediaIntegrityError)
        assert result.path == f"s3://{bucket}/x/{sid}.mp4"
        assert s3.keys(bucket) == []
        assert s3.uploads(bucket) == []


async def test_a_wrong_length_once_is_uploaded_again_from_scratch(s3: S3) -> None:
    bucket = s3.bucket()
    sid = SIDS[0]
    async with served(sid, size=BIG) as server, client_of(server) as client:
        server.script_storage(sid, [StorageFault.wrong_length(+3)])
        [result] = await archive(client, [sid], f"s3://{bucket}/")
        assert result.ok, result.error
        assert s3.sha256(bucket, f"{sid}.mp4") == server.media_sha256(sid)
        assert s3.uploads(bucket) == []


async def test_a_cut_transfer_goes_on_into_the_same_upload(s3: S3) -> None:
    bucket = s3.bucket()
    sid = SIDS[0]
    async with served(sid, size=BIG) as server, client_of(server) as client:
        server.script_storage(sid, [StorageFault.reset(), StorageFault.truncated()])
        [result] = await archive(client, [sid], f"s3://{bucket}/")
        assert result.ok, result.error
        assert s3.sha256(bucket, f"{sid}.mp4") == server.media_sha256(sid)
        assert s3.uploads(bucket) == []


async def test_cancelling_mid_transfer_aborts_the_upload(s3: S3) -> None:
    bucket = s3.bucket()
    sid = SIDS[0]
    async with served(sid, size=BIG) as server, client_of(server) as client:
        server.script_storage(sid, [StorageFault.slow(30)])  # stalls halfway

        async def consume() -> None:
            await archive(client, [sid], f"s3://{bucket}/")

        task = asyncio.create_task(consume())
        for _ in range(500):  # until the upload has begun, with parts
            if s3.uploads(bucket):
                break
            await asyncio.sleep(0.02)
        assert s3.uploads(bucket) == [f"{sid}.mp4"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert s3.uploads(bucket) == []
        assert s3.keys(bucket) == []


async def test_breaking_out_of_download_many_aborts_every_upload(s3: S3) -> None:
    bucket = s3.bucket()
    async with served(*SIDS[:3], size=BIG) as server, client_of(server) as client:
        for sid in SIDS[:3]:
            server.script_storage(sid, [StorageFault.slow(30)])
        results = client.download_many(SIDS[:3], f"s3://{bucket}/")
        waiting = asyncio.ensure_future(results.__anext__())
        for _ in range(500):
            if len(s3.uploads(bucket)) == 3:
                break
            await asyncio.sleep(0.02)
        assert len(s3.uploads(bucket)) == 3
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await results.aclose()
        assert s3.uploads(bucket) == []
        assert s3.keys(bucket) == []


async def test_a_store_that_fails_part_uploads_leaves_an_error_and_nothing_else(
    s3: S3,
) -> None:
    from obstore.store import S3Store

    bucket = s3.bucket()
    sid = SIDS[0]
    async with failing_parts(s3.endpoint, good_parts=1) as proxy:
        store = S3Store(
            bucket,
            endpoint=proxy,
            client_options={"allow_http": True},
            retry_config={"max_retries": 1, "retry_timeout": timedelta(seconds=5)},
        )
        async with served(sid, size=BIG) as server, client_of(server) as client:
            [result] = await archive(client, [sid], store)
            assert result.error is not None
            assert f"s3://{bucket}/{sid}.mp4" in str(result.error)
            assert SECRET not in str(result.error)
            assert s3.keys(bucket) == []
            assert s3.uploads(bucket) == []


async def test_confirm_checks_the_size_by_head_and_the_sidecar_sha(s3: S3) -> None:
    from twilio_media_async._cloud import StoreDestination, open_store

    bucket = s3.bucket()
    async with served(*SIDS[:2]) as server, client_of(server) as client:
        results = await archive(client, SIDS[:2], f"s3://{bucket}/c")
        destination = StoreDestination(open_store(f"s3://{bucket}/c"))
        ok, other = results
        assert ok.sha256 is not None and other.sha256 is not None and ok.path and other.path
        await destination.confirm(ok.path, ok.bytes, ok.sha256)
        with pytest.raises(MediaIntegrityError, match="another sha256"):
            await destination.confirm(ok.path, ok.bytes, hashlib.sha256(b"x").hexdigest())
        s3.client.put_object(Bucket=bucket, Key=f"c/{other.sid}.mp4", Body=b"changed")
        with pytest.raises(MediaIntegrityError, match="7 bytes"):
            await destination.confirm(other.path, other.bytes, other.sha256)
