"""Logging to stderr, at the level ``-v`` asks for, with every secret redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from .consoles import stderr_console

__all__ = ["configure_logging"]


class _Redacting(logging.Filter):
    """Rewrites each record as its redacted text (the traceback included, as text)."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self._redact(text), None
        record.exc_info, record.exc_text = None, None
        return True


def configure_logging(verbose: int, redact: Callable[[str], str] | None = None) -> None:
    """Log to stderr: errors only by default; ``-v`` adds INFO and WARNING records (each
    retry among them), ``-vv`` debug output.  ``redact`` rewrites every line before it is
    shown."""
    level = logging.ERROR if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=stderr_console(), show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if redact is not None:
        handler.addFilter(_Redacting(redact))
    logging.basicConfig(level=level, handlers=[handler], force=True)
