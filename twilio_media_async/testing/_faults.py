"""Faults the fake server can inject, and the Twilio-shaped error bodies it answers with.

A :class:`Fault` is a frozen description; :class:`FaultPlan` decides when one applies (a
script, the ``script_next`` queue or the seeded random draw) and ``_replies.py`` how.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Final, Generic, Literal, TypeVar

import attrs
import orjson

from twilio_media_async._numbers import is_finite, is_int

__all__ = [
    "DEFAULT_FAULT_KINDS",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "Scripts",
    "checked_seconds",
    "error_body",
    "html_page",
    "twilio_code_for",
]

FaultKind = Literal[
    "rate_limited",
    "server_error",
    "status",
    "reset",
    "truncated",
    "latency",
    "slow_body",
    "wrong_content_type",
    "invalid_json",
    "altered_body",
]
"""The names a fault is recorded under (``RecordedRequest.fault``)."""

# Twilio's REST error codes for plain HTTP conditions.  Statuses not listed get 20000 + status
# (20404, 20429, 20500, 20503 and so on, which is what Twilio uses for those).
_TWILIO_CODES: Final = {400: 20001, 401: 20003, 405: 20004}


def twilio_code_for(status: int) -> int:
    """Twilio's error code for an HTTP status (20003 for 401, 20000 + status for most)."""
    return _TWILIO_CODES.get(status, 20000 + status)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(status: int, code: int, message: str) -> bytes:
    """Twilio's error JSON: ``{"code", "message", "more_info", "status"}`` as bytes."""
    return orjson.dumps(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )


def html_page(status: int) -> bytes:
    """The kind of HTML error page a proxy or load balancer in front of the API sends."""
    title = f"{status} {_reason(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def _retry_after_header(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if not is_finite(value) or value < 0:
        raise ValueError(f"retry_after must be a finite number >= 0, got {value!r}")
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def checked_seconds(value: float) -> float:
    """``value`` as a float of seconds; ValueError unless finite and >= 0."""
    if not is_finite(value) or value < 0:
        raise ValueError(f"seconds must be a finite number >= 0, got {value!r}")
    return float(value)


