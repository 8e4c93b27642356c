"""The group's global options, and the MediaClient they describe."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Final

from twilio_media_async import InvalidParameterError, MediaClient, RetryEvent, RetryPolicy
from twilio_media_async._config import Names, Redactor, check_credentials, redactor_for

from .exits import UsageProblem

__all__ = ["Settings"]

# Each value under both of the names it can be given by.
_OPTION_NAMES: Final = Names(
    account_sid="--account-sid/TWILIO_ACCOUNT_SID",
    auth_token="--auth-token/TWILIO_AUTH_TOKEN",
    api_key="--api-key/TWILIO_API_KEY",
    api_secret="--api-secret/TWILIO_API_SECRET",
    verb="pass",
)


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
        # With the proxy's credentials; a malformed proxy is refused before any request,
        # by a message that does not quote it.
        return redactor_for(pairs, self.proxy)

    def redact(self, text: str) -> str:
        """``text`` without any secret this process knows of (the token, the API secret):
        neither raw, nor as the Basic header value, nor as anything that decodes to it."""
        return self._redactor.thorough(text)

    def redact_bytes(self, line: bytes) -> bytes:
        """``line`` with every known form of a secret replaced (the raw secret, the Basic
        header value and their base64 forms): cheap enough for every output line."""
        return self._redactor.bytes(line)

    def pointed_at(self, *, base_url: str, account_sid: str, auth_token: str) -> Settings:
        """These settings for a server of this machine (the demo's fake server): its URL
        and credentials, and no region, edge or proxy; the retry options are kept."""
        return Settings(
            account_sid=account_sid,
            auth_token=auth_token,
            base_url=base_url,
            max_attempts=self.max_attempts,
            timeout=self.timeout,
            verbose=self.verbose,
        )

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
        trust_env: bool = True,
    ) -> MediaClient:
        """A MediaClient from the global options.

        Built before any I/O (the session opens inside the event loop, on first use), so
        that missing credentials or a malformed option stop a command before it prompts,
        reads input or creates its output file: UsageProblem, exit 2.
        """
        # An API key wins over an auth token, as in MediaClient.from_env.
        token = None if (self.api_key or self.api_secret) else self.auth_token
        try:
            # MediaClient makes the same check, but its messages name its arguments; this
            # one names the option or variable the user actually sets.
            check_credentials(
                self.account_sid, token, self.api_key, self.api_secret, names=_OPTION_NAMES
            )
            return MediaClient(
                self.account_sid,
                auth_token=token,
                api_key=self.api_key,
                api_secret=self.api_secret,
                region=self.region,
                edge=self.edge,
                base_url=self.base_url,
                retry=self.retry_policy(on_retry=on_retry),
                timeout=self.timeout,
                connection_limit=connection_limit,
                proxy=self.proxy,
                trust_env=trust_env,
            )
        except InvalidParameterError as exc:  # missing credentials, a malformed sid or URL
            raise UsageProblem(self.redact(exc.message)) from None
