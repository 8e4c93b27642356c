"""The commands of ``twilio-media``, by what they work on: ``recordings`` (fetch, list and
delete, one recording at a time), ``jobs`` (fetch-many and delete-many), ``archive``,
``fake_server`` and ``demo``.

Each is imported on first use (see ``load_command``): ``fake-server`` and ``demo`` import
the fake server, which the other commands do without.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Final

import click

__all__ = ["COMMANDS", "load_command"]

COMMANDS: Final[Mapping[str, tuple[str, str]]] = {
    "fetch": ("recordings", "fetch"),
    "fetch-many": ("jobs", "fetch_many"),
    "list": ("recordings", "list_"),
    "delete": ("recordings", "delete"),
    "delete-many": ("jobs", "delete_many"),
    "archive": ("archive", "archive"),
    "fake-server": ("fake_server", "fake_server"),
    "demo": ("demo", "demo"),
}
"""Every command of the group: its name, and the module and function defining it."""


def load_command(name: str) -> click.Command:
    """The command called ``name``, its module imported now if it was not yet."""
    module, function = COMMANDS[name]
    command = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    if not isinstance(command, click.Command):
        raise TypeError(f"{module}.{function} is not a click command")
    return command
