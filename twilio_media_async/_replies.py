"""What one attempt and one call give back: ``Reply`` and ``Answer``.

Slotted classes rather than NamedTuples: one is built per attempt and per call, and a
slotted class's construction costs about half a NamedTuple's (a plain tuple is cheaper
still, but anonymous); nothing unpacks them.
"""

from __future__ import annotations

__all__ = ["Answer", "Reply"]


class Reply:
    """A 2xx answer to one attempt: its body, its status and its ``Twilio-Request-Id``
    (None without one)."""

    __slots__ = ("body", "request_id", "status")

    def __init__(self, body: bytes, status: int, request_id: str | None) -> None:
        self.body = body
        self.status = status
        self.request_id = request_id

    def __repr__(self) -> str:  # the body may echo a credential: its length only
        return (
            f"Reply(<{len(self.body)} bytes>, status={self.status}, request_id={self.request_id!r})"
        )


class Answer:
    """What a call gives back: the body, the number of attempts it took, and the
    ``Twilio-Request-Id`` of the answer that decided it."""

    __slots__ = ("attempts", "body", "request_id")

    def __init__(self, body: bytes, attempts: int, request_id: str | None) -> None:
        self.body = body
        self.attempts = attempts
        self.request_id = request_id

    def __repr__(self) -> str:  # the body may echo a credential: its length only
        return (
            f"Answer(<{len(self.body)} bytes>, attempts={self.attempts}, "
            f"request_id={self.request_id!r})"
        )
