"""The billing method: billed accelerator-hours through the hardware formula (the time
a cloud charged for, when no log or telemetry says how long the run held its
accelerators)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile import flops
from reconcile.catalog import normalize_precision
from reconcile.methods.base import Method, RunContext, peak
from reconcile.methods.hardware import time_summary


class Billing(Method):
    """Billed accelerator-seconds x peak x utilisation."""

    name = "billing"
    decides = 2
    needs = "billing lines with accelerator-hours linked to the run"
    timed = True

    def estimate(self, ctx: RunContext) -> flops.Estimate | None:
        run, usage = ctx.run, ctx.usage
        if not usage.billed_seconds:
            return None
        name = run.get("accelerator") or (
            next(iter(usage.accelerators)) if len(usage.accelerators) == 1 else None
        )
        if not name:
            return None
        reference, _ = peak(name, normalize_precision(run.get("precision")), ctx.default_precision)
        if reference is None:
            return None
        estimate = flops.hardware(
            usage.billed_seconds,
            reference.central,
            utilisation=dict(ctx.utilisation),
            peak_low=reference.low,
            peak_high=reference.high,
        )
        reference.record(estimate, usage.billed_seconds)
        estimate.method = self.name
        estimate.assumptions.update(
            {
                "accelerator": name,
                "billing_lines": usage.billing_lines,
                "seconds_basis": "billed accelerator-hours x 3600",
            }
        )
        logged = (run.get("accelerator_count") or 0) * (run.get("runtime_seconds") or 0)
        if logged and abs(usage.billed_seconds - logged) > 0.25 * logged:
            ctx.flags.append("billed_hours_differ_from_logged_runtime")
        return estimate

    def missing(self, run: Mapping[str, Any], billing_linked: bool) -> str:
        if not billing_linked:
            return "no billing lines with accelerator-hours are linked to this run"
        return "linked billing lines name no known accelerator"

    def summary(self, assumptions: Mapping[str, Any], run: Mapping[str, Any]) -> str:
        return time_summary(assumptions)
