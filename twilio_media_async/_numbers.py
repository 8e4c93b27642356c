"""What counts as a number in an argument: an int or a float, never a bool.

``bool`` subclasses ``int``, so a plain ``isinstance(value, int)`` takes ``True`` for 1:
``timeout=True`` would mean one second and ``max_attempts=True`` one attempt.  Every
argument check in the package asks these functions instead.  (The converter is stricter
still: it reads JSON, where only an exact ``int`` is an integer.)
"""

from __future__ import annotations

import math
from typing import TypeGuard

__all__ = ["is_finite", "is_int", "is_number"]


def is_int(value: object) -> TypeGuard[int]:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """True for an int or a float that is not a bool (NaN and infinities included)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite(value: object) -> TypeGuard[int | float]:
    """True for a number (not a bool) that is neither NaN nor infinite.

    NaN compares false with everything, so a range check alone (``value < 0``) lets it
    through, and it then silently disables every bound it takes part in.
    """
    return is_number(value) and math.isfinite(value)
