"""Credentials out of shown text: error messages, body excerpts and the CLI's output.

A misbehaving server (or a proxy) may echo the request head back, in a status line, an
error body or a JSON field, and the SDK quotes those in its errors.  The Authorization
header is base64, so replacing the raw secret alone is not enough: every form the SDK
sends, or that decodes to the secret, is replaced.  A JSON string may also spell any
character as an escape (``\u0042asic``): ``body`` and ``shown`` find the secrets in a
body or a text as JSON decoding would read them.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["REDACTED", "Redactor", "secret_forms"]

REDACTED: Final = "[redacted]"
# A shorter "secret" would match inside ordinary words; real tokens are 32 characters.
_MIN_SECRET: Final = 6
# A run of base64 (either alphabet) long enough to hold a secret of _MIN_SECRET bytes.
_BASE64_RUN: Final = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
# A JSON string escape.  Matched left to right, so the second backslash of an escaped
# backslash never starts an escape of its own.
_ESCAPE_BYTES: Final = re.compile(rb"\\(?:u([0-9A-Fa-f]{4})|(.))", re.DOTALL)
_ESCAPE_TEXT: Final = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|(.))", re.DOTALL)
# What an escape is spelled back as: a printable ASCII character other than the two
# that must stay escaped in a JSON string.  Secrets and base64 are made of these only.
_UNESCAPED: Final = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


def _plain_byte(match: re.Match[bytes]) -> bytes:
    code, char = match.groups()
    if code is not None:
        value = int(code, 16)
        return bytes((value,)) if value in _UNESCAPED else match.group()
    return b"/" if char == b"/" else match.group()


def _plain_char(match: re.Match[str]) -> str:
    code, char = match.groups()
    if code is not None:
        value = int(code, 16)
        return chr(value) if value in _UNESCAPED else match.group()
    return "/" if char == "/" else match.group()


def _b64_forms(raw: bytes) -> list[str]:
    forms = []
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms += [text, text.rstrip("="), text.replace("/", "\\/")]  # "\/": a JSON escape
    return forms


def secret_forms(username: str, password: str) -> tuple[str, ...]:
    """The forms of a credential that must never be shown, longest first.

    The password itself, the ``Authorization: Basic`` value (``username:password`` in
    base64) and base64 of the password alone, each with and without padding, in both
    base64 alphabets.  The username (an account sid or API key sid) is not secret.
    """
    forms = set(_b64_forms(f"{username}:{password}".encode()))
    forms.update(_b64_forms(password.encode()))
    forms.add(password)
    return tuple(sorted((f for f in forms if len(f) >= _MIN_SECRET), key=len, reverse=True))


class Redactor:
    """Replaces credentials in text, for one set of secrets.

    ``text`` and ``bytes`` replace the known forms (``secret_forms``): cheap enough for the
    SDK's error path.  ``thorough`` also decodes every base64 run and replaces it when it
    decodes to something holding a secret, whatever surrounds the secret: for text shown
    to people, such as the CLI's output.
    """

    __slots__ = ("_byte_forms", "_forms", "_raw", "_shortest_first")

    def __init__(self, forms: Iterable[str], secrets: Iterable[str] = ()) -> None:
        self._forms = tuple(sorted({f for f in forms if len(f) >= _MIN_SECRET}, key=len)[::-1])
        self._shortest_first = self._forms[::-1]
        self._byte_forms = tuple((f.encode(), REDACTED.encode()) for f in self._forms)
        # What a decoded run is searched for: a raw secret, or a known form of one (a
        # Basic value that was base64-encoded again).
        raw = {s.encode() for s in secrets if len(s) >= _MIN_SECRET}
        self._raw = tuple(raw | {form for form, _ in self._byte_forms}) if raw else ()

    @classmethod
    def for_credentials(cls, pairs: Iterable[tuple[str, str]]) -> Redactor:
        """A redactor for ``(username, password)`` pairs."""
        forms: list[str] = []
        secrets: list[str] = []
        for username, password in pairs:
            forms += secret_forms(username, password)
            secrets.append(password)
        return cls(forms, secrets)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __repr__(self) -> str:
        return f"Redactor({len(self._forms)} forms)"

    def text(self, text: str) -> str:
        """``text`` with every known form of a secret replaced."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def value(self, text: str) -> str:
        """``text`` as ``text()`` gives it, found out cheaply for a short value such as a
        header's, which a response carries on the happy path: only the forms that fit in
        it are looked for (a 34-character request id holds at most the raw secret)."""
        size = len(text)
        for form in self._shortest_first:
            if len(form) > size:
                return text
            if form in text:
                return self.text(text)
        return text

    def bytes(self, data: bytes) -> bytes:
        """``data`` with every known form of a secret replaced."""
        for form, replacement in self._byte_forms:
            if form in data:
                data = data.replace(form, replacement)
        return data

    def body(self, data: builtins.bytes) -> builtins.bytes:
        """``data`` as ``bytes()`` gives it, and with every secret written with JSON string
        escapes replaced too.  Only then are the escapes spelled out (the JSON stays
        valid); otherwise they are left as they came."""
        data = self.bytes(data)
        if b"\\" not in data or not self._forms:
            return data
        plain = _ESCAPE_BYTES.sub(_plain_byte, data)
        cleaned = self.bytes(plain)
        return cleaned if cleaned != plain else data

    def shown(self, text: str) -> str:
        """``text`` as ``text()`` gives it, and with every secret written with JSON string
        escapes replaced too, as ``body`` does for bytes."""
        text = self.text(text)
        if "\\" not in text or not self._forms:
            return text
        plain = _ESCAPE_TEXT.sub(_plain_char, text)
        cleaned = self.text(plain)
        return cleaned if cleaned != plain else text

    def thorough(self, text: str) -> str:
        """``text`` with the known forms replaced, and every base64 run that decodes to
        bytes holding a secret."""
        text = self.text(text)
        if not self._raw:
            return text
        return _BASE64_RUN.sub(
            lambda m: REDACTED if self._decodes_to_secret(m.group()) else m.group(), text
        )

    def _decodes_to_secret(self, run: str) -> bool:
        # The encoding may start anywhere in the run (``BasicQUMw...`` once spaces went
        # missing): a secret decodes intact from the offset congruent to its start.
        for offset in range(4):
            chunk = run[offset:].rstrip("=")
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            for alphabet in (b"+/", b"-_"):
                try:
                    decoded = base64.b64decode(chunk.encode(), altchars=alphabet)
                except (binascii.Error, ValueError):
                    continue
                if any(secret in decoded for secret in self._raw):
                    return True
        return False
