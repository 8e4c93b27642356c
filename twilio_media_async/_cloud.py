"""An object store as the archive's destination (the ``[cloud]`` extra, built on obstore).

Bytes stream from the storage URL into a multipart upload through a small bounded queue:
the upload is an ``obstore.put_async`` fed by an async generator that ends only when the
transfer commits, after its length was verified.  Any other end (a failed or cancelled
transfer, a wrong length) makes the generator raise, and obstore then aborts the upload:
no object, no orphaned parts.  (Cancelling ``put_async`` itself would leave its parts, so
the upload runs as a task of its own that is told to stop, never cancelled.)

The sha256 is known only at the last byte, after S3 has fixed the object's metadata, so
it goes into a sidecar ``<name>.sha256`` in sha256sum's format, written once the object
is complete.  The sidecar is the commit mark: an object is done only when its sidecar
names it and the object has the expected size.

obstore is imported lazily, so the SDK stays lean without the extra.  Credentials come
from each cloud's standard environment through obstore, never from the Twilio client,
and no message here carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

from ._destination import Destination, Stored
from ._files import Directory, extension
from .errors import InvalidParameterError, MediaIntegrityError, TransportError
from .models import RecordingFormat

__all__ = ["STORE_SCHEMES", "StoreDestination", "destination", "is_store_url", "open_store"]

STORE_SCHEMES: Final = ("s3", "gs", "az")
SIDECAR_SUFFIX: Final = ".sha256"
PART_SIZE: Final = 8 << 20
"""Bytes of one part of a multipart upload (S3 wants at least 5 MiB but for the last)."""
PART_CONCURRENCY: Final = 2
"""Parts of one upload in flight: with the queue, what bounds a transfer's memory."""
QUEUE_CHUNKS: Final = 16
"""Chunks waiting for the upload before a transfer stops reading from storage."""
_SIDECAR_CAP: Final = 512
_SIDECAR_LINE: Final = re.compile(rb"([0-9a-f]{64})  ([^\n/]+)\n\Z")
_EXTRA: Final = "pip install 'twilio-media-async[cloud]'"
_SECRET_NAME: Final = re.compile(r"(KEY|SECRET|TOKEN|SAS|PASSWORD|CREDENTIAL)")
_QUERY: Final = re.compile(r"(\w+://[^\s?\"'<>]+)\?[^\s\"'<>]*")


def is_store_url(value: object) -> bool:
    """Whether ``value`` is a str naming a store: ``s3://``, ``gs://`` or ``az://``."""
    return isinstance(value, str) and value.partition("://")[0].lower() in STORE_SCHEMES


def _obstore() -> Any:
    try:
        import obstore
        import obstore.store
    except ImportError:
        raise InvalidParameterError(
            f"archiving into object storage needs obstore: {_EXTRA}"
        ) from None
    return obstore


def scrub(text: str) -> str:
    """A store's message without any credential of the environment and with no URL query
    string (a presigned URL or a SAS token is one)."""
    for name, value in os.environ.items():
        cloud = name.startswith(("AWS_", "GOOGLE_", "AZURE_"))
        if cloud and _SECRET_NAME.search(name) and len(value) >= 4:
            text = text.replace(value, "***")
    return _QUERY.sub(r"\1?...", text)


def _describe(exc: BaseException) -> str:
    """The first line of a store error, scrubbed (obstore appends a debug dump)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return scrub(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def open_store(url: str) -> Any:
    """An obstore store for ``s3://bucket/prefix`` (or ``gs://``, ``az://``), configured
    from the environment; an http ``AWS_ENDPOINT_URL`` is honoured as given."""
    obstore = _obstore()
    options: dict[str, Any] = {}
    if url.lower().startswith("s3://"):
        endpoint = next(
            (
                os.environ[name]
                for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
                if os.environ.get(name)
            ),
            "",
        )
        if endpoint.lower().startswith("http://"):
            options["allow_http"] = True
    try:
        return obstore.store.from_url(url, client_options=options or None)
    except Exception as exc:  # obstore's configuration errors name no secret, but scrub
        raise InvalidParameterError(
            f"cannot open the store {_base_of_url(url)}: {_describe(exc)}"
        ) from None


def _base_of_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0]}"


def _store_root(store: Any) -> str:
    """The URL of a store's root, before its own prefix: ``s3://bucket/``, ``gs://bucket/``,
    ``az://container/``, ``file:///``, ``memory:///``."""
    kind = type(store).__name__
    config = getattr(store, "config", None) or {}
    if kind == "S3Store":
        return f"s3://{config.get('bucket', '')}/"
    if kind == "GCSStore":
        return f"gs://{config.get('bucket', '')}/"
    if kind == "AzureStore":
        return f"az://{config.get('container_name', '')}/"
    return f"{kind.removesuffix('Store').lower()}:///"


