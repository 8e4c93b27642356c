"""download(), open_media() and media_url() against FakeMediaServer and its storage."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from twilio_media_async import (
    ForeignPageUrlError,
    InvalidParameterError,
    MediaIntegrityError,
    MediaRecording,
    MediaUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    RetryPolicy,
    ServerError,
    TransportError,
    TwilioMediaError,
)
from twilio_media_async.testing import FakeMediaServer, StorageFault

from ._archive import SIZE, recording, serving

SID = "KV" + "a1" * 16


def resolves(server: FakeMediaServer) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/Media"))


def partial_of(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


async def test_download_writes_the_verified_file_and_storage_never_sees_credentials(
    tmp_path: Path,
) -> None:
    async with serving(recording(SID)) as (server, client):
        target = tmp_path / "new" / "dir" / "a.mp4"
        result = await client.download(SID, target)
        assert result.ok and not result.skipped
        assert (result.sid, result.path, result.bytes) == (SID, str(target), SIZE)
        assert (
            result.sha256
            == server.media_sha256(SID)
            == hashlib.sha256(target.read_bytes()).hexdigest()
        )
        assert result.content_type == "video/mp4"
        assert result.attempts == 3  # metadata, resolve, storage
        assert result.request_id is not None and result.request_id.startswith("RQ")
        assert not partial_of(target).exists()
        assert not server.storage_saw_authorization
        assert [r.signed for r in server.storage_requests] == [True]
        assert server.storage_url != server.url


async def test_a_media_recording_is_used_as_given_with_no_metadata_request(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (server, client):
        given = await client.fetch(SID)
        server.reset_stats()
        result = await client.download(given, tmp_path / "a.mp4")
        assert result.ok and result.attempts == 2
        assert [r.path.endswith("/Media") for r in server.requests] == [True]


@pytest.mark.parametrize("fault", [StorageFault.truncated(), StorageFault.reset()])
async def test_a_cut_transfer_resumes_with_range_from_the_bytes_on_disk(
    tmp_path: Path, fault: StorageFault
) -> None:
    async with serving(recording(SID)) as (server, client):
        server.script_storage(SID, [fault])
        result = await client.download(SID, tmp_path / "a.mp4")
        assert result.ok and result.sha256 == server.media_sha256(SID)
        first, second = server.storage_requests
        assert first.fault == fault.kind and first.range is None
        assert second.range == f"bytes={SIZE // 2}-" and second.status == 206
        assert resolves(server) == 1


async def test_a_read_timeout_mid_body_resumes(tmp_path: Path) -> None:
    async with serving(recording(SID), client={"timeout": 0.5}) as (server, client):
        server.script_storage(SID, [StorageFault.slow(30)])
        result = await client.download(SID, tmp_path / "a.mp4")
        assert result.ok and result.sha256 == server.media_sha256(SID)
        assert [r.range for r in server.storage_requests] == [None, f"bytes={SIZE // 2}-"]


async def test_an_expired_url_mid_run_is_resolved_again_and_the_transfer_goes_on(
    tmp_path: Path,
) -> None:
    async with serving(recording(SID)) as (server, client):
        server.script_storage(SID, [StorageFault.truncated(), StorageFault.expired()])
        result = await client.download(SID, tmp_path / "a.mp4")
        assert result.ok and result.sha256 == server.media_sha256(SID)
        assert [r.status for r in server.storage_requests] == [200, 403, 206]
        assert server.storage_requests[-1].range == f"bytes={SIZE // 2}-"
        assert resolves(server) == 2


async def test_a_storage_that_ignores_range_restarts_from_zero(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (server, client):
        server.script_storage(SID, [StorageFault.truncated(), StorageFault.ignore_range()])
        target = tmp_path / "a.mp4"
        result = await client.download(SID, target)
        assert result.ok and result.bytes == SIZE
        assert result.sha256 == server.media_sha256(SID)
        assert target.read_bytes() == server.media_bytes(SID)
        assert [r.status for r in server.storage_requests] == [200, 200]


async def test_a_wrong_length_is_an_integrity_error_tried_once_more_from_scratch(
    tmp_path: Path,
) -> None:
    async with serving(recording(SID)) as (server, client):
        server.script_storage(SID, [StorageFault.wrong_length(-1)])
        result = await client.download(SID, tmp_path / "a.mp4")
        assert result.ok and result.sha256 == server.media_sha256(SID)
        assert resolves(server) == 2  # a fresh resolve for the second try
        assert [r.range for r in server.storage_requests] == [None, None]


@pytest.mark.parametrize("delta", [-1, 5])
async def test_a_second_wrong_length_is_final_and_leaves_no_file(
    tmp_path: Path, delta: int
) -> None:
    async with serving(recording(SID)) as (server, client):
        server.script_storage(SID, [StorageFault.wrong_length(delta)] * 2)
        target = tmp_path / "a.mp4"
        with pytest.raises(MediaIntegrityError) as info:
            await client.download(SID, target)
        assert (info.value.expected, info.value.received) == (SIZE, SIZE + delta)
        assert info.value.attempts == 5  # metadata, 2 resolves, 2 storage requests
        assert not target.exists() and not partial_of(target).exists()


async def test_storage_503s_follow_the_policy_waits_then_give_up(tmp_path: Path) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(max_attempts=3, sleep=sleep, jitter=lambda: 1.0)
    async with serving(recording(SID), retry=policy) as (server, client):
        server.script_storage(SID, [StorageFault.unavailable()] * 2)
        result = await client.download(SID, tmp_path / "a.mp4")
        assert result.ok and waits == [0.5, 1.0]
        server.script_storage(SID, [StorageFault.unavailable(retry_after=2)] * 3)
        waits.clear()
        with pytest.raises(ServerError) as info:
            await client.download(SID, tmp_path / "b.mp4")
        assert info.value.status == 503 and waits == [2.0, 2.0]
        assert partial_of(tmp_path / "b.mp4").exists()  # kept, for a later resume


async def test_no_wait_never_sleeps_on_storage_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def spy(seconds: float, *args: object) -> None:
        if seconds > 0:
            slept.append(seconds)
        await real_sleep(0)

    async with serving(recording(SID)) as (server, client):
        server.script_storage(SID, [StorageFault.unavailable(retry_after=5)] * 3)
        monkeypatch.setattr(asyncio, "sleep", spy)
        result = await client.download(SID, tmp_path / "a.mp4")
        assert result.ok and slept == []


async def test_attempts_without_progress_end_the_item_after_max_attempts(tmp_path: Path) -> None:
    async with serving(recording(SID), retry=RetryPolicy.no_wait(max_attempts=2)) as (
        server,
        client,
    ):
        server.script_storage(SID, [StorageFault.expired()] * 10)
        with pytest.raises(PermissionDeniedError):
            await client.download(SID, tmp_path / "a.mp4")
        assert len(server.storage_requests) == 2


async def test_media_requests_are_capped_at_four_times_max_attempts(tmp_path: Path) -> None:
    async with serving(recording(SID), retry=RetryPolicy.no_wait(max_attempts=2)) as (
        server,
        client,
    ):
        server.script_storage(SID, [StorageFault.truncated()] * 20)  # progress every time
        with pytest.raises(TransportError):
            await client.download(SID, tmp_path / "a.mp4")
        assert len(server.storage_requests) == 8


async def test_a_partial_left_by_a_killed_run_is_hashed_and_resumed(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (server, client):
        target = tmp_path / "a.mp4"
        partial_of(target).write_bytes(server.media_bytes(SID)[:12345])
        result = await client.download(SID, target)
        assert result.ok and result.sha256 == server.media_sha256(SID)
        assert [r.range for r in server.storage_requests] == ["bytes=12345-"]


async def test_a_partial_longer_than_the_file_is_dropped_and_downloaded_again(
    tmp_path: Path,
) -> None:
    async with serving(recording(SID)) as (server, client):
        target = tmp_path / "a.mp4"
        partial_of(target).write_bytes(server.media_bytes(SID) + b"junk")
        result = await client.download(SID, target)
        assert result.ok and target.read_bytes() == server.media_bytes(SID)
        assert [(r.range, r.status) for r in server.storage_requests] == [
            (f"bytes={SIZE + 4}-", 416),
            (None, 200),
        ]


async def test_a_whole_partial_gets_416_and_is_verified_in_place(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (server, client):
        target = tmp_path / "a.mp4"
        partial_of(target).write_bytes(server.media_bytes(SID))
        result = await client.download(SID, target)
        assert result.ok and result.sha256 == server.media_sha256(SID)
        assert [r.status for r in server.storage_requests] == [416]
        assert target.read_bytes() == server.media_bytes(SID)


async def test_an_existing_file_of_the_expected_size_is_skipped_unless_overwrite(
    tmp_path: Path,
) -> None:
    async with serving(recording(SID)) as (server, client):
        target = tmp_path / "a.mp4"
        target.write_bytes(b"x" * SIZE)
        skipped = await client.download(SID, target)
        assert skipped.ok and skipped.skipped and skipped.bytes == SIZE
        assert skipped.sha256 is None and skipped.content_type is None
        assert server.storage_requests == []
        replaced = await client.download(SID, target, overwrite=True)
        assert not replaced.skipped and target.read_bytes() == server.media_bytes(SID)
        target.write_bytes(b"short")
        again = await client.download(SID, target)
        assert not again.skipped and target.read_bytes() == server.media_bytes(SID)


@pytest.mark.parametrize("status", ["processing", "failed", "deleted"])
async def test_unavailable_media_raises_before_the_resolve(tmp_path: Path, status: str) -> None:
    async with serving(recording(SID, status=status)) as (server, client):
        with pytest.raises(MediaUnavailableError) as info:
            await client.download(SID, tmp_path / "a.mp4")
        assert info.value.status == status
        assert resolves(server) == 0 and server.storage_requests == []


async def test_a_media_link_of_another_origin_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    async with serving(recording(SID)) as (server, client):
        foreign = MediaRecording(
            sid=SID,
            size=SIZE,
            links={"media": "https://evil.example/v1/Media"},  # type: ignore[arg-type]
        )
        with pytest.raises(ForeignPageUrlError):
            await client.download(foreign, tmp_path / "a.mp4")
        assert server.requests == []


async def test_without_links_the_media_path_is_built_on_the_base_url(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (server, client):
        bare = MediaRecording(sid=SID, size=SIZE)
        result = await client.download(bare, tmp_path / "a.mp4")
        assert result.ok and server.requests[0].path == f"/v1/MediaRecordings/{SID}/Media"


async def test_a_404_from_the_resolve_is_not_found(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (_, client):
        missing = MediaRecording(sid="KV" + "0" * 32, size=10)
        with pytest.raises(NotFoundError):
            await client.download(missing, tmp_path / "a.mp4")


@pytest.mark.parametrize(
    ("answer", "status"),
    [("redirect", 301), ("redirect", 303), ("redirect", 307), ("redirect", 308),
     ("relative", 302), ("json", 302), ("direct", 302)],
)  # fmt: skip
async def test_every_resolve_answer_shape_downloads(
    tmp_path: Path, answer: str, status: int
) -> None:
    options = {"media_answer": answer, "media_redirect_status": status}
    async with serving(recording(SID), **options) as (server, client):
        result = await client.download(SID, tmp_path / "a.mp4")
        assert result.ok and result.sha256 == server.media_sha256(SID)
        assert not server.storage_saw_authorization


async def test_storage_redirects_are_followed_up_to_five(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (server, client):
        server.script_storage(SID, [StorageFault.redirect()] * 5)
        assert (await client.download(SID, tmp_path / "a.mp4")).ok
        server.script_storage(SID, [StorageFault.redirect()] * 6)
        with pytest.raises(TwilioMediaError, match="more than 5"):
            await client.download(SID, tmp_path / "b.mp4", overwrite=True)
        assert not server.storage_saw_authorization


async def test_media_url_sends_ttl_and_gives_a_working_url(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (server, client):
        url = await client.media_url(SID, ttl=60)
        assert url.startswith(server.storage_url + "/media/")
        assert server.requests[-1].query == {"Ttl": "60"}
        with pytest.raises(InvalidParameterError):
            await client.media_url(SID, ttl=0)
        with pytest.raises(InvalidParameterError):
            await client.media_url(SID, ttl=True)


async def test_media_url_refuses_a_direct_answer() -> None:
    async with serving(recording(SID), media_answer="direct") as (_, client):
        with pytest.raises(TwilioMediaError, match="media itself"):
            await client.media_url(SID)


@pytest.mark.parametrize("answer", ["redirect", "direct"])
async def test_open_media_streams_the_bytes(answer: str) -> None:
    async with serving(recording(SID), media_answer=answer) as (server, client):
        async with client.open_media(SID) as media:
            assert media.content_type == "video/mp4" and media.size == SIZE
            chunks = [chunk async for chunk in media.iter_chunks(1 << 16)]
        assert max(map(len, chunks)) <= 1 << 16
        assert b"".join(chunks) == server.media_bytes(SID)
        assert not server.storage_saw_authorization


async def test_open_media_checks_the_chunk_size() -> None:
    async with serving(recording(SID)) as (_, client):
        async with client.open_media(SID) as media:
            with pytest.raises(InvalidParameterError, match="size"):
                async for _ in media.iter_chunks(0):
                    pass


async def test_open_media_raises_a_storage_error() -> None:
    async with serving(recording(SID)) as (server, client):
        server.script_storage(SID, [StorageFault.unavailable()])
        with pytest.raises(ServerError):
            async with client.open_media(SID):
                pass


async def test_no_storage_query_string_in_errors_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="twilio_media_async")
    async with serving(recording(SID), retry=RetryPolicy.no_wait(max_attempts=2)) as (
        server,
        client,
    ):
        url = await client.media_url(SID)
        query = url.partition("?")[2]
        signature = query.partition("Signature=")[2]
        errors: list[BaseException] = []
        faults = [StorageFault.truncated(), StorageFault.expired(), StorageFault.reset()]
        server.script_storage(SID, faults + [StorageFault.unavailable()] * 2)
        with pytest.raises(ServerError) as info:
            await client.download(SID, tmp_path / "a.mp4")
        errors.append(info.value)
        server.script_storage(SID, [StorageFault.expired()] * 2)
        with pytest.raises(PermissionDeniedError) as denied:
            await client.download(SID, tmp_path / "b.mp4")
        errors.append(denied.value)
        server.script_storage(SID, [StorageFault.redirect()] * 6)
        with pytest.raises(TwilioMediaError) as redirected:
            await client.download(SID, tmp_path / "c.mp4")
        errors.append(redirected.value)
    await_closed = str(server)  # the server's repr has no storage URL either
    assert "Signature" not in await_closed
    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records  # the resumes and re-resolves were logged
    for text in texts:
        assert "Signature" not in text and "Expires=" not in text, text
        assert signature[:16] not in text, text


async def test_a_download_through_a_closed_client_is_refused(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (_, client):
        pass
    with pytest.raises(TwilioMediaError):
        await client.download(SID, tmp_path / "a.mp4")


async def test_bad_arguments_are_refused_before_any_request(tmp_path: Path) -> None:
    async with serving(recording(SID)) as (server, client):
        with pytest.raises(InvalidParameterError):
            await client.download(SID, 42)  # type: ignore[arg-type]
        with pytest.raises(TwilioMediaError):
            await client.download("not-a-sid", tmp_path / "a.mp4")
        assert server.requests == []


async def test_storage_is_fetched_through_the_clients_proxy_without_credentials(
    tmp_path: Path,
) -> None:
    from ._proxy import ForwardProxy

    async with ForwardProxy(credentials=("proxy-user", "proxy-secret")) as proxy:
        options = {"proxy": proxy.url_with("proxy-user", "proxy-secret")}
        async with serving(recording(SID), client=options) as (server, client):
            storage_url = server.storage_url
            result = await client.download(SID, tmp_path / "a.mp4")
            assert result.ok and result.sha256 == server.media_sha256(SID)
            assert not server.storage_saw_authorization
    through = [r for r in proxy.requests if r.target.startswith(storage_url + "/media/")]
    assert len(through) == 1 and through[0].proxy_authorization is not None
