"""The estimation methods as the report states them: which methods each run shows, how
each figure was obtained (or why there is none), and the methods section.

The methods a run shows, why one has no figure, each figure's one-line summary and the
constants, formulas and citations of the methods section are kept together here, so the
report describes the estimation methods in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile import compliance, flops
from reconcile import flags as vocabulary
from reconcile.catalog import load_catalog
from reconcile.compliance import sci
from reconcile.models import ModelRegistry
from reconcile.report.model import (
    AcceleratorSpec,
    BaseCompute,
    BillingMatch,
    Constant,
    MethodEstimate,
    Methods,
    ModelReport,
    Reference,
    RunReport,
)
from reconcile.report.rows import number

#: Methods shown side by side for each run, in this order.
METHODS = ("architecture", "hardware", "billing", "reported", "combined")

#: The shipped queries the report runs (the same files `reconcile query` runs).
REPORT_QUERIES = ("accelerator_hours_by_platform", "billing_totals", "unattributed_compute")


def method_estimate(
    method: str,
    row: dict[str, Any] | None,
    run: Mapping[str, Any],
    billing: list[BillingMatch],
) -> MethodEstimate:
    """One method's figure for a run (``row`` of ``run_estimates``), or why it has none."""
    if row is None:
        missing = {
            "architecture": "needs tokens and parameter counts"
            + ("" if run.get("tokens") else ": tokens unknown"),
            "hardware": "needs accelerator time and a known accelerator",
            "billing": "no billing lines with accelerator-hours are linked to this run"
            if not billing
            else "linked billing lines name no known accelerator",
            "reported": "the evidence claims no FLOP figure",
            "combined": "no method produced an estimate",
        }[method]
        return MethodEstimate(method, False, None, None, None, missing, {})
    assumptions: dict[str, Any] = row["assumptions"]
    return MethodEstimate(
        method=method,
        available=True,
        flops_low=number(row["flops_low"]),
        flops_central=number(row["flops_central"]),
        flops_high=number(row["flops_high"]),
        summary=_summary(method, assumptions, run),
        assumptions=assumptions,
    )


