"""The ``twilio-media`` command: fetch, list and delete MediaRecordings from a shell.

```text
twilio-media demo                                   # no credentials needed
twilio-media fetch KV0123456789abcdef0123456789abcdef
twilio-media fetch-many -i sids.txt -o recordings.jsonl --concurrency 64
twilio-media fetch-many -i sids.txt -o recordings.jsonl --resume --shard 0/4
twilio-media delete-many -i expired.txt -o deleted.jsonl --yes
twilio-media list --status completed --limit 20 --table
```

Needs the ``cli`` extra (``pip install "twilio-media-async[cli]"``): click and rich are
imported by ``twilio_media_async._cli`` only, never by the SDK itself; without them the
command says how to install them (exit 1).  ``python -m twilio_media_async.cli`` works too.
The commands live in ``twilio_media_async._cli.commands``, the bulk jobs in ``_cli.jobs``.

Exit codes: 0 when everything succeeded, 1 when something failed (a sid that could not be
fetched, an API or transport error), 2 for a usage error (a bad option or sid, missing
credentials), 130 after Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import click

__all__ = ["cli", "main"]  # noqa: F822 - cli comes from __getattr__

INSTALL_HINT: Final = "twilio-media needs the cli extra: pip install 'twilio-media-async[cli]'"
_EXTRA: Final = frozenset({"click", "rich"})


def __getattr__(name: str) -> click.Group:
    # The group is imported on first use, so that this module imports without the extra.
    if name == "cli":
        from ._cli.app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: Sequence[str] | None = None) -> None:
    """The console entry point of ``twilio-media`` (and ``python -m twilio_media_async.cli``)."""
    try:
        from ._cli.app import PROG, cli
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in _EXTRA:
            raise
        print(INSTALL_HINT, file=sys.stderr)
        sys.exit(1)
    cli.main(args=list(argv) if argv is not None else None, prog_name=PROG)


if __name__ == "__main__":
    main()
