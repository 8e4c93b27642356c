"""No credential is reachable from an SDK error, through ``__cause__`` or ``__context__``.

aiohttp's ``ClientResponseError`` carries ``request_info``, whose headers hold the full
``Authorization: Basic ...`` value.  Tools that walk an exception chain (Sentry,
structlog's ``format_exc_info``, a debugger) would show it.  These tests make each kind of
failure happen against a real server on loopback, then walk the whole chain of the error
(and of ``FetchResult.error``) with ``repr()`` and ``vars()`` of every link.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from twilio_media_async import (
    AuthenticationError,
    MediaClient,
    RequestTimeoutError,
    RetryPolicy,
    TransportError,
    TwilioMediaError,
)
from twilio_media_async._cloud import scrub
from twilio_media_async._redact import Redactor
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import FakeMediaServer, Fault

from ._rawhttp import Responder, http_response, raw_server
from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, SID


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


# Every form in which the credential could show: the raw secrets, the Basic header value,
# and base64 of the secret alone.
FORBIDDEN = (
    AUTH_TOKEN,
    API_SECRET,
    basic_auth_header(ACCOUNT_SID, AUTH_TOKEN).removeprefix("Basic "),
    basic_auth_header(API_KEY, API_SECRET).removeprefix("Basic "),
    _b64(AUTH_TOKEN),
    _b64(API_SECRET),
)


def chain(error: BaseException) -> Iterator[BaseException]:
    """Every exception reachable from ``error`` through __cause__, __context__ and
    exception-valued attributes, each once."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        exc = todo.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        linked = [exc.__cause__, exc.__context__, *vars(exc).values()]
        todo.extend(e for e in linked if isinstance(e, BaseException))


def assert_no_credential(error: BaseException) -> list[BaseException]:
    links = list(chain(error))
    for link in links:
        shown = " ".join((repr(link), str(link), repr(vars(link)), repr(link.args)))
        # Not a bare assert: pytest would print the credential it found.
        if any(secret in shown for secret in FORBIDDEN):
            pytest.fail(f"{type(link).__name__} in the chain shows a credential")
    return links


def _answer(head: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + head


MALFORMED: dict[str, Responder] = {
    "bad content-length": lambda _: _answer(b"Content-Length: 12x\r\n\r\n{}"),
    "1 MB header line": lambda _: _answer(b"X-Big: " + b"a" * 1_000_000 + b"\r\n\r\n{}"),
    "bad status line": lambda _: b"HTTP/1.1 2OO Fine\r\nContent-Length: 2\r\n\r\n{}",
    # A server that echoes the request head back in its status line's reason.
    "echoing status line": lambda head: b"HTTP/1.1 abc " + head.replace(b"\r\n", b" ") + b"\r\n",
}


def _clients(base_url: str, retry: RetryPolicy) -> list[MediaClient]:
    return [
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=base_url, retry=retry, timeout=2),
        MediaClient(
            ACCOUNT_SID, api_key=API_KEY, api_secret=API_SECRET, base_url=base_url, retry=retry
        ),
    ]


async def _errors_of(client: MediaClient, sid: str) -> list[TwilioMediaError]:
    """The error of ``fetch`` and the ``FetchResult.error`` of ``fetch_many`` for ``sid``."""
    async with client:
        with pytest.raises(TwilioMediaError) as info:
            await client.fetch(sid)
        (result,) = await client.fetch_all([sid])
    assert result.error is not None
    return [info.value, result.error]


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_http_leaves_no_credential_in_the_chain(case: str) -> None:
    async with raw_server(MALFORMED[case]) as url:
        for client in _clients(url, RetryPolicy(max_attempts=1)):
            for error in await _errors_of(client, SID):
                assert isinstance(error, TransportError)
                assert_no_credential(error)
                assert len(str(error)) < 500  # aiohttp quotes the server's line, cut short


