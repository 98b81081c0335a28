"""The one check of every number a person gives the bridge or the simulator: switches,
the configuration file, the simulator's control socket and its settings.

``number`` refuses what is not a finite number in range with a ``UsageError`` naming what
was given; ``allowed_numbers`` says the same range in words, for messages that show the
value first (``key "metric": 4294967296 is not allowed: a whole number from 0 to ...``).
"""

from __future__ import annotations

import math

from netstack.errors import UsageError


def number(
    value: str | float, name: str, *, low: float = 0.0, high: float = math.inf, whole: bool = False
) -> float:
    """A finite number from ``low`` to ``high``, whole if asked; else UsageError naming
    ``name``. NaN and infinities are refused: no delay, rate or count means anything as
    one."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        result = math.nan
    if not math.isfinite(result):
        raise UsageError(f"{name} must be a number, not {value!r}")
    if whole and not result.is_integer():
        raise UsageError(f"{name} must be a whole number, not {value!r}")
    if result < low:
        raise UsageError(
            f"{name} cannot be negative" if low == 0 else f"{name} must be at least {shown(low)}"
        )
    if result > high:
        raise UsageError(f"{name} must be between {shown(low)} and {shown(high)}")
    return result


def allowed_numbers(*, low: float = 0.0, high: float = math.inf, whole: bool = False) -> str:
    """What ``number`` accepts with these bounds, in words: "a whole number from 0 to
    4294967295", "a number of at least 1"."""
    kind = "a whole number" if whole else "a number"
    if math.isinf(high):
        return f"{kind} of at least {shown(low)}"
    return f"{kind} from {shown(low)} to {shown(high)}"


def shown(bound: float) -> str:
    """A bound as a person writes it: 4294967295, not 4.29497e+09."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"
