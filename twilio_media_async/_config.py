"""Every argument check of the package, and the client's settings built from them.

The client, the retry policy, the archive methods and the CLI all check their arguments
here: pure functions, run when a constructor or a method is called, before any I/O.  Each
check raises InvalidParameterError (a ValueError) naming the argument, or hands back the
value in the form the rest of the package uses, so that one mistake reads the same
wherever it is made.  The checks of sids, credentials and proxies live with their own
concept (``_sids``, ``_credentials``, ``_proxy``) and are reached through here.
"""

from __future__ import annotations

import base64
import contextlib
import math
import platform
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypedDict, TypeVar

import aiohttp
import attrs
from yarl import URL

from . import _proxy, _sids
from ._api import MAX_PAGE_SIZE
from ._credentials import Names, check_credentials
from ._numbers import is_finite, is_int, is_number
from ._proxy import parse_proxy
from ._redact import Redactor
from ._sids import RECORDING_SID, check_recording_sid
from ._version import __version__
from .errors import ForeignPageUrlError, InvalidParameterError
from .models import RecordingOrder, RecordingStatus

__all__ = [
    "within",
    "CLIENT_DEFAULTS",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TIMEOUT",
    "RECORDING_SID",
    "Redactor",
    "USER_AGENT",
    "ClientConfig",
    "ListFilters",
    "Names",
    "RecordingFilters",
    "TransportArguments",
    "as_timeout",
    "at_least_one",
    "base_url_for",
    "basic_auth_header",
    "build_base_url",
    "check_at_least_one",
    "check_borrowed_session",
    "check_credentials",
    "check_instance",
    "check_non_negative",
    "check_recording_sid",
    "check_seconds",
    "check_trace_configs",
    "client_config",
    "clip_timeout",
    "non_negative",
    "non_negative_or_none",
    "tenacity_strategy",
    "parse_base_url",
    "parse_proxy",
    "proxy_for",
    "redactor_for",
    "same_origin",
    "user_agent",
]

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://media.twilio.com"
DEFAULT_MAX_BODY_SIZE: Final = 16 * 1024 * 1024
# Per attempt.  A fetch answers in well under a second; 10 s leaves room for a slow edge
# without letting a stuck connection hold a bulk run's slot for long.  No sock_read by
# default: aiohttp re-arms that timer on every chunk received, CPU that every request of a
# bulk run would pay (docs/performance.md, "Choices on the hot path"), and ``total``
# already bounds a stalled body.
DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=10.0, connect=5.0)
USER_AGENT: Final = (
    f"twilio-media-async/{__version__} Python/{platform.python_version()} "
    f"aiohttp/{aiohttp.__version__}"
)
_HOST_PART: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
# Longer than any product token a User-Agent needs; a header line has its limits.
_MAX_USER_AGENT_EXTRA: Final = 256
_STATUSES = frozenset(s.value for s in RecordingStatus)


# -- numbers and types --------------------------------------------------------------------


def check_at_least_one(name: str, value: object) -> int:
    """An int (never a bool: ``True`` is not 1 here) of at least 1."""
    if not is_int(value) or value < 1:
        raise InvalidParameterError(f"{name} must be an integer >= 1, got {value!r:.40}")
    return value


def check_non_negative(name: str, value: object) -> float:
    """A finite number of at least 0.

    NaN compares false with everything, so "value < 0" alone would let it through and
    silently disable every bound it takes part in; infinity would wait forever.
    """
    if not is_finite(value) or value < 0:
        raise InvalidParameterError(f"{name} must be a finite number >= 0, got {value!r:.40}")
    return value


def check_seconds(name: str, value: object, *, finite: bool) -> float:
    """A number of seconds above 0 (NaN never is; infinity only when not ``finite``), as
    a float."""
    if not is_number(value) or math.isnan(value) or value <= 0 or (finite and math.isinf(value)):
        what = "a finite number" if finite else "a number"
        raise InvalidParameterError(f"{name} must be {what} of seconds > 0, got {value!r:.40}")
    return float(value)


def check_instance(name: str, value: object, cls: type[T], default: Callable[[], T]) -> T:
    """``value`` when it is a ``cls``, ``default()`` when it is None."""
    if value is None:
        return default()
    if not isinstance(value, cls):
        raise InvalidParameterError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
    return value


