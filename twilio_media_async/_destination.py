"""The seam between a download and where its bytes go: a local directory or a store.

A transfer streams into a ``Writer`` and commits it only once the length is verified; a
``Place`` says what is already there (for a skip) and opens that writer.  The local
directory (``_files.py``) and an object store (``_cloud.py``) both implement it, so that
``_archive.py`` holds one set of rules for both.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

import attrs

from .models import RecordingFormat

__all__ = ["Destination", "Place", "Stored", "Writer"]


@attrs.frozen
class Stored:
    """A file already in place: its size and, when the place keeps one, its sha256."""

    size: int
    sha256: str | None = None


class Writer(Protocol):
    """Bytes on their way to one place; nothing appears there before ``commit``."""

    size: int
    """Bytes written so far (and, for a resumed local file, found there)."""

    @property
    def full(self) -> bool:
        """True when the writer wants ``drain`` awaited before the next ``write``."""
        ...

    async def open(self) -> int:
        """Get ready to write; the bytes already there to go on from (0 to start over)."""
        ...

    def write(self, chunk: bytes) -> None:
        """Append a chunk (hashed on the way)."""
        ...

    async def drain(self) -> None:
        """Wait until the writer can take more."""
        ...

    def restart(self) -> None:
        """Drop every byte written: the whole file comes again."""
        ...

    async def commit(self) -> str:
        """Make the verified bytes appear under the final name; their sha256."""
        ...

    def discard(self) -> None:
        """Drop what was written (its bytes are wrong); ``open`` starts over."""
        ...

    async def aclose(self) -> None:
        """Stop writing: keep what a later resume can use, leave no incomplete file."""
        ...


class Place(Protocol):
    """Where one recording's file goes."""

    @property
    def key(self) -> Hashable:
        """What two items writing the same file share."""
        ...

    @property
    def url(self) -> str:
        """The result's ``path``: a file path or an object URL."""
        ...

    async def stored(self) -> Stored | None:
        """The complete file there, or None."""
        ...

    def writer(self) -> Writer:
        """A writer for this place."""
        ...


class Destination(Protocol):
    """Where a run's files go: a directory, or a store and a prefix."""

    def place(self, sid: str, fmt: RecordingFormat | str | None) -> Place:
        """The place of a recording's file, ``<sid>.<ext>`` (see ``_files.extension``)."""
        ...

    async def aclose(self) -> None:
        """Release what the destination holds."""
        ...