def _join(*parts: str | None) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def check_prefix(prefix: object) -> str:
    """``prefix=`` as a path inside the store: a str with no ``.`` or ``..`` segment."""
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise InvalidParameterError(f"prefix must be a str, got {type(prefix).__name__}")
    segments = prefix.strip("/").split("/")
    if prefix.strip("/") and any(s in ("", ".", "..") for s in segments):
        raise InvalidParameterError(f"prefix {prefix!r} must not hold '.', '..' or '//'")
    return prefix.strip("/")


def _is_store(value: object) -> bool:
    return type(value).__module__.startswith("obstore")


def destination(value: object, prefix: object = None) -> Destination:
    """The destination of ``download_many``: a directory, a store URL, or a store."""
    if is_store_url(value):
        assert isinstance(value, str)
        return StoreDestination(open_store(value), check_prefix(prefix))
    if isinstance(value, str | os.PathLike) and not _is_store(value):
        if prefix is not None:
            raise InvalidParameterError("prefix= is for a store, not a local directory")
        if not str(value):
            raise InvalidParameterError("directory must not be empty")
        return Directory(Path(value))
    if _is_store(value):
        return StoreDestination(value, check_prefix(prefix))
    raise InvalidParameterError(
        "directory must be a str or os.PathLike, a store URL (s3://, gs://, az://) or an "
        f"obstore store, got {type(value).__name__}"
    )


class StoreDestination:
    """A store and a prefix in it, as the destination of a run.

    Args:
        store: An obstore store (its own prefix, if any, comes first).
        prefix: A path inside the store, before each name.
    """

    def __init__(self, store: Any, prefix: str = "") -> None:
        self.store: Final = store
        self.prefix: Final = prefix
        self._root: Final = _store_root(store)
        self._store_prefix: Final = str(getattr(store, "prefix", None) or "")

    def url(self, path: str) -> str:
        """The URL of an object: the store's root, its own prefix, then ``path``."""
        return self._root + _join(self._store_prefix, path)

    def __repr__(self) -> str:
        return f"StoreDestination({self.url(self.prefix)!r})"

    def place(self, sid: str, fmt: RecordingFormat | str | None) -> StorePlace:
        """The object of a recording: ``<prefix>/<sid>.<ext>``."""
        name = f"{sid}.{extension(fmt)}"
        return StorePlace(self, _join(self.prefix, name), name)

    def place_of_url(self, url: str) -> StorePlace:
        """The place of an object URL this destination gave."""
        name = url.rpartition("/")[2]
        place = StorePlace(self, _join(self.prefix, name), name)
        if not name or place.url != url:
            raise InvalidParameterError(f"{url} is not an object of {self!r}")
        return place

    async def confirm(self, url: str, size: int, sha256: str) -> None:
        """Check that an object is done as a transfer left it: a HEAD confirms its size,
        and its sidecar holds ``sha256``; MediaIntegrityError otherwise."""
        place = self.place_of_url(url)
        stored = await place.stored()
        if stored is None or stored.size != size or stored.sha256 != sha256:
            if stored is None:
                found = "no object with a sidecar naming it"
            elif stored.size != size:
                found = f"{stored.size:,} bytes, not {size:,}"
            else:
                found = "a sidecar with another sha256"
            raise MediaIntegrityError(
                f"{url} does not hold this run's transfer: {found}",
                expected=size,
                received=0 if stored is None else stored.size,
            )

    async def aclose(self) -> None:
        """Nothing to release: the store's connections are obstore's."""


def _sidecar(sha256: str, name: str) -> bytes:
    return f"{sha256}  {name}\n".encode()


class StorePlace:
    """One object of a store destination, and its sidecar."""

    def __init__(self, destination: StoreDestination, path: str, name: str) -> None:
        self.destination, self.path, self.name = destination, path, name

    @property
    def key(self) -> str:
        """The object's path in the store."""
        return self.path

    @property
    def url(self) -> str:
        """The object's URL: the store's base, its prefix, ``prefix=``, the name."""
        return self.destination.url(self.path)

    def failure(self, what: str, exc: BaseException) -> TransportError:
        """A store request that failed, as a TransportError with nothing secret in it."""
        return TransportError(f"{what} {self.url} failed: {_describe(exc)}", url=self.url)

    async def stored(self) -> Stored | None:
        """The object when it is done: it has a sidecar naming it (HEAD, then the
        sidecar); None when either is missing or the sidecar is not one."""
        obstore = _obstore()
        store = self.destination.store
        try:
            meta = await obstore.head_async(store, self.path)
            got = await obstore.get_async(store, self.path + SIDECAR_SUFFIX)
            body = b"" if got.meta["size"] > _SIDECAR_CAP else bytes(await got.bytes_async())
        except FileNotFoundError:
            return None
        except Exception as exc:
            if type(exc).__name__ == "NotFoundError":
                return None
            raise self.failure("HEAD", exc) from None
        match = _SIDECAR_LINE.match(body)
        if match is None or match.group(2).decode(errors="replace") != self.name:
            return None
        return Stored(int(meta["size"]), match.group(1).decode())

    def writer(self) -> StoreWriter:
        """A multipart upload into this object."""
        return StoreWriter(self)


