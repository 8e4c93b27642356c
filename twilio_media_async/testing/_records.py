"""The fake server's bookkeeping: what it saw, and the counters tests read.

Pure bookkeeping: it decides nothing about an answer.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import attrs
from aiohttp import web

__all__ = ["Ledger", "RecordedRequest"]


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the server saw.  Never holds a password, token or secret.

    ``auth_user`` is the Basic username when it looks like a sid (an account sid or API
    key), else None.  ``status`` is None for a reset connection (and while in flight);
    ``fault`` names the fault applied (``"rate_limited"``, ``"reset"``, ...,
    ``"concurrency_limit"`` for the cap), or None.  Times are ``time.monotonic()``.
    ``request_id`` is the ``Twilio-Request-Id`` the server gave the request (sent with its
    answer, when it answered); ``user_agent`` is the request's ``User-Agent``.
    """

    method: str
    path: str
    query: dict[str, str] = attrs.field(factory=dict, hash=False)
    auth_user: str | None = None
    sid: str | None = None
    status: int | None = None
    started: float = 0.0
    finished: float | None = None
    fault: str | None = None
    request_id: str | None = None
    user_agent: str | None = None


# Where a request's record is: the list it was appended to and its index (-1: not kept).
Slot = tuple[list[RecordedRequest], int]


class Ledger:
    """Requests, attempts per sid, connections and the in-flight high-water mark."""

    def __init__(self, record_requests: bool) -> None:
        self.record_requests = record_requests
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Forget what was seen; requests in flight stay counted."""
        self.requests: list[RecordedRequest] = []
        self.attempts: dict[str, int] = {}
        self.request_count = 0
        self.max_in_flight = self.in_flight
        self.connections = 0
        self._seen_transports: weakref.WeakSet[Any] = weakref.WeakSet()
        self._seen_peers: set[Any] = set()

    def count(
        self, request: web.Request, sid: str | None, user: str | None, request_id: str
    ) -> Slot:
        """Count a request on arrival, and record it when ``record_requests``."""
        self.request_count += 1
        self._count_connection(request)
        if sid is not None:
            self.attempts[sid] = self.attempts.get(sid, 0) + 1
        records = self.requests
        if not self.record_requests:
            return records, -1
        records.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                auth_user=user,
                sid=sid,
                started=time.monotonic(),
                request_id=request_id,
                user_agent=request.headers.get("User-Agent"),
            )
        )
        return records, len(records) - 1

    def finish(self, slot: Slot, status: int | None, fault: str | None) -> None:
        """Complete a request's record with its outcome."""
        # The slot's list is the one the request was appended to: after reset() the
        # ledger holds a new one, and this request is forgotten with the old one.
        records, index = slot
        if index >= 0:
            old = records[index]
            records[index] = attrs.evolve(
                old, status=status, finished=time.monotonic(), fault=fault
            )

    def enter(self) -> None:
        """A request starts being handled."""
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        """A request is done being handled."""
        self.in_flight -= 1

    def _count_connection(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is None:
            return
        try:
            if transport in self._seen_transports:
                return
            self._seen_transports.add(transport)
        except TypeError:  # a transport without weakref support (uvloop): use the peer
            peer = transport.get_extra_info("peername")
            if peer in self._seen_peers:
                return
            self._seen_peers.add(peer)
        self.connections += 1
