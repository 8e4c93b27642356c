"""The one check for "a number, but not a bool" that every argument check uses."""

from __future__ import annotations

import math

import pytest

from twilio_media_async._numbers import is_finite, is_int, is_number
from twilio_media_async.testing import FakeMediaServer


@pytest.mark.parametrize(
    ("value", "integer", "number", "finite"),
    [
        (0, True, True, True),
        (-3, True, True, True),
        (2**80, True, True, True),
        (1.5, False, True, True),
        (math.nan, False, True, False),
        (math.inf, False, True, False),
        (True, False, False, False),
        (False, False, False, False),
        ("1", False, False, False),
        (None, False, False, False),
    ],
)
def test_bools_and_strings_are_not_numbers(
    value: object, integer: bool, number: bool, finite: bool
) -> None:
    assert (is_int(value), is_number(value), is_finite(value)) == (integer, number, finite)


@pytest.mark.parametrize("rate", [True, math.nan, "0.5"])
def test_the_fake_servers_fault_rate_is_a_real_number(rate: object) -> None:
    with pytest.raises(ValueError, match="fault_rate"):
        FakeMediaServer(fault_rate=rate)  # type: ignore[arg-type]
