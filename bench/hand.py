"""The recording class a careful user writes by hand, and its cattrs structuring.

``hand_pool`` in ``bench.client`` structures every body into this frozen attrs class with a
plain cattrs converter: the same fields, types and enums as ``MediaRecording`` (dates parsed
with ``datetime.fromisoformat``, links as a dict), without the SDK's validation paths, open
enums or fast pass.  It is the work fetch_many must not exceed.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import attrs
import cattrs

__all__ = ["HandRecording", "structure"]


class Status(Enum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    DELETED = "deleted"
    FAILED = "failed"


class Format(Enum):
    MP4 = "mp4"
    WEBM = "webm"


class Method(Enum):
    HEAD = "HEAD"
    GET = "GET"
    POST = "POST"
    PATCH = "PATCH"
    PUT = "PUT"
    DELETE = "DELETE"


@attrs.frozen
class HandRecording:
    """A MediaRecording as a user would declare it."""

    account_sid: str | None = None
    bitrate: int | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    duration: int | None = None
    format: Format | None = None
    links: dict[str, str] | None = None
    processor_sid: str | None = None
    resolution: str | None = None
    sid: str | None = None
    size: int | None = None
    source_sid: str | None = None
    status: Status | None = None
    status_callback: str | None = None
    status_callback_method: Method | None = None
    url: str | None = None


_converter = cattrs.Converter()
_converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))


def structure(body: Any) -> HandRecording:
    """One JSON body, as a HandRecording."""
    return _converter.structure(body, HandRecording)
