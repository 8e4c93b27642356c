"""The SDK logs under ``twilio_media_async`` and stays silent unless logging is configured.

Each case runs in a fresh interpreter: logging's last-resort handler, which prints a
warning on stderr when no handler is found, is only real there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Final

import pytest

# A real retry (a 503, then the recording) and a real warning (a status the SDK does not
# know yet), against a FakeMediaServer. It prints what happened on stdout, so that the
# test can tell "nothing was logged" from "nothing happened".
SCRIPT: Final = textwrap.dedent(
    """
    import asyncio, logging, sys

    from twilio_media_async import MediaClient, RetryPolicy, converter
    from twilio_media_async.testing import FakeMediaServer, Fault, make_recordings

    if sys.argv[1] == "configured":
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)


    async def main() -> None:
        odd = make_recordings(1, seed=5)[0]
        async with FakeMediaServer(generate=3, seed=1) as server:
            server.add({**converter.unstructure(odd), "status": "archived"})
            flaky = server.sids[0]
            server.script(flaky, [Fault.server_error(503), None])
            retries = []
            policy = RetryPolicy.no_wait(on_retry=retries.append)
            async with MediaClient(**server.client_kwargs(), retry=policy) as client:
                await client.fetch(flaky)
                unknown = await client.fetch(odd.sid)
        print(f"retries={len(retries)} status={unknown.status}")


    asyncio.run(main())
    logging.getLogger("twilio_media_async").warning("a warning of the package")
    logging.getLogger("twilio_media_async.sub").error("an error of a submodule")
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("mode", ["unconfigured", "configured"])
def test_package_logs_only_when_logging_is_configured(mode: str) -> None:
    run = _run(mode)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "retries=1 status=archived"  # it did retry and warn
    if mode == "unconfigured":
        assert run.stderr == ""
    else:
        for expected in (
            "retrying GET",
            "unknown RecordingStatus value 'archived'",
            "a warning of the package",
            "an error of a submodule",
        ):
            assert expected in run.stderr
