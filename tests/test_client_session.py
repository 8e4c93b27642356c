"""The client's HTTP session: its own opened lazily and closed once, a borrowed one kept."""

from __future__ import annotations

import warnings
from typing import Any

import aiohttp
import pytest

from twilio_media_async import ClientClosedError, InvalidParameterError, MediaClient, NotFoundError
from twilio_media_async._transport import Transport, basic_auth_header
from twilio_media_async.testing import FakeMediaServer

from ._mocking import mocked_http
from .conftest import ACCOUNT_SID, AUTH_TOKEN, PAYLOAD, SID, client_for
from .conftest import RECORDING_URL as URL_
from .conftest import sent as _sent


async def test_owned_session_is_created_lazily_and_closed(http: mocked_http) -> None:
    http.get(URL_, payload=PAYLOAD)
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    transport = client._transport
    assert isinstance(transport, Transport)
    assert transport._session is None  # nothing is opened before first use
    await client.fetch(SID)
    session = transport._session
    assert session is not None
    assert not session.closed
    await client.aclose()
    assert session.closed
    await client.aclose()  # idempotent
    assert client.closed


async def test_borrowed_session_is_never_closed(http: mocked_http) -> None:
    http.get(URL_, payload=PAYLOAD)
    async with aiohttp.ClientSession() as session:
        async with MediaClient(ACCOUNT_SID, AUTH_TOKEN, session=session) as client:
            await client.fetch(SID)
        assert not session.closed
        (call,) = _sent(http)
        assert call.kwargs["headers"]["Authorization"] == basic_auth_header(ACCOUNT_SID, AUTH_TOKEN)


async def test_closed_client_raises_a_clear_error() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    await client.aclose()
    with pytest.raises(ClientClosedError, match="closed"):
        await client.fetch(SID)
    with pytest.raises(ClientClosedError):
        async with client:
            pass


# -- a borrowed session's defaults ---------------------------------------------------------

BORROWED_DEFAULTS: list[dict[str, Any]] = [
    {"raise_for_status": True},
    {"auto_decompress": False},
    {"read_bufsize": 1},
    {"max_line_size": 10},
    {"max_field_size": 10},
    {"raise_for_status": True, "auto_decompress": False, "read_bufsize": 16},
]


@pytest.mark.parametrize("defaults", BORROWED_DEFAULTS, ids=repr)
async def test_a_borrowed_sessions_defaults_do_not_change_what_the_sdk_does(
    defaults: dict[str, Any],
) -> None:
    unknown = "KV" + "0" * 32
    async with FakeMediaServer(generate=1) as srv, aiohttp.ClientSession(**defaults) as session:
        async with client_for(srv, session=session) as client:
            assert (await client.fetch(srv.sids[0])).sid == srv.sids[0]
            with pytest.raises(NotFoundError) as info:
                await client.fetch(unknown)
            assert info.value.attempts == 1
            (result,) = await client.fetch_all([unknown])
            assert isinstance(result.error, NotFoundError)
            assert result.attempts == 1
        assert srv.attempts(unknown) == 2  # one request each, no retry
        assert not session.closed  # borrowed: left open


async def test_a_borrowed_session_without_auto_decompress_still_reads_gzip(
    gzip_server: str,
) -> None:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=gzip_server, session=session) as client,
    ):
        assert (await client.fetch(SID)).resolution == "x" * 200_000


async def test_a_borrowed_session_with_its_own_auth_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp 3.14 deprecates auth=
        session = aiohttp.ClientSession(auth=aiohttp.BasicAuth("someone", "else"))
    async with session:
        with pytest.raises(InvalidParameterError, match="auth"):
            MediaClient(ACCOUNT_SID, AUTH_TOKEN, session=session)
