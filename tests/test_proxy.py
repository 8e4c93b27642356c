"""Proxies: the one given, the environment's (HTTP_PROXY / HTTPS_PROXY by the base URL's
scheme, NO_PROXY), and the CLI's ``--proxy``, through a real forward proxy on 127.0.0.1
(tests/_proxy.py).  Plain-HTTP requests go through it in absolute form; https ones through a
CONNECT tunnel to a TLS front of the fake server.  No proxy credential, nor the API's, ever
shows in an error, a repr or a log line."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
import trustme

from twilio_media_async import (
    ApiError,
    InvalidParameterError,
    MediaClient,
    RetryPolicy,
    TransportError,
    TwilioMediaError,
)
from twilio_media_async._redact import secret_forms
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import FakeMediaServer

from ._cli import connect, run_cli
from ._proxy import ForwardProxy, ProxiedRequest, TlsFront
from .conftest import ACCOUNT_SID, AUTH_TOKEN, client_for

PROXY_USER = "proxy-user"
PROXY_PASSWORD = "pr0xy-pa55word-never-shown"
PROXY_BASIC = basic_auth_header(PROXY_USER, PROXY_PASSWORD)
WRONG_PASSWORD = "wr0ng-pa55word-never-shown"
SECRETS = (
    *secret_forms(PROXY_USER, PROXY_PASSWORD),
    *secret_forms(PROXY_USER, WRONG_PASSWORD),
    *secret_forms(ACCOUNT_SID, AUTH_TOKEN),
)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a credential shows in {text!r}"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


pytestmark = pytest.mark.fake_media_server(
    account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, generate=10, seed=4
)


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as forward:
        yield forward


@pytest_asyncio.fixture
async def guarded_proxy() -> AsyncIterator[ForwardProxy]:
    """A proxy that wants PROXY_USER and PROXY_PASSWORD."""
    async with ForwardProxy(credentials=(PROXY_USER, PROXY_PASSWORD)) as forward:
        yield forward


def item_url(server: FakeMediaServer, sid: str) -> str:
    return f"{server.url}/v1/MediaRecordings/{sid}"


# -- the proxy given -----------------------------------------------------------------------


async def test_every_kind_of_request_goes_through_the_proxy_given(
    fake_media_server: FakeMediaServer, proxy: ForwardProxy
) -> None:
    sids = fake_media_server.sids[:4]
    async with client_for(fake_media_server, proxy=proxy.url) as client:
        recording = await client.fetch(sids[0])
        results = [r async for r in client.fetch_many(sids[1:3])]
        listed = [r async for r in client.list(limit=2)]
        await client.delete(sids[3])
    assert recording.sid == sids[0]
    assert all(r.ok for r in results) and len(listed) == 2
    sent = [(r.method, r.target) for r in proxy.requests]
    assert sent[0] == ("GET", item_url(fake_media_server, sids[0]))
    assert sorted(sent[1:3]) == sorted(
        ("GET", item_url(fake_media_server, sid)) for sid in sids[1:3]
    )
    assert sent[3][0] == "GET" and sent[3][1].startswith(
        f"{fake_media_server.url}/v1/MediaRecordings?"
    )
    assert sent[4] == ("DELETE", item_url(fake_media_server, sids[3]))
    # Every request the server saw came through the proxy, and nothing else reached it.
    assert len(fake_media_server.requests) == len(proxy.requests) == 5


async def test_the_proxys_credentials_go_to_the_proxy_only(
    fake_media_server: FakeMediaServer, guarded_proxy: ForwardProxy
) -> None:
    url = guarded_proxy.url_with(PROXY_USER, PROXY_PASSWORD)
    async with client_for(fake_media_server, proxy=url) as client:
        await client.fetch(fake_media_server.sids[0])
        assert client.proxy == guarded_proxy.url
        assert_no_secret(repr(client), str(client.proxy))
    assert guarded_proxy.requests == [
        ProxiedRequest("GET", item_url(fake_media_server, fake_media_server.sids[0]), PROXY_BASIC)
    ]
    assert fake_media_server.requests[0].auth_user == ACCOUNT_SID


async def test_percent_encoded_proxy_credentials_are_decoded_and_never_shown(
    fake_media_server: FakeMediaServer,
) -> None:
    user, password = "proxy@corp", "p@ss:w0rd/with%reserved"
    async with ForwardProxy(credentials=(user, password)) as guarded:
        url = guarded.url_with(user, password)  # yarl percent-encodes them
        assert "%40" in url
        async with client_for(fake_media_server, proxy=url) as client:
            await client.fetch(fake_media_server.sids[0])
            shown = repr(client)
    assert guarded.requests[0].proxy_authorization is not None
    for secret in (*secret_forms(user, password), password, "p%40ss"):
        assert secret not in shown


async def test_a_407_from_the_proxy_echoing_the_request_shows_no_credential(
    fake_media_server: FakeMediaServer,
    guarded_proxy: ForwardProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = guarded_proxy.url_with(PROXY_USER, WRONG_PASSWORD)
    async with client_for(fake_media_server, proxy=url) as client:
        with pytest.raises(ApiError) as info:
            await client.fetch(fake_media_server.sids[0])
        shown = repr(client)
    error = info.value
    assert error.status == 407 and error.attempts == 1  # a 4xx: not retried
    assert guarded_proxy.requests[0].proxy_authorization is not None  # it was sent...
    assert "[redacted]" in str(error)  # ...and echoed back, and redacted
    assert not fake_media_server.requests  # the proxy stopped it
    assert_no_secret(
        str(error), repr(error), error.message, shown, *(r.getMessage() for r in caplog.records)
    )


async def test_a_dead_proxy_is_a_transport_error_that_shows_no_credential(
    fake_media_server: FakeMediaServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}"
    async with client_for(
        fake_media_server, proxy=url, retry=RetryPolicy.no_wait(max_attempts=2)
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.fetch(fake_media_server.sids[0])
        shown = repr(client)
    assert info.value.connect_failed and info.value.attempts == 2
    assert "ClientProxyConnectionError" in str(info.value)
    assert not fake_media_server.requests
    assert_no_secret(str(info.value), repr(info.value), shown)
    assert_no_secret(*(r.getMessage() for r in caplog.records))
    assert any("retrying GET" in r.getMessage() for r in caplog.records)


async def test_a_borrowed_session_uses_the_proxy_given(
    fake_media_server: FakeMediaServer, proxy: ForwardProxy
) -> None:
    async with aiohttp.ClientSession() as session:
        async with client_for(fake_media_server, session=session, proxy=proxy.url) as client:
            await client.fetch(fake_media_server.sids[0])
    assert [r.method for r in proxy.requests] == ["GET"]


# -- the environment's ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy"])
async def test_the_environments_proxy_for_the_base_urls_scheme(
    fake_media_server: FakeMediaServer,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    monkeypatch.setenv(name, proxy.url)
    async with client_for(fake_media_server) as client:
        assert client.proxy == proxy.url
        await client.fetch(fake_media_server.sids[0])
    assert [r.target for r in proxy.requests] == [
        item_url(fake_media_server, fake_media_server.sids[0])
    ]


async def test_the_proxy_of_the_other_scheme_is_not_used(
    fake_media_server: FakeMediaServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # the fake server is http
    async with client_for(fake_media_server) as client:
        assert client.proxy is None
        await client.fetch(fake_media_server.sids[0])
    assert not proxy.requests and len(fake_media_server.requests) == 1


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", ".0.0.1"])
async def test_no_proxy_bypasses_the_environments_proxy(
    fake_media_server: FakeMediaServer,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    async with client_for(fake_media_server) as client:
        assert client.proxy is None
        await client.fetch(fake_media_server.sids[0])
    assert not proxy.requests and len(fake_media_server.requests) == 1


async def test_no_proxy_naming_another_host_leaves_the_proxy_in_place(
    fake_media_server: FakeMediaServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "media.twilio.com,10.0.0.1")
    async with client_for(fake_media_server) as client:
        await client.fetch(fake_media_server.sids[0])
    assert len(proxy.requests) == 1


async def test_the_proxy_given_wins_over_the_environment(
    fake_media_server: FakeMediaServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")  # dead
    async with client_for(fake_media_server, proxy=proxy.url) as client:
        await client.fetch(fake_media_server.sids[0])
    assert len(proxy.requests) == 1


@pytest.mark.parametrize("borrowed", [False, True])
async def test_the_environment_is_ignored_with_trust_env_false_or_a_borrowed_session(
    fake_media_server: FakeMediaServer,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    borrowed: bool,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    # A borrowed session follows its own trust_env (False by default in aiohttp).
    async with aiohttp.ClientSession() as session:
        options = {"session": session} if borrowed else {"trust_env": False}
        async with client_for(fake_media_server, **options) as client:
            assert client.proxy is None
            await client.fetch(fake_media_server.sids[0])
    assert not proxy.requests and len(fake_media_server.requests) == 1


def test_the_environment_is_read_when_the_client_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)  # https://media.twilio.com
    monkeypatch.delenv("HTTPS_PROXY")
    assert client.proxy == "http://proxy.corp.example:3128"
    assert "proxy='http://proxy.corp.example:3128'" in repr(client)


def test_a_malformed_proxy_in_the_environment_is_named_not_quoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@proxy:1080")
    with pytest.raises(InvalidParameterError) as info:
        MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    assert "HTTPS_PROXY" in str(info.value)
    assert_no_secret(str(info.value), repr(info.value))


@pytest.mark.parametrize(
    "value",
    [
        f"ftp://{PROXY_USER}:{PROXY_PASSWORD}@proxy:21",
        f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy:99999",
        f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy:3128/path",
        f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy:3128?q=1",
        f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy:3128\r\nX-Injected: 1",
        f"{PROXY_USER}:{PROXY_PASSWORD}@proxy:3128",
        "http://",
        "",
        3128,
    ],
)
def test_a_bad_proxy_is_refused_without_quoting_it(value: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, proxy=value)  # type: ignore[arg-type]
    assert "proxy" in str(info.value)
    assert_no_secret(str(info.value), repr(info.value))


# -- https through CONNECT -----------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_contexts(ca: trustme.CA) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The TLS front's context, and a client context that trusts the test CA."""
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_side)
    client_side = ssl.create_default_context()
    ca.configure_trust(client_side)
    return server_side, client_side


