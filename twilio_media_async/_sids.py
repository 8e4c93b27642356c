"""SID patterns and checks.  Pure functions, run before any I/O.

A sid is only ever put into a URL path after it matched ``KV`` plus 32 hex digits, so no
input can reach another path ("KV../../Accounts", percent-encoded slashes and the like fail
the pattern).
"""

from __future__ import annotations

import re
from typing import Final, cast

from .errors import InvalidParameterError, InvalidSidError

__all__ = [
    "ACCOUNT_SID",
    "PROCESSOR_SID",
    "RECORDING_SID",
    "SOURCE_SID",
    "check_processor_sid",
    "check_recording_sid",
    "check_source_sid",
    "describe",
]

# \Z rather than $: "$" also matches before a trailing newline.
RECORDING_SID: Final = re.compile(r"KV[0-9a-fA-F]{32}\Z")
PROCESSOR_SID: Final = re.compile(r"ZX[0-9a-fA-F]{32}\Z")
SOURCE_SID: Final = re.compile(r"[a-zA-Z]{2}[0-9a-fA-F]{32}\Z")
ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}\Z")
_SHOWN: Final = 40


def describe(value: object) -> str:
    """A short, safe rendering of a rejected value: never echoes huge input, never raises.

    The value's own ``__repr__`` may raise, or return a str subclass whose ``__len__``
    raises: then only its type is named.
    """
    try:
        text = str.__str__(repr(value))  # a plain str, whatever repr returned
    except Exception:
        return f"<{_type_name(value)} object (its repr failed)>"
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} chars)"


def _type_name(value: object) -> str:
    try:
        name = type(value).__name__  # type() cannot be faked, but a metaclass can fake this
    except Exception:
        return "object"
    return name if type(name) is str else "object"


def _plain(value: object) -> str | None:
    """A str (or str subclass, such as a str enum) as a plain str, with its value rather than
    what its own ``__str__`` says; None for anything else.  Never calls the value's methods:
    ``type()`` cannot be faked, where ``isinstance`` consults a ``__class__`` that can."""
    if type(value) is str:
        return value
    if issubclass(type(value), str):
        return str.__str__(cast(str, value))
    return None


def _problem(value: object, prefix: str) -> str:
    plain = _plain(value)
    if plain is None:
        return f"expected a str, got {_type_name(value)}"
    if len(plain) != 34:
        return f"expected 34 characters, got {len(plain)}"
    if prefix and not plain.startswith(prefix):
        return f"expected the prefix {prefix!r}"
    return f"expected {prefix or 'two letters'} followed by 32 hex digits"


def check_recording_sid(sid: object) -> str:
    """Return ``sid`` as a plain str if it is a MediaRecording sid, else raise InvalidSidError.

    Never raises anything else, whatever ``sid``'s type does in its own methods.
    """
    if type(sid) is str and RECORDING_SID.match(sid):
        return sid
    plain = _plain(sid)
    if plain is not None and RECORDING_SID.match(plain):
        return plain
    raise InvalidSidError(f"invalid MediaRecording sid {describe(sid)}: {_problem(sid, 'KV')}")


def _check_filter(name: str, value: object, pattern: re.Pattern[str], prefix: str) -> str:
    plain = _plain(value)
    if plain is not None and pattern.match(plain):
        return plain
    raise InvalidParameterError(f"invalid {name} {describe(value)}: {_problem(value, prefix)}")


def check_processor_sid(value: object) -> str:
    """Check a MediaProcessor sid filter (``ZX`` and 32 hex digits)."""
    return _check_filter("processor_sid", value, PROCESSOR_SID, "ZX")


def check_source_sid(value: object) -> str:
    """Check a source sid filter (two letters and 32 hex digits)."""
    return _check_filter("source_sid", value, SOURCE_SID, "")
