"""The policy as tenacity strategies: the defaults, and a user's own wait and stop."""

from __future__ import annotations

import time

import pytest
from tenacity import (
    RetryCallState,
    stop_after_attempt,
    stop_any,
    stop_before_delay,
    wait_fixed,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from twilio_media_async import (
    InvalidParameterError,
    MediaClient,
    NotFoundError,
    RateLimitError,
    RetryEvent,
    RetryPolicy,
    ServerError,
)
from twilio_media_async._config import DEFAULT_TIMEOUT
from twilio_media_async._engine import RetryEngine
from twilio_media_async._retrying import Retries
from twilio_media_async._transport import Transport
from twilio_media_async.retry import RetryBudget, wait_full_jitter, wait_retry_after
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import as_served, client_for

_TRANSPORT = Transport(base_url="http://127.0.0.1:9", authorization="x", timeout=DEFAULT_TIMEOUT)

pytestmark = pytest.mark.fake_media_server(generate=10, seed=4)


def test_the_default_strategies_are_tenacitys() -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=0.25, max_wait=4.0, deadline=20.0)
    assert isinstance(policy.wait, wait_random_exponential)
    assert (policy.wait.multiplier, policy.wait.max) == (0.25, 4.0)
    assert isinstance(policy.stop, stop_any)
    kinds = {type(stop) for stop in policy.stop.stops}
    assert kinds == {stop_after_attempt, stop_before_delay}


def test_the_default_wait_draws_from_the_policys_jitter() -> None:
    policy = RetryPolicy(initial_wait=0.5, max_wait=8.0, jitter=lambda: 0.5)
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    waits = []
    for attempt in range(1, 7):
        state.attempt_number = attempt
        waits.append(policy.wait(state))
    assert waits == pytest.approx([0.25, 0.5, 1, 2, 4, 4])


def test_retry_after_wins_over_any_wait() -> None:
    retries = Retries(RetryPolicy(wait=wait_fixed(3)), None)
    assert retries.wait(1, RateLimitError("x", status=429, retry_after=7.5)) == 7.5
    assert retries.wait(1, ServerError("x", status=503)) == 3
    assert isinstance(retries.retrying.wait, wait_retry_after)
    assert isinstance(wait_retry_after(wait_fixed(1)), wait_base)
    assert isinstance(wait_full_jitter(multiplier=1, max=2), wait_random_exponential)


@pytest.mark.parametrize("field", ["wait", "stop"])
def test_a_strategy_must_be_callable(field: str) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        RetryPolicy(**{field: 3})  # type: ignore[arg-type]


def test_a_users_stop_decides_and_the_budget_still_applies() -> None:
    error = ServerError("x", status=503)
    engine = RetryEngine(RetryPolicy(stop=stop_after_attempt(2)), _TRANSPORT)
    started = time.monotonic()
    assert engine.next_wait(engine.retry_state(started), error, 1, started) is not None
    assert engine.next_wait(engine.retry_state(started), error, 2, started) is None
    empty = RetryEngine(RetryPolicy(stop=stop_after_attempt(9)), _TRANSPORT)
    empty.budget = RetryBudget(capacity=0, refill=0)
    assert empty.next_wait(empty.retry_state(started), error, 1, started) is None


def test_the_retry_after_cap_applies_over_a_users_wait() -> None:
    policy = RetryPolicy(wait=wait_fixed(0), stop=stop_after_attempt(9), max_retry_after=5)
    engine = RetryEngine(policy, _TRANSPORT)
    started = time.monotonic()
    slow = RateLimitError("x", status=429, retry_after=6)
    assert engine.next_wait(engine.retry_state(started), slow, 1, started) is None


async def test_a_users_wait_and_stop_are_honoured_live(
    fake_media_server: FakeMediaServer,
) -> None:
    sid = fake_media_server.sids[0]
    fake_media_server.script(sid, [Fault.server_error(503)] * 10)
    events: list[RetryEvent] = []
    policy = RetryPolicy.no_wait(
        wait=wait_fixed(0.125), stop=stop_after_attempt(6), on_retry=events.append
    )
    async with client_for(fake_media_server, policy) as client:
        with pytest.raises(ServerError) as info:
            await client.fetch(sid)
    assert info.value.attempts == 6
    assert fake_media_server.attempts(sid) == 6
    assert [event.wait for event in events] == [0.125] * 5


async def test_retry_after_applies_on_top_of_a_users_wait_live(
    fake_media_server: FakeMediaServer,
) -> None:
    sid = fake_media_server.sids[1]
    fake_media_server.script(sid, [Fault.rate_limited(retry_after=2), Fault.server_error(503)])
    events: list[RetryEvent] = []
    policy = RetryPolicy.no_wait(wait=wait_fixed(0.5), on_retry=events.append)
    async with client_for(fake_media_server, policy) as client:
        assert await client.fetch(sid) == as_served(fake_media_server, sid)
    assert [event.wait for event in events] == [2.0, 0.5]


async def test_a_users_strategies_hold_in_bulk_and_for_delete(
    fake_media_server: FakeMediaServer,
) -> None:
    first, second = fake_media_server.sids[2], fake_media_server.sids[3]
    fake_media_server.script(first, [Fault.server_error(500)] * 3)
    events: list[RetryEvent] = []
    policy = RetryPolicy.no_wait(
        wait=wait_fixed(0.25), stop=stop_after_attempt(3), on_retry=events.append
    )
    async with client_for(fake_media_server, policy) as client:
        [result] = await client.fetch_all([first])
        assert isinstance(result.error, ServerError)
        assert result.attempts == 3
        fake_media_server.script(second, [Fault.server_error(503)])
        await client.delete(second)  # retried under the user's strategies
        with pytest.raises(NotFoundError):  # nothing ambiguous before it: a plain 404
            await client.delete(second)
    assert {event.wait for event in events} == {0.25}


def test_views_take_a_users_policy(fake_media_server: FakeMediaServer) -> None:
    client = MediaClient(
        "AC" + "0" * 32, "token", base_url=fake_media_server.url, retry=RetryPolicy()
    )
    view = client.with_options(retry=RetryPolicy(stop=stop_after_attempt(2)))
    assert view.retry.stop is not client.retry.stop


def test_a_failed_attempt_reads_as_tenacity_strategies_expect() -> None:
    # Strategies that read the outcome the way tenacity's own do: its exception, its
    # result (which raises), and the attempt number.
    from tenacity import retry_if_exception_type, retry_if_result, wait_exponential

    retries = Retries(RetryPolicy(), budget=None)
    state = retries.state(time.monotonic())
    error = ServerError("boom", status=503, method="GET", url="http://127.0.0.1/x")
    retries.failed(state, error, 3, state.start_time)
    assert state.outcome is not None
    assert state.outcome.failed
    assert state.outcome.exception() is error
    with pytest.raises(ServerError):
        state.outcome.result()
    assert retry_if_exception_type(ServerError)(state)
    assert not retry_if_exception_type(NotFoundError)(state)
    assert not retry_if_result(lambda _: True)(state)  # a failure has no result to judge
    assert wait_exponential(multiplier=1, max=100)(state) == 4.0  # 2 ** (3 - 1)
