"""The per-item results of the bulk methods: FetchResult, DeleteResult, DownloadResult.

They live apart from ``models`` (the resource) because they carry errors: ``errors`` names
``MediaRecording``, and these name both, so neither of the two imports the other back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs

from ._storage import plain_store_builder
from .errors import TwilioMediaError
from .models import MediaRecording

__all__ = ["DeleteResult", "DownloadResult", "FetchResult", "deleted", "fetched"]


class _Outcome:
    """What every per-item result has: an ``error`` (None on success) and ``ok``."""

    __slots__ = ()

    error: TwilioMediaError | None

    @property
    def ok(self) -> bool:
        """True when the item succeeded: ``error`` is None."""
        return self.error is None


class _FetchSlots(_Outcome):
    """FetchResult's storage without its frozen ``__setattr__``: see ``fetched``."""

    __slots__ = ("__weakref__", "attempts", "error", "recording", "request_id", "sid")


class _DeleteSlots(_Outcome):
    """DeleteResult's storage without its frozen ``__setattr__``: see ``deleted``."""

    __slots__ = ("__weakref__", "attempts", "error", "request_id", "sid")


@attrs.frozen(kw_only=True)
class FetchResult(_FetchSlots):
    """The outcome for one item given to ``fetch_many``: a recording or an error, never both.

    ``sid`` is the input item exactly as given, even when it was not a valid sid.
    ``attempts`` counts the HTTP requests made for it (0 when nothing was sent).
    ``request_id`` is the ``Twilio-Request-Id`` of the answer that decided the result: the
    recording's, or the final error's (None when no answer decided it: a bad sid, a
    timeout, a connection error).  Quote it to Twilio support.  ``ok`` is True when a
    recording was fetched.
    """

    sid: Any
    recording: MediaRecording | None = None
    error: TwilioMediaError | None = None
    attempts: int = 0
    request_id: str | None = None


@attrs.frozen(kw_only=True)
class DeleteResult(_DeleteSlots):
    """The outcome for one item given to ``delete_many``: deleted, or an error.

    ``sid`` is the input item exactly as given, even when it was not a valid sid.
    ``attempts`` counts the HTTP requests made for it (0 when nothing was sent).  A delete
    whose later attempt got 404 after an earlier one may have reached the server (the
    idempotent DELETE rule) is ok; a sid that never existed gets a ``NotFoundError``.
    ``request_id`` is the ``Twilio-Request-Id`` of the answer that decided the result: the
    204's (or the 404's that found the recording gone), or the final error's (None when no
    answer decided it: a bad sid, a timeout, a connection error).  ``ok`` is True when the
    recording was deleted (or found already gone after an ambiguous attempt).
    """

    sid: Any
    error: TwilioMediaError | None = None
    attempts: int = 0
    request_id: str | None = None


@attrs.frozen(kw_only=True)
class DownloadResult(_Outcome):
    """The outcome of downloading one recording's media: a verified file, or an error.

    ``sid`` is the input item as given (a MediaRecording gives its sid).  ``path`` is the
    final file's path (None when no target was known: a bad item, a failed metadata
    fetch).  ``bytes`` is the file's length; ``sha256`` its hex digest and
    ``content_type`` the storage's media type, both None for a skipped file (one already in
    place with the expected size).  ``attempts`` counts the HTTP requests made for it, API
    and storage; ``request_id`` is the ``Twilio-Request-Id`` of the last API answer.
    ``ok`` is True when the file is in place and verified (or was already there).
    """

    sid: Any
    path: str | None = None
    bytes: int = 0
    sha256: str | None = None
    content_type: str | None = None
    skipped: bool = False
    error: TwilioMediaError | None = None
    attempts: int = 0
    request_id: str | None = None


# A bulk run makes one result per item.  attrs' keyword __init__ of a frozen class writes
# each field through object.__setattr__, a slow call each; these fill the storage class
# with plain stores and retype it as the result (see _storage): the same object, a quarter
# of the cost (a test holds each to its __init__).
fetched: Final[Callable[[Any, MediaRecording, int, str | None], FetchResult]] = plain_store_builder(
    "fetched",
    _FetchSlots,
    FetchResult,
    ("sid", "recording", "attempts", "request_id"),
    {"error": "None"},
)
"""The FetchResult of a fetched recording: ``fetched(sid, recording, attempts, request_id)``."""
deleted: Final[Callable[[Any, int, str | None], DeleteResult]] = plain_store_builder(
    "deleted", _DeleteSlots, DeleteResult, ("sid", "attempts", "request_id"), {"error": "None"}
)
"""The DeleteResult of a deleted recording: ``deleted(sid, attempts, request_id)``."""
