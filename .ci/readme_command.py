"""Print one of the README's two commands: ``demo`` or ``tests``.

The README marks each with an HTML comment (``<!-- command: tests -->``) just before its
fenced block; CI runs the block as written, so the README cannot go stale unnoticed.
"""

import pathlib
import re
import sys

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
name = sys.argv[1]
pattern = rf"<!-- command: {re.escape(name)} -->\s*```(?:bash|sh|console)?\n(.*?)```"
match = re.search(pattern, README.read_text(), re.S)
if match is None:
    sys.exit(f"README.md has no '<!-- command: {name} -->' block")
print(match.group(1).strip())
