"""The fake server's recording store and list paging.  Pure: no I/O, no aiohttp.

Each recording's JSON is rendered once, when it is added, so answering a fetch is a dict
lookup and a list page is a join of ready-made bytes.

Page tokens are keyset tokens, as Twilio's are: ``PA<key>`` is "the page after the item
with this sort key" and ``PB<key>`` "the page before it".  Unlike an offset, a key stays
right when recordings are deleted or added between pages, so a crawl that deletes what it
lists still sees every recording exactly once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlencode

import attrs
import cattrs
import orjson

from twilio_media_async._api import LIST_KEY, MAX_PAGE_SIZE, RECORDINGS_PATH
from twilio_media_async._converter import converter, unstructure_recording
from twilio_media_async._sids import PROCESSOR_SID, SOURCE_SID
from twilio_media_async.errors import ResponseValidationError
from twilio_media_async.models import Links, MediaRecording, RecordingStatus

from ._data import API_ORIGIN

__all__ = ["ListError", "PayloadShape", "Store"]

PayloadShape = Literal["spec", "seed"]
"""``"spec"``: ``media_size`` and no ``bitrate`` (the OpenAPI spec 1.55.2); ``"seed"``:
``size`` and ``bitrate`` (the documented fetch page)."""

_DROPPED: Final[Mapping[str, tuple[str, ...]]] = {
    "spec": ("size", "bitrate"),
    "seed": ("media_size",),
}
_DEFAULT_PAGE_SIZE: Final = 50
_STATUSES: Final = frozenset(s.value for s in RecordingStatus)
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_TIME_BIAS: Final = 2**63  # keeps the time part of a key non-negative in a token
_CACHE_LIMIT: Final = 64
_LIST_OPEN: Final = b'{"' + LIST_KEY.encode() + b'":['
_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

Key = tuple[int, int]  # (date_created in microseconds, insertion sequence)
_ViewKey = tuple[str | None, str | None, str | None, bool]


class ListError(ValueError):
    """An invalid list parameter; the server answers 400 with Twilio code 20001."""


@attrs.frozen
class _Entry:
    recording: MediaRecording
    body: bytes
    key: Key


def _origin_of(url: str, old: str) -> str | None:
    """The origin ``url`` starts with, of the two that get rebased, or None."""
    for origin in (old, API_ORIGIN):
        if url.startswith(origin + "/"):
            return origin
    return None


def _time_key(recording: MediaRecording) -> int:
    created = recording.date_created
    if created is None:
        return -_TIME_BIAS  # recordings without a date sort first
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (created - _UNIX_EPOCH) // _MICROSECOND


def _token(prefix: str, key: Key) -> str:
    return f"{prefix}{key[0] + _TIME_BIAS:016x}{key[1]:x}"


def _parse_token(token: str) -> tuple[str, Key]:
    kind, rest = token[:2], token[2:]
    if kind not in ("PA", "PB") or len(rest) < 17 or not set(rest) <= _HEX:
        raise ListError("Invalid PageToken")
    return kind, (int(rest[:16], 16) - _TIME_BIAS, int(rest[16:], 16))


def _int_param(query: Mapping[str, str], name: str, low: int, high: int | None) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ListError(f"Invalid {name}: {raw[:40]!r} is not an integer")
    value = int(raw)
    if value < low or (high is not None and value > high):
        limit = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ListError(f"Invalid {name}: {value} must be {limit}")
    return value


class Store:
    """MediaRecordings by sid, in insertion order, with their JSON ready to send."""

    def __init__(self, payload_shape: PayloadShape = "spec") -> None:
        if payload_shape not in _DROPPED:
            raise ValueError(f"payload_shape must be 'spec' or 'seed', got {payload_shape!r}")
        self.payload_shape: Final = payload_shape
        self._dropped = _DROPPED[payload_shape]
        self._entries: dict[str, _Entry] = {}
        self._seq = 0
        # (status, processor, source, descending) -> (direction keys, entries), sorted
        self._views: dict[_ViewKey, tuple[list[Key], list[_Entry]]] = {}
        # The origin links point at: Twilio's until a server runs, then the server's own,
        # so that a client's same-origin check on ``links`` holds against it.
        self._origins = (API_ORIGIN, API_ORIGIN)

    def rebase(self, origin: str) -> None:
        """Point every link of Twilio's origin (or of the last one given) at ``origin``."""
        self._origins = (self._origins[1], origin)
        for entry in list(self._entries.values()):
            self.add(entry.recording)
        self._origins = (origin, origin)

    def _rebased(self, recording: MediaRecording) -> MediaRecording:
        links = recording.links
        if links is None:
            return recording
        old, new = self._origins
        moved = {}
        for name, url in links.items():
            origin = _origin_of(url, old)
            moved[name] = url if origin is None else new + url[len(origin) :]
        if moved == links:
            return recording
        return attrs.evolve(recording, links=Links(moved))

    # -- the store ----------------------------------------------------------------------

    def add(self, item: MediaRecording | Mapping[str, Any]) -> MediaRecording:
        """Add or replace a recording (a replaced one keeps its place in the order).

        Returns it as stored, which is as a client reads it back: in the "spec" shape,
        without ``bitrate``.
        """
        if isinstance(item, MediaRecording):
            recording = item
        elif isinstance(item, Mapping):
            try:
                recording = converter.structure(dict(item), MediaRecording)
            except (ResponseValidationError, cattrs.BaseValidationError) as exc:
                raise ValueError(f"not a valid MediaRecording: {exc}") from exc
        else:
            raise TypeError(f"expected a MediaRecording or a mapping, got {type(item).__name__}")
        if self.payload_shape == "spec" and recording.bitrate is not None:
            # Kept as a client will read it back: the spec's payload has no bitrate.
            recording = attrs.evolve(recording, bitrate=None)
        recording = self._rebased(recording)
        sid = recording.sid
        if not isinstance(sid, str) or not sid or "/" in sid:
            raise ValueError(f"a recording needs a sid (a str without '/'), got {sid!r}")
        data = unstructure_recording(recording)
        for key in self._dropped:
            data.pop(key, None)
        old = self._entries.get(sid)
        if old is not None:
            seq = old.key[1]
        else:
            self._seq += 1
            seq = self._seq
        self._entries[sid] = _Entry(recording, orjson.dumps(data), (_time_key(recording), seq))
        self._views.clear()
        return recording

    def get(self, sid: str) -> _Entry | None:
        """The entry for a sid, or None."""
        return self._entries.get(sid)

    def delete(self, sid: str) -> _Entry | None:
        """Remove a recording; return its entry, or None when there was none."""
        entry = self._entries.pop(sid, None)
        if entry is not None:
            self._views.clear()
        return entry

    def sids(self) -> list[str]:
        """The sids in insertion order."""
        return list(self._entries)

    def recordings(self) -> RecordingsView:
        """A live, read-only mapping of sid to MediaRecording."""
        return RecordingsView(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    # -- list ---------------------------------------------------------------------------

    def _view(
        self, status: str | None, processor: str | None, source: str | None, desc: bool
    ) -> tuple[list[Key], list[_Entry]]:
        cache_key = (status, processor, source, desc)
        view = self._views.get(cache_key)
        if view is not None:
            return view
        chosen = [
            e
            for e in self._entries.values()
            if (status is None or e.recording.status == status)
            and (processor is None or e.recording.processor_sid == processor)
            and (source is None or e.recording.source_sid == source)
        ]
        sign = -1 if desc else 1
        chosen.sort(key=lambda e: (sign * e.key[0], sign * e.key[1]))
        keys = [(sign * e.key[0], sign * e.key[1]) for e in chosen]
        if len(self._views) >= _CACHE_LIMIT:
            self._views.clear()
        view = self._views[cache_key] = (keys, chosen)
        return view

    def page(self, query: Mapping[str, str], base_url: str) -> bytes:
        """The JSON of one list page for the request's query; ListError for a bad one."""
        status, processor, source, order = _checked_filters(query)
        size = _int_param(query, "PageSize", 1, MAX_PAGE_SIZE) or _DEFAULT_PAGE_SIZE
        number = _int_param(query, "Page", 0, None) or 0
        token = query.get("PageToken")
        parsed = _parse_token(token) if token is not None else None

        desc = order != "asc"
        sign = -1 if desc else 1
        keys, entries = self._view(status, processor, source, desc)
        start = 0 if parsed is None else _page_start(keys, parsed, sign, size)
        chunk = entries[start : start + size]

        filters = [
            (name, value)
            for name, value in (
                ("Status", status),
                ("SourceSid", source),
                ("ProcessorSid", processor),
                ("Order", order),
            )
            if value is not None
        ]

        def url(page: int, page_token: str | None) -> str:
            params = [*filters, ("PageSize", str(size)), ("Page", str(page))]
            if page_token is not None:
                params.append(("PageToken", page_token))
            return f"{base_url}{RECORDINGS_PATH}?{urlencode(params)}"

        more_after = start + len(chunk) < len(entries)
        next_url = url(number + 1, _token("PA", chunk[-1].key)) if chunk and more_after else None
        previous_url: str | None = None
        if start > 0:
            if chunk:
                boundary = chunk[0].key
            else:  # past the end: the page before is the one that ends with the last item
                last = entries[start - 1].key
                boundary = (last[0], last[1] + sign)  # just after it, in this order
            previous_url = url(max(0, number - 1), _token("PB", boundary))
        meta = orjson.dumps(
            {
                "first_page_url": url(0, None),
                "next_page_url": next_url,
                "page": number,
                "page_size": size,
                "previous_page_url": previous_url,
                "url": url(number, token),
                "key": LIST_KEY,
            }
        )
        return b"".join((_LIST_OPEN, b",".join(e.body for e in chunk), b'],"meta":', meta, b"}"))


def _checked_filters(
    query: Mapping[str, str],
) -> tuple[str | None, str | None, str | None, str | None]:
    """The list filters of a query (Status, ProcessorSid, SourceSid, Order), each checked
    as Twilio checks it; ListError for a bad one."""
    status = query.get("Status")
    if status is not None and status not in _STATUSES:
        raise ListError(f"Invalid Status: {status[:40]!r}")
    processor = query.get("ProcessorSid")
    if processor is not None and not PROCESSOR_SID.match(processor):
        raise ListError(f"Invalid ProcessorSid: {processor[:40]!r}")
    source = query.get("SourceSid")
    if source is not None and not SOURCE_SID.match(source):
        raise ListError(f"Invalid SourceSid: {source[:40]!r}")
    order = query.get("Order")
    if order is not None and order not in ("asc", "desc"):
        raise ListError(f"Invalid Order: {order[:40]!r}")
    return status, processor, source, order


def _page_start(keys: list[Key], parsed: tuple[str, Key], sign: int, size: int) -> int:
    """Where a page token's page starts: just after its key (PA, the page after) or
    ``size`` entries before it (PB, the page before)."""
    kind, (first, second) = parsed
    at = (sign * first, sign * second)
    if kind == "PA":
        return bisect.bisect_right(keys, at)
    return max(0, bisect.bisect_left(keys, at) - size)


class RecordingsView(Mapping[str, MediaRecording]):
    """A live, read-only view of the store: sid -> MediaRecording, in insertion order."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, _Entry]) -> None:
        self._entries = entries

    def __getitem__(self, sid: str) -> MediaRecording:
        return self._entries[sid].recording

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<recordings: {len(self._entries)}>"
