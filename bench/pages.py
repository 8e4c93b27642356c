"""Write a benchmark report into one ``## `` section of a markdown page, leaving the rest."""

from __future__ import annotations

from pathlib import Path


def replace_section(text: str, heading: str, body: str) -> str:
    """``text`` with the section under ``## {heading}`` replaced by ``body``.

    A section runs from its heading to the next ``## `` heading or the end of the page.  A
    page without that section gets it at the end; everything else is kept as it was.
    """
    title = f"## {heading}"
    lines = text.rstrip("\n").split("\n")
    section = [title, "", *body.strip("\n").split("\n")]
    try:
        start = lines.index(title)
    except ValueError:
        return "\n".join([*lines, "", *section]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    after = ["", *lines[end:]] if end < len(lines) else []
    return "\n".join([*lines[:start], *section, *after]) + "\n"


def write_section(page: Path, heading: str, body: str) -> None:
    """Replace (or add) the section ``## {heading}`` of ``page``."""
    text = page.read_text() if page.exists() else "# Performance\n"
    page.write_text(replace_section(text, heading, body))
