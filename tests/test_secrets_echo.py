"""No credential survives a server's echo of the request (#22).

A server that echoes the Authorization header inside a JSON string may spell it with
escapes (``\\u0042asic ...``, or every character as ``\\uXXXX``).  Redaction must hold
after JSON decoding too: in ``str()`` and ``repr()`` of every error and FetchResult, and
in everything an error keeps alive, the locals of its traceback's frames included
(tests/_leaks.py walks all of it).  Errors keep no aiohttp response or request either.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest

from twilio_media_async import (
    ApiError,
    DeleteResult,
    DownloadResult,
    FetchResult,
    MediaClient,
    MediaRecording,
    ResponseValidationError,
    RetryPolicy,
    TwilioMediaError,
    converter,
)
from twilio_media_async._redact import Redactor
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.errors import api_error_from_response
from twilio_media_async.testing import FakeMediaServer, Fault

from ._leaks import leaks
from ._proxy import ForwardProxy
from ._rawhttp import http_response, raw_server
from .conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, SID

PROXY_USER = "proxy-user"
PROXY_PASSWORD = "pr0xy-pa55word-never-shown"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


SECRETS = (
    AUTH_TOKEN,
    API_SECRET,
    PROXY_PASSWORD,
    basic_auth_header(ACCOUNT_SID, AUTH_TOKEN).removeprefix("Basic "),
    basic_auth_header(API_KEY, API_SECRET).removeprefix("Basic "),
    basic_auth_header(PROXY_USER, PROXY_PASSWORD).removeprefix("Basic "),
    _b64(AUTH_TOKEN),
    _b64(API_SECRET),
)


def assert_clean(*roots: object) -> None:
    for root in roots:
        found = leaks(root, SECRETS)
        # The paths only: pytest would print a credential found in an assert's operands.
        if found:
            pytest.fail(f"a credential or a response object is reachable: {found[:8]}")


# -- how a server may spell the echoed header inside a JSON string -----------------------


def _escaped(text: str, every: int = 1, upper: bool = False) -> str:
    code = "\\u%04X" if upper else "\\u%04x"
    return "".join(code % ord(c) if i % every == 0 else c for i, c in enumerate(text))


def _json_text(text: str) -> str:
    return orjson.dumps(text).decode()[1:-1]


def _authorization(head: bytes) -> str:
    line = next(x for x in head.decode("latin-1").split("\r\n") if x.startswith("Authorization"))
    return line.partition(": ")[2]


ECHO_FORMS: dict[str, Callable[[bytes], str]] = {
    "the head, raw": lambda head: _json_text(head.decode("latin-1")),
    "\\u0042asic": lambda head: "\\u0042" + _json_text(_authorization(head))[1:],
    "every character escaped": lambda head: _escaped(_authorization(head)),
    "every other one, upper hex": lambda head: _escaped(_authorization(head), 2, upper=True),
    "slashes escaped": lambda head: (
        _json_text(_authorization(head)).replace("/", "\\/") + _escaped("Q", 1)
    ),
}


def _server(form: str) -> Callable[[bytes], bytes]:
    """Answers every request with its Authorization header echoed in ``form``: a 500 with
    Twilio's error JSON for DELETE and for the list, and for a fetch of ``SID``; a 200
    whose body is not a recording (nor a page) otherwise."""

    def respond(head: bytes) -> bytes:
        echo = ECHO_FORMS[form](head).encode()
        request_line = head.split(b"\r\n", 1)[0]
        quoted = b'"' + echo + b'"'
        if request_line.startswith(b"DELETE") or SID.encode() in request_line:
            body = (
                b'{"code": 20500, "message": "echo: '
                + echo
                + b'", "more_info": '
                + quoted
                + b', "details": {"echo": '
                + quoted
                + b', "all": ['
                + quoted
                + b"]}}"
            )
            return http_response(b"500 Oops", b"application/json", body)
        if b"MediaRecordings?" in request_line or request_line.endswith(
            b"MediaRecordings HTTP/1.1"
        ):
            item = b'{"duration": ' + quoted + b"}"
            body = b'{"media_recordings": [' + item + b'], "meta": {"next_page_url": null}}'
            return http_response(b"200 OK", b"application/json", body)
        return http_response(b"200 OK", b"application/json", b'{"duration": ' + quoted + b"}")

    return respond


OTHER = "KV" + "e" * 32  # answered with 200 and a body that is not a recording


def _client(kind: str, url: str, session: aiohttp.ClientSession | None) -> MediaClient:
    retry = RetryPolicy.no_wait(max_attempts=1)
    if kind == "api key":
        return MediaClient(
            ACCOUNT_SID, api_key=API_KEY, api_secret=API_SECRET, base_url=url, retry=retry
        )
    return MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=url, retry=retry, session=session)


async def _every_error(client: MediaClient) -> list[Any]:
    """An error (or result) of each kind of call: fetch (a 500 and a bad 200), fetch_many,
    delete, delete_many, list."""
    found: list[Any] = []
    async with client:
        for sid in (SID, OTHER):
            with pytest.raises(TwilioMediaError) as info:
                await client.fetch(sid)
            found.append(info.value)
        found += await client.fetch_all([SID, OTHER])
        with pytest.raises(ApiError) as deleted:
            await client.delete(SID)
        found.append(deleted.value)
        found += [r async for r in client.delete_many([SID])]
        with pytest.raises(ResponseValidationError) as listed:
            _ = [r async for r in client.list()]
        found.append(listed.value)
        found += await _archive_errors(client)
    return found


async def _archive_errors(client: MediaClient) -> list[Any]:
    """The archive's errors: the media link's resolve answered with the echo."""
    recording = converter.structure(
        {
            "sid": SID,
            "status": "completed",
            "format": "mp4",
            "media_size": 10,
            "links": {"media": f"{client.base_url}/v1/MediaRecordings/{SID}/Media"},
        },
        MediaRecording,
    )
    with tempfile.TemporaryDirectory() as directory:
        with pytest.raises(ApiError) as downloaded:
            await client.download(recording, os.path.join(directory, "x.mp4"))
        results = [r async for r in client.download_many([recording, SID], directory)]
    assert [r.ok for r in results] == [False, False]
    return [downloaded.value, *results]


@pytest.mark.parametrize("kind", ["token", "api key", "borrowed session"])
@pytest.mark.parametrize("form", sorted(ECHO_FORMS))
async def test_an_echoed_credential_is_in_no_error_nor_anything_it_keeps(
    form: str, kind: str
) -> None:
    async with raw_server(_server(form)) as url, aiohttp.ClientSession() as session:
        client = _client(kind, url, session if kind == "borrowed session" else None)
        found = await _every_error(client)
    errors = [
        r.error if isinstance(r, FetchResult | DeleteResult | DownloadResult) else r for r in found
    ]
    assert all(isinstance(e, TwilioMediaError) for e in errors)
    assert_clean(*found)
    shown = " ".join(f"{x!s} {x!r}" for x in found)
    assert "[redacted]" in shown  # the echo was there, and was cut out
    api = next(e for e in errors if isinstance(e, ApiError))
    assert "[redacted]" in str(api.details) and "[redacted]" in (api.more_info or "")


async def test_a_borrowed_sessions_headers_stay_out_of_an_errors_frames() -> None:
    # The session's own default headers, and the ones the client sends through it.
    async with (
        raw_server(_server("the head, raw")) as url,
        aiohttp.ClientSession(headers={"X-Trace": "t"}) as session,
    ):
        client = _client("borrowed session", url, session)
        async with client:
            with pytest.raises(ApiError) as info:
                await client.fetch(SID)
    assert_clean(info.value)


async def test_the_proxys_password_is_in_no_error_nor_anything_it_keeps() -> None:
    # The proxy answers 407 quoting the request head, Proxy-Authorization included.
    async with (
        FakeMediaServer(generate=1, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server,
        ForwardProxy(credentials=(PROXY_USER, "another-password")) as proxy,
    ):
        retry = RetryPolicy.no_wait(max_attempts=1)
        proxied = proxy.url_with(PROXY_USER, PROXY_PASSWORD)
        async with MediaClient(**server.client_kwargs(), proxy=proxied, retry=retry) as client:
            with pytest.raises(ApiError) as info:
                await client.fetch(server.sids[0])
            results = await client.fetch_all(server.sids)
    assert info.value.status == 407
    assert_clean(info.value, *results)


async def test_errors_from_the_fake_server_keep_no_response() -> None:
    async with FakeMediaServer(generate=3, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as srv:
        first, second, third = srv.sids
        srv.script(first, [Fault.server_error(503)] * 2)
        srv.script(second, [Fault.wrong_content_type()] * 2)
        srv.script(third, [Fault.invalid_json()] * 2)
        retry = RetryPolicy.no_wait(max_attempts=1)
        async with MediaClient(**srv.client_kwargs(), retry=retry) as client:
            errors = []
            for sid in srv.sids:
                with pytest.raises(TwilioMediaError) as info:
                    await client.fetch(sid)
                errors.append(info.value)
            results = await client.fetch_all(srv.sids)
    assert_clean(*errors, *results)
    assert not any(r.ok for r in results)


MARKER = "only-in-the-raw-body-0f3a9c"


def _far_into(prefix: bytes) -> bytes:
    # Past what any excerpt shows: only a reference to the raw body could reach it.
    return prefix + b'"padding": "' + b"x" * 600 + b'", "marker": "' + MARKER.encode() + b'"}'


def _answers(head: bytes) -> bytes:
    if b"DELETE" in head.split(b"\r\n", 1)[0]:
        return http_response(b"500 Oops", b"text/plain", _far_into(b"{"))
    if b"MediaRecordings " in head.split(b"\r\n", 1)[0] or b"?" in head.split(b"\r\n", 1)[0]:
        return http_response(b"200 OK", b"application/json", _far_into(b'{"meta": 1, '))
    return http_response(b"200 OK", b"application/json", _far_into(b'{"duration": true, '))


async def test_errors_keep_no_reference_to_the_raw_body() -> None:
    async with raw_server(_answers) as url:
        client = _client("token", url, None)
        async with client:
            with pytest.raises(ResponseValidationError) as fetched:
                await client.fetch(SID)
            results = await client.fetch_all([SID])
            with pytest.raises(ApiError) as deleted:
                await client.delete(SID)
            with pytest.raises(ResponseValidationError) as listed:
                _ = [r async for r in client.list()]
    for root in (fetched.value, *results, deleted.value, listed.value):
        assert not leaks(root, [MARKER]), leaks(root, [MARKER])
    assert fetched.value.errors[0].startswith("$.duration")  # what was wrong is kept


# -- units ---------------------------------------------------------------------------------

REDACTOR = Redactor.for_credentials([(ACCOUNT_SID, AUTH_TOKEN), (API_KEY, API_SECRET)])
BASIC = basic_auth_header(ACCOUNT_SID, AUTH_TOKEN).removeprefix("Basic ")


@pytest.mark.parametrize(
    "secret",
    [AUTH_TOKEN, BASIC, API_SECRET, _b64(AUTH_TOKEN)],
    ids=["token", "basic", "api secret", "token in base64"],
)
@pytest.mark.parametrize("every", [1, 2, 3])
@pytest.mark.parametrize("upper", [False, True])
def test_a_secret_in_any_json_escape_form_is_redacted(secret: str, every: int, upper: bool) -> None:
    body = b'{"message": "echo ' + _escaped(secret, every, upper).encode() + b' end"}'
    cleaned = REDACTOR.body(body)
    decoded = orjson.loads(cleaned)["message"]  # still valid JSON
    assert secret not in decoded and decoded == "echo [redacted] end"
    assert REDACTOR.shown(body.decode()) == cleaned.decode()


def test_escapes_are_left_as_they_came_when_no_secret_is_in_them() -> None:
    body = b'{"message": "caf\\u00e9 \\u0041 \\\\u0042 \\/"}'
    assert REDACTOR.body(body) == body
    # An escaped backslash never starts an escape of its own: this decodes to a backslash
    # and "u0073", not to the token's first letter, so nothing is to be cut.
    tricky = b'{"m": "\\' + _escaped(AUTH_TOKEN[:1]).encode() + AUTH_TOKEN[1:].encode() + b'"}'
    assert AUTH_TOKEN not in orjson.loads(tricky)["m"]
    assert REDACTOR.body(tricky) == tricky


def test_an_api_error_redacts_what_it_decodes() -> None:
    # A body the byte pass could not see into: the redaction after decoding catches it.
    body = orjson.dumps(
        {"message": f"m {AUTH_TOKEN}", "more_info": BASIC, "details": {AUTH_TOKEN: [BASIC, 1]}}
    )
    error = api_error_from_response(500, body, redact=REDACTOR.shown)
    assert error.message == "m [redacted]" and error.more_info == "[redacted]"
    assert error.details == {"[redacted]": ["[redacted]", 1]}
    assert api_error_from_response(500, body).message == f"m {AUTH_TOKEN}"  # pure without it
