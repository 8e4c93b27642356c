"""One home for argument checks: every public entry point refuses a bad argument with the
same InvalidParameterError, when it is called and before any I/O.  A store URL without the
``[cloud]`` extra is one such argument: the extra stays optional, never imported unasked."""

from __future__ import annotations

import ast
import asyncio
import math
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_type_hints

import aiohttp
import pytest

import twilio_media_async
from twilio_media_async import (
    ClientOptions,
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
    RequestTimeoutError,
    RetryPolicy,
    testing,
)
from twilio_media_async._cli.commands._shared import check_sids
from twilio_media_async._cli.exits import UsageProblem
from twilio_media_async._cli.settings import Settings
from twilio_media_async._cloud import check_prefix
from twilio_media_async._config import CLIENT_DEFAULTS, client_config
from twilio_media_async.testing import FakeMediaServer, Fault, _runner

from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, client_for


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidParameterError) as info:
        call()
    return info.value.message


def test_client_options_and_the_checked_options_are_the_same_names() -> None:
    assert list(get_type_hints(ClientOptions)) == list(CLIENT_DEFAULTS)


def test_an_unknown_option_is_a_type_error_as_for_any_function() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'retyr'"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, retyr=RetryPolicy())  # type: ignore[call-arg]


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "4"])
def test_at_least_one_reads_the_same_in_the_client_the_policy_and_a_bulk_run(
    value: Any,
) -> None:
    calls: dict[str, Callable[[], object]] = {
        "max_body_size": lambda: MediaClient(ACCOUNT_SID, AUTH_TOKEN, max_body_size=value),
        "connection_limit": lambda: MediaClient(ACCOUNT_SID, AUTH_TOKEN, connection_limit=value),
        "max_attempts": lambda: RetryPolicy(max_attempts=value),
    }
    got = {name: _message(call).removeprefix(name) for name, call in calls.items()}
    assert set(got.values()) == {f" must be an integer >= 1, got {value!r}"}


async def test_a_bulk_runs_concurrency_reads_as_the_clients_sizes() -> None:
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        with pytest.raises(InvalidParameterError) as info:
            client.fetch_many(["KV" + "0" * 32], concurrency=0)
    assert info.value.message == "concurrency must be an integer >= 1, got 0"


async def test_the_retry_argument_reads_the_same_in_the_constructor_and_a_view() -> None:
    built = _message(lambda: MediaClient(ACCOUNT_SID, AUTH_TOKEN, retry="fast"))  # type: ignore[arg-type]
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        viewed = _message(lambda: client.with_options(retry="fast"))  # type: ignore[arg-type]
    assert built == viewed == "retry must be a RetryPolicy, got str"


@pytest.mark.parametrize("value", [math.nan, math.inf, 0, -1.0, "3"])
async def test_a_timeout_reads_the_same_in_the_constructor_and_a_view(value: Any) -> None:
    built = _message(lambda: MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=value))
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        viewed = _message(lambda: client.with_options(timeout=value))
    assert built == viewed
    assert built.startswith("timeout must be a finite number of seconds > 0")


@pytest.mark.parametrize(
    "options",
    [
        {"base_url": "media.twilio.com"},
        {"base_url": "http://127.0.0.1:99999"},
        {"region": "us1/../evil"},
        {"proxy": "ftp://proxy.example"},
        {"account_sid": "AC123"},
        {"api_secret": API_SECRET},
    ],
)
def test_the_cli_says_what_the_client_says(options: dict[str, Any]) -> None:
    """The CLI's own message names its options where it checks credentials; for every
    other argument it is the client's own, word for word."""
    arguments = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN} | options
    with pytest.raises(UsageProblem) as info:
        Settings(**arguments).client(trust_env=False)
    said = str(info.value)
    if "account_sid" in options or "api_secret" in options:
        assert "--account-sid/TWILIO_ACCOUNT_SID" in said or "--api-key" in said
    else:
        client_said = _message(lambda: MediaClient(**arguments, trust_env=False))
        assert said == client_said


