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
from reconcile import methods as estimation_methods
from reconcile.catalog import load_catalog
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

#: Methods shown side by side for each run, in this order (the registry's, then combined).
METHODS = estimation_methods.NAMES

#: The shipped queries the report runs (the same files `reconcile query` runs).
REPORT_QUERIES = ("accelerator_hours_by_platform", "billing_totals", "unattributed_compute")


def method_estimate(
    method: str,
    row: dict[str, Any] | None,
    run: Mapping[str, Any],
    billing: list[BillingMatch],
) -> MethodEstimate:
    """One method's figure for a run (``row`` of ``run_estimates``), or why it has none
    (both in the method's own words: ``reconcile.methods``)."""
    if row is None:
        missing = estimation_methods.missing(method, run, billing_linked=bool(billing))
        return MethodEstimate(method, False, None, None, None, missing, {})
    assumptions: dict[str, Any] = row["assumptions"]
    return MethodEstimate(
        method=method,
        available=True,
        flops_low=number(row["flops_low"]),
        flops_central=number(row["flops_central"]),
        flops_high=number(row["flops_high"]),
        summary=estimation_methods.summary(method, assumptions, run),
        assumptions=assumptions,
    )


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