class _Abort(Exception):
    """Raised into an upload's input to make obstore abort it."""


_END: Final = object()
_ABORT: Final = object()


class _Upload:
    """One multipart upload, fed through a queue; ``stop`` aborts it."""

    def __init__(self, place: StorePlace) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.room: asyncio.Future[None] | None = None
        self.task = asyncio.get_running_loop().create_task(self._put(place))
        self.task.add_done_callback(lambda _: self._wake())

    async def _chunks(self) -> AsyncIterator[Any]:
        while True:
            item = await self.queue.get()
            if self.queue.qsize() <= QUEUE_CHUNKS // 2:
                self._wake()
            if item is _END:
                return
            if item is _ABORT:
                raise _Abort
            yield item

    async def _put(self, place: StorePlace) -> None:
        obstore = _obstore()
        await obstore.put_async(
            place.destination.store,
            place.path,
            self._chunks(),
            chunk_size=PART_SIZE,
            max_concurrency=PART_CONCURRENCY,
        )

    def _wake(self) -> None:
        room, self.room = self.room, None
        if room is not None and not room.done():
            room.set_result(None)

    @property
    def full(self) -> bool:
        return self.queue.qsize() >= QUEUE_CHUNKS or self.task.done()

    async def drain(self) -> None:
        while self.queue.qsize() >= QUEUE_CHUNKS and not self.task.done():
            self.room = asyncio.get_running_loop().create_future()
            await self.room

    def stop(self) -> None:
        # The chunks still queued would only be uploaded to be thrown away.
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(_ABORT)


class StoreWriter:
    """A transfer's bytes on their way into a store object (the writer protocol).

    Nothing to resume from a store: ``open`` always starts from zero.  Within a transfer
    the upload stays open across storage requests, so a cut goes on where it stopped.
    """

    def __init__(self, place: StorePlace) -> None:
        self.place: Final = place
        self.size = 0
        self.digest = hashlib.sha256()
        self._upload: _Upload | None = None
        self._stopped: list[asyncio.Task[None]] = []

    @property
    def full(self) -> bool:
        """True when the upload is behind (or has ended)."""
        return self._upload is not None and self._upload.full

    def _failed(self) -> TransportError | None:
        upload = self._upload
        if upload is None or not upload.task.done() or upload.task.cancelled():
            return None
        exc = upload.task.exception()
        if exc is None:
            return self.place.failure("PUT", RuntimeError("the upload ended early"))
        return self.place.failure("PUT", exc)

    async def open(self) -> int:
        """Start a multipart upload; always from zero."""
        if self._upload is None:
            self._upload = _Upload(self.place)
        return 0

    def write(self, chunk: bytes) -> None:
        """Queue a chunk for the upload, hashed; raise when the upload failed."""
        assert self._upload is not None
        if (error := self._failed()) is not None:
            raise error
        self._upload.queue.put_nowait(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    async def drain(self) -> None:
        """Wait for the upload to catch up; raise when it failed."""
        if self._upload is not None:
            await self._upload.drain()
        if (error := self._failed()) is not None:
            raise error

    def _stop(self) -> None:
        upload, self._upload = self._upload, None
        if upload is not None:
            upload.stop()
            self._stopped.append(upload.task)
        self.digest = hashlib.sha256()
        self.size = 0

    def restart(self) -> None:
        """Abort the upload and start another (storage sends the whole file again)."""
        self._stop()
        self._upload = _Upload(self.place)

    def discard(self) -> None:
        """Abort the upload: its bytes are wrong."""
        self._stop()

    async def commit(self) -> str:
        """Complete the upload, then write the sidecar; the sha256."""
        upload = self._upload
        assert upload is not None
        obstore = _obstore()
        store, path, sha256 = self.place.destination.store, self.place.path, self.digest.hexdigest()
        try:
            # An older sidecar must not vouch for the new bytes while they land.
            await obstore.delete_async(store, path + SIDECAR_SUFFIX)
        except Exception as exc:
            if type(exc).__name__ != "NotFoundError":
                raise self.place.failure("DELETE", exc) from None
        upload.queue.put_nowait(_END)
        # From here the upload completes even if this task is cancelled: its length was
        # verified, and without a sidecar the object does not count as done.
        self._upload = None
        try:
            await upload.task
        except Exception as exc:
            raise self.place.failure("PUT", exc) from None
        try:
            await obstore.put_async(store, path + SIDECAR_SUFFIX, _sidecar(sha256, self.place.name))
        except Exception as exc:
            raise self.place.failure("PUT", exc) from None
        return sha256

    async def aclose(self) -> None:
        """Abort an upload still open and wait for every aborted one to be gone."""
        self._stop()
        stopped, self._stopped = self._stopped, []
        for task in stopped:
            # Shielded: a second cancellation stops the wait, never the abort.
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