def _summary(method: str, a: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    """One line saying how a method's figure was obtained."""
    if method == "architecture":
        tokens = a.get("tokens") or {}
        return (
            f"{a.get('formula', '')}; N_mm={sci(a.get('params_matmul_active'))}, "
            f"N_trainable={sci(a.get('params_trainable'))}, D={sci(tokens.get('central'))} "
            f"tokens ({run.get('tokens_basis') or 'basis unknown'}); attention "
            f"{a.get('attention', 'n/a')}"
        )
    if method in ("hardware", "billing"):
        util = a.get("utilisation") or {}
        seconds = float(a.get("accelerator_seconds") or 0.0)
        peak = float(a.get("peak_flops_per_second") or 0.0)
        extra = f"; {a['billing_lines']} billing lines" if "billing_lines" in a else ""
        return (
            f"{seconds / 3600:,.1f} accelerator-hours ({a.get('seconds_basis', 'n/a')}) × "
            f"{peak / 1e12:,.1f} TFLOP/s {a.get('precision', '')} peak of "
            f"{a.get('accelerator', 'n/a')} × utilisation "
            f"{_u(util.get('low'))} / {_u(util.get('central'))} / {_u(util.get('high'))} "
            f"({util.get('basis', 'n/a')}){extra}"
        ).replace("  ", " ")
    if method == "reported":
        claims = a.get("claims") or []
        parts = []
        for claim in claims:
            normalised = claim.get("normalised_to_ours")
            parts.append(
                f"{claim.get('basis')}: {sci(claim.get('flops'))}"
                + (f" → {sci(normalised)} normalised" if normalised is not None else "")
            )
        return "; ".join(parts) or "no claims"
    if method == "combined":
        return f"decided by {a.get('decided_by', 'n/a')}; band: {a.get('band', 'n/a')}"
    return ""


def _u(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.2f}"


def methods_section(
    models: list[ModelReport], runs: list[RunReport], registry: ModelRegistry
) -> Methods:
    """The methods section: formulas, status rules, constants, references, and the catalog
    figures of the accelerators and base models the report's runs use."""
    constants = [
        Constant(
            "reconcile.flops.DEFAULT_UTILISATION",
            dict(flops.DEFAULT_UTILISATION),
            "utilisation bounds of the hardware and billing methods (fraction of dense "
            "peak) when nothing was measured",
        ),
        Constant(
            "reconcile.flops.UNKNOWN_CONTEXT_FOR_HIGH",
            flops.UNKNOWN_CONTEXT_FOR_HIGH,
            "context length assumed for the high end when a run's sequence length is unknown",
        ),
        Constant(
            "reconcile.compliance.GPAI_INDICATIVE_FLOPS",
            compliance.GPAI_INDICATIVE_FLOPS,
            "indicative GPAI criterion (FLOP)",
        ),
        Constant(
            "reconcile.compliance.SYSTEMIC_RISK_FLOPS",
            compliance.SYSTEMIC_RISK_FLOPS,
            "systemic-risk presumption (FLOP)",
        ),
        Constant(
            "reconcile.compliance.DEFAULT_THRESHOLD",
            compliance.DEFAULT_THRESHOLD,
            "threshold when the base model's compute is neither known nor estimable (FLOP)",
        ),
        Constant(
            "reconcile.compliance.SYSTEMIC_DEFAULT_THRESHOLD",
            compliance.SYSTEMIC_DEFAULT_THRESHOLD,
            "the same for a base presumed to have systemic risk (FLOP)",
        ),
        Constant(
            "reconcile.compliance.ACCURACY_MARGIN",
            compliance.ACCURACY_MARGIN,
            "error margin of an estimate: central × (1 + margin) reaching the threshold "
            "means review",
        ),
        Constant(
            "reconcile.flags.IMPLIED_UTILISATION_IMPOSSIBLE",
            vocabulary.IMPLIED_UTILISATION_IMPOSSIBLE,
            "implied utilisation above this is physically impossible (flagged)",
        ),
        Constant(
            "reconcile.flags.IMPLIED_UTILISATION_HIGH",
            vocabulary.IMPLIED_UTILISATION_HIGH,
            "implied utilisation above this is flagged as unusually high",
        ),
        Constant(
            "reconcile.flags.IMPLIED_UTILISATION_LOW",
            vocabulary.IMPLIED_UTILISATION_LOW,
            "implied utilisation below this is flagged as unusually low",
        ),
        Constant(
            "reconcile.flags.REPORTED_TOLERANCE",
            vocabulary.REPORTED_TOLERANCE,
            "reported FLOPs further than this from ours (relative) are flagged",
        ),
    ]
    catalog = load_catalog()
    used = sorted(
        {r.accelerator for r in runs if r.accelerator}
        | {
            str(e.assumptions["accelerator"])
            for r in runs
            for e in r.estimates
            if e.available and e.assumptions.get("accelerator")
        }
    )
    accelerators = [
        AcceleratorSpec(
            key,
            catalog.accelerators[key].peak_flops("bf16"),
            catalog.accelerators[key].peak_flops("fp16"),
            catalog.accelerators[key].peak_flops("fp8"),
            catalog.accelerators[key].source,
        )
        for key in used
        if key in catalog.accelerators
    ]
    bases = {m.base_compute.repo_id: m.base_compute for m in models if m.base_compute}
    for run in runs:
        base = registry.base(run.base_model)
        if base is not None and base.repo_id not in bases:
            bases[base.repo_id] = BaseCompute(
                base.repo_id,
                base.pretraining_flops,
                base.flops_basis,
                base.systemic_risk,
                base.source,
            )
    return Methods(
        formulas=(flops.__doc__ or "").strip(),
        status_rules=(compliance.__doc__ or "").strip(),
        constants=constants,
        references=[Reference(k, v) for k, v in compliance.REFERENCES.items()],
        accelerators=accelerators,
        base_models=[bases[k] for k in sorted(bases)],
        queries=[f"queries/{name}.sql" for name in REPORT_QUERIES],
    )
