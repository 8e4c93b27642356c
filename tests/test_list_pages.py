"""list and pages: filters checked when called, and which page URLs are followed or refused."""

from __future__ import annotations

import pytest

from twilio_media_async import (
    ForeignPageUrlError,
    InvalidParameterError,
    MediaClient,
    RecordingFilters,
    ResponseValidationError,
)

from ._mocking import mocked_http
from .conftest import ACCOUNT_SID, AUTH_TOKEN, RECORDINGS, SID


async def test_list_checks_its_filters_when_called(http: mocked_http) -> None:
    """As pages() and fetch_many() do: the error comes from the call itself, not from the
    first step of the iteration, and nothing is sent."""
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        with pytest.raises(InvalidParameterError, match="page_size"):
            client.list(page_size=0)
        with pytest.raises(InvalidParameterError, match="limit"):
            client.list(limit=-1)
        stream = client.list(limit=0)  # valid: an empty stream
        assert [r async for r in stream] == []
    assert http.requests == {}


async def test_list_and_pages_take_one_set_of_filters(http: mocked_http) -> None:
    """The same RecordingFilters dict works for both; a name that is not a filter is a
    TypeError naming the method and the filters it has, and nothing is sent."""
    filters: RecordingFilters = {"status": "completed", "order": "asc", "page_size": 5}
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        client.list(limit=3, **filters)
        client.pages(**filters)
        for method in (client.list, client.pages):
            with pytest.raises(TypeError, match="unexpected keyword argument 'stauts'") as info:
                method(stauts="completed")  # type: ignore[call-arg]
            assert f"{method.__name__}()" in str(info.value)
            assert "its filters: status, source_sid" in str(info.value)
    assert http.requests == {}


def test_default_ports_share_the_origin() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url="https://media.twilio.com:443")
    assert client.pages(start_url="https://media.twilio.com/v1/MediaRecordings?PageToken=PA1")
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    assert client.pages(start_url="https://media.twilio.com:443/v1/MediaRecordings?Page=1")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil@media.twilio.com/v1/MediaRecordings",
        "https://user:pw@media.twilio.com/v1/MediaRecordings",
        "http://media.twilio.com/v1/MediaRecordings",
        "https://media.twilio.com:8443/v1/MediaRecordings",
        "https://media.twilio.com.evil.com/v1/MediaRecordings",
        "//media.twilio.com/v1/MediaRecordings",
        "/v1/MediaRecordings",
        "http://[::1/x",
    ],
)
def test_other_origins_are_refused(url: str) -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    with pytest.raises(ForeignPageUrlError):
        client.pages(start_url=url)


async def test_a_malformed_next_page_url_still_yields_the_page(http: mocked_http) -> None:
    page = {"media_recordings": [{"sid": SID}], "meta": {"next_page_url": "http://[::1/x"}}
    http.get(f"{RECORDINGS}?PageSize=50", payload=page)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        got = []
        with pytest.raises(ForeignPageUrlError):
            async for rec in client.list(page_size=50):
                got.append(rec)
    assert [r.sid for r in got] == [SID]


@pytest.mark.parametrize("next_page_url", [42, True, {"url": "x"}, ["x"], 1.5])
async def test_a_non_string_next_page_url_is_a_validation_error(
    http: mocked_http, next_page_url: object
) -> None:
    page = {"media_recordings": [{"sid": SID}], "meta": {"next_page_url": next_page_url}}
    http.get(f"{RECORDINGS}?PageSize=50", payload=page)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        with pytest.raises(ResponseValidationError) as info:
            async for _ in client.list(page_size=50):
                pass
    (error,) = info.value.errors
    assert error.startswith("$.meta.next_page_url: expected a string or null, got ")
    assert info.value.attempts == 1


@pytest.mark.parametrize("next_page_url", [None, ""])
async def test_a_null_or_empty_next_page_url_ends_the_list(
    http: mocked_http, next_page_url: str | None
) -> None:
    page = {"media_recordings": [{"sid": SID}], "meta": {"next_page_url": next_page_url}}
    http.get(f"{RECORDINGS}?PageSize=50", payload=page)
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        assert [r.sid async for r in client.list(page_size=50)] == [SID]
