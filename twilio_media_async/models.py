"""Typed, immutable models of the MediaRecording resource.

Field names, nullability and enum values follow Twilio's published fetch documentation and
the official OpenAPI spec (twilio_media_v1, version 1.55.2).  Every field is optional because
the API marks every field nullable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Final, Self

import attrs

from ._storage import plain_store_builder

__all__ = [
    "HttpMethod",
    "Links",
    "MediaRecording",
    "Page",
    "RecordingFormat",
    "RecordingOrder",
    "RecordingStatus",
]

_log = logging.getLogger("twilio_media_async")

# Unknown enum values are remembered so that each one is logged once.  The cap keeps a
# misbehaving server from growing this set without bound; past it we stay quiet.
_MAX_REMEMBERED_UNKNOWN: Final = 256
_unknown_seen: set[tuple[str, str]] = set()


class _OpenStrEnum(StrEnum):
    """A str enum that keeps values the SDK does not know yet instead of failing.

    An unknown value becomes a pseudo-member that compares equal to the raw string, gives
    that string from ``str()`` and round-trips through the converter.  Twilio adds enum
    values over time; an old client must still be able to read new payloads.
    """

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        key = (cls.__name__, value)
        if key not in _unknown_seen and len(_unknown_seen) < _MAX_REMEMBERED_UNKNOWN:
            _unknown_seen.add(key)
            _log.warning(
                "unknown %s value %r from the server; keeping it as is", cls.__name__, value
            )
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether this value is one the SDK was built with (not a pseudo-member)."""
        return self._name_ in type(self).__members__


class RecordingStatus(_OpenStrEnum):
    """The status of a MediaRecording."""

    PROCESSING = "processing"
    COMPLETED = "completed"
    DELETED = "deleted"
    FAILED = "failed"


class RecordingFormat(_OpenStrEnum):
    """The container format of a MediaRecording."""

    MP4 = "mp4"
    WEBM = "webm"


class HttpMethod(_OpenStrEnum):
    """The HTTP method Twilio uses to call a status callback URL."""

    HEAD = "HEAD"
    GET = "GET"
    POST = "POST"
    PATCH = "PATCH"
    PUT = "PUT"
    DELETE = "DELETE"


class RecordingOrder(StrEnum):
    """The sort order of a list by ``date_created``; the API defaults to ``desc``."""

    ASC = "asc"
    DESC = "desc"


class _LinksSlots:
    """Links' storage, without its refusing ``__setattr__``: see ``_adopt_links``."""

    __slots__ = ("_data", "_hash")


class Links(_LinksSlots, Mapping[str, str]):
    """An immutable, hashable mapping of link names to URLs (``links["media"]``).

    Args:
        data: Link names to URLs; copied, so changing it later changes nothing here.
    """

    __slots__ = ()

    _data: dict[str, str]
    _hash: int | None

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        _set_data(self, dict(data) if data else {})
        _set_hash(self, None)

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            _set_hash(self, hash(frozenset(self._data.items())))
        return self._hash  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Links):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Links is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Links is immutable")

    def __repr__(self) -> str:
        return f"Links({self._data!r})"

    def to_dict(self) -> dict[str, str]:
        """Return a plain, mutable copy."""
        return dict(self._data)


# The slot descriptors write the attributes that __setattr__ refuses to touch.
_set_data = _LinksSlots.__dict__["_data"].__set__
_set_hash = _LinksSlots.__dict__["_hash"].__set__

_adopt_links: Final[Callable[[dict[str, str]], Links]] = plain_store_builder(
    "adopt_links", _LinksSlots, Links, ("_data",), {"_hash": "None"}
)
"""Links around a dict the caller hands over and never touches again (no copy).

Every recording the converter builds has its links made here, built from plain stores
as the recording is (``_storage``): Links adds no slot to ``_LinksSlots``."""


# MediaRecording's fields, in order: the slots of _RecordingSlots, and the order the
# converter's fast pass fills them in (a test holds this to attrs.fields).
_RECORDING_FIELDS: Final = (
    "account_sid", "bitrate", "date_created", "date_updated", "duration", "format", "links",
    "processor_sid", "resolution", "sid", "size", "source_sid", "status", "status_callback",
    "status_callback_method", "url",
)  # fmt: skip


class _RecordingSlots:
    """MediaRecording's storage, without the frozen ``__setattr__``.

    MediaRecording adds no slot of its own, so the two share one layout, and CPython lets
    an object of one be retyped as the other by assigning ``__class__``.  The converter's
    fast pass fills one of these with plain attribute stores and then retypes it: a
    quarter of the cost of writing a frozen class's sixteen slots through their
    descriptors, which was the largest part of structuring a recording.
    """

    __slots__ = (*_RECORDING_FIELDS, "__weakref__")


# No cache_hash: the converter's fast pass builds recordings from their slots, and a
# cached hash would be a slot of attrs' own to fill.  Hashing one costs about a
# microsecond; structuring thousands costs far more than the few that get hashed.
@attrs.frozen(kw_only=True)
class MediaRecording(_RecordingSlots):
    """Metadata of one recording, as returned by ``GET /v1/MediaRecordings/{Sid}``.

    Frozen, slotted and hashable.  Every field is ``None`` when the API sends null or leaves
    it out.  ``size`` holds the byte size, whether the server named it ``size`` or
    ``media_size``.  Datetimes are timezone-aware UTC.
    """

    account_sid: str | None = None
    bitrate: int | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    duration: int | None = None
    format: RecordingFormat | None = None
    links: Links | None = None
    processor_sid: str | None = None
    resolution: str | None = None
    sid: str | None = None
    size: int | None = None
    source_sid: str | None = None
    status: RecordingStatus | None = None
    status_callback: str | None = None
    status_callback_method: HttpMethod | None = None
    url: str | None = None


@attrs.frozen(kw_only=True)
class Page:
    """One page of a list: its recordings, and where the next page is.

    Save ``next_page_url`` to resume a long crawl later with ``client.pages(start_url=...)``.
    """

    items: tuple[MediaRecording, ...]
    next_page_url: str | None = None
    page_token: str | None = None
    url: str | None = None
    page: int | None = None
    page_size: int | None = None

    def __iter__(self) -> Iterator[MediaRecording]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
