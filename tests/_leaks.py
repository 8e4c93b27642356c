"""Walk everything an error keeps alive, and say where a credential is found in it.

Error reporters (Sentry, structlog's ``format_exc_info``, a debugger, ``traceback`` with
``capture_locals``) show far more than ``str()`` and ``repr()``: the chain of causes and
contexts, every attribute, and the locals of every frame of every traceback.  ``leaks``
follows all of that, recursively (with a visited set and a bounded depth), and reports the
path to each credential it finds (never the credential itself), and to each aiohttp
response or request object, which holds the request's headers.

The client, its transport and engine, its redactor and aiohttp sessions hold the
credential by design, and so does whatever the caller holds (a fake server, the caller's
own frames, where the error was caught): a frame pointing at them (``self``) shows nothing
an error added, and a reporter shows their ``repr``, which is checked instead.  Only the
SDK's own frames are walked.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import types
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import aiohttp

import twilio_media_async
from twilio_media_async import MediaClient
from twilio_media_async._engine import RetryEngine
from twilio_media_async._redact import Redactor
from twilio_media_async._transport import Transport, TransportView
from twilio_media_async.testing import FakeMediaServer

__all__ = ["leaks"]

# Their repr is checked; what they are made of is not walked.
HOLDERS: Final = (
    MediaClient,
    Transport,
    TransportView,
    RetryEngine,
    Redactor,
    aiohttp.ClientSession,
    aiohttp.BaseConnector,
    FakeMediaServer,
    asyncio.AbstractEventLoop,
)
# What must never be reachable from an error at all.
FORBIDDEN_TYPES: Final = (aiohttp.ClientResponse, aiohttp.ClientRequest, aiohttp.RequestInfo)
_SKIPPED: Final = (type, types.ModuleType, int, float, complex, bool, type(None))
_SDK: Final = str(Path(twilio_media_async.__file__).parent)
_ESCAPE: Final = re.compile(r"\\u([0-9A-Fa-f]{4})|\\/")


def _decoded(text: str) -> str:
    """``text`` with JSON escapes spelled out, as whoever decodes it would read it."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else "/", text)


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, BaseException):
        yield ".args", obj.args
        yield ".__cause__", obj.__cause__
        yield ".__context__", obj.__context__
        yield ".__traceback__", obj.__traceback__
        yield ".__notes__", getattr(obj, "__notes__", None)
    if isinstance(obj, types.TracebackType):
        yield ".tb_frame", obj.tb_frame
        yield ".tb_next", obj.tb_next
        return
    if isinstance(obj, types.FrameType):
        if not obj.f_code.co_filename.startswith(_SDK):
            return  # the caller's frame: it holds what the caller holds
        for name, value in obj.f_locals.items():
            yield f"<local {obj.f_code.co_name}.{name}>", value
        return
    if isinstance(obj, Mapping):
        for key, value in list(obj.items()):
            yield f"[{key!r:.30}] key", key
            yield f"[{key!r:.30}]", value
        return
    if isinstance(obj, list | tuple | set | frozenset):
        for index, item in enumerate(obj):
            yield f"[{index}]", item
        return
    if isinstance(obj, types.CoroutineType):
        yield ".cr_frame", obj.cr_frame
        return
    if isinstance(obj, types.GeneratorType | types.AsyncGeneratorType):
        yield ".frame", getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        return
    if isinstance(obj, types.MethodType):
        yield ".__self__", obj.__self__
        return
    if isinstance(obj, types.FunctionType):
        for index, cell in enumerate(obj.__closure__ or ()):
            with contextlib.suppress(ValueError):  # an empty cell
                yield f"<closure {index}>", cell.cell_contents
        return
    yield from _attributes(obj)


def _attributes(obj: Any) -> Iterator[tuple[str, Any]]:
    names: list[str] = list(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    for name in dict.fromkeys(names):
        try:
            yield f".{name}", getattr(obj, name)
        except Exception:  # an unset slot, a property that fails
            continue


def _shown(obj: Any) -> str:
    try:
        return f"{obj!r} {obj!s}"
    except Exception:
        return ""


def leaks(root: object, secrets: Iterable[str], *, depth: int = 14) -> list[str]:
    """The paths from ``root`` to every credential in ``secrets`` (raw, or spelled with
    JSON escapes) and to every aiohttp response or request object it keeps."""
    wanted = [s for s in secrets if s]
    found: list[str] = []
    seen: set[int] = set()
    todo: list[tuple[Any, str, int]] = [(root, "error", 0)]

    def check(text: str, path: str) -> None:
        if any(secret in text for secret in wanted):
            found.append(path)
        elif "\\" in text and any(secret in _decoded(text) for secret in wanted):
            found.append(f"{path} (JSON-escaped)")

    while todo:
        obj, path, level = todo.pop()
        if obj is None or isinstance(obj, _SKIPPED) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            check(obj, path)
            continue
        if isinstance(obj, bytes | bytearray | memoryview):
            check(bytes(obj).decode("latin-1"), path)
            continue
        if isinstance(obj, FORBIDDEN_TYPES):
            found.append(f"{path} (a {type(obj).__name__})")
            continue
        if not isinstance(obj, types.FrameType | types.TracebackType | Mapping | list | tuple):
            check(_shown(obj), f"{path} (repr)")
        if isinstance(obj, HOLDERS) or level >= depth:
            continue
        todo.extend((child, f"{path}{name}", level + 1) for name, child in _children(obj))
    return found
