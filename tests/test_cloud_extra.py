"""The ``[cloud]`` extra stays optional: without obstore a store URL fails at once with
the extra to install, and importing the SDK or its CLI never imports obstore."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from twilio_media_async import MediaClient
from twilio_media_async._cloud import check_prefix, scrub
from twilio_media_async.errors import InvalidParameterError

from .conftest import ACCOUNT_SID, AUTH_TOKEN


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


def test_store_messages_lose_cloud_secrets_and_query_strings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    monkeypatch.setenv("AZURE_STORAGE_SAS_KEY", "sv=2024&sig=abcdef")
    text = scrub(
        "failed with very-secret-value at https://acct.blob.core.windows.net/c/o?sv=2024&sig=x"
        " and sv=2024&sig=abcdef"
    )
    assert "very-secret-value" not in text and "sig=" not in text
    assert "https://acct.blob.core.windows.net/c/o?..." in text


async def test_download_of_one_file_refuses_a_store_url(tmp_path: object) -> None:
    async with MediaClient(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as client:
        with pytest.raises(InvalidParameterError, match="download_many"):
            await client.download("KV" + "0" * 32, "s3://bucket/x.mp4")
