"""The estimation methods: one module per method, one registry that the estimate, the
report and the queries read.

Each method (``reconcile.methods.base.Method``) turns one run's evidence into a FLOP
figure with a band, or says why it cannot; :data:`REGISTRY` lists them in the order
they are computed and shown; :func:`combine` picks the figure compliance sums (the
``combined`` estimate, ``decided_by`` its method) and narrows its band to what every
other method allows.

Adding a method: a module here with a ``Method`` subclass, its entry in
:data:`REGISTRY`, a column in ``queries/run_reconciliation.sql``, a test
(ARCHITECTURE.md, "An estimation method").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile import flops
from reconcile.methods.architecture import Architecture
from reconcile.methods.base import Method, RunContext, UsageEvidence
from reconcile.methods.billing import Billing
from reconcile.methods.hardware import Hardware
from reconcile.methods.reported import Reported

#: Every method, in the order they are computed (a later one may read an earlier one's
#: figure: the reported claims are normalised through the architecture figure) and shown.
REGISTRY: tuple[Method, ...] = (Architecture(), Hardware(), Billing(), Reported())

#: The name of the figure compliance sums, the band every method allows.
COMBINED = "combined"

#: Every name in ``run_estimates.method``, in the report's order.
NAMES: tuple[str, ...] = (*(m.name for m in REGISTRY), COMBINED)

BY_NAME: dict[str, Method] = {m.name: m for m in REGISTRY}

#: The methods whose figure is accelerator time x peak, the best-ranked first: the run's
#: time for the implied utilisation and for its energy comes from the first with a figure.
TIMED: tuple[Method, ...] = tuple(
    sorted((m for m in REGISTRY if m.timed), key=lambda m: (m.decides is None, m.decides or 0))
)

__all__ = [
    "BY_NAME",
    "COMBINED",
    "NAMES",
    "REGISTRY",
    "TIMED",
    "Method",
    "RunContext",
    "UsageEvidence",
    "combine",
    "compute",
    "decide",
    "missing",
    "summary",
]


def compute(ctx: RunContext) -> dict[str, flops.Estimate]:
    """Every method's figure for ``ctx``'s run, in registry order (flags in ``ctx.flags``)."""
    for method in REGISTRY:
        estimate = method.estimate(ctx)
        if estimate is not None:
            ctx.found[method.name] = estimate
    return ctx.found


def decide(found: Mapping[str, flops.Estimate], run: Mapping[str, Any]) -> str | None:
    """The method whose figure compliance sums: the lowest ``decides`` rank with a
    figure, unless it defers to a method that has one (``Method.defers_to``)."""
    ranked = sorted(
        (m for m in REGISTRY if m.decides is not None and m.name in found),
        key=lambda m: m.decides or 0,
    )
    for method in ranked:
        if not any(other in found for other in method.defers_to(run)):
            return method.name
    return None


def combine(
    found: Mapping[str, flops.Estimate], decided_by: str | None, flags: list[str]
) -> flops.Estimate | None:
    """The combined estimate: the deciding figure, its band narrowed to the tightest
    interval consistent with every other method except claims; a method whose band
    misses it is flagged ``methods_disagree_<method>`` instead of narrowing it."""
    if decided_by is None:
        return None
    chosen = found[decided_by]
    low, high = chosen.low, chosen.high
    for name, other in found.items():
        if other is chosen or BY_NAME[name].decides is None:
            continue
        if other.high < low or other.low > high:
            flags.append(f"methods_disagree_{other.method}")
            continue
        low, high = max(low, other.low), min(high, other.high)
    combined = flops.Estimate(
        COMBINED,
        low,
        chosen.central,
        high,
        {"decided_by": decided_by, "band": "tightest interval consistent with all methods"},
    )
    combined.low = min(combined.low, combined.central)
    combined.high = max(combined.high, combined.central)
    return combined


def missing(method: str, run: Mapping[str, Any], billing_linked: bool) -> str:
    """Why ``run`` has no figure by ``method`` (``combined`` included)."""
    if method == COMBINED:
        return "no method produced an estimate"
    return BY_NAME[method].missing(run, billing_linked)


def summary(method: str, assumptions: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    """One line saying how ``method``'s stored figure was obtained."""
    if method == COMBINED:
        return (
            f"decided by {assumptions.get('decided_by', 'n/a')}; "
            f"band: {assumptions.get('band', 'n/a')}"
        )
    method_ = BY_NAME.get(method)
    return method_.summary(assumptions, run) if method_ is not None else ""
