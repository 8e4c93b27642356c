"""A client used from another event loop than its session's: a typed error, nothing sent.

An aiohttp session belongs to the loop it was created in.  A client that has sent a
request owns such a session, so using it from a second loop (a second ``asyncio.run``, a
pytest-asyncio test with its own loop) raises WrongEventLoopError before anything is sent,
instead of aiohttp's bare ``RuntimeError: Event loop is closed`` half-way through.

The server is a stdlib HTTP/1.0 server in a thread: it closes every connection after its
answer, so no loop's end leaves a pooled connection behind, and it outlives every loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import aiohttp
import orjson
import pytest

from twilio_media_async import MediaClient, WrongEventLoopError
from twilio_media_async._transport import Transport

from .conftest import ACCOUNT_SID, AUTH_TOKEN, SID

T = TypeVar("T")


class _Recording(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        body = orjson.dumps({"sid": self.path.rsplit("/", 1)[-1]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    _Recording.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def run_in(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return loop.run_until_complete(coro)


def test_a_second_asyncio_run_gets_a_typed_error_and_sends_nothing(base_url: str) -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url)
    assert asyncio.run(client.fetch(SID)).sid == SID  # the first loop ends, client open
    with pytest.raises(WrongEventLoopError, match="has ended") as info:
        asyncio.run(client.fetch(SID))
    assert isinstance(info.value, RuntimeError)  # what aiohttp raised before, but typed
    assert "one MediaClient per event loop" in str(info.value)
    assert info.value.attempts == 0

    async def many() -> list[Any]:
        return await client.fetch_all([SID, SID])

    results = asyncio.run(many())
    assert [type(r.error) for r in results] == [WrongEventLoopError] * 2
    assert _Recording.requests == 1
    asyncio.run(client.aclose())  # from another loop, once the first has ended: no warning
    assert client.closed


def test_a_loop_that_still_exists_gets_the_same_error(base_url: str) -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url)
        run_in(first, client.fetch(SID))
        with pytest.raises(WrongEventLoopError, match="is another one"):
            run_in(second, client.fetch(SID))
        # Closing it from a loop that cannot reach the session's is refused, and the
        # client stays usable in its own loop, where it is then closed.
        with pytest.raises(WrongEventLoopError, match="close the client in that loop"):
            run_in(second, client.aclose())
        assert run_in(first, client.fetch(SID)).sid == SID
        run_in(first, client.aclose())
        assert client.closed
    finally:
        first.close()
        second.close()


def test_closing_from_another_thread_closes_in_the_sessions_loop(base_url: str) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url)
        asyncio.run_coroutine_threadsafe(client.fetch(SID), loop).result(timeout=10)
        transport = client._transport
        assert isinstance(transport, Transport)
        session = transport._session
        assert session is not None
        asyncio.run(client.aclose())
        assert session.closed
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_a_borrowed_session_of_an_ended_loop_gets_a_typed_error(base_url: str) -> None:
    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    session = asyncio.run(make())

    async def use() -> None:
        async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url, session=session) as c:
            with pytest.raises(WrongEventLoopError, match="borrowed aiohttp session"):
                await c.fetch(SID)
        await session.close()

    asyncio.run(use())
    assert _Recording.requests == 0