# The same checks as attrs validators, for the fields of an attrs class (RetryPolicy's).


def at_least_one(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``check_at_least_one`` under the field's name."""
    check_at_least_one(attribute.name, value)


def non_negative(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``check_non_negative`` under the field's name."""
    check_non_negative(attribute.name, value)


def non_negative_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: None, or ``check_non_negative`` under the field's name."""
    if value is not None:
        check_non_negative(attribute.name, value)


def tenacity_strategy(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: a tenacity wait or stop strategy (anything callable with a state)."""
    if not callable(value):
        raise InvalidParameterError(
            f"{attribute.name} must be a tenacity strategy, got {type(value).__name__}"
        )


# -- timeouts -----------------------------------------------------------------------------


def as_timeout(timeout: object) -> aiohttp.ClientTimeout:
    """A ClientTimeout from seconds (the whole attempt) or a ClientTimeout as given.

    Seconds must be finite and above 0: NaN compares false with everything, so it would
    pass a plain range check and silently disable every timeout and the deadline.
    """
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, aiohttp.ClientTimeout):
        for part in ("total", "connect", "sock_read", "sock_connect"):
            value = getattr(timeout, part)
            # 0 is aiohttp's own "no limit" for a part, as None is.
            if value is not None and not (is_finite(value) and value >= 0):
                raise InvalidParameterError(
                    f"timeout.{part} must be None or a finite number >= 0, got {value!r:.40}"
                )
        return timeout
    seconds = check_seconds("timeout", timeout, finite=True)
    return aiohttp.ClientTimeout(total=seconds, connect=min(5.0, seconds))


def clip_timeout(base: aiohttp.ClientTimeout, seconds: float) -> aiohttp.ClientTimeout:
    """``base`` with no part longer than ``seconds`` (its other settings kept).

    Rebuilt through ClientTimeout's public constructor, part by part: a test pins that
    these five are all the parts it has.
    """
    total = seconds if base.total is None else min(base.total, seconds)

    def clip(part: float | None) -> float | None:
        return None if part is None else min(part, total)

    return aiohttp.ClientTimeout(
        total=total,
        connect=clip(base.connect),
        sock_read=clip(base.sock_read),
        sock_connect=clip(base.sock_connect),
        ceil_threshold=base.ceil_threshold,
    )


# -- the API origin ---------------------------------------------------------------------


def within(timeout: aiohttp.ClientTimeout, deadline: float) -> aiohttp.ClientTimeout:
    """Clip a per-attempt timeout to the retry deadline, which spans every attempt."""
    return clip_timeout(timeout, deadline) if deadline > 0 else timeout


def base_url_for(region: object, edge: object) -> str:
    """The API origin for a region and edge, or the default one."""
    return build_base_url(region, edge) if (region or edge) else DEFAULT_BASE_URL


def build_base_url(region: object = None, edge: object = None) -> str:
    """The API origin for a region and edge, built the way Twilio's SDKs build it.

    ``media.twilio.com`` by default, ``media.{region}.twilio.com`` with a region, and
    ``media.{edge}.{region}.twilio.com`` with an edge (region ``us1`` when only an edge
    is set).
    """
    for name, part in (("region", region), ("edge", edge)):
        if part is not None and not (isinstance(part, str) and _HOST_PART.match(part)):
            raise InvalidParameterError(f"invalid {name} {part!r}: expected a DNS label")
    if edge and not region:
        region = "us1"
    host = ".".join(str(p) for p in ("media", edge, region, "twilio.com") if p)
    return f"https://{host}"


def basic_auth_header(username: str, password: str) -> str:
    """The value of an ``Authorization: Basic`` header (set once, not per request)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def parse_base_url(value: object) -> URL:
    """``value`` as the API's base URL, or InvalidParameterError saying what is wrong.

    An absolute http(s) URL with a host, a port from 1 to 65535 when one is given, and no
    user name, password, query or fragment.  Whitespace, control characters (CR and LF
    included) and backslashes are refused rather than quietly dropped or re-encoded, as
    URL parsers do.  The value itself is never echoed: it may hold a password.
    """
    if not issubclass(type(value), str):
        raise InvalidParameterError(
            f"base_url must be a str such as 'https://media.twilio.com', got {type(value).__name__}"
        )
    text = str.__str__(value)
    bad = next((c for c in text if c.isspace() or not c.isprintable() or c == "\\"), None)
    if bad is not None:
        raise InvalidParameterError(
            f"base_url must not contain {_CHARACTER_NAMES.get(bad, 'a control character')}"
        )
    try:
        url = URL(text.rstrip("/"))
        port = url.explicit_port
    except (ValueError, TypeError) as exc:  # an out-of-range port, a bad IPv6 host...
        # The parser's own message may quote the URL: only its gist is kept.
        reason = "its port is out of range" if "port" in str(exc).lower() else "it does not parse"
        raise InvalidParameterError(f"base_url is not a valid URL: {reason}") from None
    if not url.absolute or url.scheme not in ("http", "https") or not url.host:
        raise InvalidParameterError(
            "base_url must be an absolute http(s) URL with a host, such as "
            "'https://media.twilio.com'"
        )
    if port is not None and not 1 <= port <= 65535:
        raise InvalidParameterError(f"base_url has port {port}: expected 1 to 65535")
    if url.user is not None or url.password is not None:
        # Credentials go in the Authorization header, never in a URL that gets logged.
        raise InvalidParameterError("base_url must not contain a user name or password")
    if url.query_string or url.fragment:
        raise InvalidParameterError("base_url must not have a query or fragment")
    return url


_CHARACTER_NAMES: Final = {
    "\r": "a carriage return (CR)",
    "\n": "a line feed (LF)",
    "\t": "a tab",
    " ": "a space",
    "\\": "a backslash",
}


# -- requests -----------------------------------------------------------------------------


def user_agent(extra: object = None) -> str:
    """The User-Agent header: the SDK's own product tokens, then ``extra`` when given
    (the caller's own, such as ``"acme-archiver/2.1"``).

    ``extra`` must be printable ASCII: a CR or LF would end the header line and start
    another one, and other control characters have no place in a header either.
    """
    if extra is None:
        return USER_AGENT
    if not issubclass(type(extra), str):
        raise InvalidParameterError(
            f"user_agent_extra must be a str such as 'acme-archiver/2.1', "
            f"got {type(extra).__name__}"
        )
    text = str.__str__(extra).strip(" ")
    bad = next((c for c in text if not " " <= c <= "~"), None)
    if bad is not None:
        what = _CHARACTER_NAMES.get(bad) or (
            "a control character" if not bad.isprintable() else f"U+{ord(bad):04X}"
        )
        raise InvalidParameterError(
            f"user_agent_extra must be printable ASCII, but it contains {what}"
        )
    if not text or len(text) > _MAX_USER_AGENT_EXTRA:
        raise InvalidParameterError(
            f"user_agent_extra must hold 1 to {_MAX_USER_AGENT_EXTRA} characters, got {len(text)}"
        )
    return f"{USER_AGENT} {text}"


def proxy_for(proxy: object, origin: object, *, from_env: bool) -> URL | None:
    """The proxy a client's requests go through: ``proxy`` when given; else, when
    ``from_env``, the environment's for the origin's scheme.  (A borrowed session's own
    ``trust_env`` decides for it.)"""
    if proxy is not None:
        return _proxy.parse_proxy(proxy)
    if not from_env:
        return None
    try:
        target = URL(origin) if isinstance(origin, str) else None
    except (TypeError, ValueError):
        target = None
    if target is None or target.scheme not in ("http", "https"):
        return None  # the transport reports the bad base URL
    found = _proxy.environment_proxy(target)
    return None if found is None else found[0]


def check_trace_configs(value: object) -> list[aiohttp.TraceConfig]:
    """The client session's trace configs: a list or tuple of ``aiohttp.TraceConfig``."""
    if value is None:
        return []
    if isinstance(value, list | tuple) and all(isinstance(t, aiohttp.TraceConfig) for t in value):
        return list(value)
    raise InvalidParameterError(
        f"trace_configs must be a list of aiohttp.TraceConfig, got {type(value).__name__}"
    )


# -- list filters -------------------------------------------------------------------------


class RecordingFilters(TypedDict, total=False):
    """The filters ``MediaClient.list()`` and ``MediaClient.pages()`` take as keyword
    arguments, every one optional; a dict of them can be passed to either with ``**``."""

    status: RecordingStatus | str | None
    """Only recordings with this status."""
    source_sid: str | None
    """Only recordings of this source (two letters and 32 hex digits)."""
    processor_sid: str | None
    """Only recordings of this MediaProcessor (``ZX`` and 32 hex digits)."""
    order: RecordingOrder | str | None
    """``"asc"`` or ``"desc"`` (the API's default) by ``date_created``."""
    page_size: int | None
    """Recordings per page, from 1 to 1000."""


_FILTER_NAMES = tuple(RecordingFilters.__annotations__)


@attrs.frozen
class ListFilters:
    """The filters of ``list()`` and ``pages()``, checked, as the API's query parameters;
    and ``list()``'s ``limit``."""

    params: Mapping[str, str]
    limit: int | None = None

    @classmethod
    def check(
        cls, method: str, filters: Mapping[str, object], limit: int | None = None
    ) -> ListFilters:
        """Check every filter, or raise InvalidParameterError naming the first bad one
        (TypeError for a name that is not a filter, as for any unknown keyword).

        With only ``limit`` given, pages hold ``min(limit, MAX_PAGE_SIZE)``.
        """
        unknown = sorted(set(filters) - set(_FILTER_NAMES))
        if unknown:
            raise TypeError(
                f"{method}() got an unexpected keyword argument {unknown[0]!r} "
                f"(its filters: {', '.join(_FILTER_NAMES)})"
            )
        status, source_sid, processor_sid, order, page_size = map(filters.get, _FILTER_NAMES)
        if limit is not None and (not is_int(limit) or limit < 0):
            raise InvalidParameterError(f"limit must be an integer >= 0, got {limit!r}")
        if page_size is None and limit is not None:
            page_size = max(1, min(limit, MAX_PAGE_SIZE))
        params: dict[str, str] = {}
        if status is not None:
            params["Status"] = _one_of("status", status, _STATUSES, f"one of {sorted(_STATUSES)}")
        if source_sid is not None:
            params["SourceSid"] = _sids.check_source_sid(source_sid)
        if processor_sid is not None:
            params["ProcessorSid"] = _sids.check_processor_sid(processor_sid)
        if order is not None:
            params["Order"] = _one_of("order", order, {"asc", "desc"}, "'asc' or 'desc'")
        if page_size is not None:
            if not is_int(page_size) or not 1 <= page_size <= MAX_PAGE_SIZE:
                raise InvalidParameterError(
                    f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}"
                )
            params["PageSize"] = str(page_size)
        return cls(params, limit)


def _one_of(name: str, value: object, known: frozenset[str] | set[str], expected: str) -> str:
    # str.__str__: a str enum's value, not what its own __str__ says.
    if not isinstance(value, str) or str.__str__(value) not in known:
        raise InvalidParameterError(f"invalid {name} {_sids.describe(value)}: expected {expected}")
    return str.__str__(value)


def same_origin(page_url: str, base: URL, origin: URL) -> URL:
    """``page_url`` parsed, when it has the client's origin (scheme, host and port); else
    ForeignPageUrlError, before anything is sent to it."""
    try:
        url = URL(page_url)
        # .port fills in the scheme's default, so https://host and https://host:443
        # are one origin; a URL with userinfo never is (aiohttp would refuse it anyway).
        same = (
            url.is_absolute()
            and (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)
            and url.user is None
            and url.password is None
        )
    except (TypeError, ValueError):
        same = False
    if not same:
        raise ForeignPageUrlError(
            f"refusing to follow page URL {_sids.describe(page_url)}: it does not share "
            f"the client's origin {origin}, and following it would send "
            "the credentials there"
        )
    return url


# -- the client's settings ----------------------------------------------------------------


def check_borrowed_session(session: aiohttp.ClientSession | None, trace_configs: object) -> None:
    """Refuse a borrowed session the client cannot use as it is."""
    # getattr: aiohttp 4 drops a session's auth= altogether.
    if session is not None and getattr(session, "auth", None) is not None:
        # aiohttp refuses every request that has both; and whose account would it be?
        raise InvalidParameterError(
            "the borrowed aiohttp session has its own auth; the client sends its own "
            "credentials, so pass a session without auth="
        )
    if session is not None and trace_configs:
        # aiohttp fixes a session's trace configs when it is created.
        raise InvalidParameterError(
            "trace_configs apply to the client's own session; a borrowed session has "
            "its own: pass them to aiohttp.ClientSession(trace_configs=...) instead"
        )


def redactor_for(credentials: Iterable[tuple[str, str]], proxy: object = None) -> Redactor:
    """A Redactor for ``(username, password)`` pairs and for the proxy's own credentials.

    ``proxy`` is a parsed proxy URL or a proxy argument as given; one that does not parse
    adds nothing (it is refused elsewhere, by a message that does not quote it).
    """
    pairs = list(credentials)
    if isinstance(proxy, URL):
        pairs += _proxy.secrets(proxy)
    elif proxy:
        with contextlib.suppress(InvalidParameterError):
            pairs += _proxy.secrets(parse_proxy(proxy))
    return Redactor.for_credentials(pairs)


class TransportArguments(TypedDict):
    """The keyword arguments of the client's Transport, checked."""

    base_url: object
    authorization: str
    timeout: aiohttp.ClientTimeout
    session: aiohttp.ClientSession | None
    max_body_size: int
    connection_limit: int
    redactor: Redactor
    user_agent: str
    proxy: URL | None
    trace_configs: list[aiohttp.TraceConfig]


CLIENT_DEFAULTS: Final[Mapping[str, object]] = {
    "api_key": None,
    "api_secret": None,
    "region": None,
    "edge": None,
    "base_url": None,
    "session": None,
    "retry": None,
    "timeout": None,
    "max_body_size": DEFAULT_MAX_BODY_SIZE,
    "connection_limit": 100,
    "proxy": None,
    "trust_env": True,
    "trace_configs": None,
    "user_agent_extra": None,
}
"""Every keyword option of ``MediaClient()`` and its default (``retry``: the client's
``RetryPolicy()``)."""


@attrs.frozen(eq=False)
class ClientConfig:
    """A MediaClient's settings, every one checked: what ``client_config`` builds."""

    account_sid: str
    auth_kind: str
    """``auth_token`` or ``api_key``."""
    timeout: aiohttp.ClientTimeout
    """The per-attempt timeout as asked for, before the retry deadline clips it."""
    transport: TransportArguments = attrs.field(repr=False)  # it holds the credentials
    """The client's Transport, as keyword arguments."""


def client_config(
    account_sid: object, auth_token: object, options: Mapping[str, object], *, deadline: float
) -> ClientConfig:
    """Check ``MediaClient()``'s arguments, in the order of its signature, and build its
    settings; ``deadline`` is its retry policy's, which bounds each attempt's timeout.

    InvalidParameterError names the first bad argument; TypeError names an unknown one,
    as for any function.
    """
    unknown = sorted(set(options) - set(CLIENT_DEFAULTS))
    if unknown:
        raise TypeError(f"MediaClient() got an unexpected keyword argument {unknown[0]!r}")
    given = {**CLIENT_DEFAULTS, **options}
    checked = check_credentials(account_sid, auth_token, given["api_key"], given["api_secret"])
    max_body_size = check_at_least_one("max_body_size", given["max_body_size"])
    connection_limit = check_at_least_one("connection_limit", given["connection_limit"])
    requested = as_timeout(given["timeout"])
    base_url = given["base_url"]
    origin = base_url_for(given["region"], given["edge"]) if base_url is None else base_url
    session: aiohttp.ClientSession | None = given["session"]  # type: ignore[assignment]
    proxy = proxy_for(given["proxy"], origin, from_env=bool(given["trust_env"]) and session is None)
    transport = TransportArguments(
        base_url=origin,
        authorization=basic_auth_header(checked.username, checked.password),
        timeout=within(requested, deadline),
        session=session,
        max_body_size=max_body_size,
        connection_limit=connection_limit,
        redactor=redactor_for([(checked.username, checked.password)], proxy),
        user_agent=user_agent(given["user_agent_extra"]),
        proxy=proxy,
        trace_configs=check_trace_configs(given["trace_configs"]),
    )
    return ClientConfig(checked.account_sid, checked.kind, requested, transport)
