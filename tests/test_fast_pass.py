"""The converter's fast pass builds MediaRecordings from their slots: what that relies on
holds, and a recording it builds behaves like one from MediaRecording's own __init__."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import attrs
import orjson
import pytest

from bench.server import TEMPLATE
from twilio_media_async import MediaRecording, ResponseValidationError
from twilio_media_async._converter import _FIELDS, _fast_recording, structure_recording

SID = "KV0123456789abcdef0123456789abcdef"
BODY = TEMPLATE.replace(b"{SID}", SID.encode())


def fast() -> MediaRecording:
    recording = _fast_recording(orjson.loads(BODY))
    assert recording is not None
    return recording


def test_the_fast_pass_writes_every_field_in_order() -> None:
    assert tuple(field.name for field in attrs.fields(MediaRecording)) == _FIELDS


def test_no_field_has_a_check_or_conversion_the_fast_pass_would_skip() -> None:
    for field in attrs.fields(MediaRecording):
        assert field.validator is None, field.name
        assert field.converter is None, field.name
        assert field.default is None, field.name


def test_a_fast_recording_equals_and_hashes_as_one_from_init() -> None:
    built = fast()
    same = MediaRecording(**{name: getattr(built, name) for name in _FIELDS})
    assert built == same
    assert hash(built) == hash(same)
    assert {built, same} == {same}


def test_a_fast_recording_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast().sid = "KV" + "0" * 32  # type: ignore[misc]


def test_a_fast_recording_copies_pickles_and_evolves() -> None:
    built = fast()
    assert copy.copy(built) == built
    # Links themselves neither pickle nor deep-copy (they refuse every setattr); the
    # recording around them does.
    linkless = _fast_recording({k: v for k, v in orjson.loads(BODY).items() if k != "links"})
    assert linkless is not None
    assert copy.deepcopy(linkless) == linkless
    assert pickle.loads(pickle.dumps(linkless)) == linkless
    evolved = attrs.evolve(built, duration=7)
    assert evolved.duration == 7
    assert attrs.evolve(evolved, duration=built.duration) == built


def test_the_benchmark_body_takes_the_fast_pass_and_is_filed_under_its_sid() -> None:
    recording = structure_recording(orjson.loads(BODY), BODY, SID)
    assert recording == fast()
    assert recording.sid == SID
    assert recording.size == 73428911  # from media_size


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"duration": "abc"}, "$.duration"),
        ({"media_size": True}, "$.media_size"),
        ({"date_updated": "yesterday"}, "$.date_updated"),
        ({"links": {"media": 7}}, "$.links"),
        ({"account_sid": 7}, "$.account_sid"),
    ],
)
def test_a_bad_body_still_names_its_field(change: dict[str, Any], path: str) -> None:
    data = orjson.loads(BODY) | change
    assert _fast_recording(dict(data)) is None
    with pytest.raises(ResponseValidationError) as info:
        structure_recording(data, BODY, SID)
    assert any(error.startswith(f"{path}:") for error in info.value.errors), info.value.errors
