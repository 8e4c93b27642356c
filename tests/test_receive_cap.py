"""The receive cap: the client's own connections read at most RECEIVE_CAP bytes per recv,
a borrowed session's connections are left as their owner made them."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import aiohttp
import pytest

from twilio_media_async import MediaClient, RetryPolicy
from twilio_media_async._transport import RECEIVE_CAP, cap_receive_size
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import client_for

# asyncio's selector transport reads this much per recv() unless told otherwise.
ASYNCIO_DEFAULT = 256 * 1024


def transport_recorder() -> tuple[aiohttp.TraceConfig, list[asyncio.BaseTransport]]:
    """A trace config that records the transport of every response's connection.

    A response whose body came whole with its headers has given its connection back by
    the time the trace sees it: the tests send their bodies slowly (``slow_body``).
    """
    seen: list[asyncio.BaseTransport] = []

    async def on_end(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        connection = params.response.connection
        assert connection is not None and connection.transport is not None
        seen.append(connection.transport)

    config = aiohttp.TraceConfig()
    config.on_request_end.append(on_end)
    return config, seen


def slow_bodies(server: FakeMediaServer, count: int) -> list[str]:
    """The first ``count`` sids, each answered with a body sent in two halves."""
    for sid in server.sids[:count]:
        server.script(sid, [Fault.slow_body(0.01)])
    return server.sids[:count]


async def test_an_own_connection_reads_at_most_the_cap_after_one_request() -> None:
    config, seen = transport_recorder()
    async with FakeMediaServer(generate=3) as server:
        first, second = slow_bodies(server, 2)
        async with client_for(server, trace_configs=[config]) as client:
            await client.fetch(first)
            (transport,) = seen
            assert getattr(transport, "max_size", None) == RECEIVE_CAP
            # The same connection, reused: capped once, and still capped.
            await client.fetch(second)
            assert seen[1] is transport
            assert getattr(transport, "max_size", None) == RECEIVE_CAP
    assert RECEIVE_CAP == 65536


async def test_fetch_many_caps_every_connection_it_opens() -> None:
    config, seen = transport_recorder()
    async with FakeMediaServer(generate=40) as server:
        sids = slow_bodies(server, 40)
        async with client_for(server, trace_configs=[config]) as client:
            results = [r async for r in client.fetch_many(sids, concurrency=8)]
            assert all(r.ok for r in results)
            assert len(seen) == 40
            assert len(set(seen)) > 1  # several connections, every one capped
            assert {getattr(t, "max_size", None) for t in seen} == {RECEIVE_CAP}


async def test_a_borrowed_sessions_connections_are_untouched() -> None:
    config, seen = transport_recorder()
    async with FakeMediaServer(generate=3) as server:
        first, second = slow_bodies(server, 2)
        async with aiohttp.ClientSession(trace_configs=[config]) as session:
            options: dict[str, Any] = {**server.client_kwargs(), "session": session}
            async with MediaClient(**options, retry=RetryPolicy.no_wait()) as client:
                await client.fetch(first)
                await client.fetch(second)
            assert len(seen) == 2
            for transport in seen:
                assert "max_size" not in vars(transport)
                assert getattr(transport, "max_size", None) == ASYNCIO_DEFAULT


@pytest.mark.parametrize("size", [4096, RECEIVE_CAP])
def test_a_read_size_at_or_below_the_cap_is_never_raised(size: int) -> None:
    transport = types.SimpleNamespace(max_size=size)
    cap_receive_size(transport)
    assert transport.max_size == size


@pytest.mark.parametrize("size", [None, "262144", 262144.0, True])
def test_a_read_size_that_is_not_an_int_is_left_alone(size: object) -> None:
    transport = types.SimpleNamespace(max_size=size)
    cap_receive_size(transport)
    assert transport.max_size is size


def test_a_transport_without_a_read_size_is_left_alone() -> None:
    transport = types.SimpleNamespace()  # uvloop's, say: it reuses its buffer
    cap_receive_size(transport)
    assert vars(transport) == {}
    cap_receive_size(None)  # a connection already closed has no transport
