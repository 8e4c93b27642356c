"""Global settings, client construction, consoles, logging and the error-to-exit-code map."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Final

import click
from rich.console import Console

from twilio_media_async import (
    InvalidParameterError,
    InvalidSidError,
    MediaClient,
    RetryEvent,
    RetryPolicy,
    TwilioMediaError,
    _proxy,
)
from twilio_media_async._credentials import Names, check_credentials
from twilio_media_async._redact import Redactor

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandFailed",
    "Settings",
    "UsageProblem",
    "configure_logging",
    "describe_error",
    "run_async",
    "stderr_console",
    "stdout_console",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, as shells report it

# Each value under both of the names it can be given by.
_OPTION_NAMES: Final = Names(
    account_sid="--account-sid/TWILIO_ACCOUNT_SID",
    auth_token="--auth-token/TWILIO_AUTH_TOKEN",
    api_key="--api-key/TWILIO_API_KEY",
    api_secret="--api-secret/TWILIO_API_SECRET",
    verb="pass",
)
# Tables written to a pipe or a file are not squeezed into 80 columns.
_PIPE_WIDTH: Final = 160


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _OneLineError(click.ClickException):
    """A ``click.ClickException`` shown as one ``Error: ...`` line, without a usage block."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


class UsageProblem(_OneLineError):
    """Bad input that no request could fix (a bad sid, missing credentials): exit 2."""

    exit_code: ClassVar[int] = EXIT_USAGE


class CommandFailed(_OneLineError):
    """The command ran and failed (an API or transport error, nothing confirmed): exit 1."""

    exit_code: ClassVar[int] = EXIT_FAILED


@functools.cache
def stderr_console() -> Console:
    """The one console for stderr: progress, logging and summaries share it."""
    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """A console for tables on stdout; wide when stdout is a pipe or a file."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else _PIPE_WIDTH
    return Console(file=sys.stdout, width=width, highlight=False)


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """The group's global options, shared by every command through ``ctx.obj``."""

    account_sid: str | None = None
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    api_key: str | None = None
    api_secret: str | None = dataclasses.field(default=None, repr=False)
    base_url: str | None = None
    region: str | None = None
    edge: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    proxy: str | None = dataclasses.field(default=None, repr=False)
    verbose: int = 0

    @functools.cached_property
    def _redactor(self) -> Redactor:
        pairs = [
            (user or "", secret)
            for user, secret in (
                (self.account_sid, self.auth_token),
                (self.api_key, self.api_secret),
            )
            if secret
        ]
        if self.proxy:
            # A malformed one is refused before any request, by a message that does not
            # quote it.
            with contextlib.suppress(InvalidParameterError):
                pairs += _proxy.secrets(_proxy.parse_proxy(self.proxy))
        return Redactor.for_credentials(pairs)

    def redact(self, text: str) -> str:
        """``text`` without any secret this process knows of (the token, the API secret):
        neither raw, nor as the Basic header value, nor as anything that decodes to it."""
        return self._redactor.thorough(text)

    def redact_bytes(self, line: bytes) -> bytes:
        """``line`` with every known form of a secret replaced (the raw secret, the Basic
        header value and their base64 forms): cheap enough for every output line."""
        return self._redactor.bytes(line)

    def retry_policy(
        self, *, on_retry: Callable[[RetryEvent], object] | None = None
    ) -> RetryPolicy:
        """The SDK's default RetryPolicy, with ``--max-attempts`` when given."""
        if self.max_attempts is None:
            return RetryPolicy(on_retry=on_retry)
        return RetryPolicy(max_attempts=self.max_attempts, on_retry=on_retry)

    def client(
        self,
        *,
        on_retry: Callable[[RetryEvent], object] | None = None,
        connection_limit: int = 100,
    ) -> MediaClient:
        """A MediaClient from the global options.

        Built before any I/O (the session opens inside the event loop, on first use), so
        that missing credentials or a malformed option stop a command before it prompts,
        reads input or creates its output file: UsageProblem, exit 2.
        """
        # An API key wins over an auth token, as in MediaClient.from_env.
        token = None if (self.api_key or self.api_secret) else self.auth_token
        try:
            checked = check_credentials(
                self.account_sid, token, self.api_key, self.api_secret, names=_OPTION_NAMES
            )
        except InvalidParameterError as exc:
            raise UsageProblem(self.redact(exc.message)) from None
        credentials: dict[str, Any] = (
            {"api_key": checked.username, "api_secret": checked.password}
            if checked.kind == "api_key"
            else {"auth_token": checked.password}
        )
        try:
            return MediaClient(
                self.account_sid,
                **credentials,
                region=self.region,
                edge=self.edge,
                base_url=self.base_url,
                retry=self.retry_policy(on_retry=on_retry),
                timeout=self.timeout,
                connection_limit=connection_limit,
                proxy=self.proxy,
            )
        except InvalidParameterError as exc:  # a malformed account sid, region or URL
            raise UsageProblem(self.redact(exc.message)) from None


def describe_error(exc: TwilioMediaError) -> str:
    """``Type: message (after N attempts)`` on one line, for stderr."""
    text = f"{type(exc).__name__}: {exc}"
    if exc.attempts > 1:
        text += f" (after {exc.attempts} attempts)"
    return _one_line(text)


def run_async(settings: Settings, main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; map the SDK's errors to one line on stderr and an exit
    code (2 for bad input, 1 for failures, 130 for Ctrl-C), never a traceback."""
    try:
        return asyncio.run(main)
    except (InvalidSidError, InvalidParameterError) as exc:
        raise UsageProblem(settings.redact(exc.message)) from None
    except TwilioMediaError as exc:
        raise CommandFailed(settings.redact(describe_error(exc))) from None
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise  # click exits quietly when the reader of stdout went away
        raise CommandFailed(settings.redact(f"{type(exc).__name__}: {exc}")) from None
    except Exception as exc:
        if settings.verbose:
            raise
        raise CommandFailed(
            settings.redact(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)")
        ) from None
