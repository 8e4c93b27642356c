"""The environment's proxy as curl reads it (#22): a proxy variable without a scheme is an
http:// one, and ``NO_PROXY`` entries with a port, or given as a CIDR block, are honoured.

The decision is a pure function of the variables and the URL (``choose_proxy``,
``bypasses``), tested here against a table; one live test per rule goes through a real
forward proxy on 127.0.0.1 (tests/_proxy.py).
"""

from __future__ import annotations

import pytest
from yarl import URL

from twilio_media_async import InvalidParameterError, MediaClient
from twilio_media_async._proxy import bypasses, choose_proxy
from twilio_media_async.testing import FakeMediaServer

from ._proxy import ForwardProxy
from .conftest import ACCOUNT_SID, AUTH_TOKEN, client_for

# (NO_PROXY, URL, bypassed?)
BYPASS_CASES = [
    ("*", "https://media.twilio.com", True),
    (" * ", "https://media.twilio.com", True),
    ("localhost,*", "https://media.twilio.com", True),
    ("", "https://media.twilio.com", False),
    ("twilio.com", "https://media.twilio.com", True),
    (".twilio.com", "https://media.twilio.com", True),
    ("TWILIO.com", "https://Media.Twilio.COM", True),
    ("twilio.com.", "https://media.twilio.com.", True),
    ("ilio.com", "https://media.twilio.com", False),  # not a domain boundary
    ("media.twilio.com.evil", "https://media.twilio.com", False),
    ("example.com twilio.com", "https://media.twilio.com", True),  # blanks separate too
    ("example.com,, ,twilio.com", "https://media.twilio.com", True),
    # entries with a port cover that port only
    ("127.0.0.1:8080", "http://127.0.0.1:8080", True),
    ("127.0.0.1:8080", "http://127.0.0.1:9090", False),
    ("media.twilio.com:443", "https://media.twilio.com", True),  # the scheme's default port
    ("media.twilio.com:443", "https://media.twilio.com:8443", False),
    ("twilio.com:443", "https://media.twilio.com", True),
    ("host:443", "http://host", False),
    ("[::1]:8080", "http://[::1]:8080", True),
    ("[::1]:8080", "http://[::1]:8081", False),
    ("[::1]", "http://[::1]:8081", True),
    ("host:abc", "http://host", False),  # unreadable: covers nothing
    ("host:\u00b2", "http://host", False),
    # addresses and CIDR blocks
    ("127.0.0.1", "http://127.0.0.1:8080", True),
    ("127.0.0.0/8", "http://127.0.0.1:8080", True),
    ("127.0.0.0/8", "http://127.255.3.4", True),
    ("127.0.0.0/8", "http://128.0.0.1", False),
    ("10.1.2.3/16", "http://10.1.99.1", True),  # host bits set, as curl allows
    ("192.168.0.0/24,10.0.0.0/8", "http://10.9.9.9", True),
    ("::1/128", "http://[::1]:8080", True),
    ("::1", "http://[::1]:8080", True),
    ("fd00::/8", "http://[fd12::1]", True),
    ("fd00::/8", "http://[fe80::1]", False),
    ("::1/128", "http://127.0.0.1", False),  # another family
    ("127.0.0.0/8", "http://localhost", False),  # a name is not resolved
    ("localhost", "http://127.0.0.1", False),
    ("127.0.0.0/33", "http://127.0.0.1", False),
    (".0.0.1", "http://127.0.0.1", True),  # urllib's suffix match, kept
]


@pytest.mark.parametrize(("no_proxy", "url", "expected"), BYPASS_CASES)
def test_no_proxy_entries(no_proxy: str, url: str, expected: bool) -> None:
    target = URL(url)
    assert target.host is not None
    assert bypasses(no_proxy, target.host, target.port) is expected


PROXY = "http://proxy.corp.example:3128"

