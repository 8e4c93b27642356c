"""Which HTTP proxy a client's requests go through: the one given, or the environment's.

The environment is read once, when the client is built (as httpx does), with the standard
library's own reading of it, the one requests and aiohttp use: ``HTTPS_PROXY`` for an
https API origin, ``HTTP_PROXY`` for an http one (the lowercase names win when both are
set), unless ``NO_PROXY`` names the origin's host.

The client does not turn on aiohttp's ``trust_env`` for this.  It would look the proxy up
again for every request, in a worker thread, and read ``~/.netrc`` for every request too:
a ``.netrc`` entry for the API's host gives aiohttp credentials of its own, and it then
refuses every request, since the client sends its own ``Authorization`` header.

A proxy URL may hold the proxy's own credentials (``http://user:password@host:3128``).
They are never shown: messages about a proxy never quote its URL, ``display`` drops them,
and ``secrets`` hands them to the client's redactor.
"""

from __future__ import annotations

import urllib.request
from typing import Final

from yarl import URL

from .errors import InvalidParameterError

__all__ = ["display", "environment_proxy", "parse_proxy", "secrets"]

_SCHEMES: Final = ("http", "https")
_EXAMPLE: Final = "such as 'http://proxy.example.com:3128'"


def parse_proxy(value: object, *, source: str = "proxy") -> URL:
    """``value`` as a proxy URL, or InvalidParameterError saying what is wrong.

    An http:// or https:// URL with a host, optionally a port and the proxy's credentials,
    and no path, query or fragment.  ``source`` names where the value came from in the
    message (the argument, or an environment variable); the value itself is never quoted,
    since it may hold a password.
    """
    if isinstance(value, URL):
        value = str(value)
    if not issubclass(type(value), str):
        raise InvalidParameterError(
            f"{source} must be a str {_EXAMPLE}, got {type(value).__name__}"
        )
    text = str.__str__(value)
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in text):
        raise InvalidParameterError(
            f"{source} must not contain whitespace, control characters or backslashes"
        )
    try:
        url = URL(text)
        port = url.explicit_port
        host = url.host
    except (ValueError, TypeError):
        raise InvalidParameterError(f"{source} is not a valid URL {_EXAMPLE}") from None
    if not url.absolute or url.scheme not in _SCHEMES or not host:
        raise InvalidParameterError(
            f"{source} must be an http:// or https:// URL with a host, {_EXAMPLE}"
        )
    if port is not None and not 1 <= port <= 65535:
        raise InvalidParameterError(f"{source} has port {port}: expected 1 to 65535")
    if url.raw_path not in ("", "/") or url.raw_query_string or url.raw_fragment:
        raise InvalidParameterError(f"{source} must not have a path, query or fragment")
    return url


def environment_proxy(target: URL) -> tuple[URL, str] | None:
    """The proxy the environment names for requests to ``target``, and the name of the
    variable it came from; None when there is none, or when ``NO_PROXY`` bypasses the host.

    Only the variable of ``target``'s scheme counts (``ALL_PROXY`` does not, as with
    aiohttp).  A malformed value raises InvalidParameterError naming the variable.
    """
    scheme = target.scheme
    value = urllib.request.getproxies().get(scheme)
    if not value:
        return None
    host = target.host
    if host is not None and urllib.request.proxy_bypass(host):
        return None
    source = f"the {scheme.upper()}_PROXY environment variable"
    return parse_proxy(value, source=source), source


def display(proxy: URL) -> str:
    """The proxy's URL without its credentials, for a repr."""
    return str(proxy.with_user(None).with_path(""))


def secrets(proxy: URL) -> list[tuple[str, str]]:
    """The proxy's credentials as ``(username, password)`` pairs for a Redactor: as given
    and, when they were percent-encoded in the URL, as written there."""
    user, password = proxy.user, proxy.password
    if user is None and password is None:
        return []
    pairs = [(user or "", password or "")]
    raw = (proxy.raw_user or "", proxy.raw_password or "")
    if raw != pairs[0]:
        pairs.append(raw)
    if not password and user:
        # A proxy that takes a token as its user name: the name is the secret.
        pairs.append(("", user))
    return pairs
