"""Argument checks shared by the PINN modules (one error naming the argument)."""

from __future__ import annotations

import numbers


def check_int(name: str, value, low: int) -> int:
    """``value`` (a Python or numpy integer, not a bool) as an int ``>= low``, else a
    ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)