# (variables, URL, the proxy chosen or None, the variable named)
CHOICE_CASES = [
    ({"HTTPS_PROXY": "127.0.0.1:3128"}, "https://media.twilio.com", "http://127.0.0.1:3128"),
    ({"HTTP_PROXY": "proxy.corp.example:3128"}, "http://api.example", PROXY),
    ({"https_proxy": "user:pw@proxy.corp.example:3128"}, "https://x.example", PROXY),
    (
        {"HTTPS_PROXY": "https://proxy.corp.example:3128"},
        "https://x",
        "https://proxy.corp.example:3128",
    ),
    ({"HTTPS_PROXY": PROXY}, "http://x.example", None),  # the other scheme's
    ({"HTTP_PROXY": PROXY, "http_proxy": ""}, "http://x.example", None),  # lowercase wins
    ({"HTTP_PROXY": "http://a:1", "http_proxy": PROXY}, "http://x.example", PROXY),
    ({"HTTP_PROXY": PROXY, "REQUEST_METHOD": "GET"}, "http://x.example", None),  # httpoxy
    ({"http_proxy": PROXY, "REQUEST_METHOD": "GET"}, "http://x.example", PROXY),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "x.example:80"}, "http://x.example", None),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "x.example:8080"}, "http://x.example", PROXY),
    ({"HTTP_PROXY": PROXY, "no_proxy": "10.0.0.0/8"}, "http://10.2.3.4:80", None),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "*", "no_proxy": ""}, "http://x.example", PROXY),
]


@pytest.mark.parametrize(("environ", "url", "expected"), CHOICE_CASES)
def test_the_proxy_chosen_from_the_variables(
    environ: dict[str, str], url: str, expected: str | None
) -> None:
    chosen = choose_proxy(environ, URL(url))
    shown = None if chosen is None else str(chosen[0].with_user(None))
    assert shown == expected


def test_a_proxy_without_a_scheme_keeps_its_credentials_and_names_its_variable() -> None:
    chosen = choose_proxy({"https_proxy": "user:pw@10.0.0.1:3128"}, URL("https://x.example"))
    assert chosen is not None
    proxy, source = chosen
    assert (proxy.scheme, proxy.user, proxy.password, proxy.port) == ("http", "user", "pw", 3128)
    assert "https_proxy" in source


def test_a_malformed_scheme_less_proxy_names_the_variable() -> None:
    with pytest.raises(InvalidParameterError) as info:
        choose_proxy({"HTTPS_PROXY": "user:pa55w0rd@proxy:99999"}, URL("https://x.example"))
    assert "HTTPS_PROXY" in str(info.value) and "pa55w0rd" not in str(info.value)


def test_a_client_takes_a_scheme_less_proxy_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "127.0.0.1:3128")
    assert MediaClient(ACCOUNT_SID, AUTH_TOKEN).proxy == "http://127.0.0.1:3128"


async def test_requests_go_through_a_scheme_less_proxy_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeMediaServer(generate=1, seed=2) as server, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"127.0.0.1:{proxy.port}")
        async with client_for(server) as client:
            await client.fetch(server.sids[0])
        expected = [f"{server.url}/v1/MediaRecordings/{server.sids[0]}"]
    assert [r.target for r in proxy.requests] == expected


@pytest.mark.parametrize("entry", ["127.0.0.1:{port}", "127.0.0.0/8", "10.0.0.0/8 127.0.0.1/32"])
async def test_no_proxy_with_a_port_or_a_cidr_block_goes_direct(
    monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    async with FakeMediaServer(generate=1, seed=2) as server, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", entry.format(port=server.port))
        async with client_for(server) as client:
            assert client.proxy is None
            await client.fetch(server.sids[0])
    assert not proxy.requests and len(server.requests) == 1


async def test_no_proxy_for_another_port_leaves_the_proxy_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeMediaServer(generate=1, seed=2) as server, ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", f"127.0.0.1:{server.port + 1}")
        async with client_for(server) as client:
            await client.fetch(server.sids[0])
    assert len(proxy.requests) == 1
