"""What a provider files about a model's training, ready to paste or publish.

The EU AI Act's Annex XI, point 2(d)-(e), asks a general-purpose model's provider for
the computational resources used to train it (floating-point operations, training time
and other relevant details) and its known or estimated energy consumption; the GPAI Code
of Practice's Model Documentation Form has the same fields, and for a modifier the
Commission's guidelines limit the duty to the modification. ``document`` gathers those
facts from the report's model (one source: the figures are the report's own), for the
report's documentation section and for ``reconcile export model-card``, which writes
them as the Hugging Face model-card metadata block (``base_model``,
``co2_eq_emissions``: emissions in grams, source, training type, geographical location,
hardware used; huggingface.co/docs/hub/model-cards-co2) and as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import yaml

from reconcile.compliance import sci


@dataclass(frozen=True)
class HoursByType:
    """Accelerator-hours of one accelerator type.

    Attributes:
        accelerator: catalog accelerator key, or "unknown".
        hours: accelerator-hours.
        runs: runs on it.
    """

    accelerator: str
    hours: float
    runs: int


@dataclass(frozen=True)
class Documentation:
    """A model's Annex XI 2(d)-(e) facts (the modification: the runs of its lineage).

    Attributes:
        model_id: the model.
        status: its status under the one-third rule.
        base_model: the third-party base model (catalog id), or null.
        base_model_names: every name of the base model the evidence gives (versions).
        runs: training runs of the modification.
        training_from: first run start (UTC, ISO 8601), or null.
        training_to: last run end (UTC, ISO 8601), or null.
        wall_clock_hours: the runs' durations summed (hours).
        accelerator_hours: accelerator-hours by type.
        compute_flops: the modification's compute in FLOP (central).
        compute_low_flops: low end of its band.
        compute_high_flops: high end of its band.
        compute_text: the figure as a notification states it (2 significant figures,
            the method).
        energy_mwh: facility energy in MWh (central), or null.
        energy_low_mwh: low end of the energy band, or null.
        energy_high_mwh: high end of the energy band, or null.
        energy_basis: measured | partly_measured | estimated | none.
        energy_method: how the energy was obtained.
        emissions_tco2e: emissions where a grid intensity is configured, else null.
        evidence_ids: the evidence files behind its runs (ids of the report's list).
    """

    model_id: str
    status: str
    base_model: str | None
    base_model_names: list[str]
    runs: int
    training_from: str | None
    training_to: str | None
    wall_clock_hours: float
    accelerator_hours: list[HoursByType]
    compute_flops: float | None
    compute_low_flops: float | None
    compute_high_flops: float | None
    compute_text: str
    energy_mwh: float | None
    energy_low_mwh: float | None
    energy_high_mwh: float | None
    energy_basis: str
    energy_method: str
    emissions_tco2e: float | None
    evidence_ids: list[str]


def document(model: Any, runs: Mapping[str, Any], seconds: Mapping[str, float]) -> Documentation:
    """The facts of ``model`` (a report ``ModelReport``) from its lineage's ``runs``
    (report ``RunReport`` by run id) and each run's accelerator-seconds (``seconds``:
    ``run_energy.accelerator_seconds``, the time its energy covers)."""
    members = [runs[r.run_id] for r in model.runs if r.run_id in runs]
    starts = sorted(r.started_at for r in members if r.started_at)
    ends = sorted(r.ended_at for r in members if r.ended_at)
    wall = 0.0
    hours: dict[str, list[float]] = {}
    for run in members:
        if run.started_at and run.ended_at:
            wall += (_time(run.ended_at) - _time(run.started_at)).total_seconds() / 3600
        elif run.runtime_seconds:
            wall += run.runtime_seconds / 3600
        if seconds.get(run.run_id):
            hours.setdefault(run.accelerator or "unknown", []).append(seconds[run.run_id] / 3600)
    names = sorted({r.base_model for r in members if r.base_model} | set(_base(model)))
    energy = model.energy
    known = energy is not None and energy.basis != "none"
    return Documentation(
        model_id=model.model_id,
        status=model.status,
        base_model=model.base_model,
        base_model_names=names,
        runs=len(model.runs),
        training_from=starts[0] if starts else None,
        training_to=ends[-1] if ends else None,
        wall_clock_hours=wall,
        accelerator_hours=[
            HoursByType(name, sum(values), len(values)) for name, values in sorted(hours.items())
        ],
        compute_flops=model.flops_central,
        compute_low_flops=model.flops_low,
        compute_high_flops=model.flops_high,
        compute_text=model.notification,
        energy_mwh=energy.facility_kwh_central / 1000 if known else None,
        energy_low_mwh=_mwh(energy.facility_kwh_low) if known else None,
        energy_high_mwh=_mwh(energy.facility_kwh_high) if known else None,
        energy_basis=energy.basis if energy is not None else "none",
        energy_method=energy.method if energy is not None else "no accelerator time on record",
        emissions_tco2e=energy.tco2e_central if known else None,
        evidence_ids=sorted({i for r in members for i in r.evidence_ids}, key=lambda i: int(i[1:])),
    )


def _base(model: Any) -> list[str]:
    return [model.base_model] if model.base_model else []


def _mwh(kwh: float | None) -> float | None:
    return kwh / 1000 if kwh is not None else None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def lines(doc: Documentation) -> list[tuple[str, str]]:
    """(label, text) pairs of the report's documentation section, ready to paste."""
    hardware = "; ".join(
        f"{h.accelerator}: {h.hours:,.0f} accelerator-hours ({h.runs} run(s))"
        for h in doc.accelerator_hours
    )
    energy = (
        f"{doc.energy_mwh:.2g} MWh (band {doc.energy_low_mwh:.2g}–{doc.energy_high_mwh:.2g}), "
        f"{doc.energy_basis.replace('_', ' ')}: {doc.energy_method}"
        if doc.energy_mwh is not None
        and doc.energy_low_mwh is not None
        and doc.energy_high_mwh is not None
        else "not known: no accelerator time on record"
    )
    return [
        ("Model dependencies", f"modified from {', '.join(doc.base_model_names) or 'unknown'}"),
        (
            "Training time",
            f"{doc.wall_clock_hours:,.1f} h over {doc.runs} run(s)"
            + (
                f", {doc.training_from[:10]} to {doc.training_to[:10]}"
                if doc.training_from and doc.training_to
                else ""
            )
            + (f"; {hardware}" if hardware else ""),
        ),
        (
            "Computational resources",
            f"{doc.compute_text} (band {sci(doc.compute_low_flops)}–{sci(doc.compute_high_flops)} "
            "FLOP)",
        ),
        ("Energy consumption", energy),
        ("Evidence", ", ".join(doc.evidence_ids) or "none"),
    ]


