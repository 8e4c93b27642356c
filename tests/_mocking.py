"""aioresponses, adapted to aiohttp 3.14.

aiohttp 3.14 added a required ``stream_writer`` argument to ``ClientResponse``, which
aioresponses 0.7.9 does not pass yet (pnuckowski/aioresponses#289).  This response class
fills it in, so the unit tests can keep using aioresponses on the aiohttp our users run.
"""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse
from aioresponses import aioresponses


class _FinishedWriter:
    """Stands in for the request writer of a request that was already sent."""

    output_size = 0


class CompatResponse(ClientResponse):
    """A ClientResponse that aioresponses can build on aiohttp 3.13 and 3.14 alike."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _FinishedWriter())
        try:
            super().__init__(method, url, **kwargs)
        except TypeError:  # an aiohttp without the argument
            kwargs.pop("stream_writer")
            super().__init__(method, url, **kwargs)


class mocked_http(aioresponses):
    """aioresponses whose responses default to CompatResponse."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatResponse)
        super().add(*args, **kwargs)
