"""Thresholds and status under the EU AI Act's one-third rule.

Sources: European Commission, Guidelines on the scope of the obligations for providers of
general-purpose AI models (C(2025) 5045 final, adopted as C(2025) 7719 final), §3.2
("Modifier becomes provider": modification compute greater than one third of the
original model's training compute; when that compute can be neither known nor
estimated, one third of 10^23, or of 10^25 for a model with systemic risk), §2.1
(indicative GPAI criterion 10^23), §2.3 / AI Act Art. 51(2) (systemic-risk presumption
10^25), Annex A.2 (estimates within a 30 % error margin).

Status of a model, from its cumulative modification compute band (low, central, high):

* ``provider``: the central estimate exceeds the threshold;
* ``review``: it does not, but the band's high end or central × 1.3 (the guidelines'
  30 % margin) reaches it;
* ``below``: neither;
* ``insufficient_evidence``: no method produced an estimate for some run of the lineage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconcile.models import BaseModel
from reconcile.numbers import percent, sci

__all__ = ["sci"]  # re-exported: callers format figures through compliance

GPAI_INDICATIVE_FLOPS = 1e23
SYSTEMIC_RISK_FLOPS = 1e25
ONE_THIRD = 1.0 / 3.0
DEFAULT_THRESHOLD = ONE_THIRD * GPAI_INDICATIVE_FLOPS
SYSTEMIC_DEFAULT_THRESHOLD = ONE_THIRD * SYSTEMIC_RISK_FLOPS
ACCURACY_MARGIN = 0.30

#: Citations used in statuses and in the report's methods section.
REFERENCES = {
    "one_third": "Commission GPAI Guidelines §3.2: modification compute > 1/3 of the "
    "original model's training compute",
    "default": "Commission GPAI Guidelines §3.2: original compute neither known nor "
    "estimable: 1/3 × 10^23 (1/3 × 10^25 for a systemic-risk model)",
    "gpai": "Commission GPAI Guidelines §2.1: indicative criterion 10^23 FLOP",
    "systemic": "AI Act Art. 51(2), Guidelines §2.3: presumption above 10^25 FLOP",
    "margin": "Commission GPAI Guidelines Annex A.2: estimates within a 30 % error margin",
}


@dataclass(frozen=True)
class Threshold:
    """The one-third threshold of a base model, and where it comes from."""

    flops: float
    basis: str  # one_third_of_known | default_gpai | default_systemic
    explanation: str


def threshold_for(base: BaseModel | None, base_id: str | None) -> Threshold:
    """The threshold for a modification of ``base``."""
    name = base_id or "the base model"
    if base is not None and base.pretraining_flops:
        return Threshold(
            ONE_THIRD * base.pretraining_flops,
            "one_third_of_known",
            f"one third of {base.repo_id}'s training compute {sci(base.pretraining_flops)} "
            f"({base.flops_basis}; {base.source.split(';')[0].strip()})",
        )
    if base is not None and base.systemic_risk:
        return Threshold(
            SYSTEMIC_DEFAULT_THRESHOLD,
            "default_systemic",
            f"{name}'s compute is not known; it is presumed to have systemic risk: 1/3 × 10^25",
        )
    why = "is not in the catalog" if base is None else "has no published or estimable compute"
    return Threshold(DEFAULT_THRESHOLD, "default_gpai", f"{name} {why}: default 1/3 × 10^23")


@dataclass
class Status:
    """A model's compliance status and everything that explains it."""

    status: str
    low: float | None
    central: float | None
    high: float | None
    threshold: Threshold
    share: float | None
    flags: list[str] = field(default_factory=list)
    explanation: str = ""


def band_status(central: float, high: float | None, threshold: float) -> str:
    """provider | review | below for a complete cumulative band: provider above the
    threshold; review when the high end reaches it or the central figure is within the
    guidelines' error margin of it (``ACCURACY_MARGIN``); below otherwise."""
    if central > threshold:
        return "provider"
    if (high is not None and high >= threshold) or central * (1 + ACCURACY_MARGIN) >= threshold:
        return "review"
    return "below"


def classify(
    low: float | None,
    central: float | None,
    high: float | None,
    threshold: Threshold,
    base: BaseModel | None,
    *,
    complete: bool,
    method_text: str,
) -> Status:
    """Status of a model from its cumulative modification-compute band."""
    flags: list[str] = []
    if central is None or not complete:
        return Status(
            "insufficient_evidence",
            low,
            central,
            high,
            threshold,
            None,
            ["no_estimate" if central is None else "lineage_run_without_estimate"],
            f"no complete estimate; threshold {sci(threshold.flops)} ({threshold.explanation})",
        )
    share = central / threshold.flops
    status = band_status(central, high, threshold.flops)
    base_flops = base.pretraining_flops if base and base.pretraining_flops else None
    if base_flops is not None:
        # A level crossed only together says something: a base already above it alone
        # makes the flag empty (Guidelines §2.1 and Art. 51(2) speak of the new model).
        total = base_flops + central
        if total > SYSTEMIC_RISK_FLOPS >= base_flops:
            flags.append("base_plus_modification_above_1e25")
        elif total > GPAI_INDICATIVE_FLOPS >= base_flops:
            flags.append("base_plus_modification_above_1e23")
    elif central > GPAI_INDICATIVE_FLOPS:
        flags.append("modification_alone_above_1e23")
    explanation = (
        f"{sci(central)} FLOP ({method_text}), band {sci(low)}–{sci(high)}; threshold "
        f"{sci(threshold.flops)} ({threshold.explanation}); {percent(share)} of the threshold"
    )
    return Status(status, low, central, high, threshold, share, flags, explanation)


#: Statuses by severity, most urgent first.
STATUS_SEVERITY = ("provider", "review", "insufficient_evidence", "below")
#: What each ``--fail-on`` level fails on: ``review`` means a person must look, and a
#: model without enough evidence needs one as much as a model near the threshold.
FAIL_ON: dict[str, frozenset[str]] = {
    "provider": frozenset({"provider"}),
    "review": frozenset({"provider", "review", "insufficient_evidence"}),
}


def gate_failures(statuses: dict[str, str], fail_on: str | None) -> list[tuple[str, str]]:
    """(model, status) of every model ``--fail-on fail_on`` fails on, most urgent first."""
    failing = FAIL_ON.get(fail_on or "", frozenset())
    found = [(model, status) for model, status in statuses.items() if status in failing]
    return sorted(found, key=lambda item: (STATUS_SEVERITY.index(item[1]), item[0]))
