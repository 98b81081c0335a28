"""The simulator's settings: one check for every number, whoever gives it.

The command-line switches, the control socket and ``SimSettings`` itself all go through
``settings.number``: NaN and infinities are refused everywhere, ranges are the same, and
the messages name what was given.
"""

from __future__ import annotations

import math

import pytest

from bridge.simulator.settings import SimSettings, number
from netstack.errors import UsageError

DURATIONS = ["registration_delay", "latency", "drop_after", "terminate_after", "silent_after"]


@pytest.mark.parametrize("field", [*DURATIONS, "renegotiate_after", "corrupt_rate"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_settings_refuse_nan_and_infinities(field: str, value: float) -> None:
    with pytest.raises(UsageError, match="must be a number"):
        SimSettings(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "", "x", "0x10"]
)
def test_number_refuses_what_is_not_a_finite_number(text: str) -> None:
    with pytest.raises(UsageError, match=f"latency must be a number, not {text!r}"):
        number(text, "latency")


def test_number_ranges_and_whole_numbers() -> None:
    assert number("0.25", "--corrupt", high=1) == 0.25
    assert number(" 3 ", "COUNT", low=1, whole=True) == 3
    with pytest.raises(UsageError, match="^--corrupt must be between 0 and 1$"):
        number("1.5", "--corrupt", high=1)
    with pytest.raises(UsageError, match="^--latency cannot be negative$"):
        number("-1", "--latency")
    with pytest.raises(UsageError, match="^COUNT must be at least 1$"):
        number("0", "COUNT", low=1, whole=True)
    with pytest.raises(UsageError, match="^COUNT must be a whole number, not '2.5'$"):
        number("2.5", "COUNT", low=1, whole=True)
