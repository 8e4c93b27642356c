"""Start the benchmark server in its own process, and read its stats."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson


def cores() -> tuple[str | None, str | None]:
    """(server core, client core) where the machine has two cores or more, else Nones."""
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2:
        first, second = sorted(os.sched_getaffinity(0))[:2]
        return str(second), str(first)
    return None, None


@contextmanager
def serving(core: str | None, options: Sequence[str] = ()) -> Iterator[str]:
    """Run ``python -m bench.server`` with ``options``; yield its URL; stop it on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        cmd = [sys.executable, "-m", "bench.server", port_file]
        if core is not None:
            cmd.append(core)
        server = subprocess.Popen([*cmd, *options])
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the benchmark server did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{Path(port_file).read_text()}"
        finally:
            server.terminate()
            server.wait(timeout=10)


def server_stats(url: str) -> Any:
    """The server's ``/__stats``: CPU time, counts, and the in-flight series if sampled."""
    with urllib.request.urlopen(f"{url}/__stats") as resp:
        return orjson.loads(resp.read())
