"""SID patterns and checks.  Pure functions, run before any I/O.

A sid is only ever put into a URL path after it matched ``KV`` plus 32 hex digits, so no
input can reach another path ("KV../../Accounts", percent-encoded slashes and the like fail
the pattern).
"""

from __future__ import annotations

import re
from typing import Final

from .errors import InvalidParameterError, InvalidSidError

__all__ = [
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
    """A short, safe rendering of a rejected value: never echoes huge input."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} chars)"


def _problem(value: object, prefix: str) -> str:
    if not isinstance(value, str):
        return f"expected a str, got {type(value).__name__}"
    if len(value) != 34:
        return f"expected 34 characters, got {len(value)}"
    if prefix and not value.startswith(prefix):
        return f"expected the prefix {prefix!r}"
    return f"expected {prefix or 'two letters'} followed by 32 hex digits"


def check_recording_sid(sid: object) -> str:
    """Return ``sid`` as a plain str if it is a MediaRecording sid, else raise InvalidSidError."""
    if type(sid) is str and RECORDING_SID.match(sid):
        return sid
    if isinstance(sid, str) and RECORDING_SID.match(sid):
        return str.__str__(sid)  # a str subclass: its value as a plain str (not its __str__)
    raise InvalidSidError(f"invalid MediaRecording sid {describe(sid)}: {_problem(sid, 'KV')}")


def _check_filter(name: str, value: object, pattern: re.Pattern[str], prefix: str) -> str:
    if isinstance(value, str) and pattern.match(value):
        return str.__str__(value)
    raise InvalidParameterError(f"invalid {name} {describe(value)}: {_problem(value, prefix)}")


def check_processor_sid(value: object) -> str:
    """Check a MediaProcessor sid filter (``ZX`` and 32 hex digits)."""
    return _check_filter("processor_sid", value, PROCESSOR_SID, "ZX")


def check_source_sid(value: object) -> str:
    """Check a source sid filter (two letters and 32 hex digits)."""
    return _check_filter("source_sid", value, SOURCE_SID, "")
