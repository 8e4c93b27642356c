"""make_recordings: deterministic recordings, valid under the spec (``testing/_data.py``)."""

from __future__ import annotations

import re
from datetime import UTC

import pytest

from tests.conftest import ACCOUNT_SID
from twilio_media_async import MediaRecording, converter
from twilio_media_async.testing import make_recordings

# The patterns and enums of schema media.v1.media_recording in twilio_media_v1.json 1.55.2.
SPEC_PATTERNS = {
    "account_sid": re.compile(r"^AC[0-9a-fA-F]{32}$"),
    "processor_sid": re.compile(r"^ZX[0-9a-fA-F]{32}$"),
    "source_sid": re.compile(r"^[a-zA-Z]{2}[0-9a-fA-F]{32}$"),
    "sid": re.compile(r"^KV[0-9a-fA-F]{32}$"),
}
SPEC_ENUMS = {
    "format": {"mp4", "webm"},
    "status": {"processing", "completed", "deleted", "failed"},
    "status_callback_method": {"HEAD", "GET", "POST", "PATCH", "PUT", "DELETE"},
}


def test_make_recordings_deterministic_and_valid() -> None:
    first = make_recordings(200, seed=5)
    assert first == make_recordings(200, seed=5)
    assert make_recordings(20, seed=5) == first[:20]
    assert make_recordings(20, seed=6) != first[:20]
    assert len({r.sid for r in first}) == 200
    assert make_recordings(0) == []
    with pytest.raises(ValueError, match="n must be"):
        make_recordings(-1)
    with pytest.raises(ValueError, match="account_sid"):
        make_recordings(1, account_sid="AC1")
    other = make_recordings(3, account_sid=ACCOUNT_SID)
    assert {r.account_sid for r in other} == {ACCOUNT_SID}

    assert len({r.processor_sid for r in first}) > 1
    assert len({r.date_created for r in first}) > 150
    for rec in first:
        data = converter.unstructure(rec)
        for field, pattern in SPEC_PATTERNS.items():
            assert pattern.match(data[field]), (field, data[field])
        for field, allowed in SPEC_ENUMS.items():
            assert data[field] in allowed, (field, data[field])
        assert rec.date_created is not None and rec.date_updated is not None
        assert rec.date_created.tzinfo is UTC and rec.date_updated > rec.date_created
        assert isinstance(rec.duration, int) and rec.duration > 0
        assert isinstance(rec.size, int) and rec.size > 0
        assert isinstance(rec.bitrate, int) and rec.bitrate > 0
        url = f"https://media.twilio.com/v1/MediaRecordings/{rec.sid}"
        assert rec.url == url
        assert rec.links == {"media": f"{url}/Media", "timed_metadata": f"{url}/TimedMetadata"}
        assert rec.status_callback and rec.status_callback.startswith("https://")
        assert re.fullmatch(r"\d+x\d+", rec.resolution or "")
        assert converter.structure(data, MediaRecording) == rec
