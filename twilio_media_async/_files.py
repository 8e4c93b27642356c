"""The local destination of a download: ``<path>.partial``, fsync, atomic rename.

Bytes go to ``<path>.partial`` next to the final path, so that the final name only ever
holds a whole, verified file: it appears by ``os.replace`` after the partial file was
flushed and fsynced, and the directory is fsynced after, so that the rename itself
survives a crash.  A partial file left by an earlier run is resumed, never trusted whole.

Writes and the sha256 run on the event loop (page-cache writes are fast, and a thread hop
per chunk would cost more than it saves); fsync and the hashing of a leftover partial file,
which can take seconds, run in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path
from typing import IO, Final

from ._destination import Stored
from .models import RecordingFormat

__all__ = [
    "PARTIAL_SUFFIX",
    "Directory",
    "LocalPlace",
    "PartialFile",
    "existing_size",
    "extension",
    "target_in",
]

PARTIAL_SUFFIX: Final = ".partial"
_EXTENSION: Final = re.compile(r"[a-z0-9]{1,8}\Z")
_HASH_CHUNK: Final = 1 << 20


def extension(fmt: RecordingFormat | str | None) -> str:
    """A file extension from a recording's format: the format when it matches
    ``[a-z0-9]{1,8}``, else ``bin``; nothing else the server says reaches a file name."""
    text = str.__str__(fmt) if isinstance(fmt, str) else ""
    return text if _EXTENSION.match(text) else "bin"


def target_in(directory: Path, sid: str, fmt: RecordingFormat | str | None) -> Path:
    """``<directory>/<sid>.<ext>`` for a checked sid (``KV`` and 32 hex digits: no
    separator, no dot), so the file is always inside ``directory``."""
    return directory / f"{sid}.{extension(fmt)}"


def existing_size(path: Path) -> int | None:
    """The size of a regular file at ``path``, or None when there is none."""
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return stat.st_size if os.path.isfile(path) else None


def _hash_prefix(path: Path) -> tuple[hashlib._Hash, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest, size


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform without directory handles: the rename stands as is
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class PartialFile:
    """``<final>.partial``: resumed from where it ends, hashed on the way, committed by an
    atomic rename onto ``final``.

    Args:
        final: The final path.
    """

    def __init__(self, final: Path) -> None:
        self.final: Final = final
        self.path: Final = final.with_name(final.name + PARTIAL_SUFFIX)
        self.size = 0
        self.digest = hashlib.sha256()
        self._file: IO[bytes] | None = None

    full: Final = False
    """Page-cache writes never push back."""

    async def drain(self) -> None:
        """Nothing to wait for."""

    async def open(self) -> int:
        """Create the parent directories and open the partial file, its bytes (if an
        earlier run left any) hashed first; return its size."""
        self.final.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            self.digest, self.size = await asyncio.to_thread(_hash_prefix, self.path)
        self._file = self.path.open("ab")
        return self.size

    def write(self, chunk: bytes) -> None:
        """Append a chunk and hash it."""
        assert self._file is not None
        self._file.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def restart(self) -> None:
        """Drop every byte written (storage sent the whole file again)."""
        assert self._file is not None
        self._file.flush()
        self._file.truncate(0)
        self.digest = hashlib.sha256()
        self.size = 0

    async def commit(self) -> str:
        """Flush, fsync, rename onto the final path, fsync the directory; the sha256."""
        file, self._file = self._file, None
        assert file is not None
        try:
            file.flush()
            await asyncio.to_thread(os.fsync, file.fileno())
        finally:
            file.close()
        os.replace(self.path, self.final)
        await asyncio.to_thread(_fsync_dir, self.final.parent)
        return self.digest.hexdigest()

    def discard(self) -> None:
        """Close and remove the partial file (its bytes are wrong)."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.digest = hashlib.sha256()
        self.size = 0

    def close(self) -> None:
        """Close the partial file and keep it, for a later resume."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    async def aclose(self) -> None:
        """``close``, as the writer protocol names it."""
        self.close()


class LocalPlace:
    """A final path in a directory, as a place of the destination protocol."""

    def __init__(self, path: Path) -> None:
        self.path: Final = path

    @property
    def key(self) -> Path:
        """The final path."""
        return self.path

    @property
    def url(self) -> str:
        """The final path, as given."""
        return str(self.path)

    async def stored(self) -> Stored | None:
        """The regular file there (its sha256 is not known without reading it)."""
        size = existing_size(self.path)
        return None if size is None else Stored(size)

    def writer(self) -> PartialFile:
        """``<path>.partial``."""
        return PartialFile(self.path)


class Directory:
    """A local directory as the destination of a run: ``<directory>/<sid>.<ext>``."""

    def __init__(self, directory: Path) -> None:
        self.directory: Final = directory

    def place(self, sid: str, fmt: RecordingFormat | str | None) -> LocalPlace:
        """The recording's file in the directory."""
        return LocalPlace(target_in(self.directory, sid, fmt))

    async def aclose(self) -> None:
        """Nothing to release."""
