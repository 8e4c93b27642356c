"""The exception hierarchy, and the pure function that turns an error response into one.

```text
TwilioMediaError
 |- InvalidSidError (also ValueError)      bad sid; nothing was sent
 |- InvalidParameterError (also ValueError) bad list filter; nothing was sent
 |- ClientClosedError                      the client was used after aclose()
 |    |- WrongEventLoopError               or in another event loop than its session's
 |- ForeignPageUrlError                    a page URL points at another origin
 |- WaitTimeoutError (also TimeoutError)   wait_for_completion ran out of time
 |- ResponseTooLargeError                  the body passed the size cap
 |- TransportError                         connect, reset, DNS or timeout
 |    |- RequestTimeoutError (also TimeoutError)
 |- ApiError                               any non-2xx response
 |    |- AuthenticationError 401 | PermissionDeniedError 403 | NotFoundError 404
 |    |- RateLimitError 429 (.retry_after)  | ServerError 5xx
 |- ResponseValidationError                not JSON, or the wrong shape
 |- MediaIntegrityError                    a media file of the wrong length
 |- MediaUnavailableError                  a recording with no media to download (.status)
```

No message or repr holds a credential: errors only ever see URLs and response bodies, and
the SDK never puts credentials in either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson

from ._numbers import is_int

if TYPE_CHECKING:
    from .models import MediaRecording

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ClientClosedError",
    "ForeignPageUrlError",
    "InvalidParameterError",
    "InvalidSidError",
    "MediaIntegrityError",
    "MediaUnavailableError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "TransportError",
    "TwilioMediaError",
    "WaitTimeoutError",
    "WrongEventLoopError",
    "api_error_from_response",
    "cap_text",
    "excerpt",
]

EXCERPT_CHARS: Final = 200
# A server's error message is shown whole up to this length; past it, its start is kept.
MESSAGE_CHARS: Final = 1000


def cap_text(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters cut]"


def excerpt(body: bytes | str | None, limit: int = EXCERPT_CHARS) -> str:
    """Return at most ``limit`` characters of a body, marked when cut, for messages."""
    if body is None:
        return ""
    if isinstance(body, bytes | bytearray):
        body = bytes(body[: limit * 8])  # never decode a 16 MiB body to show 200 characters
        text = body.decode("utf-8", "replace")
    else:
        text = body
    text = " ".join(text[: limit * 2].split())  # fold newlines from HTML error pages
    return text if len(text) <= limit else text[:limit] + "..."


class TwilioMediaError(Exception):
    """Base class of every error the SDK raises.

    ``attempts`` is how many HTTP requests were made before giving up (0 when nothing was
    sent).  ``request_id`` is the ``Twilio-Request-Id`` of the answer the error is about: a
    non-2xx answer's (ApiError), or a 2xx answer's whose body could not be read
    (ResponseValidationError); None when there was no answer.
    """

    attempts: int
    request_id: str | None = None

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else ""

    @property
    def retryable(self) -> bool:
        """Whether another attempt could succeed (timeouts, resets, 429 and some 5xx)."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, attempts={self.attempts})"


class InvalidSidError(TwilioMediaError, ValueError):
    """The sid is not a MediaRecording sid (``KV`` and 32 hex digits); nothing was sent."""


class InvalidParameterError(TwilioMediaError, ValueError):
    """A list filter or option is out of range or of the wrong form; nothing was sent."""


class ClientClosedError(TwilioMediaError, RuntimeError):
    """The client was used after ``aclose()``."""


class WrongEventLoopError(ClientClosedError):
    """The client was used in another event loop than the one its session belongs to:
    there it is as good as closed.

    An aiohttp session, and so a client once it has sent a request, belongs to the event
    loop it was created in.  Create one client per event loop, inside it, and close it
    (``async with`` or ``aclose()``) before that loop ends.  Nothing was sent.
    """


class ForeignPageUrlError(TwilioMediaError):
    """A page URL does not share the client's origin, so it is not followed.

    Following it would send the account's credentials to another host.
    """


class WaitTimeoutError(TwilioMediaError, TimeoutError):
    """``wait_for_completion`` gave up: the recording was still processing when its
    ``timeout`` passed.

    ``sid`` and ``timeout`` say what was waited for and how long; ``recording`` is the last
    one read (None when no poll got an answer), ``last_error`` the error of the last poll
    when it failed, and ``attempts`` the HTTP requests made in all.
    """

    sid: str
    timeout: float
    recording: MediaRecording | None
    last_error: TwilioMediaError | None

    def __init__(
        self,
        message: str,
        *,
        sid: str,
        timeout: float,
        recording: MediaRecording | None = None,
        last_error: TwilioMediaError | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, attempts=attempts)
        vars(self).update(sid=sid, timeout=timeout, recording=recording, last_error=last_error)


class ResponseTooLargeError(TwilioMediaError):
    """The response body passed the client's ``max_body_size``; it was not read whole."""


class TransportError(TwilioMediaError):
    """The request did not produce a complete HTTP response: connect, DNS, reset or timeout.

    ``connect_failed`` is True when no connection was ever opened (refused, an unresolvable
    host, a failed TLS handshake): nothing reached the server.
    """

    method: str
    url: str
    connect_failed: bool

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        attempts: int = 0,
        connect_failed: bool = False,
    ):
        super().__init__(message, attempts=attempts)
        self.method = method
        self.url = url
        self.connect_failed = connect_failed

    @property
    def retryable(self) -> bool:
        return True


class RequestTimeoutError(TransportError, TimeoutError):
    """An attempt ran past its timeout (or past what was left of the retry deadline)."""


