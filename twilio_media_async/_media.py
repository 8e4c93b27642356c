"""The archive's decisions, without I/O: what each answer of the media link and of storage
means, how a transfer resumes, when it is whole, and when it gives up.

Everything here is a pure function of its arguments (or a small record of counts), so
that every rule is unit-tested on its own; ``_archive.py`` does the I/O and follows what
these say.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Final

import attrs
import orjson
from yarl import URL

from ._numbers import is_int, is_number
from .errors import (
    InvalidParameterError,
    MediaIntegrityError,
    MediaUnavailableError,
    TwilioMediaError,
)
from .models import MediaRecording, RecordingStatus

__all__ = [
    "MAX_STORAGE_REDIRECTS",
    "REDIRECTS",
    "Attempts",
    "ContentRange",
    "Resolved",
    "Step",
    "check_storage_url",
    "check_ttl",
    "check_unavailable",
    "display_url",
    "expected_total",
    "on_resolve",
    "on_storage_answer",
    "parse_content_range",
    "verify",
]

REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
MAX_STORAGE_REDIRECTS: Final = 5
MAX_TTL: Final = 3600
_UNAVAILABLE: Final = frozenset(
    {RecordingStatus.PROCESSING, RecordingStatus.FAILED, RecordingStatus.DELETED}
)
_CONTENT_RANGE: Final = re.compile(r"bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)\Z")


def display_url(url: URL) -> str:
    """``scheme://host[:port]/path`` of a URL: never its query string (a presigned URL's
    signature), user info or fragment."""
    try:
        return str(url.with_query(None).with_fragment(None).with_user(None))
    except (TypeError, ValueError):
        return "<an unreadable URL>"


def check_ttl(ttl: object) -> int:
    """``media_url``'s ``ttl``: an int (never a bool) from 1 to 3600, or a float with no
    fraction in that range."""
    if is_int(ttl) or (is_number(ttl) and isinstance(ttl, float) and float.is_integer(ttl)):
        seconds = int(ttl)
        if 1 <= seconds <= MAX_TTL:
            return seconds
    raise InvalidParameterError(
        f"ttl must be a whole number of seconds from 1 to {MAX_TTL}, got {ttl!r:.40}"
    )


def check_unavailable(recording: MediaRecording) -> None:
    """MediaUnavailableError for a recording whose status says it has no media."""
    status = recording.status
    if status is not None and status in _UNAVAILABLE:
        raise MediaUnavailableError(
            f"recording {recording.sid} has no media to download: its status is {status}",
            status=str(status),
        )


@attrs.frozen
class Resolved:
    """Where the media link led: a storage URL, or (``direct``) the media link itself,
    which answered with the media."""

    url: URL
    direct: bool = False


def on_resolve(
    link: URL, status: int, location: str | None, content_type: str, body: bytes | None
) -> Resolved:
    """What a resolve's 2xx or 3xx answer means: a redirect (``Location``, absolute or
    relative to the link), a 200 JSON ``redirect_to``, or any other 200, the media."""
    where = display_url(link)
    if status in REDIRECTS:
        if not location:
            raise TwilioMediaError(f"GET {where} answered {status} without a Location")
        return Resolved(_joined(link, location, where))
    if status == 200 and "json" in content_type.lower():
        try:
            target = orjson.loads(body or b"").get("redirect_to")
        except (orjson.JSONDecodeError, AttributeError):
            target = None
        if not isinstance(target, str) or not target:
            raise TwilioMediaError(f"GET {where} answered JSON without a redirect_to URL")
        return Resolved(_joined(link, target, where))
    if status == 200:
        return Resolved(link, direct=True)
    raise TwilioMediaError(f"GET {where} answered {status}, which is not a media answer")


def _joined(base: URL, target: str, where: str) -> URL:
    try:
        url = base.join(URL(target))
        ok = url.scheme in ("http", "https") and bool(url.host)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TwilioMediaError(f"GET {where} pointed at a URL that is not http(s)")
    return url


def check_storage_url(url: URL, *, secure: bool) -> None:
    """Refuse a storage URL that is not http(s), and an http one when ``secure`` (the
    client's base URL, or the storage URL that redirected here, is https)."""
    if url.scheme not in ("http", "https") or not url.host:
        raise TwilioMediaError(f"refusing the storage URL {display_url(url)}: not http(s)")
    if secure and url.scheme != "https":
        raise TwilioMediaError(
            f"refusing the storage URL {display_url(url)}: a downgrade from https to http"
        )


@attrs.frozen
class ContentRange:
    """A ``Content-Range: bytes first-last/total`` header (``total`` None for ``*``)."""

    first: int
    last: int
    total: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    """Parse a 206's Content-Range; None when absent or malformed (last before first, or
    a total that does not cover the range)."""
    if value is None:
        return None
    match = _CONTENT_RANGE.match(value.strip())
    if match is None:
        return None
    first, last = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if last < first or (total is not None and last >= total):
        return None
    return ContentRange(first, last, total)


class Step(enum.Enum):
    """What to do with a storage answer."""

    APPEND = "append"
    """A 206 that starts at the bytes on disk (or a 200 to a request from zero): write on."""
    RESTART = "restart"
    """A 200 to a Range request: storage sends the whole file; truncate and start over."""
    BAD_RANGE = "bad_range"
    """A 206 whose Content-Range does not start at the bytes on disk: try again."""
    VERIFY_DISK = "verify_disk"
    """416: the partial file may already be whole; verify what is on disk."""
    RESOLVE = "resolve"
    """400, 401 or 403: the presigned URL expired; resolve the link again."""
    WAIT = "wait"
    """429 or 5xx: wait as the retry policy says, then try again."""
    REDIRECT = "redirect"
    """A redirect: follow it, without credentials."""
    FAIL = "fail"
    """Anything else (404...): the item fails."""


def on_storage_answer(status: int, offset: int, content_range: ContentRange | None) -> Step:
    """The step for a storage answer to a request for the bytes from ``offset``."""
    if status == 206:
        if content_range is not None and content_range.first == offset:
            return Step.APPEND
        return Step.BAD_RANGE
    if status == 200:
        return Step.APPEND if offset == 0 else Step.RESTART
    if status == 416:
        return Step.VERIFY_DISK if offset > 0 else Step.FAIL
    if status in (400, 401, 403):
        return Step.RESOLVE
    if status == 429 or 500 <= status <= 599:
        return Step.WAIT
    if status in REDIRECTS:
        return Step.REDIRECT
    return Step.FAIL


def expected_total(
    status: int, offset: int, content_length: int | None, content_range: ContentRange | None
) -> int | None:
    """The whole file's length an APPEND answer implies: a 200's Content-Length, a 206's
    Content-Range total (or the offset plus its Content-Length); None when unknown."""
    if status == 206 and content_range is not None:
        if content_range.total is not None:
            return content_range.total
        return None if content_length is None else offset + content_length
    return content_length


def verify(received: int, announced: int | None, size: int | None, where: str) -> None:
    """MediaIntegrityError unless ``received`` equals the storage's announced length and
    the recording's size, each when known."""
    if (announced is None or received == announced) and (size is None or received == size):
        return
    expected = size if size is not None else announced
    assert expected is not None
    raise MediaIntegrityError(
        f"the media of {where} has {received} bytes, expected {expected}",
        expected=expected,
        received=received,
    )


@attrs.define
class Attempts:
    """The media requests of one item: ``max_attempts`` in a row without progress end it,
    and so do ``max_attempts * 4`` in all."""

    max_attempts: int
    stalled: int = 0
    made: int = 0

    def sent(self) -> None:
        """Count a media request."""
        self.made += 1

    def record(self, *, progress: bool) -> None:
        """How an attempt ended: with new bytes on disk, or without."""
        self.stalled = 0 if progress else self.stalled + 1

    @property
    def exhausted(self) -> bool:
        """True when the item must give up."""
        return self.stalled >= self.max_attempts or self.made >= self.max_attempts * 4


def content_length(headers: Mapping[str, str]) -> int | None:
    """A response's Content-Length, when it has a readable one."""
    raw = headers.get("Content-Length")
    if raw is None or not raw.isascii() or not raw.strip().isdigit():
        return None
    return int(raw)
