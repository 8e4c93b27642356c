"""A record is always filed under the sid that was asked for (#22).

A body without a ``sid``, or with a null one, gives the recording the requested sid; a body
naming another recording is a ResponseValidationError for the requested one, through both
the converter's fast pass and its cattrs path, in ``fetch`` and in ``fetch_many``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from twilio_media_async import ResponseValidationError
from twilio_media_async._converter import loads_json, structure_recording
from twilio_media_async.testing import FakeMediaServer, Fault

from .conftest import SID, client_for

OTHER = "KV" + "f" * 32
# A body the fast pass takes, and one it leaves to cattrs (an integer string).
FAST = {"sid": SID, "duration": 7, "status": "completed"}
SLOW = {"sid": SID, "duration": "7", "status": "completed"}


def _structured(data: dict[str, Any], sid: str = SID) -> Any:
    body = orjson.dumps(data)
    return structure_recording(loads_json(body), body, sid)


@pytest.mark.parametrize("shape", [FAST, SLOW], ids=["fast pass", "cattrs"])
@pytest.mark.parametrize("sent", ["absent", None], ids=["absent", "null"])
def test_a_body_without_a_sid_is_filed_under_the_one_asked_for(
    shape: dict[str, Any], sent: object
) -> None:
    data = {k: v for k, v in shape.items() if k != "sid"}
    if sent is None:
        data["sid"] = None
    recording = _structured(data)
    assert recording.sid == SID
    assert recording.duration == 7


@pytest.mark.parametrize("shape", [FAST, SLOW], ids=["fast pass", "cattrs"])
def test_hex_digits_in_another_case_name_the_same_recording(shape: dict[str, Any]) -> None:
    asked = "KV" + "ab" * 16
    recording = _structured({**shape, "sid": "KV" + "AB" * 16}, sid=asked)
    assert recording.sid == asked  # filed under the sid as it was asked for


@pytest.mark.parametrize("shape", [FAST, SLOW], ids=["fast pass", "cattrs"])
@pytest.mark.parametrize("other", [OTHER, "kv" + SID[2:], 42, ""], ids=repr)
def test_a_body_naming_another_recording_is_refused(shape: dict[str, Any], other: object) -> None:
    with pytest.raises(ResponseValidationError) as info:
        _structured({**shape, "sid": other})
    assert any(e.startswith("$.sid:") for e in info.value.errors)
    assert SID in info.value.errors[0]


def test_without_a_requested_sid_the_body_says_which_recording_it_is() -> None:
    body = orjson.dumps({**FAST, "sid": OTHER})
    assert structure_recording(loads_json(body), body).sid == OTHER  # a page's items


async def test_fetch_files_a_sidless_answer_under_the_sid_asked_for() -> None:
    async with FakeMediaServer(generate=2, seed=3) as server:
        first, second = server.sids
        server.script(first, [Fault.altered_body(drop=["sid"])])
        server.script(second, [Fault.altered_body({"sid": None})])
        async with client_for(server) as client:
            assert (await client.fetch(first)).sid == first
            assert (await client.fetch(second)).sid == second


async def test_fetch_refuses_an_answer_for_another_recording() -> None:
    async with FakeMediaServer(generate=2, seed=3) as server:
        asked, other = server.sids
        server.script(asked, [Fault.altered_body({"sid": other})])
        async with client_for(server) as client:
            with pytest.raises(ResponseValidationError) as info:
                await client.fetch(asked)
    error = info.value
    assert error.errors[0].startswith("$.sid:") and asked in error.errors[0]
    assert error.attempts == 1 and error.request_id is not None  # never retried


async def test_fetch_many_files_every_result_under_the_sid_asked_for() -> None:
    async with FakeMediaServer(generate=4, seed=3) as server:
        absent, null, swapped, upper = server.sids
        server.script(absent, [Fault.altered_body(drop=["sid"])])
        server.script(null, [Fault.altered_body({"sid": None})])
        server.script(swapped, [Fault.altered_body({"sid": absent})])
        server.script(upper, [Fault.altered_body({"sid": "KV" + upper[2:].upper()})])
        async with client_for(server) as client:
            results = {r.sid: r for r in await client.fetch_all(server.sids)}
    for sid in (absent, null, upper):
        recording = results[sid].recording
        assert recording is not None and recording.sid == sid
    error = results[swapped].error
    assert isinstance(error, ResponseValidationError)
    assert error.errors[0].startswith("$.sid:") and swapped in error.errors[0]
    assert results[swapped].recording is None
