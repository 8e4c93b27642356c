"""The converter: JSON in, frozen MediaRecording out, and back."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twilio_media_async import (
    HttpMethod,
    Links,
    MediaRecording,
    RecordingFormat,
    RecordingStatus,
    ResponseValidationError,
    converter,
)
from twilio_media_async._converter import _fast_recording, loads_json, structure_recording

SEED_PAYLOAD: dict[str, Any] = {
    "account_sid": "AC0123456789abcdef0123456789abcdef",
    "bitrate": 42,
    "date_created": "2023-05-04T09:42:00+00:00",
    "date_updated": "2024-05-04T09:42:00Z",
    "duration": 42,
    "format": "mp4",
    "links": {"media": "https://media.twilio.com/v1/MediaRecordings/KV01/Media"},
    "processor_sid": "ZX0123456789abcdef0123456789abcdef",
    "resolution": "640x480",
    "sid": "KV0123456789abcdef0123456789abcdef",
    "size": 4242,
    "source_sid": "RM0123456789abcdef0123456789abcdef",
    "status": "processing",
    "status_callback": "https://example.com/cb",
    "status_callback_method": "HEAD",
    "url": "https://media.twilio.com/v1/MediaRecordings/KV0123456789abcdef0123456789abcdef",
}
SPEC_PAYLOAD = {k: v for k, v in SEED_PAYLOAD.items() if k not in ("size", "bitrate")} | {
    "media_size": 4242
}


def parse(payload: Any) -> MediaRecording:
    body = orjson.dumps(payload)
    return structure_recording(loads_json(body), body)


def test_seed_shape() -> None:
    rec = parse(SEED_PAYLOAD)
    assert rec.sid == SEED_PAYLOAD["sid"]
    assert rec.bitrate == 42
    assert rec.size == 4242
    assert rec.format is RecordingFormat.MP4
    assert rec.status is RecordingStatus.PROCESSING
    assert rec.status_callback_method is HttpMethod.HEAD
    assert rec.date_created == datetime(2023, 5, 4, 9, 42, tzinfo=UTC)
    assert rec.date_updated == datetime(2024, 5, 4, 9, 42, tzinfo=UTC)
    assert rec.links is not None
    assert rec.links["media"].endswith("/Media")


def test_spec_shape_reads_media_size() -> None:
    rec = parse(SPEC_PAYLOAD)
    assert rec.size == 4242
    assert rec.bitrate is None


@pytest.mark.parametrize(
    ("size", "media_size", "expected"),
    [(None, 7, 7), (7, None, 7), (5, 7, 5), (None, None, None)],
)
def test_non_null_size_wins(size: int | None, media_size: int | None, expected: int) -> None:
    assert parse({"size": size, "media_size": media_size}).size == expected


def test_nulls_and_absence_everywhere() -> None:
    everything_null = dict.fromkeys(SEED_PAYLOAD)
    assert parse(everything_null) == MediaRecording()
    assert parse({}) == MediaRecording()


def test_extra_keys_are_ignored() -> None:
    assert parse({**SEED_PAYLOAD, "brand_new_field": {"x": [1]}}) == parse(SEED_PAYLOAD)


def test_frozen_slotted_hashable_all_the_way_down() -> None:
    rec = parse(SEED_PAYLOAD)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        rec.sid = "x"  # type: ignore[misc]
    assert not hasattr(rec, "__dict__")
    assert hash(rec) == hash(parse(SEED_PAYLOAD))
    assert {rec, parse(SEED_PAYLOAD)} == {rec}
    assert rec.links is not None
    with pytest.raises(TypeError):
        rec.links["media"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        rec.links._data = {}
    hash(rec.links)


def test_links_do_not_alias_the_input() -> None:
    payload = {"links": {"media": "https://a"}}
    rec = converter.structure(payload, MediaRecording)
    payload["links"]["media"] = "https://changed"
    assert rec.links == {"media": "https://a"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-05-04T09:42:00Z", datetime(2023, 5, 4, 9, 42, tzinfo=UTC)),
        ("2023-05-04T09:42:00+00:00", datetime(2023, 5, 4, 9, 42, tzinfo=UTC)),
        ("2023-05-04T09:42:00.123456Z", datetime(2023, 5, 4, 9, 42, 0, 123456, tzinfo=UTC)),
        ("2023-05-04T09:42:00.5Z", datetime(2023, 5, 4, 9, 42, 0, 500000, tzinfo=UTC)),
        ("2023-05-04T11:42:00+02:00", datetime(2023, 5, 4, 9, 42, tzinfo=UTC)),
        ("2023-05-04T09:42:00", datetime(2023, 5, 4, 9, 42, tzinfo=UTC)),
        ("Thu, 04 May 2023 09:42:00 +0000", datetime(2023, 5, 4, 9, 42, tzinfo=UTC)),
        ("Thu, 04 May 2023 10:42:00 +0100", datetime(2023, 5, 4, 9, 42, tzinfo=UTC)),
    ],
)
def test_datetimes_become_aware_utc(text: str, expected: datetime) -> None:
    value = parse({"date_created": text}).date_created
    assert value == expected
    assert value is not None
    assert value.tzinfo is UTC


@pytest.mark.parametrize(("raw", "expected"), [(42, 42), ("42", 42), ("-3", -3), (42.0, 42)])
def test_integer_fields_accept_ints_and_integer_strings(raw: object, expected: int) -> None:
    assert parse({"duration": raw}).duration == expected


@pytest.mark.parametrize("raw", [True, False, 1.5, "abc", "1.5", " 4", "", [1], {"a": 1}])
def test_integer_fields_reject_everything_else(raw: object) -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse({"duration": raw})
    assert info.value.errors[0].startswith("$.duration:")
    assert "$.duration" in str(info.value)
    assert info.value.body  # a truncated excerpt of what came


def test_media_size_errors_name_media_size() -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse({"media_size": "big"})
    assert info.value.errors[0].startswith("$.media_size:")


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("sid", 5),
        ("status", 3),
        ("format", ["mp4"]),
        ("date_created", "yesterday"),
        ("date_created", 1683193320),
        ("links", ["https://x"]),
        ("links", {"media": 5}),
        ("url", {"href": "x"}),
    ],
)
def test_wrong_types_name_the_field(field: str, raw: object) -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse({field: raw})
    assert info.value.errors[0].startswith(f"$.{field}:")


def test_several_errors_are_all_reported() -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse({"duration": "x", "status": 1, "sid": 2})
    paths = sorted(e.split(":")[0] for e in info.value.errors)
    assert paths == ["$.duration", "$.sid", "$.status"]


@pytest.mark.parametrize(("body", "what"), [(b"[1, 2]", "list"), (b"null", "null"), (b"7", "int")])
def test_top_level_must_be_an_object(body: bytes, what: str) -> None:
    with pytest.raises(ResponseValidationError) as info:
        structure_recording(loads_json(body), body)
    assert info.value.errors == (f"$: expected an object, got {what}",)


@pytest.mark.parametrize("body", [b"<html>502</html>", b'{"sid": "KV', b"", b"\xff\xfe"])
def test_not_json(body: bytes) -> None:
    with pytest.raises(ResponseValidationError, match="not valid JSON"):
        loads_json(body)


def test_long_bodies_are_truncated_in_errors() -> None:
    body = b'{"duration": "' + b"x" * 100_000 + b'"}'
    with pytest.raises(ResponseValidationError) as info:
        structure_recording(loads_json(body), body)
    assert len(info.value.body) < 300
    assert len(str(info.value)) < 500


def test_unknown_enum_values_are_kept_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="twilio_media_async")
    first = parse({"status": "archived-test-1", "format": "mkv-test-1"})
    second = parse({"status": "archived-test-1"})
    assert first.status == "archived-test-1"
    assert str(first.status) == "archived-test-1"
    assert isinstance(first.status, RecordingStatus)
    assert first.status is not None
    assert not first.status.is_known
    assert RecordingStatus.COMPLETED.is_known
    assert first.format == "mkv-test-1"
    assert second.status == first.status
    warnings = [r for r in caplog.records if "archived-test-1" in r.getMessage()]
    assert len(warnings) == 1
    assert converter.unstructure(first)["status"] == "archived-test-1"
    assert converter.structure(converter.unstructure(first), MediaRecording) == first


def test_enums_are_str_valued() -> None:
    completed: str = RecordingStatus.COMPLETED
    assert completed == "completed"
    assert str(RecordingFormat.WEBM) == "webm"
    assert [m.value for m in RecordingStatus] == ["processing", "completed", "deleted", "failed"]
    assert [m.value for m in HttpMethod] == ["HEAD", "GET", "POST", "PATCH", "PUT", "DELETE"]


def test_unstructure_gives_twilio_json() -> None:
    data = converter.unstructure(parse(SEED_PAYLOAD))
    assert data["date_created"] == "2023-05-04T09:42:00+00:00"
    assert data["status"] == "processing"
    assert type(data["status"]) is str
    assert data["size"] == data["media_size"] == 4242
    assert data["links"] == SEED_PAYLOAD["links"]
    assert orjson.loads(orjson.dumps(data)) == data  # plain JSON types only
    assert {k: v for k, v in data.items() if k != "media_size"} == {
        **SEED_PAYLOAD,
        "date_updated": "2024-05-04T09:42:00+00:00",
    }


# -- properties ---------------------------------------------------------------------------

hex32 = st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=32)
utc_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
opt = st.none

recordings = st.builds(
    MediaRecording,
    account_sid=opt() | hex32.map("AC".__add__),
    bitrate=opt() | st.integers(min_value=0, max_value=2**53),
    date_created=opt() | utc_datetimes,
    date_updated=opt() | utc_datetimes,
    duration=opt() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    format=opt() | st.sampled_from(RecordingFormat) | st.text(min_size=1).map(RecordingFormat),
    links=opt() | st.dictionaries(st.text(), st.text()).map(Links),
    processor_sid=opt() | hex32.map("ZX".__add__),
    resolution=opt() | st.text(),
    sid=opt() | hex32.map("KV".__add__),
    size=opt() | st.integers(min_value=0, max_value=2**63 - 1),
    source_sid=opt() | st.text(),
    status=opt() | st.sampled_from(RecordingStatus),
    status_callback=opt() | st.text(),
    status_callback_method=opt() | st.sampled_from(HttpMethod),
    url=opt() | st.text(),
)


@settings(max_examples=200)
@given(recordings)
def test_round_trip(rec: MediaRecording) -> None:
    assert converter.structure(converter.unstructure(rec), MediaRecording) == rec
    body = orjson.dumps(converter.unstructure(rec))
    assert structure_recording(loads_json(body), body) == rec


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
field_names = st.sampled_from([*SEED_PAYLOAD, "media_size"]) | st.text(max_size=8)


@settings(max_examples=300)
@given(st.dictionaries(field_names, json_values) | json_values)
def test_arbitrary_json_only_ever_raises_response_validation_error(data: Any) -> None:
    try:
        rec = converter.structure(data, MediaRecording)
    except ResponseValidationError as exc:
        assert exc.errors  # noqa: PT017 - hypothesis drives both outcomes here
        return
    assert isinstance(rec, MediaRecording)
    hash(rec)


def test_timezone_offsets_are_normalised() -> None:
    tz = timezone(timedelta(hours=-7))
    rec = converter.structure(
        {"date_created": datetime(2023, 1, 1, 1, tzinfo=tz).isoformat()}, MediaRecording
    )
    assert rec.date_created == datetime(2023, 1, 1, 8, tzinfo=UTC)


# -- the fast pass ------------------------------------------------------------------------

loose_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.sampled_from(
        [
            *(m.value for m in (*RecordingFormat, *RecordingStatus, *HttpMethod)),
            "MP4",
            "42",
            "2023-05-04T09:42:00Z",
            "2023-05-04T09:42:00.127+02:00",
            "2023-05-04",
            "Thu, 04 May 2023 09:42:00 +0000",
        ]
    )
    | st.dictionaries(st.text(max_size=3), st.text(max_size=3) | st.integers(), max_size=2)
    | st.lists(st.integers(), max_size=2)
)
served = recordings.map(converter.unstructure)


def _same(a: MediaRecording, b: MediaRecording) -> bool:
    # Equal, of the same types (a plain "mp4" equals RecordingFormat.MP4) and in the same
    # time zone (09:42+02:00 equals 07:42Z).
    fields = attrs.fields(MediaRecording)
    return (
        a == b
        and all(type(getattr(a, f.name)) is type(getattr(b, f.name)) for f in fields)
        and converter.unstructure(a) == converter.unstructure(b)
    )


@settings(max_examples=400)
@given(
    served
    | st.dictionaries(field_names, loose_values)
    | st.tuples(served, st.dictionaries(field_names, loose_values, max_size=2)).map(
        lambda pair: pair[0] | pair[1]
    )
)
def test_the_fast_pass_agrees_with_cattrs(data: dict[str, Any]) -> None:
    fast = _fast_recording(copy.deepcopy(data))
    if fast is None:
        return  # left to cattrs, which the other tests cover
    assert _same(fast, converter.structure(data, MediaRecording))


@pytest.mark.parametrize(
    "payload",
    [
        SEED_PAYLOAD,
        SPEC_PAYLOAD,
        {},
        {"date_created": "2023-05-04T09:42:00.127+02:00"},
        {"date_updated": "2023-05-04T09:42:00"},
        {"date_updated": "2023-05-04"},
    ],
    ids=["seed", "spec", "empty", "offset", "naive", "date-only"],
)
def test_the_usual_answers_take_the_fast_pass(payload: dict[str, Any]) -> None:
    fast = _fast_recording(dict(payload))
    assert fast is not None
    assert _same(fast, converter.structure(payload, MediaRecording))


@pytest.mark.parametrize(
    "unusual",
    [
        {"duration": "42"},
        {"size": True},
        {"date_created": "Thu, 04 May 2023 09:42:00 +0000"},
        {"status": "archived"},
        {"format": ["mp4"]},
        {"links": {"media": 7}},
        {"sid": 7},
        {"date_created": "0001-01-01T00:00:00+01:00"},  # out of range once in UTC
    ],
)
def test_unusual_values_are_left_to_cattrs(unusual: dict[str, Any]) -> None:
    assert _fast_recording(SEED_PAYLOAD | unusual) is None


@pytest.mark.parametrize("edge", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_date_that_leaves_the_calendar_in_utc_is_a_validation_error(edge: str) -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse(SEED_PAYLOAD | {"date_updated": edge})
    assert any(e.startswith("$.date_updated:") for e in info.value.errors)
