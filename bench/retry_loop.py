"""CPU per retried call: the engine's retry loop against tenacity's own loops.

``python -m bench.retry_loop`` runs calls whose first attempt fails with a 500 and whose
second succeeds, against a transport that answers at once (no I/O, no waits), and prints
the client CPU per call of:

- the engine (``RetryEngine.call``), whose loop asks the policy's tenacity strategies;
- the same decisions driven by tenacity's ``AsyncRetrying`` and by its synchronous
  ``Retrying`` (the engine's loop before this one), around the same two attempts;
- a call that succeeds at once, for scale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, Retrying, stop_after_attempt, wait_none
from yarl import URL

from twilio_media_async._engine import RetryEngine
from twilio_media_async._replies import Reply
from twilio_media_async.errors import ServerError
from twilio_media_async.retry import RETRY, RetryPolicy

URL_ = URL("http://127.0.0.1/v1/MediaRecordings/KV0123456789abcdef0123456789abcdef")
POLICY = RetryPolicy.no_wait(max_attempts=10, budget=None)


class _FlakyTransport:
    """Fails every other request with a 500; answers the others at once."""

    closed = False

    class timeout:  # stands for an aiohttp.ClientTimeout
        total = 10.0

    def __init__(self, fail_every: int) -> None:
        self.sent = 0
        self.fail_every = fail_every

    async def request(self, method: str, url: URL, **_: object) -> Reply:
        self.sent += 1
        if self.fail_every and self.sent % self.fail_every:
            raise ServerError("boom", status=500, method=method, url=str(url))
        return Reply(b"{}", 200, None)


Call = Callable[[], Awaitable[object]]


def _engine(transport: _FlakyTransport) -> Call:
    engine = RetryEngine(POLICY, transport)  # type: ignore[arg-type]
    return lambda: engine.call("GET", URL_)


def _tenacity_async(transport: _FlakyTransport) -> Call:
    async def call() -> object:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(10),
            wait=wait_none(),
            retry=RETRY,
            reraise=True,
        ):
            with attempt:
                return await transport.request("GET", URL_)
        raise AssertionError("unreachable")

    return call


def _tenacity_sync(transport: _FlakyTransport) -> Call:
    async def call() -> object:
        for attempt in Retrying(
            stop=stop_after_attempt(10),
            wait=wait_none(),
            retry=RETRY,
            reraise=True,
            sleep=lambda _: None,
        ):
            with attempt:
                return await transport.request("GET", URL_)
        raise AssertionError("unreachable")

    return call


VARIANTS: dict[str, tuple[Callable[[_FlakyTransport], Call], int]] = {
    "engine, one retry": (_engine, 2),
    "tenacity AsyncRetrying, one retry": (_tenacity_async, 2),
    "tenacity Retrying, one retry": (_tenacity_sync, 2),
    "engine, no failure": (_engine, 0),
}
"""Each variant: how to make its call from a transport, and how often that fails."""


async def _per_call(call: Call, number: int) -> float:
    for _ in range(number // 10):  # warm up
        await call()
    started = time.process_time()
    for _ in range(number):
        await call()
    return (time.process_time() - started) / number * 1e6


async def _main(number: int, repeat: int) -> None:
    best = {
        name: min([await _per_call(make(_FlakyTransport(fail)), number) for _ in range(repeat)])
        for name, (make, fail) in VARIANTS.items()
    }
    base = best["engine, one retry"]
    for name, us in best.items():
        print(f"{name:<36} {us:7.1f} µs per call  {us / base:5.2f}x")


def main(number: int = 20_000, repeat: int = 3) -> None:
    """Print the best of ``repeat`` runs of ``number`` calls for each variant."""
    asyncio.run(_main(number, repeat))


if __name__ == "__main__":
    main()
