"""The fake server's answers: Twilio's headers and error JSON, and how a fault spoils one.

``under_fault`` is given the normal answer as a callable (``route``), since a fault decides
whether the request is carried out at all, and when.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Final, assert_never

from aiohttp import web

from ._faults import Fault, error_body, html_page, twilio_code_for

__all__ = [
    "HTML",
    "JSON",
    "abort",
    "json_reply",
    "new_request_id",
    "not_found",
    "reply",
    "under_fault",
]

JSON: Final = "application/json; charset=utf-8"
HTML: Final = "text/html; charset=utf-8"

Route = Callable[[], tuple[int, bytes]]
"""The normal answer, carried out: (status, JSON body or b"")."""
Sleep = Callable[[float], Awaitable[bool]]
"""Sleep so many seconds; True when the server is closing meanwhile."""
Answer = tuple[int | None, web.StreamResponse]
"""The status recorded (None for a dropped connection) and the response."""


def new_request_id() -> str:
    """A fresh ``Twilio-Request-Id``: ``RQ`` and 32 hex digits."""
    return "RQ" + os.urandom(16).hex()


def not_found(path: str) -> bytes:
    """Twilio's 404 JSON for ``path``."""
    return error_body(404, 20404, f"The requested resource {path} was not found")


def _headers(content_type: str | None, request_id: str) -> dict[str, str]:
    if content_type is None:
        return {"Twilio-Request-Id": request_id}
    return {"Content-Type": content_type, "Twilio-Request-Id": request_id}


def reply(status: int, body: bytes, content_type: str | None, request_id: str) -> web.Response:
    """An answer with Twilio's headers."""
    return web.Response(
        status=status, body=body or None, headers=_headers(content_type, request_id)
    )


def json_reply(status: int, body: bytes, request_id: str) -> web.Response:
    """A JSON answer; an empty body (a 204) has no Content-Type."""
    return reply(status, body, JSON if body else None, request_id)


def abort(request: web.BaseRequest) -> web.Response:
    """Drop the connection without a byte of answer.  aiohttp then fails to write the
    response it is handed, which it treats as a client that went away: no log, no error."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)


def _error_reply(fault: Fault, request_id: str) -> tuple[int, web.Response]:
    """The status and the answer of a status fault: Twilio's error JSON, or a proxy's page."""
    status = fault.http_status or 500
    if fault.html:
        response = reply(status, html_page(status), HTML, request_id)
    else:
        code = fault.twilio_code or twilio_code_for(status)
        body = error_body(status, code, fault.message or "Error")
        response = reply(status, body, JSON, request_id)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return status, response


async def under_fault(
    fault: Fault, route: Route, request: web.Request, request_id: str, sleep: Sleep
) -> Answer:
    """Answer under ``fault``, carrying the request out (``route``) when the fault does."""
    if fault.applied:  # carried out before failing: a DELETE really deletes
        route()
    match fault.kind:
        case "rate_limited" | "server_error" | "status":
            return _error_reply(fault, request_id)
        case "reset":
            return None, abort(request)
        case "latency":
            if await sleep(fault.seconds):
                return None, abort(request)
            status, body = route()
            return status, json_reply(status, body, request_id)
        case "wrong_content_type":
            status, body = _spoilable(route)
            return status, reply(status, body, HTML, request_id)
        case "invalid_json":
            status, body = _spoilable(route)
            return status, reply(status, body[: len(body) // 2] or b"<", JSON, request_id)
        case "altered_body":
            status, body = route()
            body = fault.alter(body) if 200 <= status < 300 else body
            return status, json_reply(status, body, request_id)
        case "truncated" | "slow_body":
            status, body = _spoilable(route)
            return await _send_in_halves(fault, status, body, request, request_id, sleep)
        case unknown:
            assert_never(unknown)


def _spoilable(route: Route) -> tuple[int, bytes]:
    """The normal answer, carried out, with a body to spoil: a 204 has none, so it
    becomes a 200 with an empty object."""
    status, body = route()
    return (status, body) if body else (200, b"{}")


async def _send_in_halves(
    fault: Fault, status: int, body: bytes, request: web.Request, request_id: str, sleep: Sleep
) -> Answer:
    """Announce the whole body's length and send half of it; then ``truncated`` closes
    the connection, and ``slow_body`` stalls before sending the rest."""
    half = len(body) // 2
    response = web.StreamResponse(status=status, headers=_headers(JSON, request_id))
    response.content_length = len(body)
    try:
        await response.prepare(request)
        await response.write(body[:half])
        if fault.kind == "truncated":
            if request.transport is not None:
                request.transport.close()  # flushes the half, then closes
            return status, response
        if await sleep(fault.seconds):
            abort(request)
            return None, response
        await response.write(body[half:])
    except ConnectionError:  # the client gave up (a read timeout, say)
        return status, response
    return status, response
