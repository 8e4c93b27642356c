"""Which HTTP proxy a client's requests go through: the one given, or the environment's.

The environment is read once, when the client is built (as httpx does), the way curl
reads it: ``HTTPS_PROXY`` for an https API origin, ``HTTP_PROXY`` for an http one (the
lowercase names win when both are set), unless ``NO_PROXY`` names the origin.  A proxy
without a scheme (``127.0.0.1:3128``) is an http:// one.  ``NO_PROXY`` is a list of
entries separated by commas or blanks: ``*`` for every host; a domain, which covers its
subdomains (a leading dot changes nothing), compared case-insensitively; an IP address or
a CIDR block (``10.0.0.0/8``, ``::1/128``); any of them with a ``:port``, which then
covers that port only.  The decision is a pure function of the variables and the URL
(``choose_proxy``).

The client does not turn on aiohttp's ``trust_env`` for this.  It would look the proxy up
again for every request, in a worker thread, and read ``~/.netrc`` for every request too:
a ``.netrc`` entry for the API's host gives aiohttp credentials of its own, and it then
refuses every request, since the client sends its own ``Authorization`` header.

A proxy URL may hold the proxy's own credentials (``http://user:password@host:3128``).
They are never shown: messages about a proxy never quote its URL, ``display`` drops them,
and ``secrets`` hands them to the client's redactor.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Final

from yarl import URL

from .errors import InvalidParameterError

__all__ = ["bypasses", "choose_proxy", "display", "environment_proxy", "parse_proxy", "secrets"]

_SCHEMES: Final = ("http", "https")
_EXAMPLE: Final = "such as 'http://proxy.example.com:3128'"
_ENTRY_SEPARATORS: Final = re.compile(r"[\s,]+")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    """The proxy the environment names for requests to ``target``, and where it came
    from; None when there is none, or when ``NO_PROXY`` bypasses the origin.

    Only the variable of ``target``'s scheme counts (``ALL_PROXY`` does not, as with
    aiohttp).  A malformed value raises InvalidParameterError naming the variable.
    """
    return choose_proxy(os.environ, target)


def choose_proxy(environ: Mapping[str, str], target: URL) -> tuple[URL, str] | None:
    """``environment_proxy`` for the variables in ``environ``: pure, so it can be tested
    against a table of cases."""
    scheme = target.scheme
    # A CGI script's HTTP_PROXY may come from the request's own "Proxy:" header
    # (CVE-2016-1000110, "httpoxy"): only the lowercase name counts there.
    found = _variable(
        environ, f"{scheme}_proxy", upper=not (scheme == "http" and "REQUEST_METHOD" in environ)
    )
    if found is None:
        return None
    name, value = found
    no_proxy = _variable(environ, "no_proxy", upper=True)
    host = target.host
    if no_proxy is not None and host is not None and bypasses(no_proxy[1], host, target.port):
        return None
    source = f"the {name} environment variable"
    if "://" not in value:
        value = f"http://{value}"  # as curl reads a proxy without a scheme
    return parse_proxy(value, source=source), source


def _variable(environ: Mapping[str, str], lower: str, *, upper: bool) -> tuple[str, str] | None:
    """The variable ``lower`` (which wins, even set empty) or its uppercase name, with its
    value; None when neither is set to something."""
    value = environ.get(lower)
    if value is not None:
        return (lower, value) if value else None
    name = lower.upper()
    value = environ.get(name) if upper else None
    return (name, value) if value else None


def bypasses(no_proxy: str, host: str, port: int | None) -> bool:
    """Whether the ``NO_PROXY`` value ``no_proxy`` covers ``host`` on ``port``."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for text in _ENTRY_SEPARATORS.split(no_proxy.strip()):
        if text == "*":
            return True
        entry = _entry(text)
        if entry is None:
            continue
        pattern, entry_port = entry
        if entry_port is not None and entry_port != port:
            continue
        if isinstance(pattern, str):
            # A name covers itself and what ends in "." + name.  For an address this is
            # the string match urllib makes (".0.0.1"), kept for those who rely on it.
            if pattern and (host == pattern or host.endswith(f".{pattern}")):
                return True
        elif address is not None and address.version == pattern.version and address in pattern:
            return True
    return False


def _entry(text: str) -> tuple[str | _Network, int | None] | None:
    """A ``NO_PROXY`` entry as (a lowercase name or a network, a port or None); None for
    one that cannot be read (it then covers nothing)."""
    port_text = None
    if text.startswith("["):  # [::1] or [::1]:8080
        name, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:  # host:443, 127.0.0.1:8080 (an IPv6 address has more)
        name, _, port_text = text.partition(":")
    else:
        name = text
    if port_text is not None and not (port_text.isascii() and port_text.isdigit()):
        return None
    port = None if port_text is None else int(port_text)
    try:
        return ipaddress.ip_network(name, strict=False), port
    except ValueError:
        return name.strip(".").lower(), port


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
