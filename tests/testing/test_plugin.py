"""The pytest plugin, through its entry point: the ``fake_media_server`` and
``media_client`` fixtures, their marker, and the hint without pytest-asyncio
(``testing/_plugin.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from twilio_media_async import MediaClient
from twilio_media_async.testing import FakeMediaServer, Fault, make_recordings

from .conftest import ordered_sids


async def test_plugin_fixtures(
    fake_media_server: FakeMediaServer, media_client: MediaClient
) -> None:
    assert len(fake_media_server.sids) == 10
    assert list(fake_media_server.recordings) == [r.sid for r in make_recordings(10, seed=0)]
    assert media_client.base_url == fake_media_server.url
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503), None])
    assert await media_client.fetch(sid) == fake_media_server.recordings[sid]
    assert fake_media_server.attempts(sid) == 2  # retried without sleeping


@pytest.mark.fake_media_server(generate=3, seed=9, payload_shape="seed")
async def test_plugin_marker(fake_media_server: FakeMediaServer, media_client: MediaClient) -> None:
    assert fake_media_server.sids == [r.sid for r in make_recordings(3, seed=9)]
    assert fake_media_server.payload_shape == "seed"
    assert [r.sid async for r in media_client.list(order="asc")] == ordered_sids(
        fake_media_server, desc=False
    )


def test_plugin_without_pytest_asyncio(tmp_path: Path) -> None:
    """pytest still runs; a test asking for the fixtures fails with an install hint."""
    shadow = tmp_path / "shadow"
    (shadow / "pytest_asyncio").mkdir(parents=True)
    (shadow / "pytest_asyncio" / "__init__.py").write_text(
        "raise ImportError('pytest-asyncio is not installed (simulated)')\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            def test_plain():
                assert True

            def test_wants_server(fake_media_server):
                pass
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 passed" in out and ("1 failed" in out or "1 error" in out), out
    assert "needs pytest-asyncio" in out, out
