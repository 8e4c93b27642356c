"""Option values that a pure parser checks (``--columns``, ``--shard``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

__all__ = ["parsed_by"]

T = TypeVar("T")


def parsed_by(
    parse: Callable[[str], T],
) -> Callable[[click.Context, click.Parameter, str | None], T | None]:
    """A click callback turning an option's text into ``parse(text)``, and its ValueError
    into click's usage error for that option (exit 2)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> T | None:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return callback
