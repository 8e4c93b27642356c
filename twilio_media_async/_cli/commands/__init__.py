"""The commands of ``twilio-media``, one module each (``jobs`` holds the two bulk ones)."""

from __future__ import annotations

from .delete import delete
from .demo import demo
from .fake_server import fake_server
from .fetch import fetch
from .jobs import delete_many, fetch_many
from .list import list_

__all__ = ["COMMANDS"]

COMMANDS = (fetch, fetch_many, list_, delete, delete_many, fake_server, demo)
"""Every command of the group."""
