"""The hardware method: accelerator time x the accelerator's dense reference peak x an
assumed (or measured) utilisation (``flops.hardware``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile import flops
from reconcile.catalog import normalize_precision
from reconcile.methods.base import Method, RunContext, peak, utilisation_text


class Hardware(Method):
    """Accelerator-seconds x peak x utilisation.

    Time: scheduler allocations, else measured telemetry windows, else the job's own
    runtime x accelerator count, else accelerator-hours the evidence states.
    Utilisation: DCGM tensor-pipe activity when measured, else the configured band.
    """

    name = "hardware"
    decides = 1
    needs = "accelerator time and a known accelerator"
    timed = True

    def estimate(self, ctx: RunContext) -> flops.Estimate | None:
        run, usage = ctx.run, ctx.usage
        count, seconds = run.get("accelerator_count"), run.get("runtime_seconds")
        if usage.allocation_seconds:
            total, basis = usage.allocation_seconds, "scheduler allocation (matched Slurm jobs)"
        elif usage.telemetry_seconds:
            total, basis = usage.telemetry_seconds, "measured device time (matched telemetry)"
        elif count and seconds:
            total, basis = float(count) * float(seconds), "runtime x accelerators (job logs)"
        elif run.get("accelerator_seconds"):
            total = float(run["accelerator_seconds"])
            basis = "accelerator-hours stated by the evidence"
        else:
            return None
        name = run.get("accelerator")
        if (not name or name == "mixed") and len(usage.accelerators) == 1:
            name = next(iter(usage.accelerators))
        if not name:
            ctx.flags.append("hardware_unknown_accelerator")
            return None
        precision = normalize_precision(run.get("precision"))
        reference, _ = peak(name, precision, ctx.default_precision)
        if reference is None:
            ctx.flags.append("hardware_unknown_accelerator")
            return None
        estimate = flops.hardware(
            total,
            reference.central,
            utilisation=dict(ctx.utilisation),
            measured_utilisation=usage.measured_tensor_active,
            peak_low=reference.low,
            peak_high=reference.high,
        )
        reference.record(estimate, total)
        estimate.assumptions.update(
            {
                "accelerator": name,
                "seconds_basis": basis,
                "precision": precision or f"{ctx.default_precision} (assumed)",
                "matched_usage_rows": usage.usage_rows,
            }
        )
        return estimate

    def summary(self, assumptions: Mapping[str, Any], run: Mapping[str, Any]) -> str:
        return time_summary(assumptions)


def time_summary(a: Mapping[str, Any]) -> str:
    """How a figure from accelerator time was made (the hardware and billing methods):
    hours and their basis x peak x utilisation band."""
    util = a.get("utilisation") or {}
    seconds = float(a.get("accelerator_seconds") or 0.0)
    reference = float(a.get("peak_flops_per_second") or 0.0)
    extra = f"; {a['billing_lines']} billing lines" if "billing_lines" in a else ""
    return (
        f"{seconds / 3600:,.1f} accelerator-hours ({a.get('seconds_basis', 'n/a')}) × "
        f"{reference / 1e12:,.1f} TFLOP/s {a.get('precision', '')} peak of "
        f"{a.get('accelerator', 'n/a')} × utilisation "
        f"{utilisation_text(util.get('low'))} / {utilisation_text(util.get('central'))} / "
        f"{utilisation_text(util.get('high'))} ({util.get('basis', 'n/a')}){extra}"
    ).replace("  ", " ")