def test_the_cli_refuses_a_sid_as_fetch_does() -> None:
    with pytest.raises(UsageProblem) as cli:
        check_sids(["KVnot-hex"])
    with pytest.raises(InvalidSidError) as sdk:
        twilio_media_async._config.check_recording_sid("KVnot-hex")
    assert str(cli.value) == sdk.value.message


def test_client_config_never_shows_the_credentials() -> None:
    config = client_config(ACCOUNT_SID, AUTH_TOKEN, {}, deadline=30.0)
    assert AUTH_TOKEN not in repr(config)
    assert config.account_sid == ACCOUNT_SID
    assert config.transport["timeout"] == aiohttp.ClientTimeout(total=10.0, connect=5.0)


def test_the_per_attempt_timeout_is_clipped_to_the_deadline() -> None:
    config = client_config(ACCOUNT_SID, AUTH_TOKEN, {"timeout": 60}, deadline=5.0)
    assert config.timeout.total == 60
    assert config.transport["timeout"].total == 5.0


def test_the_fake_server_command_uses_the_public_runner_options() -> None:
    assert testing.RUNNER_OPTIONS is _runner.OPTIONS
    assert testing.server_from_options is _runner.server_from_options


# The CLI is the package's first user: what it needs, the public API gives, or the one
# config module.  ``_cloud`` (the archive's stores) is the one exception left.
_CLI_MAY_IMPORT = {"twilio_media_async._config", "twilio_media_async._cloud"}


def test_the_cli_imports_only_the_public_api_and_the_config_module() -> None:
    package = Path(twilio_media_async.__file__).parent
    private = []
    for path in sorted((package / "_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                module = node.module
                parts = module.split(".")
                inside_cli = parts[:2] == ["twilio_media_async", "_cli"]
                is_private = any(p.startswith("_") and not p.startswith("__") for p in parts)
                outside = parts[0] == "twilio_media_async" and not inside_cli
                if outside and is_private and module not in _CLI_MAY_IMPORT:
                    private.append(f"{path.name}: {module}")
                if module in ("twilio_media_async", "twilio_media_async.testing"):
                    private += [
                        f"{path.name}: {module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_") and not alias.name.startswith("__")
                    ]
    assert private == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "missing credentials"),
        ({"api_key": API_KEY}, "together"),
        ({"auth_token": AUTH_TOKEN, "api_key": API_KEY, "api_secret": API_SECRET}, "either"),
        ({"auth_token": AUTH_TOKEN, "timeout": 0}, "timeout"),
        ({"auth_token": AUTH_TOKEN, "region": "us1/../evil"}, "region"),
        ({"auth_token": AUTH_TOKEN, "base_url": "media.twilio.com"}, "base_url"),
    ],
)
def test_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        MediaClient(ACCOUNT_SID, **kwargs)


@pytest.mark.parametrize("name", ["max_body_size", "connection_limit"])
@pytest.mark.parametrize("value", [True, False, 0, 1.5, "10"])
def test_sizes_take_integers_only_never_a_bool(name: str, value: Any) -> None:
    """``True`` is an int to isinstance, but a size of True is a mistake, not 1."""
    with pytest.raises(InvalidParameterError, match=name):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, **{name: value})


def test_the_deadline_bounds_the_first_attempt_too() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=60, retry=RetryPolicy(deadline=5))
    assert client._transport.timeout.total == 5
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=3)
    assert client._transport.timeout.total == 3


def test_clipping_a_timeout_keeps_its_other_settings() -> None:
    import aiohttp

    from twilio_media_async._config import clip_timeout

    base = aiohttp.ClientTimeout(total=10, connect=5, sock_read=8, ceil_threshold=2)
    clipped = clip_timeout(base, 3)
    assert (clipped.total, clipped.connect, clipped.sock_read) == (3, 3, 3)
    assert clipped.ceil_threshold == 2
    assert clip_timeout(aiohttp.ClientTimeout(), 4).total == 4