class ResponseValidationError(TwilioMediaError):
    """A 2xx response that is not JSON, or JSON of the wrong shape.

    ``errors`` lists each problem with its field path (``$.duration: ...``); ``body`` is a
    truncated excerpt of what the server sent.  Never retried: the same request would get
    the same body.
    """

    errors: tuple[str, ...]
    body: str

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[str] = (),
        body: bytes | str | None = None,
        attempts: int = 0,
    ) -> None:
        self.errors = tuple(errors)
        self.body = excerpt(body)
        detail = "; ".join(self.errors[:5])
        if len(self.errors) > 5:
            detail += f"; and {len(self.errors) - 5} more"
        super().__init__(f"{message}: {detail}" if detail else message, attempts=attempts)


class MediaIntegrityError(TwilioMediaError):
    """A downloaded media file does not have the length it should: ``expected`` is the
    recording's size when known (else the storage answer's Content-Length), ``received``
    the bytes that came.  Its partial file is removed; it is final only after one more
    download from scratch failed the same way."""

    expected: int
    received: int

    def __init__(self, message: str, *, expected: int, received: int, attempts: int = 0) -> None:
        super().__init__(message, attempts=attempts)
        self.expected = expected
        self.received = received


class MediaWriteError(TwilioMediaError):
    """The downloaded bytes could not be written where they go: a full disk, a file size
    limit, a permission, or another download of the same file in progress.  It is never
    retried; the partial file keeps only the bytes that were counted and hashed, so a
    later run resumes it as it is."""


class MediaUnavailableError(TwilioMediaError):
    """The recording has no media to download yet or any more: its ``status`` is
    ``processing``, ``failed`` or ``deleted``.  Nothing was sent for the media;
    ``wait_for_completion`` waits out ``processing``."""

    status: str

    def __init__(self, message: str, *, status: str, attempts: int = 0) -> None:
        super().__init__(message, attempts=attempts)
        self.status = status


class ApiError(TwilioMediaError):
    """The server answered with a non-2xx status.

    Carries Twilio's error fields when the body had them (``code``, ``more_info``,
    ``details``), the ``Twilio-Request-Id`` as ``request_id``, and the request's method and
    URL.
    """

    status: int
    code: int | None
    more_info: str | None
    details: Any
    request_id: str | None
    method: str
    url: str
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        more_info: str | None = None,
        details: Any = None,
        request_id: str | None = None,
        method: str = "",
        url: str = "",
        attempts: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.retry_after = retry_after
        self.status = status
        self.code = code
        self.more_info = more_info
        self.details = details
        self.request_id = request_id
        self.method = method
        self.url = url

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.code is not None:
            parts.append(f"(code {self.code})")
        parts.append(f"on {self.method} {self.url}:" if self.method else ":")
        parts.append(self.message)
        if self.more_info:
            parts.append(f"[{self.more_info}]")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code}, "
            f"message={self.message!r}, request_id={self.request_id!r}, "
            f"attempts={self.attempts})"
        )


class AuthenticationError(ApiError):
    """401: the account sid and token (or API key and secret) were not accepted."""


class PermissionDeniedError(ApiError):
    """403: the credentials are valid but may not access this resource."""


class NotFoundError(ApiError):
    """404: no such MediaRecording (or it was deleted)."""


class RateLimitError(ApiError):
    """429: too many requests (Twilio code 20429).  Always safe to retry.

    ``retry_after`` is the server's Retry-After in seconds, when it sent one.
    """

    @property
    def retryable(self) -> bool:
        return True


class ServerError(ApiError):
    """5xx: the server failed.  500, 502, 503 and 504 are retried, after ``retry_after``
    seconds when the server sent a Retry-After (as a 503 may)."""

    @property
    def retryable(self) -> bool:
        return self.status in _RETRYABLE_5XX


_RETRYABLE_5XX: Final = frozenset({500, 502, 503, 504})

_CLASS_BY_STATUS: Final[Mapping[int, type[ApiError]]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def _as_int(value: object) -> int | None:
    if is_int(value):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():  # not "²"
        return int(value)
    return None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """A decoded JSON value with ``redact`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(item, redact) for item in value]
    return value


def api_error_from_response(
    status: int,
    body: bytes,
    *,
    reason: str = "",
    request_id: str | None = None,
    retry_after: float | None = None,
    method: str = "",
    url: str = "",
    redact: Callable[[str], str] | None = None,
) -> ApiError:
    """Build the ApiError subclass for a non-2xx response.  Pure: no I/O.

    Reads Twilio's error JSON (``code, message, more_info, status, details``) and RFC 9457
    problem details (``type, title, status, code, detail``).  Any other body, such as an
    HTML page from a proxy, still gives the right subclass with a short excerpt.
    ``redact``, when given, is applied to every string the error takes from the body,
    after JSON decoding (message, more_info, every string in details, the excerpt).
    """
    code: int | None = None
    message: str | None = None
    more_info: str | None = None
    details: Any = None
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        code = _as_int(payload.get("code"))
        message = _as_str(payload.get("message")) or _as_str(payload.get("detail"))
        title = _as_str(payload.get("title"))
        if title and message and title != message:
            message = f"{title}: {message}"
        else:
            message = message or title
        more_info = _as_str(payload.get("more_info")) or _as_str(payload.get("type"))
        details = payload.get("details")
    if message is None:
        text = excerpt(body)
        message = f"{reason or 'error'} (body: {text})" if text else (reason or "error")
    if redact is not None:
        message = redact(message)
        more_info = None if more_info is None else redact(more_info)
        details = _redacted(details, redact)
    message = cap_text(message, MESSAGE_CHARS)
    if more_info is not None:
        more_info = cap_text(more_info, MESSAGE_CHARS)

    cls = _CLASS_BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "more_info": more_info,
        "details": details,
        "request_id": request_id,
        "method": method,
        "url": url,
        "retry_after": retry_after,
    }
    return cls(message, **kwargs)
