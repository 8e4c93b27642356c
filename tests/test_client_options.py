"""Per-call options and response metadata: ``with_options`` views, ``request_id`` on
results and errors, and ``user_agent_extra``, against a FakeMediaServer (and a raw server
for the headers no well-behaved server sends)."""

from __future__ import annotations

import asyncio
import math
import re
import time
from typing import Any

import pytest

from twilio_media_async import (
    ClientClosedError,
    InvalidParameterError,
    MediaClient,
    NotFoundError,
    RequestTimeoutError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)
from twilio_media_async._redact import secret_forms
from twilio_media_async._transport import basic_auth_header
from twilio_media_async.testing import FakeMediaServer, Fault

from ._rawhttp import http_response, raw_server
from .conftest import ACCOUNT_SID, AUTH_TOKEN, client_for

UNKNOWN_SID = "KV" + "f" * 32


def last_request_id(server: FakeMediaServer, sid: str) -> str | None:
    return [r for r in server.requests if r.sid == sid][-1].request_id


# -- with_options --------------------------------------------------------------------------------


async def test_views_share_the_clients_session() -> None:
    async with FakeMediaServer(generate=6, seed=1) as server, client_for(server) as client:
        view = client.with_options(timeout=5.0)
        other = view.with_options(retry=RetryPolicy.no_wait(max_attempts=2))
        await view.fetch(server.sids[0])  # a view may be the first to send
        await client.fetch(server.sids[1])
        await other.fetch(server.sids[2])
        _ = [r async for r in view.fetch_many(server.sids[3:5])]
        assert server.connections <= 2  # fetch_many ran two at once; all else reused one
        await client.fetch(server.sids[5])
    assert server.connections <= 2


async def test_a_views_timeout_applies_to_the_view_only() -> None:
    async with FakeMediaServer(generate=3, seed=1) as server:
        sid = server.sids[0]
        server.script(sid, [Fault.latency(0.5), Fault.latency(0.5)])
        async with client_for(server, retry=RetryPolicy.no_wait(max_attempts=1)) as client:
            hasty = client.with_options(timeout=0.1)
            started = time.monotonic()
            with pytest.raises(RequestTimeoutError):
                await hasty.fetch(sid)
            assert time.monotonic() - started < 0.45
            assert (await client.fetch(sid)).sid == sid  # the parent waits the 0.5 s out


async def test_a_views_deadline_clips_its_timeout() -> None:
    async with FakeMediaServer(generate=3, seed=1) as server:
        sid = server.sids[0]
        server.script(sid, [Fault.latency(0.6)])
        async with client_for(server) as client:
            view = client.with_options(retry=RetryPolicy.no_wait(deadline=0.15))
            started = time.monotonic()
            with pytest.raises(RequestTimeoutError):
                await view.fetch(sid)
            assert time.monotonic() - started < 0.5


async def test_a_views_retry_policy_applies_to_the_view_only() -> None:
    async with FakeMediaServer(generate=3, seed=1) as server, client_for(server) as client:
        once = client.with_options(retry=RetryPolicy.no_wait(max_attempts=1))
        first, second = server.sids[:2]
        server.script(first, [Fault.server_error(503), None])
        server.script(second, [Fault.server_error(503), None])
        with pytest.raises(ServerError) as info:
            await once.fetch(first)
        assert info.value.attempts == 1
        [result] = await client.fetch_all([second])
        assert result.ok and result.attempts == 2
        assert once.retry.max_attempts == 1 and client.retry.max_attempts == 4


async def test_views_spend_the_clients_retry_budget() -> None:
    async with FakeMediaServer(generate=3, seed=1) as server:
        policy = RetryPolicy.no_wait(budget=1.0, budget_refill=0.0)
        async with client_for(server, retry=policy) as client:
            view = client.with_options(retry=RetryPolicy.no_wait(max_attempts=5, budget=50.0))
            first, second = server.sids[:2]
            server.script(first, [Fault.server_error(503), None])
            server.script(second, [Fault.server_error(503), None])
            await view.fetch(first)  # spends the client's only token
            with pytest.raises(ServerError) as info:
                await client.fetch(second)  # nothing left to retry with
            assert info.value.attempts == 1


