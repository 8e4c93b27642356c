"""The fast paths that build frozen objects without their keyword __init__ (the converter's
MediaRecordings, the bulk methods' results): what they rely on holds, and what they build
behaves like what the class's own __init__ makes."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import attrs
import orjson
import pytest

from bench.server import TEMPLATE
from twilio_media_async import (
    DeleteResult,
    FetchResult,
    Links,
    MediaRecording,
    ResponseValidationError,
)
from twilio_media_async._converter import _fast_recording, structure_recording
from twilio_media_async._results import deleted, fetched
from twilio_media_async.models import _RECORDING_FIELDS as _FIELDS
from twilio_media_async.models import _adopt_links

SID = "KV0123456789abcdef0123456789abcdef"
BODY = TEMPLATE.replace(b"{SID}", SID.encode())


def fast() -> MediaRecording:
    recording = _fast_recording(orjson.loads(BODY))
    assert recording is not None
    return recording


def test_the_fast_pass_writes_every_field_in_order() -> None:
    assert tuple(field.name for field in attrs.fields(MediaRecording)) == _FIELDS
    built = fast()
    assert type(built) is MediaRecording
    for name in _FIELDS:  # every slot written: an unwritten one would raise AttributeError
        getattr(built, name)


@pytest.mark.parametrize("cls", [MediaRecording, FetchResult, DeleteResult])
def test_the_frozen_classes_add_no_slot_to_the_storage_they_are_retyped_from(cls: type) -> None:
    # __class__ assignment needs one layout: the frozen class adds no slot, and its
    # storage base holds every field (and the weakref slot attrs would otherwise add).
    assert vars(cls)["__slots__"] == ()
    storage = cls.__mro__[1]
    assert set(vars(storage)["__slots__"]) == {f.name for f in attrs.fields(cls)} | {"__weakref__"}
    assert cls.__basicsize__ == storage.__basicsize__


def test_adopted_links_are_links_of_one_layout_and_immutable() -> None:
    assert vars(Links)["__slots__"] == ()
    assert Links.__basicsize__ == Links.__mro__[1].__basicsize__
    data = {"media": "https://media.example/x"}
    adopted = _adopt_links(data)
    assert type(adopted) is Links
    assert adopted == Links(data)
    assert hash(adopted) == hash(Links(data))
    assert adopted._data is data  # adopted, not copied
    with pytest.raises(AttributeError, match="immutable"):
        adopted._data = {}


@pytest.mark.parametrize("cls", [FetchResult, DeleteResult])
def test_no_result_field_has_a_check_or_conversion_the_fast_build_would_skip(cls: type) -> None:
    for field in attrs.fields(cls):
        assert field.validator is None, field.name
        assert field.converter is None, field.name
    assert not attrs.has(cls.__mro__[1])
    assert "__attrs_post_init__" not in cls.__dict__


def test_fast_results_equal_hash_and_freeze_as_ones_from_init() -> None:
    recording = fast()
    fast_fetch = fetched("KV-as-given", recording, 3, "RQ1")
    fetch = FetchResult(sid="KV-as-given", recording=recording, attempts=3, request_id="RQ1")
    fast_delete = deleted(SID, 2, None)
    delete = DeleteResult(sid=SID, attempts=2, request_id=None)
    pairs: list[tuple[FetchResult | DeleteResult, FetchResult | DeleteResult]]
    pairs = [(fast_fetch, fetch), (fast_delete, delete)]
    for built, same in pairs:
        assert type(built) is type(same)
        assert built == same
        assert hash(built) == hash(same)
        assert repr(built) == repr(same)
        assert built.ok
        assert copy.copy(built) == same
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            built.attempts = 9  # type: ignore[misc]


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
