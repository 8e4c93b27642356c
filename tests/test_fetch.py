"""fetch against FakeMediaServer over real HTTP on loopback: errors, faults and pooling."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from twilio_media_async import (
    AuthenticationError,
    MediaClient,
    MediaRecording,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import API_KEY, API_SECRET, as_served
from .conftest import client_for as _client_for

NO_RETRY = RetryPolicy(max_attempts=1)


def client_for(server: FakeMediaServer, **kwargs: object) -> MediaClient:
    """These tests look at single attempts: no retries."""
    return _client_for(server, NO_RETRY, **kwargs)


UNKNOWN = "KV" + "f" * 32


pytestmark = pytest.mark.fake_media_server(generate=20, seed=3, api_keys={API_KEY: API_SECRET})


async def test_fetch_returns_the_stored_recording(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    async with client_for(fake_media_server) as client:
        rec = await client.fetch(sid)
    assert isinstance(rec, MediaRecording)
    assert rec == as_served(fake_media_server, sid)
    (request,) = fake_media_server.requests
    assert (request.method, request.path, request.sid) == ("GET", f"/v1/MediaRecordings/{sid}", sid)
    assert request.auth_user == fake_media_server.account_sid


@pytest.mark.parametrize("shape", ["spec", "seed"])
async def test_both_payload_shapes(shape: str) -> None:
    async with FakeMediaServer(generate=3, payload_shape=shape) as srv:  # type: ignore[arg-type]
        async with client_for(srv) as client:
            for sid in srv.sids:
                rec = await client.fetch(sid)
                assert rec.size == as_served(srv, sid).size
                assert rec.size is not None


async def test_api_key_auth(fake_media_server: FakeMediaServer) -> None:
    kwargs = fake_media_server.client_kwargs()
    async with MediaClient(
        kwargs["account_sid"],
        api_key=API_KEY,
        api_secret=API_SECRET,
        base_url=fake_media_server.url,
        retry=NO_RETRY,
    ) as client:
        await client.fetch(fake_media_server.sids[0])
    assert fake_media_server.requests[0].auth_user == API_KEY


async def test_404(fake_media_server: FakeMediaServer) -> None:
    async with client_for(fake_media_server) as client:
        with pytest.raises(NotFoundError) as info:
            await client.fetch(UNKNOWN)
    assert info.value.code == 20404
    assert info.value.request_id is not None
    assert info.value.request_id.startswith("RQ")


async def test_401_with_a_wrong_token(fake_media_server: FakeMediaServer) -> None:
    async with client_for(fake_media_server, auth_token="wrong") as client:
        with pytest.raises(AuthenticationError) as info:
            await client.fetch(fake_media_server.sids[0])
    assert info.value.code == 20003
    assert fake_media_server.request_count == 1


@pytest.mark.parametrize(
    ("fault", "error", "check"),
    [
        (Fault.rate_limited(retry_after=3), RateLimitError, lambda e: e.retry_after == 3),
        (Fault.rate_limited(), RateLimitError, lambda e: e.retry_after is None),
        (Fault.server_error(500), ServerError, lambda e: e.status == 500),
        (Fault.server_error(502, html=True), ServerError, lambda e: "502" in str(e)),
        (Fault.server_error(503), ServerError, lambda e: e.code is not None),
        (Fault.server_error(504), ServerError, lambda e: e.status == 504),
        (Fault.reset(), TransportError, lambda e: e.retryable),
        (Fault.truncated(), TransportError, lambda e: "cut off" in str(e)),
        (Fault.wrong_content_type(), ResponseValidationError, lambda e: "Content-Type" in str(e)),
        (Fault.invalid_json(), ResponseValidationError, lambda e: "JSON" in str(e)),
    ],
)
async def test_each_fault_gives_its_typed_error(
    fake_media_server: FakeMediaServer, fault: Fault, error: type[Exception], check: object
) -> None:
    sid = fake_media_server.sids[0]
    # aiohttp silently resends an idempotent request once when the connection drops, so a
    # reset reaches the caller only when it happens twice in a row.
    fake_media_server.script(sid, [fault, fault] if fault.kind == "reset" else [fault])
    async with client_for(fake_media_server) as client:
        with pytest.raises(error) as info:
            await client.fetch(sid)
        assert check(info.value)  # type: ignore[operator]
        assert info.value.attempts == 1  # type: ignore[attr-defined]
        assert await client.fetch(sid) == as_served(fake_media_server, sid)  # the script is used up


async def test_slow_body_is_a_timeout(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.slow_body(2.0)])
    async with client_for(fake_media_server, timeout=0.3) as client:
        with pytest.raises(RequestTimeoutError) as info:
            await client.fetch(sid)
    assert isinstance(info.value, TimeoutError)


async def test_latency_past_the_timeout(fake_media_server: FakeMediaServer) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.latency(2.0)])
    async with client_for(fake_media_server, timeout=aiohttp.ClientTimeout(total=0.3)) as client:
        with pytest.raises(RequestTimeoutError):
            await client.fetch(sid)


async def test_one_connection_for_100_sequential_fetches(
    fake_media_server: FakeMediaServer,
) -> None:
    async with client_for(fake_media_server) as client:
        for i in range(100):
            await client.fetch(fake_media_server.sids[i % len(fake_media_server.sids)])
    assert fake_media_server.request_count == 100
    assert fake_media_server.connections == 1


async def test_unreachable_host_is_a_transport_error() -> None:
    async with FakeMediaServer() as srv:
        kwargs = srv.client_kwargs()
    async with MediaClient(**kwargs, retry=NO_RETRY) as client:  # the port is closed now
        with pytest.raises(TransportError) as info:
            await client.fetch(UNKNOWN)
    assert info.value.attempts == 1


async def test_a_transport_error_says_whether_a_connection_was_ever_opened(
    fake_media_server: FakeMediaServer,
) -> None:
    sid = fake_media_server.sids[0]
    # aiohttp absorbs a single reset by resending
    fake_media_server.script(sid, [Fault.reset()] * 4)
    async with client_for(fake_media_server) as client:
        with pytest.raises(TransportError) as reset:
            await client.fetch(sid)
    assert not reset.value.connect_failed  # the server got the request
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    dead_url = f"http://127.0.0.1:{port}"
    async with MediaClient(
        **fake_media_server.client_kwargs() | {"base_url": dead_url}, retry=NO_RETRY
    ) as client:
        with pytest.raises(TransportError) as refused:
            await client.fetch(sid)
    assert refused.value.connect_failed