@contextlib.asynccontextmanager
async def tunnelled_client(
    front: TlsFront, client_side: ssl.SSLContext, proxy_url: str
) -> AsyncIterator[MediaClient]:
    """A client of the TLS front through the proxy, on a borrowed session that trusts the
    test CA; one attempt per call, so a failure is the first one."""
    connector = aiohttp.TCPConnector(ssl=client_side)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = MediaClient(
            ACCOUNT_SID,
            AUTH_TOKEN,
            base_url=front.url,
            session=session,
            proxy=proxy_url,
            retry=RetryPolicy(max_attempts=1),
        )
        async with client:
            yield client


async def test_an_https_origin_is_reached_through_a_connect_tunnel(
    fake_media_server: FakeMediaServer,
    guarded_proxy: ForwardProxy,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    proxy_url = guarded_proxy.url_with(PROXY_USER, PROXY_PASSWORD)
    async with TlsFront(fake_media_server.port, tls_contexts[0]) as front:
        async with tunnelled_client(front, tls_contexts[1], proxy_url) as client:
            recording = await client.fetch(fake_media_server.sids[0])
            results = [r async for r in client.fetch_many(fake_media_server.sids[1:4])]
    assert recording.sid == fake_media_server.sids[0] and all(r.ok for r in results)
    # One tunnel per connection, each with the proxy's credentials; the requests
    # themselves travelled inside TLS, out of the proxy's sight.
    assert guarded_proxy.requests
    assert {(r.method, r.target, r.proxy_authorization) for r in guarded_proxy.requests} == {
        ("CONNECT", f"127.0.0.1:{front.port}", PROXY_BASIC)
    }
    assert len(fake_media_server.requests) == 4


async def test_the_environments_https_proxy_tunnels_to_an_https_origin(
    fake_media_server: FakeMediaServer,
    guarded_proxy: ForwardProxy,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server_side, _ = tls_contexts
    monkeypatch.setenv("HTTPS_PROXY", guarded_proxy.url_with(PROXY_USER, PROXY_PASSWORD))
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")  # not for https
    async with TlsFront(fake_media_server.port, server_side) as front:
        client = MediaClient(
            ACCOUNT_SID, AUTH_TOKEN, base_url=front.url, retry=RetryPolicy(max_attempts=1)
        )
        async with client:
            # The client's own session trusts the system's CAs, not the test CA: TLS runs
            # end to end through the tunnel, so it is the origin's certificate that fails.
            with pytest.raises(TransportError) as info:
                await client.fetch(fake_media_server.sids[0])
            shown = repr(client)
    assert guarded_proxy.requests == [
        ProxiedRequest("CONNECT", f"127.0.0.1:{front.port}", PROXY_BASIC)
    ]
    assert "certificate" in str(info.value).lower()
    assert not fake_media_server.requests
    assert_no_secret(str(info.value), repr(info.value), shown)
    assert_no_secret(*(r.getMessage() for r in caplog.records))


async def test_a_407_to_connect_shows_no_credential(
    fake_media_server: FakeMediaServer,
    guarded_proxy: ForwardProxy,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    proxy_url = guarded_proxy.url_with(PROXY_USER, WRONG_PASSWORD)
    async with TlsFront(fake_media_server.port, tls_contexts[0]) as front:
        async with tunnelled_client(front, tls_contexts[1], proxy_url) as client:
            with pytest.raises(TwilioMediaError) as info:
                await client.fetch(fake_media_server.sids[0])
    assert "407" in str(info.value)
    assert guarded_proxy.requests[0].method == "CONNECT"
    assert not fake_media_server.requests
    assert_no_secret(str(info.value), repr(info.value))


# -- the command line ----------------------------------------------------------------------


async def test_the_cli_goes_through_its_proxy_option(
    fake_media_server: FakeMediaServer, guarded_proxy: ForwardProxy
) -> None:
    proxy_url = guarded_proxy.url_with(PROXY_USER, PROXY_PASSWORD)
    run = await run_cli(
        "--proxy", proxy_url, *connect(fake_media_server), "fetch", fake_media_server.sids[0]
    )
    assert run.code == 0, run.err
    assert run.lines[0]["sid"] == fake_media_server.sids[0]
    assert [r.proxy_authorization for r in guarded_proxy.requests] == [PROXY_BASIC]


async def test_the_cli_takes_the_environments_proxy(
    fake_media_server: FakeMediaServer, proxy: ForwardProxy
) -> None:
    run = await run_cli(
        *connect(fake_media_server),
        "fetch",
        fake_media_server.sids[0],
        env={"HTTP_PROXY": proxy.url},
    )
    assert run.code == 0, run.err
    assert len(proxy.requests) == 1


async def test_the_cli_never_prints_the_proxys_credentials(
    fake_media_server: FakeMediaServer,
) -> None:
    dead = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}"
    run = await run_cli(
        "-vv",
        "--max-attempts",
        "2",
        "--proxy",
        dead,
        *connect(fake_media_server),
        "fetch",
        fake_media_server.sids[0],
    )
    assert run.code == 1
    assert "ClientProxyConnectionError" in run.err
    assert_no_secret(run.out, run.err)
    bad = f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@proxy:1080"
    run = await run_cli(
        "--proxy", bad, *connect(fake_media_server), "fetch", fake_media_server.sids[0]
    )
    assert run.code == 2
    run.assert_one_line_error("proxy must be an http:// or https:// URL")
    assert_no_secret(run.out, run.err)