async def test_views_share_the_clients_bulk_limiter() -> None:
    """A 429 with Retry-After in a view's bulk run holds the client's own runs too."""
    async with FakeMediaServer(generate=3, seed=1) as server:
        first, second = server.sids[:2]
        server.script(first, [Fault.rate_limited(1), None])
        policy = RetryPolicy(max_attempts=3, initial_wait=0.01)
        async with client_for(server, retry=policy) as client:
            view = client.with_options(timeout=5.0)
            paused = asyncio.create_task(view.fetch_all([first]))
            while not any(r.status == 429 for r in server.requests):
                await asyncio.sleep(0.01)
            [result] = await client.fetch_all([second])
            [limited] = await paused
        assert result.ok and limited.ok
        answered_429 = next(r for r in server.requests if r.status == 429)
        sent_after = next(r for r in server.requests if r.sid == second)
        assert answered_429.finished is not None
        assert sent_after.started - answered_429.finished >= 0.8


async def test_closing_a_view_during_a_pause_leaves_the_clients_runs_going() -> None:
    async with FakeMediaServer(generate=3, seed=1) as server:
        first, second = server.sids[:2]
        server.script(first, [Fault.rate_limited(0.5), None])
        policy = RetryPolicy(max_attempts=3, initial_wait=0.01)
        async with client_for(server, retry=policy) as client:
            view = client.with_options(timeout=5.0)
            paused = asyncio.create_task(view.fetch_all([first]))
            while not any(r.status == 429 for r in server.requests):
                await asyncio.sleep(0.01)
            waiting = asyncio.create_task(client.fetch_all([second]))
            await asyncio.sleep(0.05)
            paused.cancel()  # the view's run ends...
            await view.aclose()  # ...and the view closes: the pause must still end
            [result] = await asyncio.wait_for(waiting, 5)
        assert result.ok
        assert paused.cancelled()


async def test_closing_a_view_leaves_the_client_open() -> None:
    async with FakeMediaServer(generate=3, seed=1) as server, client_for(server) as client:
        async with client.with_options(timeout=5.0) as view:
            await view.fetch(server.sids[0])
        assert view.closed and not client.closed
        with pytest.raises(ClientClosedError):
            await view.fetch(server.sids[0])
        with pytest.raises(ClientClosedError):
            async with view:
                pass
        assert (await client.fetch(server.sids[1])).sid == server.sids[1]
        assert (await client.with_options().fetch(server.sids[2])).sid == server.sids[2]
        assert all(r.ok for r in await client.fetch_all(server.sids))  # its limiter too


async def test_closing_the_client_closes_its_views() -> None:
    async with FakeMediaServer(generate=3, seed=1) as server:
        client = client_for(server)
        view = client.with_options(timeout=5.0)
        grandchild = view.with_options(timeout=3.0)
        await view.fetch(server.sids[0])
        await client.aclose()
        assert view.closed and grandchild.closed
        for closed in (view, grandchild):
            with pytest.raises(ClientClosedError):
                await closed.fetch(server.sids[0])
            with pytest.raises(ClientClosedError):
                _ = [r async for r in closed.fetch_many(server.sids[:1])]


def test_a_views_repr_says_so_and_shows_no_secret() -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    shown = repr(client.with_options(timeout=2.0))
    assert "view=True" in shown and "view=True" not in repr(client)
    for secret in secret_forms(ACCOUNT_SID, AUTH_TOKEN):
        assert secret not in shown


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": math.nan},
        {"timeout": 0},
        {"timeout": -1.0},
        {"timeout": math.inf},
        {"timeout": "2"},
        {"retry": {"max_attempts": 1}},
    ],
)
def test_with_options_checks_what_it_is_given(options: dict[str, Any]) -> None:
    client = MediaClient(ACCOUNT_SID, AUTH_TOKEN)
    with pytest.raises(InvalidParameterError):
        client.with_options(**options)


# -- request ids ---------------------------------------------------------------------------------


