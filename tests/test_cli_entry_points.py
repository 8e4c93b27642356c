"""The command's entry points: --help of each command, -m, --version, and the cli extra."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Final

import pytest

from twilio_media_async import __version__

from ._cli import CLI_SERVER, TIMEOUT, _base_env, run_cli
from .conftest import API_SECRET, AUTH_TOKEN

pytestmark = CLI_SERVER


COMMANDS: Final = (
    "fetch",
    "fetch-many",
    "list",
    "delete",
    "delete-many",
    "archive",
    "fake-server",
    "demo",
)


async def test_help_of_the_group_and_of_every_command() -> None:
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_SECRET": API_SECRET}
    runs = await asyncio.gather(
        run_cli("--help", env=env), *(run_cli(cmd, "--help", env=env) for cmd in COMMANDS)
    )
    group, *commands = runs
    assert group.code == 0
    for name in COMMANDS:
        assert name in group.out
    for option in ("--base-url", "--region", "--edge", "--max-attempts", "--timeout", "-v"):
        assert option in group.out
    assert "TWILIO_AUTH_TOKEN" in group.out  # the variable's name is shown...
    for name, run in zip(COMMANDS, commands, strict=True):
        assert run.code == 0, run.err
        assert f"Usage: twilio-media {name}" in run.out
    for run in runs:  # ...never its value
        assert AUTH_TOKEN not in run.out + run.err
        assert API_SECRET not in run.out + run.err


async def test_python_dash_m_and_version() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "twilio_media_async.cli",
        "--version",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_base_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, err
    assert __version__ in out.decode()
    assert out.decode().startswith("twilio-media")


def _entry_point_without(module: str) -> subprocess.CompletedProcess[str]:
    """Run the console entry point in a Python where importing ``module`` fails, as it
    does when the ``cli`` extra is not installed."""
    script = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # import {module} now raises ModuleNotFoundError\n"
        "from twilio_media_async.cli import main\n"
        "main(['--help'])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_base_env(),
        check=False,
    )


@pytest.mark.parametrize("missing", ["click", "rich", "rich.console"])
def test_without_the_cli_extra_the_entry_point_says_how_to_install_it(missing: str) -> None:
    run = _entry_point_without(missing)
    assert run.returncode == 1
    assert run.stderr == "twilio-media needs the cli extra: pip install 'twilio-media-async[cli]'\n"
    assert run.stdout == ""


def test_an_import_error_of_the_package_itself_is_not_taken_for_a_missing_extra() -> None:
    run = _entry_point_without("twilio_media_async._cli.app")
    assert run.returncode == 1
    assert "Traceback" in run.stderr
    assert "ModuleNotFoundError" in run.stderr
    assert "pip install" not in run.stderr


def test_the_commands_that_need_no_fake_server_do_not_import_it() -> None:
    """Each command's module is imported on first use: ``fetch`` starts without the fake
    server's import time, ``fake-server`` loads it."""
    script = (
        "import sys\n"
        "from twilio_media_async.cli import main\n"
        "try:\n"
        "    main([sys.argv[1], '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('twilio_media_async.testing' in sys.modules)\n"
    )
    loaded = {
        command: subprocess.run(
            [sys.executable, "-c", script, command],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=_base_env(),
            check=True,
        ).stdout.split()[-1]
        for command in ("fetch", "fake-server")
    }
    assert loaded == {"fetch": "False", "fake-server": "True"}
