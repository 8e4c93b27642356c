"""pytest runs every Python example of README.md and docs/*.md: see tests/_docs.py."""

from tests._docs import pytest_collect_file

__all__ = ["pytest_collect_file"]
