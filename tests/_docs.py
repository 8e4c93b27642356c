"""Every Python example of README.md and docs/*.md, run by pytest through sybil.

The root ``conftest.py`` hands :data:`pytest_collect_file` to pytest, and ``testpaths``
names README.md and docs/, so an example that rots fails the test suite.

Each document gets a :class:`DocsRuntime`: a FakeMediaServer on 127.0.0.1 in a thread of
its own (so that examples may call ``asyncio.run`` themselves), the environment of a user
who pasted the server's ``export`` lines (``TWILIO_MEDIA_BASE_URL``,
``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``), a working directory holding ``sids.txt``,
and an event loop for the examples that ``await`` at top level, as in ``python -m
asyncio``.  The examples' namespace holds the public names of ``twilio_media_async`` and
what the prose assumes the reader has: see :meth:`DocsRuntime.namespace`.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import tempfile
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final

import attrs
from sybil import Example, Sybil
from sybil.evaluators.python import pad
from sybil.parsers.markdown import CodeBlockParser, SkipParser

import twilio_media_async
from twilio_media_async import MediaClient
from twilio_media_async.testing import FakeMediaServer, make_recordings

__all__ = ["EXAMPLES", "DocsRuntime", "evaluate", "pytest_collect_file"]

DOCUMENTED_SID: Final = "KV0123456789abcdef0123456789abcdef"
"""The sid the examples fetch by name; the fake server holds a recording with it."""
API_KEY: Final = "SK0123456789abcdef0123456789abcdef"
API_SECRET: Final = "docs-api-secret"
SCRIPTS_ONLY: Final = frozenset({"README.md"})
"""Documents whose examples must run as scripts, without a top-level ``await``."""
_RUNTIME: Final = "__docs_runtime__"
_ENV: Final = ("TWILIO_MEDIA_BASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
_CLEARED_ENV: Final = (
    "TWILIO_API_KEY",
    "TWILIO_API_SECRET",
    "TWILIO_REGION",
    "TWILIO_EDGE",
    # The fake server is on 127.0.0.1: a proxy set on the machine must not take requests away.
    *(f"{name}_proxy" for name in ("http", "https", "all", "no")),
    *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "ALL", "NO")),
)


def _server() -> FakeMediaServer:
    # Small media files, so that the archive examples download a few MiB, not gigabytes.
    known = attrs.evolve(make_recordings(1, seed=99)[0], sid=DOCUMENTED_SID, size=48_000)
    generated = [
        attrs.evolve(r, size=(r.size or 0) % 65_536 + 1) for r in make_recordings(120, seed=3)
    ]
    return FakeMediaServer(recordings=[known, *generated], api_keys={API_KEY: API_SECRET})


class _ServerThread:
    """A FakeMediaServer serving from its own thread and event loop."""

    def __init__(self, server: FakeMediaServer) -> None:
        self.server = server
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="docs-fake-server", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start() or stop()
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.server:
            self._ready.set()
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self._failure is not None:
            raise RuntimeError("the docs' fake server did not start") from self._failure

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._failure is not None:
            raise RuntimeError("the docs' fake server failed") from self._failure


class DocsRuntime:
    """What one document's examples run against; set up before its first example and torn
    down after its last."""

    def __init__(self) -> None:
        self._server = _ServerThread(_server())
        self._runner = asyncio.Runner()
        self._clients: list[MediaClient] = []
        self._saved_env: dict[str, str | None] = {}
        self._saved_cwd = os.getcwd()
        self._workdir = tempfile.TemporaryDirectory(prefix="docs-examples-")

    @property
    def server(self) -> FakeMediaServer:
        """The running fake server."""
        return self._server.server

    def start(self) -> None:
        """Start the server, point the environment at it and enter the working directory."""
        self._server.start()
        kwargs = self.server.client_kwargs()
        for name in (*_ENV, *_CLEARED_ENV):
            self._saved_env[name] = os.environ.pop(name, None)
        os.environ["TWILIO_MEDIA_BASE_URL"] = self.server.url
        os.environ["TWILIO_ACCOUNT_SID"] = kwargs["account_sid"]
        os.environ["TWILIO_AUTH_TOKEN"] = kwargs["auth_token"]
        sids = "".join(f"{sid}\n" for sid in self.server.sids[:40])
        Path(self._workdir.name, "sids.txt").write_text(sids + "KV" + "f" * 32 + "\n")
        os.chdir(self._workdir.name)

    def stop(self) -> None:
        """Close every client the examples left open, then undo ``start``."""
        try:
            self._runner.run(self._close_clients())
        finally:
            self._runner.close()
            os.chdir(self._saved_cwd)
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._workdir.cleanup()
            self._server.stop()

    async def _close_clients(self) -> None:
        for client in self._clients:
            await client.aclose()

    def client(self) -> MediaClient:
        """An open ``MediaClient.from_env()``, closed at teardown."""
        client = MediaClient.from_env()
        self._clients.append(client)
        return client

    def namespace(self) -> dict[str, Any]:
        """What an example may use without defining it.

        - every public name of ``twilio_media_async``, as if imported;
        - ``client``: an open client of the fake server, through ``MediaClient.from_env()``
          (a new one whenever an earlier example closed it: the prose assumes one is open);
        - ``sid`` (a sid the server holds), ``sids`` (40 of them), ``account_sid``,
          ``auth_token``, ``api_key`` and ``api_secret`` (credentials it accepts), and
          ``server`` (the running FakeMediaServer itself);
        - stand-ins for the reader's own code: ``save``, ``store``, ``log_failure`` and
          ``reschedule`` keep what they are given in ``kept``; ``enough(result)`` is true
          for a result that is ok.
        """
        kept: list[tuple[Any, ...]] = []

        def keep(*args: Any, **kwargs: Any) -> None:
            kept.append((*args, *kwargs.values()))

        public = {name: getattr(twilio_media_async, name) for name in twilio_media_async.__all__}
        kwargs = self.server.client_kwargs()
        return {
            **public,
            _RUNTIME: self,
            "client": self.client(),
            "sid": DOCUMENTED_SID,
            "sids": list(self.server.sids[:40]),
            "account_sid": kwargs["account_sid"],
            "auth_token": kwargs["auth_token"],
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            "server": self.server,
            "kept": kept,
            "save": keep,
            "store": keep,
            "log_failure": keep,
            "reschedule": keep,
            "enough": lambda result: result.ok,
        }

    def before(self, namespace: dict[str, Any]) -> None:
        """Before each example: reopen ``client`` if an earlier example closed it, and keep
        track of any client an example made, to close it at teardown."""
        for value in namespace.values():
            if isinstance(value, MediaClient) and value not in self._clients:
                self._clients.append(value)
        current = namespace.get("client")
        if isinstance(current, MediaClient) and current.closed:
            namespace["client"] = self.client()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run an example's top-level ``await``s on the document's event loop."""
        return self._runner.run(coroutine)


