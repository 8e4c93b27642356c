"""What one attempt and one call give back: ``Reply`` and ``Answer``.

Slotted classes rather than NamedTuples: one is built per attempt and per call, and a
slotted class's construction costs about half a NamedTuple's (a plain tuple is cheaper
still, but anonymous); nothing unpacks them.
"""

from __future__ import annotations

__all__ = ["Answer", "Reply"]


class _Carried:
    """A body and the request id of the answer that carried it."""

    __slots__ = ("body", "request_id")
    body: bytes
    request_id: str | None

    def __repr__(self) -> str:  # the body may echo a credential: its length only
        middle = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__slots__)
        return (
            f"{type(self).__name__}(<{len(self.body)} bytes>, {middle}, "
            f"request_id={self.request_id!r})"
        )


class Reply(_Carried):
    """A 2xx answer to one attempt: its body, its status and its ``Twilio-Request-Id``
    (None without one)."""

    __slots__ = ("status",)

    def __init__(self, body: bytes, status: int, request_id: str | None) -> None:
        self.body = body
        self.status = status
        self.request_id = request_id


class Answer(_Carried):
    """What a call gives back: the body, the number of attempts it took, and the
    ``Twilio-Request-Id`` of the answer that decided it."""

    __slots__ = ("attempts",)

    def __init__(self, body: bytes, attempts: int, request_id: str | None) -> None:
        self.body = body
        self.attempts = attempts
        self.request_id = request_id