@attrs.frozen(kw_only=True)
class Fault:
    """One injected failure.  Build it with the factory classmethods, not directly.

    ``applied`` (for ``reset``, ``server_error`` and ``status``) makes the server carry the
    request out before failing it, so a DELETE really deletes: the ambiguous failure that
    a client must treat as "maybe done".  The other error faults leave the store untouched;
    the body faults (``truncated``, ``slow_body``, ``wrong_content_type``, ``invalid_json``)
    and ``latency`` always carry the request out and only spoil the answer.
    """

    kind: FaultKind
    """What happens; also the name recorded in ``RecordedRequest.fault``."""
    http_status: int | None = None
    """The status answered, for the status-based kinds."""
    twilio_code: int | None = None
    """The ``code`` in the error JSON."""
    message: str | None = None
    """The ``message`` in the error JSON."""
    retry_after: str | None = None
    """The ``Retry-After`` header value, sent verbatim."""
    html: bool = False
    """Answer with a proxy's HTML page instead of Twilio's JSON."""
    seconds: float = 0.0
    """The delay of ``latency`` and the stall of ``slow_body``."""
    applied: bool = False
    """Carry the request out (a DELETE deletes) before failing it."""
    patch: bytes = b""
    """For ``altered_body``: a JSON object whose fields replace the answer's."""
    drop: tuple[str, ...] = ()
    """For ``altered_body``: the fields taken out of the answer."""

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = None) -> Fault:
        """429 with Twilio's 20429 JSON.

        Args:
            retry_after: The ``Retry-After`` header: a number of seconds, a str sent
                verbatim (an HTTP-date, or anything odd), or None for no header.
        """
        return cls(
            kind="rate_limited",
            http_status=429,
            twilio_code=20429,
            message="Too Many Requests",
            retry_after=_retry_after_header(retry_after),
        )

    @classmethod
    def server_error(cls, status: int = 503, *, html: bool = False, applied: bool = False) -> Fault:
        """A 5xx with Twilio's error JSON, or a proxy's HTML page (``text/html``).

        Args:
            status: The 5xx status.
            html: Answer with a proxy's HTML page instead of Twilio's JSON.
            applied: Carry the request out first (a DELETE deletes), then fail.
        """
        if not is_int(status) or not 500 <= status <= 599:
            raise ValueError(f"server_error needs a 5xx status, got {status!r}")
        # A status fault under its own name, so that it is recorded as a server error.
        return attrs.evolve(cls.status(status, html=html, applied=applied), kind="server_error")

    @classmethod
    def status(
        cls,
        code: int,
        *,
        code_twilio: int | None = None,
        message: str | None = None,
        html: bool = False,
        applied: bool = False,
    ) -> Fault:
        """Any HTTP error status (400, 401, 403, ...) with Twilio's error JSON.

        Args:
            code: The 4xx or 5xx status.
            code_twilio: The ``code`` in the JSON; None: Twilio's code for the status
                (20001 for 400, 20003 for 401, 20000 + status otherwise).
            message: The ``message`` in the JSON; None: the status's reason phrase.
            html: Answer with a proxy's HTML page instead of Twilio's JSON.
            applied: Carry the request out first (a DELETE deletes), then fail.
        """
        if not is_int(code) or not 400 <= code <= 599:
            raise ValueError(f"status needs a 4xx or 5xx status, got {code!r}")
        return cls(
            kind="status",
            http_status=code,
            twilio_code=twilio_code_for(code) if code_twilio is None else code_twilio,
            message=_reason(code) if message is None else message,
            html=html,
            applied=applied,
        )

    @classmethod
    def reset(cls, *, applied: bool = False) -> Fault:
        """Close the connection before any byte of the answer.

        The client sees ``ServerDisconnectedError`` (or ``ClientOSError``).  Beware that
        aiohttp resends an idempotent request (GET, DELETE) once by itself after such a
        disconnect: a single reset is invisible to the caller and costs two server
        requests; script two in a row to make one surface.

        Args:
            applied: Carry the request out first (a DELETE deletes), then close.
        """
        return cls(kind="reset", applied=applied)

    @classmethod
    def truncated(cls) -> Fault:
        """Announce the full body's Content-Length, send half of it, then close the
        connection: the client sees ``ClientPayloadError``."""
        return cls(kind="truncated")

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Wait, then answer normally.

        Args:
            seconds: How long to wait before answering.
        """
        return cls(kind="latency", seconds=checked_seconds(seconds))

    @classmethod
    def slow_body(cls, seconds: float) -> Fault:
        """Send the headers and the first half of the body, stall, then send the rest:
        trips a client's ``sock_read`` timeout.

        Args:
            seconds: How long to stall in the middle of the body.
        """
        return cls(kind="slow_body", seconds=checked_seconds(seconds))

    @classmethod
    def wrong_content_type(cls) -> Fault:
        """Answer normally (a valid JSON body) but with ``Content-Type: text/html``."""
        return cls(kind="wrong_content_type")

    @classmethod
    def invalid_json(cls) -> Fault:
        """Answer ``application/json`` with a body that is not JSON (the first half of the
        real one)."""
        return cls(kind="invalid_json")

    @classmethod
    def altered_body(
        cls, changes: Mapping[str, object] | None = None, *, drop: Iterable[str] = ()
    ) -> Fault:
        """Answer normally, with the JSON object's fields changed: a server that sends
        another recording's ``sid``, or none at all.

        Args:
            changes: Fields set in the answer (JSON values; None sends null).
            drop: Fields taken out of the answer.
        """
        return cls(kind="altered_body", patch=orjson.dumps(dict(changes or {})), drop=tuple(drop))

    def alter(self, body: bytes) -> bytes:
        """``body`` (a JSON object) as ``altered_body`` changes it; other bodies as they are.

        Args:
            body: The answer's JSON body.
        """
        data = orjson.loads(body) if body else None
        if not isinstance(data, dict):
            return body
        for name in self.drop:
            data.pop(name, None)
        data.update(orjson.loads(self.patch) if self.patch else {})
        return orjson.dumps(data)


def _default_kinds() -> tuple[Fault, ...]:
    makers: list[Callable[[], Fault]] = [
        Fault.rate_limited,
        lambda: Fault.rate_limited(retry_after=1),
        lambda: Fault.server_error(500),
        lambda: Fault.server_error(502, html=True),
        lambda: Fault.server_error(503),
        lambda: Fault.server_error(504),
        Fault.reset,
    ]
    return tuple(make() for make in makers)


DEFAULT_FAULT_KINDS: Final[tuple[Fault, ...]] = _default_kinds()
"""What random faults are drawn from by default: 429 with and without Retry-After, 500, an
HTML 502 from a proxy, 503, 504 and a connection reset, with equal odds."""


F = TypeVar("F")


class Scripts(Generic[F]):
    """Scripted faults per key (a sid), each queue taken in order; None: a normal answer."""

    def __init__(self, kind: type[F]) -> None:
        self._kind = kind
        self._queues: dict[str, deque[F | None]] = {}

    def extend(self, key: str, faults: Iterable[F | None]) -> None:
        """Append to ``key``'s queue; TypeError for anything but ``kind`` or None."""
        self._queues.setdefault(key, deque()).extend(checked(faults, self._kind))

    def __contains__(self, key: str) -> bool:
        """Whether ``key`` has a scripted answer left (which may be None)."""
        return key in self._queues

    def pop(self, key: str) -> F | None:
        """The next scripted answer of ``key`` (which must have one)."""
        queue = self._queues[key]
        fault = queue.popleft()
        if not queue:
            del self._queues[key]
        return fault


def checked(faults: Iterable[F | None], kind: type[F]) -> list[F | None]:
    """``faults`` as a list; TypeError when one is neither a ``kind`` nor None."""
    items = list(faults)
    for item in items:
        if item is not None and not isinstance(item, kind):
            raise TypeError(f"expected {kind.__name__} or None, got {type(item).__name__}")
    return items


class FaultPlan:
    """Which fault a request gets: its sid's script, else the next-requests queue, else a
    seeded draw at ``rate`` from ``kinds``."""

    def __init__(self, seed: int, rate: float, kinds: Sequence[Fault]) -> None:
        self.scripts: Final = Scripts(Fault)
        self._next: deque[Fault | None] = deque()
        self._rng = random.Random(f"twilio-media-async:faults:{seed}")
        self._rate = rate
        self._kinds = kinds

    def script_next(self, faults: Iterable[Fault | None]) -> None:
        """Append to the queue of the next requests of any kind."""
        self._next.extend(checked(faults, Fault))

    def pick(self, sid: str | None) -> Fault | None:
        """The fault of one request, or None for a normal answer."""
        if sid is not None and sid in self.scripts:
            return self.scripts.pop(sid)
        if self._next:
            return self._next.popleft()
        if self._rate and self._rng.random() < self._rate:
            return self._rng.choice(self._kinds)
        return None