def _setup(namespace: dict[str, Any]) -> None:
    runtime = DocsRuntime()
    runtime.start()
    namespace.update(runtime.namespace())


def _teardown(namespace: dict[str, Any]) -> None:
    runtime: DocsRuntime = namespace[_RUNTIME]
    runtime.before(namespace)  # collect the clients of the last example too
    runtime.stop()


def evaluate(example: Example) -> None:
    """Run one example: plain code as it is, and in docs/ code with a top-level ``await``
    on the document's event loop (compiled as ``python -m asyncio`` compiles its input).

    The README's examples must be whole programs that run as a script: a top-level
    ``await`` or ``async with`` there is the SyntaxError a reader would get.
    """
    __tracebackhide__ = True
    namespace = example.namespace
    runtime: DocsRuntime = namespace[_RUNTIME]
    runtime.before(namespace)
    source = pad(example.parsed, example.line + example.parsed.line_offset)
    scripts_only = Path(example.path).name in SCRIPTS_ONLY
    flags = 0 if scripts_only else ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(source, example.path, "exec", flags=flags, dont_inherit=True)
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        runtime.run(result)
    namespace.pop("__builtins__", None)


EXAMPLES: Final = Sybil(
    parsers=[CodeBlockParser(language="python", evaluator=evaluate), SkipParser()],
    patterns=["README.md", "docs/*.md"],
    path=str(Path(__file__).resolve().parent.parent),  # the repository
    setup=_setup,
    teardown=_teardown,
    name="docs",
)

pytest_collect_file: Final[Callable[[Path, Any], Any]] = EXAMPLES.pytest()
"""sybil's collector of the examples, for the root ``conftest.py``."""
