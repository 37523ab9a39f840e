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
    """A share to 2 significant figures: ``128 %``, ``85 %``, ``1.3 %``, ``0.052 %``.

    Near 100 % as many digits as it takes to show which side of it the share lies:
    ``99.9 %`` and ``100.1 %``, never ``100 %`` for both (a threshold is crossed or not).
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    pct = value * 100.0
    if pct == 0:
        return "0 %"
    if abs(pct) >= 10:
        text = f"{pct:,.0f}"
        decimals = 0
        while pct != 100.0 and decimals < 12 and (float(text.replace(",", "")) >= 100) != (
            pct >= 100
        ):
            decimals += 1
            text = f"{pct:,.{decimals}f}"
        while pct != 100.0 and decimals < 12 and float(text.replace(",", "")) == 100.0:
            decimals += 1
            text = f"{pct:,.{decimals}f}"
        return f"{text} %"
    return f"{float(f'{pct:.2g}'):g} %"
