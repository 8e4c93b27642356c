"""The rich consoles: one shared for stderr, a wide one for tables on a piped stdout."""

from __future__ import annotations

import functools
import os
import sys
from typing import Final

from rich.console import Console

__all__ = ["stderr_console", "stdout_console"]

# Tables written to a pipe or a file are not squeezed into 80 columns.
_PIPE_WIDTH: Final = 160


@functools.cache
def stderr_console() -> Console:
    """The one console for stderr: progress, logging and summaries share it."""
    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """A console for tables on stdout; wide when stdout is a pipe or a file."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else _PIPE_WIDTH
    return Console(file=sys.stdout, width=width, highlight=False)