def model_card(doc: Documentation, location: str | None = None) -> tuple[str, str]:
    """The Hugging Face model-card metadata block (YAML front matter) and the same facts as
    JSON. ``co2_eq_emissions`` is written only where the emissions are known (a grid
    intensity configured); ``location`` is ``[energy] location``."""
    hardware = ", ".join(f"{h.accelerator} ({h.hours:,.0f} h)" for h in doc.accelerator_hours)
    meta: dict[str, Any] = {}
    if doc.base_model:
        meta["base_model"] = doc.base_model
    if doc.emissions_tco2e is not None:
        co2: dict[str, Any] = {
            "emissions": round(doc.emissions_tco2e * 1e6, 1),
            "source": f"reconcile: {doc.energy_method}",
            "training_type": "fine-tuning",
            "hardware_used": hardware or "unknown",
        }
        if location:
            co2["geographical_location"] = location
        meta["co2_eq_emissions"] = co2
    block = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"
    facts = {
        **asdict(doc),
        "geographical_location": location,
        "model_card_metadata": meta,
        "emissions_note": None
        if doc.emissions_tco2e is not None
        else "no grid intensity configured ([energy] grid_intensity): emissions not stated",
    }
    return block, json.dumps(facts, indent=2, ensure_ascii=False) + "\n"