async def test_the_reason_is_kept_in_the_message() -> None:
    async with raw_server(MALFORMED["bad status line"]) as url:
        client = MediaClient(
            ACCOUNT_SID, AUTH_TOKEN, base_url=url, retry=RetryPolicy(max_attempts=1)
        )
        (error, _) = await _errors_of(client, SID)
    assert "ClientResponseError: 400 Bad status line" in str(error)


async def test_retries_exhausted_leave_no_credential_at_any_depth() -> None:
    async with raw_server(MALFORMED["echoing status line"]) as url:
        for client in _clients(url, RetryPolicy.no_wait(max_attempts=3, budget=None)):
            for error in await _errors_of(client, SID):
                assert isinstance(error, TransportError)
                assert error.attempts >= 3
                links = assert_no_credential(error)
                # The earlier attempts' errors are still in the chain, only clean.
                assert sum(isinstance(link, TransportError) for link in links) >= 2


async def _fake_errors(
    server: FakeMediaServer, retry: RetryPolicy, **kwargs: Any
) -> list[TwilioMediaError]:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=server.url, retry=retry, **kwargs)
    return await _errors_of(client, server.sids[0])


async def test_a_reset_leaves_no_credential_in_the_chain() -> None:
    async with FakeMediaServer(generate=1, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as srv:
        # aiohttp resends an idempotent request once by itself: two resets per attempt.
        srv.script(srv.sids[0], [Fault.reset()] * 100)
        for error in await _fake_errors(srv, RetryPolicy.no_wait(max_attempts=2, budget=None)):
            assert isinstance(error, TransportError)
            assert "ServerDisconnected" in str(error)
            assert_no_credential(error)


async def test_a_timeout_leaves_no_credential_in_the_chain() -> None:
    async with FakeMediaServer(generate=1, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as srv:
        srv.script(srv.sids[0], [Fault.latency(5)] * 100)
        errors = await _fake_errors(
            srv, RetryPolicy.no_wait(max_attempts=2, budget=None), timeout=0.1
        )
        for error in errors:
            assert isinstance(error, RequestTimeoutError)
            assert_no_credential(error)


async def test_a_truncated_body_leaves_no_credential_in_the_chain() -> None:
    async with FakeMediaServer(generate=1, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as srv:
        srv.script(srv.sids[0], [Fault.truncated()] * 100)
        for error in await _fake_errors(srv, RetryPolicy.no_wait(max_attempts=2, budget=None)):
            assert isinstance(error, TransportError)
            assert_no_credential(error)


async def test_a_401_leaves_no_credential_in_the_chain() -> None:
    # The server expects another token, so the client's is refused.
    async with FakeMediaServer(generate=1, account_sid=ACCOUNT_SID) as srv:
        for error in await _fake_errors(srv, RetryPolicy.no_wait()):
            assert isinstance(error, AuthenticationError)
            assert error.attempts == 1
            assert_no_credential(error)


async def test_a_refused_connection_leaves_no_credential_in_the_chain() -> None:
    async with raw_server(lambda _: b"") as url:
        pass  # closed: nothing listens on that port any more
    for client in _clients(url, RetryPolicy.no_wait(max_attempts=2, budget=None)):
        for error in await _errors_of(client, SID):
            assert isinstance(error, TransportError)
            assert "Cannot connect to host" in str(error)
            assert_no_credential(error)


def _json_str(data: bytes) -> bytes:
    return orjson.dumps(data.decode())


ECHOES: dict[str, Responder] = {
    "401 text body": lambda head: http_response(b"401 Unauthorized", b"text/plain", head),
    "500 JSON message": lambda head: http_response(
        b"500 Oops", b"application/json", b'{"code": 20500, "message": ' + _json_str(head) + b"}"
    ),
    "404 reason phrase": lambda head: http_response(
        b"404 " + head.split(b"\r\n")[2], b"text/plain", b""
    ),
    "200 HTML": lambda head: http_response(b"200 OK", b"text/html", head),
    "200 JSON field": lambda head: http_response(
        b"200 OK", b"application/json", b'{"duration": ' + _json_str(head) + b"}"
    ),
    "200 JSON field, the header first": lambda head: http_response(
        b"200 OK",
        b"application/json",
        b'{"duration": ' + _json_str(b"x" * 30 + head[head.index(b"Authorization") :]) + b"}",
    ),
}


@pytest.mark.parametrize("case", sorted(ECHOES))
async def test_an_echoed_request_head_is_redacted_in_every_error(case: str) -> None:
    async with raw_server(ECHOES[case]) as url:
        for client in _clients(url, RetryPolicy(max_attempts=1)):
            for error in await _errors_of(client, SID):
                links = assert_no_credential(error)
                shown = " ".join(f"{link!r} {vars(link)!r}" for link in links)
                assert "[redacted]" in shown


async def test_an_echoed_request_head_is_redacted_in_a_page_error() -> None:
    def page(head: bytes) -> bytes:
        item = b'{"duration": ' + _json_str(head[head.index(b"Authorization") :]) + b"}"
        return http_response(
            b"200 OK", b"application/json", b'{"media_recordings": [' + item + b"]}"
        )

    async with raw_server(page) as url:
        for client in _clients(url, RetryPolicy(max_attempts=1)):
            async with client:
                with pytest.raises(TwilioMediaError) as info:
                    async for _ in client.list():
                        pass
            assert_no_credential(info.value)
            assert info.value.attempts == 1


def _forms(username: str, password: str) -> dict[str, str]:
    pair = f"{username}:{password}".encode()
    return {
        "raw": password,
        "basic": basic_auth_header(username, password).removeprefix("Basic "),
        "basic, unpadded": base64.b64encode(pair).decode().rstrip("="),
        "basic, url-safe": base64.urlsafe_b64encode(pair).decode(),
        "password alone": base64.b64encode(password.encode()).decode(),
    }


@pytest.mark.parametrize("form", sorted(_forms(API_KEY, API_SECRET)))
def test_the_redactor_replaces_every_known_form(form: str) -> None:
    redactor = Redactor.for_credentials([(API_KEY, API_SECRET)])
    secret = _forms(API_KEY, API_SECRET)[form]
    text = f"Authorization: Basic {secret}\r\n"
    assert secret not in redactor.text(text)
    assert secret.encode() not in redactor.bytes(text.encode())
    assert "[redacted]" in redactor.thorough(text)


@pytest.mark.parametrize(
    "wrapped",
    [
        b"token=" + AUTH_TOKEN.encode(),  # the secret inside other bytes
        b"x" + AUTH_TOKEN.encode() + b"yz",  # at an offset the encoding does not align to
        b"Authorization: " + basic_auth_header(ACCOUNT_SID, AUTH_TOKEN).encode(),  # nested
    ],
)
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("prefix", ["", "Basic", "abc"])  # a run that starts before it
def test_thorough_redaction_finds_anything_that_decodes_to_the_secret(
    wrapped: bytes, encode: Callable[[bytes], bytes], prefix: str
) -> None:
    redactor = Redactor.for_credentials([(ACCOUNT_SID, AUTH_TOKEN)])
    encoded = encode(wrapped).decode()
    shown = redactor.thorough(f"echo: {prefix}{encoded} end")
    assert encoded not in shown
    assert shown.startswith("echo: ") and shown.endswith(" end")
    assert "[redacted]" in shown


def test_thorough_redaction_leaves_other_text_alone() -> None:
    redactor = Redactor.for_credentials([(ACCOUNT_SID, AUTH_TOKEN)])
    text = f"GET https://media.twilio.com/v1/MediaRecordings/{SID} {_b64('unrelated text')}"
    assert redactor.thorough(text) == text
    assert Redactor(()).thorough(text) == text


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
