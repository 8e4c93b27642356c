"""The result type of the archive's bulk method: one DownloadResult per item."""

from __future__ import annotations

from typing import Any

import attrs

from .errors import TwilioMediaError

__all__ = ["DownloadResult"]


@attrs.frozen(kw_only=True)
class DownloadResult:
    """The outcome of downloading one recording's media: a verified file, or an error.

    ``sid`` is the input item as given (a MediaRecording gives its sid).  ``path`` is the
    final file's path (None when no target was known: a bad item, a failed metadata
    fetch).  ``bytes`` is the file's length; ``sha256`` its hex digest and
    ``content_type`` the storage's media type, both None for a skipped file (one already in
    place with the expected size).  ``attempts`` counts the HTTP requests made for it, API
    and storage; ``request_id`` is the ``Twilio-Request-Id`` of the last API answer.
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

    @property
    def ok(self) -> bool:
        """True when the file is in place and verified (or was already there)."""
        return self.error is None
