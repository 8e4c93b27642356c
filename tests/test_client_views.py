"""Views of views are views of the root client (#22): any depth of chaining costs the same,
and neither ``fetch`` nor ``repr`` recurses through the chain."""

from __future__ import annotations

import sys

import pytest

from twilio_media_async import ClientClosedError, MediaClient, RetryPolicy
from twilio_media_async._transport import TransportView
from twilio_media_async.testing import FakeMediaServer

from .conftest import ACCOUNT_SID, AUTH_TOKEN, client_for

DEPTH = 5_000


def _chain(client: MediaClient, depth: int) -> MediaClient:
    view = client
    for n in range(depth):
        view = view.with_options(timeout=5.0 + n % 3)
    return view


async def test_a_view_5000_views_deep_fetches_and_shows() -> None:
    assert sys.getrecursionlimit() < DEPTH  # nesting would recurse past the limit
    async with FakeMediaServer(generate=2, seed=5) as server, client_for(server) as client:
        deep = _chain(client, DEPTH)
        assert (await deep.fetch(server.sids[0])).sid == server.sids[0]
        assert [r.ok async for r in deep.fetch_many(server.sids)] == [True, True]
        shown = repr(deep)
        assert len(shown) < 200 and "view=True" in shown
        assert not deep.closed
    assert deep.closed  # closing the root closes every view, however it was made


def test_a_views_view_is_made_from_the_root() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    once = client.with_options(timeout=3.0)
    deep = _chain(once, 50)
    # The same structure at any depth: the view's transport stands on the root's.
    for view in (once, deep):
        transport = view._transport
        assert isinstance(transport, TransportView)
        assert transport._parent is client._transport
        assert view._engine.budget is client._engine.budget
        assert view._limiter is client._limiter


def test_a_view_takes_what_it_is_not_given_from_the_view_it_came_from() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, retry=RetryPolicy(max_attempts=2))
    view = client.with_options(timeout=3.0).with_options(retry=RetryPolicy(max_attempts=7))
    assert view.retry.max_attempts == 7
    assert view._transport.timeout.total == 3.0
    assert view.with_options().retry.max_attempts == 7
    assert view.account_sid == client.account_sid


def test_a_view_has_every_attribute_its_client_has() -> None:
    # A view is built attribute by attribute: one added to the client must be set there too.
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    assert set(vars(client.with_options(timeout=2.0))) == set(vars(client))


async def test_closing_a_view_leaves_the_views_made_from_it_open() -> None:
    async with FakeMediaServer(generate=1, seed=5) as server, client_for(server) as client:
        view = client.with_options(timeout=4.0)
        child = view.with_options(timeout=3.0)
        await view.aclose()
        with pytest.raises(ClientClosedError):
            await view.fetch(server.sids[0])
        assert (await child.fetch(server.sids[0])).sid == server.sids[0]