# -- numbers of seconds are finite ---------------------------------------------------------

NOT_FINITE = [float("nan"), float("inf"), float("-inf")]
SECONDS_FIELDS = ["initial_wait", "max_wait", "deadline", "max_retry_after", "budget_refill"]


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize("field", [*SECONDS_FIELDS, "budget"])
def test_retry_policy_rejects_nan_and_infinity(field: str, value: float) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", [*SECONDS_FIELDS, "budget", "max_attempts"])
@pytest.mark.parametrize("value", ["1", True, -1])
def test_retry_policy_rejects_other_bad_numbers_typed(field: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


def test_retry_policy_still_takes_finite_numbers_and_an_unlimited_budget() -> None:
    policy = RetryPolicy(initial_wait=0, max_wait=1, deadline=2.5, budget=None, budget_refill=0)
    assert (policy.deadline, policy.budget) == (2.5, None)


@pytest.mark.parametrize(
    "timeout",
    [
        *NOT_FINITE,
        0,
        -1,
        True,
        "10",
        aiohttp.ClientTimeout(total=float("nan")),
        aiohttp.ClientTimeout(total=5, sock_read=float("inf")),
        aiohttp.ClientTimeout(connect=float("nan")),
    ],
    ids=repr,
)
def test_timeout_must_be_finite_and_positive(timeout: object) -> None:
    with pytest.raises(InvalidParameterError, match="timeout"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=timeout)  # type: ignore[arg-type]


async def test_a_nan_timeout_cannot_hang_a_call_on_a_dead_server() -> None:
    # Before, NaN passed "timeout <= 0" and aiohttp then never timed out: this hung.
    with pytest.raises(InvalidParameterError):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, timeout=float("nan"))
    async with FakeMediaServer(generate=1) as srv:
        srv.script(srv.sids[0], [Fault.latency(30)])
        async with client_for(srv, RetryPolicy(max_attempts=1), timeout=0.2) as client:
            with pytest.raises(RequestTimeoutError):
                await asyncio.wait_for(client.fetch(srv.sids[0]), 5)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_obstore_a_store_url_names_the_extra_before_any_request() -> None:
    done = run_python(
        f"""
        import sys
        sys.modules["obstore"] = None  # as if the extra were not installed
        from twilio_media_async import MediaClient, InvalidParameterError
        client = MediaClient(account_sid="{ACCOUNT_SID}", auth_token="x",
                             base_url="http://127.0.0.1:9")  # nothing listens there
        for url in ("s3://bucket/prefix/", "gs://bucket/p", "az://container/p"):
            try:
                client.download_many(["KV" + "0" * 32], url)
            except InvalidParameterError as exc:
                print(exc)
            else:
                raise SystemExit("no error for " + url)
        """
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    assert all("pip install 'twilio-media-async[cloud]'" in line for line in lines)


def test_the_sdk_and_its_cli_do_not_import_obstore() -> None:
    done = run_python(
        """
        import sys
        import twilio_media_async, twilio_media_async.cli
        print("obstore" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


async def test_a_prefix_is_for_a_store_and_is_a_clean_path(tmp_path: object) -> None:
    client = MediaClient(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    async with client:
        with pytest.raises(InvalidParameterError, match="prefix"):
            client.download_many([], str(tmp_path), prefix="calls/")
    assert check_prefix("/calls/2026/") == "calls/2026"
    for bad in ("a/../b", "a//b", "./a", 3):
        with pytest.raises(InvalidParameterError):
            check_prefix(bad)


async def test_download_of_one_file_refuses_a_store_url(tmp_path: object) -> None:
    async with MediaClient(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as client:
        with pytest.raises(InvalidParameterError, match="download_many"):
            await client.download("KV" + "0" * 32, "s3://bucket/x.mp4")
