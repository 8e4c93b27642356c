"""Hostile items and a raising sleep in bulk runs: InvalidSidError, one result per item."""

from __future__ import annotations

from enum import Enum

import pytest

from twilio_media_async import InvalidParameterError, InvalidSidError, MediaClient, RetryPolicy
from twilio_media_async.testing import FakeMediaServer

from .conftest import ACCOUNT_SID, AUTH_TOKEN, SID, client_for


async def test_fetch_many_uses_the_checked_sid() -> None:
    async with FakeMediaServer(generate=1) as srv:

        class Sids(str, Enum):  # noqa: UP042 - the (str, Enum) form is the tricky one
            FIRST = srv.sids[0]

        async with MediaClient(**srv.client_kwargs()) as client:
            (result,) = await client.fetch_all([Sids.FIRST])
        assert result.ok
        assert result.sid is Sids.FIRST


async def test_a_broken_sleep_still_yields_a_result() -> None:
    async def broken_sleep(seconds: float) -> None:
        raise RuntimeError("sleep bug")

    async with FakeMediaServer(generate=1) as srv:
        from twilio_media_async.testing import Fault

        srv.script(srv.sids[0], [Fault.server_error(503)] * 4)
        policy = RetryPolicy(sleep=broken_sleep)
        async with MediaClient(**srv.client_kwargs(), retry=policy) as client:
            results = await client.fetch_all([srv.sids[0], srv.sids[0]])
    assert len(results) == 2
    assert any(r.error is not None and "unexpected" in str(r.error) for r in results)


# -- hostile input items -------------------------------------------------------------------

HOSTILE_METHODS = ["__repr__", "__str__", "__len__", "__eq__", "__hash__"]


def _raising(*names: str, base: type = object) -> type:
    def boom(self: object, *args: object) -> object:
        raise RuntimeError("hostile")

    return type("Hostile", (base,), dict.fromkeys(names, boom))


def _hostile_items(sid: str) -> list[object]:
    """For each method, and all of them at once: a plain object and a str subclass (holding
    a valid sid, a malformed one and an empty string)."""
    items: list[object] = []
    for names in [*([name] for name in HOSTILE_METHODS), HOSTILE_METHODS]:
        items.append(_raising(*names)())
        str_type = _raising(*names, base=str)
        items += [str_type(sid), str_type("KV123"), str_type("")]
    return items


@pytest.mark.parametrize("method", [*HOSTILE_METHODS, "all"])
@pytest.mark.parametrize("base", [object, str])
def test_checking_a_hostile_item_only_ever_raises_invalid_sid_error(
    method: str, base: type
) -> None:
    from twilio_media_async import _sids

    names = HOSTILE_METHODS if method == "all" else [method]
    cls = _raising(*names, base=base)
    item = cls("KV123") if base is str else cls()
    assert isinstance(_sids.describe(item), str)
    with pytest.raises(InvalidSidError) as info:
        _sids.check_recording_sid(item)
    assert "Hostile" in str(info.value) or "'KV123'" in str(info.value)
    with pytest.raises(InvalidParameterError):
        _sids.check_source_sid(item)
    if base is str:  # the value of a str subclass is used, never its own methods
        assert _sids.check_recording_sid(cls(SID)) == SID
        assert type(_sids.check_recording_sid(cls(SID))) is str


async def test_hostile_items_each_get_exactly_one_result() -> None:
    async with FakeMediaServer(generate=1) as srv:
        sid = srv.sids[0]
        items = _hostile_items(sid)
        async with client_for(srv) as client:
            for ordered in (False, True):
                results = [r async for r in client.fetch_many(items, ordered=ordered)]
                assert len(results) == len(items)
                # Identity, not ==: the items' __eq__ and __hash__ may raise.
                assert sorted(map(id, (r.sid for r in results))) == sorted(map(id, items))
                for result in results:
                    valid = issubclass(type(result.sid), str) and str.__str__(result.sid) == sid
                    if valid:
                        assert result.ok, result.error
                        assert result.recording is not None
                        assert result.recording.sid == sid
                    else:
                        assert isinstance(result.error, InvalidSidError)
                        assert result.attempts == 0


@pytest.mark.parametrize("base", [object, str])
async def test_fetch_of_a_hostile_item_raises_invalid_sid_error(base: type) -> None:
    cls = _raising(*HOSTILE_METHODS, base=base)
    item = cls("KV123") if base is str else cls()
    async with MediaClient(ACCOUNT_SID, AUTH_TOKEN) as client:
        with pytest.raises(InvalidSidError) as info:
            await client.fetch(item)
    assert info.value.attempts == 0
