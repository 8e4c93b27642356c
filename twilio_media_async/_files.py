"""The local destination of a download: ``<path>.partial``, fsync, atomic rename.

Bytes go to ``<path>.partial`` next to the final path, so that the final name only ever
holds a whole, verified file: it appears by ``os.replace`` after the partial file was
flushed and fsynced, and the directory is fsynced after, so that the rename itself
survives a crash.  A partial file left by an earlier run is resumed, never trusted whole.

Writes and the sha256 run on the event loop (page-cache writes are fast, and a thread hop
per chunk would cost more than it saves).  What can block on the disk runs in a thread, one
hop per step: creating and opening the partial file (with the hashing of a leftover one,
which can take seconds), and the commit (flush, fsync, rename, fsync of the directory).  A
file creation or a rename waits on the file system's journal, for milliseconds when the
disk is busy, and on the loop that wait would stall every other transfer of a bulk run.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
from pathlib import Path
from typing import IO, Final

from ._destination import Stored
from .errors import MediaWriteError
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
_OPEN_FLAGS: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


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


def _hash_prefix(fd: int) -> tuple[hashlib._Hash, int]:
    """The sha256 and size of what the open file ``fd`` holds, read from its start."""
    digest = hashlib.sha256()
    size = 0
    while chunk := os.pread(fd, _HASH_CHUNK, size):
        digest.update(chunk)
        size += len(chunk)
    return digest, size


def _lock(fd: int, path: Path) -> None:
    """Take the partial file for this download alone: another writer of the same file (a
    second process on the same directory) would mix its bytes into these.  The lock is
    held until the file is renamed onto its final name, then released by closing it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise MediaWriteError(
            f"{path} is being written by another download of the same file; "
            "not downloading it twice at once"
        ) from None
    # The file may have been renamed onto its final name between our open and our lock:
    # then the lock is on the final file, which must never be appended to.
    if (os.fstat(fd).st_ino, os.fstat(fd).st_dev) != _identity(path):
        raise MediaWriteError(f"{path} was committed by another download meanwhile")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_dev


def _open_partial(final: Path, path: Path) -> tuple[IO[bytes], hashlib._Hash, int]:
    """Create the parents, open the partial file for this download alone (never through
    a symbolic link: nothing is written outside the directory), and hash what an earlier
    run left."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, _OPEN_FLAGS, 0o644)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        _lock(fd, path)
        digest, size = _hash_prefix(fd)
        return os.fdopen(fd, "ab", buffering=0), digest, size
    except BaseException:
        os.close(fd)
        raise


def _write_error(path: Path, exc: OSError) -> MediaWriteError:
    return MediaWriteError(f"cannot write {path}: {exc.strerror or exc}")


def _close_opened(opening: asyncio.Future[tuple[IO[bytes], hashlib._Hash, int]]) -> None:
    """Close a file opened for a caller that was cancelled meanwhile."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result()[0].close()


def _commit(file: IO[bytes], path: Path, final: Path, size: int) -> None:
    """Fsync the partial file, check that it holds exactly the bytes counted and hashed,
    rename it (still locked, so no other writer can reach it under its final name), close
    it, and fsync the directory."""
    try:
        os.fsync(file.fileno())
        held = os.fstat(file.fileno()).st_size
        if held != size:
            raise MediaWriteError(
                f"{path} holds {held:,} bytes where {size:,} were written: not committed"
            )
        os.replace(path, final)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        file.close()
    _fsync_dir(final.parent)


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
        opening = asyncio.ensure_future(asyncio.to_thread(_open_partial, self.final, self.path))
        try:
            self._file, self.digest, self.size = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise
        return self.size

    def write(self, chunk: bytes) -> None:
        """Append a chunk and hash it; MediaWriteError when the disk refuses it, with the
        file cut back to the bytes counted so far, so that it resumes as it is."""
        assert self._file is not None
        try:
            view = memoryview(chunk)
            while view:  # unbuffered: a full disk may take part of a chunk
                written = self._file.write(view)
                view = view[written or 0 :]
        except OSError as exc:
            self._roll_back()
            raise _write_error(self.path, exc) from None
        self.digest.update(chunk)
        self.size += len(chunk)

    def _roll_back(self) -> None:
        assert self._file is not None
        # Should it fail, the file is left longer: its next open hashes what it holds.
        with contextlib.suppress(OSError):
            os.ftruncate(self._file.fileno(), self.size)

    def restart(self) -> None:
        """Drop every byte written (storage sent the whole file again)."""
        assert self._file is not None
        self._file.truncate(0)
        self.digest = hashlib.sha256()
        self.size = 0

    async def commit(self) -> str:
        """Flush, fsync, rename onto the final path, fsync the directory; the sha256."""
        file, self._file = self._file, None
        assert file is not None
        await asyncio.to_thread(_commit, file, self.path, self.final, self.size)
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
