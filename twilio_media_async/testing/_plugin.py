"""pytest plugin: the ``fake_media_server`` and ``media_client`` fixtures.

Installed with the package (entry point ``pytest11``), so there is nothing to import or
register.  The fixtures are async: they need pytest-asyncio (``pip install pytest-asyncio``);
without it the plugin still loads and a test that asks for them fails with that hint.

In pytest-asyncio's strict mode (its default) an async test runs only when marked with
``@pytest.mark.asyncio``.  These fixtures only work on asyncio, so the plugin marks every
async test that asks for them, directly or through other fixtures; tests that do not use
them are left alone.

``fake_media_server``
    A started :class:`~twilio_media_async.testing.FakeMediaServer`, one per test, with 10
    deterministic recordings (``generate=10, seed=0``), closed after the test.  Any keyword
    argument of FakeMediaServer can be set with the ``fake_media_server`` marker:

    ```python
    @pytest.mark.fake_media_server(generate=500, fault_rate=0.1, seed=3)
    async def test_bulk(fake_media_server, media_client):
        results = [r async for r in media_client.fetch_many(fake_media_server.sids)]
        assert all(r.ok for r in results)
    ```

``media_client``
    A :class:`~twilio_media_async.MediaClient` connected to ``fake_media_server``, with
    ``RetryPolicy.no_wait()`` (the same retry decisions, no sleeping), closed after the test:

    ```python
    async def test_fetch(fake_media_server, media_client):
        sid = fake_media_server.sids[0]
        fake_media_server.script(sid, [Fault.server_error(503), None])
        recording = await media_client.fetch(sid)
        assert fake_media_server.attempts(sid) == 2
    ```
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Generator
from typing import Any, Final

import pytest

from twilio_media_async.client import MediaClient
from twilio_media_async.retry import RetryPolicy
from twilio_media_async.testing._server import FakeMediaServer

__all__ = [
    "fake_media_server",
    "media_client",
    "pytest_configure",
    "pytest_pycollect_makeitem",
]

MARKER: Final = "fake_media_server"
FIXTURES: Final = frozenset({"fake_media_server", "media_client"})
DEFAULTS: Final[dict[str, Any]] = {"generate": 10, "seed": 0}
_NEEDS_ASYNCIO: Final = (
    "the {name} fixture of twilio-media-async is async and needs pytest-asyncio: "
    "pip install pytest-asyncio (and use asyncio_mode = auto, or mark the test "
    "with @pytest.mark.asyncio)"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_media_server`` marker."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**kwargs): keyword arguments for the FakeMediaServer behind the "
        "fake_media_server fixture (twilio-media-async)",
    )


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    """Mark ``asyncio`` the async tests that use this plugin's fixtures.

    ``trylast`` makes this wrapper the innermost one, so that it marks the items that
    pytest made before pytest-asyncio's own wrapper looks for the mark (in strict mode it
    only turns marked coroutines into asyncio tests).
    """
    collected = yield
    if not (_HAVE_PYTEST_ASYNCIO and inspect.iscoroutinefunction(obj)):
        return collected
    for item in collected if isinstance(collected, list) else [collected]:
        if (
            isinstance(item, pytest.Function)
            and FIXTURES.intersection(item.fixturenames)
            and item.get_closest_marker("asyncio") is None
        ):
            item.add_marker(pytest.mark.asyncio)
    return collected


def _server_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    kwargs = dict(DEFAULTS)
    # The closest marker wins: a test's own over its class's over its module's.
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        kwargs.update(marker.kwargs)
    return kwargs


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised in a subprocess by the test suite
    _HAVE_PYTEST_ASYNCIO = False

    @pytest.fixture(name="fake_media_server")
    def _fake_media_server_unavailable() -> None:
        """Needs pytest-asyncio: fails the test with an install hint."""
        pytest.fail(_NEEDS_ASYNCIO.format(name="fake_media_server"), pytrace=False)

    @pytest.fixture(name="media_client")
    def _media_client_unavailable() -> None:
        """Needs pytest-asyncio: fails the test with an install hint."""
        pytest.fail(_NEEDS_ASYNCIO.format(name="media_client"), pytrace=False)

else:
    _HAVE_PYTEST_ASYNCIO = True

    @pytest_asyncio.fixture
    async def fake_media_server(request: pytest.FixtureRequest) -> AsyncIterator[FakeMediaServer]:
        """A started FakeMediaServer (``generate=10, seed=0`` unless the marker says
        otherwise), closed after the test."""
        async with FakeMediaServer(**_server_kwargs(request)) as server:
            yield server

    @pytest_asyncio.fixture
    async def media_client(fake_media_server: FakeMediaServer) -> AsyncIterator[MediaClient]:
        """A MediaClient for ``fake_media_server`` with ``RetryPolicy.no_wait()``, which
        ignores proxies from the environment: the server is on this machine."""
        async with MediaClient(
            **fake_media_server.client_kwargs(), retry=RetryPolicy.no_wait(), trust_env=False
        ) as client:
            yield client
