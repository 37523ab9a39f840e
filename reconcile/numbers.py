"""How figures are written for people: FLOPs to two significant figures, shares."""

from __future__ import annotations

import math


def sci(value: float | None) -> str:
    """A FLOP figure to 2 significant figures, as a notification needs it: 3.4×10^22."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}×10^{int(exponent)}"


def percent(value: float | None) -> str:
    """A share to 2 significant figures: ``128 %``, ``85 %``, ``1.3 %``, ``0.052 %``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    pct = value * 100.0
    if pct == 0:
        return "0 %"
    if abs(pct) >= 10:
        return f"{pct:,.0f} %"
    return f"{float(f'{pct:.2g}'):g} %"