async def test_each_result_carries_the_request_id_of_the_answer_that_decided_it() -> None:
    async with FakeMediaServer(generate=6, seed=1) as server:
        ok, retried, cut, bad_json = server.sids[:4]
        server.script(retried, [Fault.server_error(503), Fault.rate_limited(0), None])
        server.script(cut, [Fault.truncated()])
        server.script(bad_json, [Fault.invalid_json()])
        sids = [ok, retried, cut, bad_json, UNKNOWN_SID, "not a sid"]
        async with client_for(server, retry=RetryPolicy.no_wait(max_attempts=3)) as client:
            client_once = client.with_options(retry=RetryPolicy.no_wait(max_attempts=1))
            results = {r.sid: r for r in await client_once.fetch_all(sids[2:4])}
            results |= {r.sid: r for r in await client.fetch_all(sids[:2] + sids[4:])}
        assert results[ok].ok and results[ok].request_id == last_request_id(server, ok)
        assert results[retried].ok and results[retried].attempts == 3
        assert results[retried].request_id == last_request_id(server, retried)
        assert len({r.request_id for r in server.requests if r.sid == retried}) == 3
        unknown = results[UNKNOWN_SID]
        assert isinstance(unknown.error, NotFoundError)
        assert (
            unknown.request_id == unknown.error.request_id == last_request_id(server, UNKNOWN_SID)
        )
        invalid = results[bad_json]
        assert isinstance(invalid.error, ResponseValidationError)  # a 200 decided it
        assert invalid.request_id == invalid.error.request_id == last_request_id(server, bad_json)
        assert results[cut].request_id is None and results[cut].error is not None  # no answer
        assert results["not a sid"].request_id is None  # nothing sent


async def test_fetch_and_list_errors_carry_the_request_id() -> None:
    async with FakeMediaServer(generate=3, seed=1) as server, client_for(server) as client:
        server.script(server.sids[0], [Fault.wrong_content_type()])
        with pytest.raises(ResponseValidationError) as info:
            await client.fetch(server.sids[0])
        assert info.value.request_id == last_request_id(server, server.sids[0])
        with pytest.raises(NotFoundError) as missing:
            await client.delete(UNKNOWN_SID)
        assert missing.value.request_id == server.requests[-1].request_id


async def test_a_request_id_that_echoes_the_credential_is_redacted() -> None:
    basic = basic_auth_header(ACCOUNT_SID, AUTH_TOKEN).removeprefix("Basic ")

    def respond(head: bytes) -> bytes:
        echoed = f"Twilio-Request-Id: RQ{AUTH_TOKEN}{basic}\r\n".encode()
        status = b"404 Not Found" if b"404" in head.split(b"\r\n")[0] else b"200 OK"
        answer = http_response(status, b"application/json", b"{}")
        return answer.replace(b"\r\n", b"\r\n" + echoed, 1)

    async with raw_server(respond) as url:
        client = MediaClient(ACCOUNT_SID, AUTH_TOKEN, base_url=url, retry=RetryPolicy.no_wait())
        async with client:
            [result] = await client.fetch_all(["KV" + "0" * 32])
    assert result.ok and result.request_id is not None
    assert result.request_id.startswith("RQ")
    shown = repr(result) + str(result.request_id)
    for secret in secret_forms(ACCOUNT_SID, AUTH_TOKEN):
        assert secret not in shown


# -- user_agent_extra ------------------------------------------------------------------------------


async def test_user_agent_extra_is_appended_to_the_user_agent() -> None:
    async with FakeMediaServer(generate=2, seed=1) as server:
        async with client_for(server, user_agent_extra="acme-archiver/2.1") as client:
            await client.fetch(server.sids[0])
            await client.with_options(timeout=3.0).fetch(server.sids[1])
        async with client_for(server) as plain:
            await plain.fetch(server.sids[0])
    agents = [r.user_agent for r in server.requests]
    pattern = r"twilio-media-async/\S+ Python/\S+ aiohttp/\S+"
    assert agents[0] is not None and agents[2] is not None
    assert re.fullmatch(f"{pattern} acme-archiver/2.1", agents[0])
    assert agents[1] == agents[0]
    assert re.fullmatch(pattern, agents[2])


@pytest.mark.parametrize(
    "value",
    [
        "acme/2.1\r\nX-Injected: 1",
        "acme/2.1\n",
        "acme\t2.1",
        "acme/2.1\x00",
        "acme/2.1\x7f",
        "acmé/2.1",
        "",
        "   ",
        "a" * 300,
        b"acme/2.1",
        21,
    ],
)
def test_a_bad_user_agent_extra_is_refused(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="user_agent_extra"):
        MediaClient(ACCOUNT_SID, AUTH_TOKEN, user_agent_extra=value)  # type: ignore[arg-type]
