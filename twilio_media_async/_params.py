"""MediaClient's argument checks: pure, run when a method is called, before any I/O.

Each check raises InvalidParameterError (a ValueError) naming the argument, or hands back
the value in the form the rest of the package uses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypedDict

import aiohttp
import attrs
from yarl import URL

from . import _proxy, _sids
from ._api import MAX_PAGE_SIZE
from ._numbers import is_int, is_number
from ._transport import DEFAULT_BASE_URL, build_base_url
from .errors import ForeignPageUrlError, InvalidParameterError
from .models import RecordingOrder, RecordingStatus

__all__ = [
    "ListFilters",
    "RecordingFilters",
    "base_url_for",
    "check_at_least_one",
    "check_seconds",
    "check_trace_configs",
    "proxy_for",
    "same_origin",
]

_STATUSES = frozenset(s.value for s in RecordingStatus)


def check_at_least_one(name: str, value: object, *, kind: str = "") -> int:
    """An int (never a bool: ``True`` is not 1 here) of at least 1."""
    if not is_int(value) or value < 1:
        raise InvalidParameterError(f"{name} must be {kind}>= 1, got {value!r}")
    return value


def check_seconds(name: str, value: object, *, finite: bool) -> None:
    """A number of seconds above 0 (NaN never is; infinity only when not ``finite``)."""
    if not is_number(value) or math.isnan(value) or value <= 0 or (finite and math.isinf(value)):
        what = "a finite number" if finite else "a number"
        raise InvalidParameterError(f"{name} must be {what} of seconds > 0, got {value!r:.40}")


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


def base_url_for(region: str | None, edge: str | None) -> str:
    """The API origin for a region and edge, or the default one."""
    return build_base_url(region, edge) if (region or edge) else DEFAULT_BASE_URL


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
