"""The archive's pure decisions: answers of the media link and of storage, resume, checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from twilio_media_async import (
    InvalidParameterError,
    MediaIntegrityError,
    MediaRecording,
    MediaUnavailableError,
    RecordingStatus,
    TwilioMediaError,
)
from twilio_media_async._files import extension
from twilio_media_async._media import (
    Attempts,
    ContentRange,
    Step,
    check_storage_url,
    check_ttl,
    check_unavailable,
    display_url,
    expected_total,
    on_resolve,
    on_storage_answer,
    parse_content_range,
    verify,
)

LINK = URL("https://media.twilio.com/v1/MediaRecordings/KV01/Media")


# -- storage answers ----------------------------------------------------------------------


def test_a_206_that_starts_at_the_bytes_on_disk_appends() -> None:
    assert on_storage_answer(206, 500, ContentRange(500, 999, 1000)) is Step.APPEND


@pytest.mark.parametrize("crange", [None, ContentRange(0, 999, 1000), ContentRange(400, 999, None)])
def test_a_206_that_starts_elsewhere_or_has_no_content_range_is_a_bad_range(
    crange: ContentRange | None,
) -> None:
    assert on_storage_answer(206, 500, crange) is Step.BAD_RANGE


def test_a_200_to_a_range_request_restarts_from_zero() -> None:
    assert on_storage_answer(200, 500, None) is Step.RESTART
    assert on_storage_answer(200, 0, None) is Step.APPEND


def test_a_416_verifies_what_is_on_disk_and_fails_with_nothing_on_disk() -> None:
    assert on_storage_answer(416, 1000, None) is Step.VERIFY_DISK
    assert on_storage_answer(416, 0, None) is Step.FAIL


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_refused_presigned_url_is_resolved_again(status: int) -> None:
    assert on_storage_answer(status, 0, None) is Step.RESOLVE


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_429_and_5xx_wait_as_the_policy_says(status: int) -> None:
    assert on_storage_answer(status, 10, None) is Step.WAIT


@pytest.mark.parametrize("status", [404, 410, 204])
def test_other_answers_fail_the_item(status: int) -> None:
    assert on_storage_answer(status, 0, None) is Step.FAIL


def test_expected_total_comes_from_the_content_range_or_the_content_length() -> None:
    assert expected_total(200, 0, 1000, None) == 1000
    assert expected_total(206, 500, 500, ContentRange(500, 999, 1000)) == 1000
    assert expected_total(206, 500, 500, ContentRange(500, 999, None)) == 1000
    assert expected_total(200, 0, None, None) is None


# -- Content-Range ------------------------------------------------------------------------


def test_content_range_parses() -> None:
    assert parse_content_range("bytes 0-99/100") == ContentRange(0, 99, 100)
    assert parse_content_range("bytes 5-9/*") == ContentRange(5, 9, None)


@pytest.mark.parametrize(
    "value",
    [None, "", "bytes */100", "bytes 9-5/100", "bytes 0-100/100", "items 0-1/2", "bytes 0-1"],
)
def test_a_malformed_content_range_is_none(value: str | None) -> None:
    assert parse_content_range(value) is None


@given(st.integers(0, 2**40), st.integers(0, 2**40), st.integers(1, 2**41) | st.none())
def test_content_range_round_trips_or_is_refused(
    first: int, length: int, total: int | None
) -> None:
    last = first + length
    text = f"bytes {first}-{last}/{'*' if total is None else total}"
    parsed = parse_content_range(text)
    if total is not None and last >= total:
        assert parsed is None
    else:
        assert parsed == ContentRange(first, last, total)


@given(st.text(max_size=60))
def test_content_range_never_crashes_on_any_text(value: str) -> None:
    parsed = parse_content_range(value)
    assert parsed is None or 0 <= parsed.first <= parsed.last


# -- resolve ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_with_an_absolute_location_resolves(status: int) -> None:
    resolved = on_resolve(LINK, status, "https://s3.example/a.mp4?X-Sig=1", "", None)
    assert resolved.url == URL("https://s3.example/a.mp4?X-Sig=1") and not resolved.direct


def test_a_relative_location_is_joined_to_the_link() -> None:
    resolved = on_resolve(LINK, 302, "/media/a.mp4?sig=1", "", None)
    assert resolved.url == URL("https://media.twilio.com/media/a.mp4?sig=1")


def test_a_json_redirect_to_resolves() -> None:
    body = b'{"redirect_to": "https://s3.example/a.mp4?sig=1"}'
    resolved = on_resolve(LINK, 200, None, "application/json", body)
    assert resolved.url == URL("https://s3.example/a.mp4?sig=1")


def test_any_other_200_is_the_media_itself() -> None:
    resolved = on_resolve(LINK, 200, None, "video/mp4", None)
    assert resolved.direct and resolved.url == LINK


@pytest.mark.parametrize(
    ("status", "location", "content_type", "body"),
    [
        (302, None, "", None),
        (200, None, "application/json", b"{}"),
        (200, None, "application/json", b"not json"),
        (302, "ftp://host/file", "", None),
        (204, None, "", None),
    ],
)
def test_a_resolve_answer_that_leads_nowhere_is_an_error(
    status: int, location: str | None, content_type: str, body: bytes | None
) -> None:
    with pytest.raises(TwilioMediaError):
        on_resolve(LINK, status, location, content_type, body)


def test_an_http_storage_url_is_refused_under_an_https_client() -> None:
    check_storage_url(URL("http://127.0.0.1:9/a"), secure=False)
    check_storage_url(URL("https://s3.example/a"), secure=True)
    with pytest.raises(TwilioMediaError, match="downgrade"):
        check_storage_url(URL("http://s3.example/a?sig=secret"), secure=True)
    with pytest.raises(TwilioMediaError) as info:
        check_storage_url(URL("ftp://s3.example/a?sig=secret"), secure=False)
    assert "secret" not in str(info.value)


def test_display_url_drops_the_query_user_and_fragment() -> None:
    url = URL("https://user:pw@s3.example:8443/bucket/a.mp4?X-Amz-Signature=abc#frag")
    assert display_url(url) == "https://s3.example:8443/bucket/a.mp4"


# -- checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [1, 600, 3600, 60.0])
def test_ttl_accepts_whole_seconds(ttl: float) -> None:
    assert check_ttl(ttl) == int(ttl)


@pytest.mark.parametrize("ttl", [0, 3601, True, 1.5, float("nan"), float("inf"), "60", None])
def test_ttl_refuses_anything_else(ttl: object) -> None:
    with pytest.raises(InvalidParameterError, match="ttl"):
        check_ttl(ttl)


@pytest.mark.parametrize("status", ["processing", "failed", "deleted"])
def test_a_recording_without_media_is_unavailable(status: str) -> None:
    with pytest.raises(MediaUnavailableError) as info:
        check_unavailable(MediaRecording(sid="KV01", status=RecordingStatus(status)))
    assert info.value.status == status


def test_a_completed_or_unknown_status_is_available() -> None:
    check_unavailable(MediaRecording(sid="KV01", status=RecordingStatus.COMPLETED))
    check_unavailable(MediaRecording(sid="KV01"))


def test_verify_checks_the_content_length_and_the_recording_size() -> None:
    verify(10, 10, 10, "KV01")
    verify(10, None, None, "KV01")
    with pytest.raises(MediaIntegrityError) as info:
        verify(9, 9, 10, "KV01")
    assert (info.value.expected, info.value.received) == (10, 9)
    with pytest.raises(MediaIntegrityError) as info:
        verify(9, 10, None, "KV01")
    assert (info.value.expected, info.value.received) == (10, 9)


def test_only_attempts_without_progress_count_in_a_row_and_all_requests_are_capped() -> None:
    attempts = Attempts(max_attempts=3)
    for _ in range(2):
        attempts.sent()
        attempts.record(progress=False)
    attempts.sent()
    attempts.record(progress=True)  # progress resets the run of failures
    assert attempts.stalled == 0 and not attempts.exhausted
    for _ in range(3):
        attempts.sent()
        attempts.record(progress=False)
    assert attempts.exhausted
    capped = Attempts(max_attempts=2)
    for _ in range(8):
        capped.sent()
        capped.record(progress=True)
    assert capped.exhausted  # 2 x 4 media requests in all


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [("mp4", "mp4"), ("webm", "webm"), ("MP4", "bin"), ("../x", "bin"), ("a" * 9, "bin"),
     ("", "bin"), (None, "bin"), ("m/4", "bin")],
)  # fmt: skip
def test_the_extension_is_the_format_only_when_it_is_plain(fmt: str | None, ext: str) -> None:
    assert extension(fmt) == ext
