"""The audit report's data model: one set of dataclasses, built from the warehouse.

``build_report(con)`` reads a (read-only) warehouse and returns a ``Report``; the HTML,
Markdown and JSON renderings (``reconcile.report.render``) are all made from it, so the
three formats always say the same thing. The JSON rendering is ``dataclasses.asdict`` of
the model; its schema (``reconcile/templates/report.schema.json``) is generated from these
dataclasses and their docstrings (``reconcile.report.schema``) and versioned by
``REPORT_SCHEMA_VERSION``.

Determinism: the report holds only the data's own values (no load or computation times,
no generation time unless ``generated_at`` is given), everything is sorted explicitly,
and every constant, formula and citation comes from the modules that the estimation
itself uses (``reconcile.flops``, ``reconcile.compliance``, ``reconcile.estimate``,
the catalogs). The same warehouse therefore always gives byte-identical output.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from reconcile import __version__, compliance, flops, headroom, lake, queries, warehouse
from reconcile import flags as vocabulary
from reconcile.catalog import load_catalog
from reconcile.compliance import sci
from reconcile.documentation import Documentation, document
from reconcile.engines import rollup_id_sql
from reconcile.errors import ReconcileError
from reconcile.estimate import STATUS_SELECT
from reconcile.flags import describe, flag_text, is_doubt
from reconcile.headroom import Headroom
from reconcile.models import ModelRegistry, default_registry
from reconcile.numbers import percent

#: Version of the report's JSON schema: bump it when a field changes meaning or goes away.
REPORT_SCHEMA_VERSION = 1

#: Status order in the report: what needs attention first.
STATUS_ORDER = ("provider", "review", "insufficient_evidence", "below")
STATUS_LABELS = {
    "provider": "Provider",
    "review": "Review",
    "insufficient_evidence": "Insufficient evidence",
    "below": "Below threshold",
}
#: Methods shown side by side for each run, in this order.
METHODS = ("architecture", "hardware", "billing", "reported", "combined")

#: The shipped queries the report runs (the same files `reconcile query` runs).
REPORT_QUERIES = ("accelerator_hours_by_platform", "billing_totals", "unattributed_compute")


class ReportError(ReconcileError):
    """The report cannot be built or written."""


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Provenance:
    """Where the report comes from, so that anyone can reproduce it.

    Attributes:
        tool_version: version of reconcile that generated the report.
        database_schema_version: highest migration applied to the warehouse.
        accelerator_catalog_version: digest of the shipped accelerator and instance catalog.
        base_model_catalog_version: digest of the shipped base-model catalog.
        base_model_overrides: base models whose compute the user's configuration overrides.
        evidence_digest: sha256 of the lines "<sha256>  <uri>" of every evidence file,
            sorted by uri, each line ending in a newline.
        evidence_files: number of evidence files (ingest-ledger units) used.
        evidence_bytes: their total size in bytes.
        quarantined_files: objects that failed to parse and were left out.
        data_from: start of the earliest training run (UTC, ISO 8601), or null.
        data_to: end of the latest training run (UTC, ISO 8601), or null.
        estimates_stale: true when evidence was loaded after the last `reconcile estimate`.
        generated_at: generation time (UTC, ISO 8601) when asked for with --stamp, else null.
        stage_engines: for each heavy stage of the last estimate, "stage: engine, sql sha256
            prefix" (the billing and GPU-usage rollups ran on DuckDB or Spark).
    """

    tool_version: str
    database_schema_version: int
    accelerator_catalog_version: str
    base_model_catalog_version: str
    base_model_overrides: list[str]
    evidence_digest: str
    evidence_files: int
    evidence_bytes: int
    quarantined_files: int
    data_from: str | None
    data_to: str | None
    estimates_stale: bool
    generated_at: str | None
    stage_engines: list[str]


@dataclass(frozen=True)
class StatusCount:
    """How many models have one status.

    Attributes:
        status: provider | review | insufficient_evidence | below.
        label: the status in words.
        models: number of models.
    """

    status: str
    label: str
    models: int


@dataclass(frozen=True)
class BaseCompute:
    """A base model's training compute, as the threshold uses it.

    Attributes:
        repo_id: Hub id of the base model.
        pretraining_flops: its training compute in FLOP, or null when not known.
        flops_basis: published | 6ND-estimate | epoch-estimate | user | unknown.
        systemic_risk: whether the base is presumed to have systemic risk (null: unknown).
        source: where the figure comes from.
    """

    repo_id: str
    pretraining_flops: float | None
    flops_basis: str
    systemic_risk: bool | None
    source: str


@dataclass(frozen=True)
class Flag:
    """A cross-check flag in plain language.

    Attributes:
        code: the flag as stored in the warehouse (e.g. implied_utilisation_above_1).
        run_id: the run it belongs to, or null for a model-level flag.
        text: what it means.
    """

    code: str
    run_id: str | None
    text: str


@dataclass(frozen=True)
class LineageRun:
    """One run whose compute counts towards a model.

    Attributes:
        run_id: the logical run.
        relation: how the run relates to the model (sft, dpo, continued, upstream, declared...).
        lineage_source: log (found in the evidence) or registry (declared in the config).
        started_at: run start (UTC, ISO 8601), or null.
        flops_low: low end of the run's combined estimate in FLOP.
        flops_central: the run's combined estimate in FLOP.
        flops_high: high end of the run's combined estimate in FLOP.
        decided_by: the method that gave the central figure.
    """

    run_id: str
    relation: str | None
    lineage_source: str
    started_at: str | None
    flops_low: float | None
    flops_central: float | None
    flops_high: float | None
    decided_by: str | None


@dataclass(frozen=True)
class ModelReport:
    """One model's status under the one-third rule, and everything that explains it.

    Attributes:
        model_id: the model (as the evidence names it; a job name when no model is named).
        named_in_evidence: true when some run's evidence names this model as its output.
        base_model: the third-party base model.
        status: provider | review | insufficient_evidence | below.
        status_label: the status in words.
        verdict: what the status means, in a few plain words.
        headline: one plain-language sentence: the figure, the threshold, the status.
        notification: the figure as a notification states it: 2 significant figures
            and the method.
        method: the method text of `reconcile estimate`.
        flops_low: low end of the cumulative modification compute in FLOP.
        flops_central: central cumulative modification compute in FLOP.
        flops_high: high end of the cumulative modification compute in FLOP.
        threshold_flops: the one-third threshold in FLOP.
        threshold_basis: one_third_of_known | default_gpai | default_systemic.
        threshold_explanation: where the threshold comes from, in words.
        review_from_flops: central figure from which the 30 % margin reaches the threshold.
        base_compute: the base model's compute and its source, or null when not in the
            catalog.
        share_of_threshold: central figure ÷ threshold.
        flags: model-level and run-level flags, in plain language.
        explanation: the status explanation stored by `reconcile estimate`.
        runs: the runs of its lineage.
        notes: remarks on the data (e.g. a threshold that changed since the estimate).
        headroom: compute left before review and provider (FLOP, and accelerator-hours
            per accelerator type in use), and when the model crossed into either.
        energy: the energy its runs took, measured or estimated, with coverage.
        documentation: for a model at provider or review, the EU AI Act Annex XI
            2(d)-(e) facts ready to paste; null otherwise.
    """

    model_id: str
    named_in_evidence: bool
    base_model: str | None
    status: str
    status_label: str
    verdict: str
    headline: str
    notification: str
    method: str | None
    flops_low: float | None
    flops_central: float | None
    flops_high: float | None
    threshold_flops: float
    threshold_basis: str
    threshold_explanation: str
    review_from_flops: float
    base_compute: BaseCompute | None
    share_of_threshold: float | None
    flags: list[Flag]
    explanation: str
    runs: list[LineageRun]
    notes: list[str]
    headroom: Headroom | None = None
    energy: ModelEnergy | None = None
    documentation: Documentation | None = None


@dataclass(frozen=True)
class ModelEnergy:
    """The energy a model's runs took (``reconcile query energy``, reconcile/energy.py).

    Attributes:
        basis: measured | partly_measured | estimated | none.
        coverage: share of the runs' accelerator-time telemetry measured (0-1), or null.
        accelerator_hours: the runs' accelerator-hours.
        board_kwh_central: accelerator board energy in kWh (measured + estimated).
        facility_kwh_low: low end of the facility energy in kWh (board x host overhead x PUE).
        facility_kwh_central: facility energy in kWh.
        facility_kwh_high: high end of the facility energy in kWh.
        tco2e_central: emissions in tCO2e where a grid intensity is configured, else null.
        method: how it was obtained.
    """

    basis: str
    coverage: float | None
    accelerator_hours: float | None
    board_kwh_central: float | None
    facility_kwh_low: float | None
    facility_kwh_central: float | None
    facility_kwh_high: float | None
    tco2e_central: float | None
    method: str


@dataclass(frozen=True)
class MethodEstimate:
    """One estimation method's result for one run.

    Attributes:
        method: architecture | hardware | billing | reported | combined.
        available: whether the evidence allowed this method.
        flops_low: low end in FLOP.
        flops_central: central figure in FLOP.
        flops_high: high end in FLOP.
        summary: one line saying how the figure was obtained (or why it is missing).
        assumptions: the assumptions recorded with the estimate, as stored.
    """

    method: str
    available: bool
    flops_low: float | None
    flops_central: float | None
    flops_high: float | None
    summary: str
    assumptions: dict[str, Any]


@dataclass(frozen=True)
class CrossReference:
    """A figure an auditor would compute by hand, beside ours.

    Attributes:
        name: guidelines_6PD | aws_meter.
        formula: the formula.
        flops: its value in FLOP.
        ours_over_it: our architecture figure divided by it.
    """

    name: str
    formula: str
    flops: float | None
    ours_over_it: float | None


@dataclass(frozen=True)
class UsageMatch:
    """GPU-usage rows linked to a run, grouped by source, job and file.

    Attributes:
        source_kind: slurm | dcgm | nvidia-smi.
        cluster: cluster name, or null.
        job_key: scheduler job id or namespace/pod.
        accelerator: catalog accelerator key.
        hosts: the hosts involved.
        match_method: how the rows were linked (job_id, pod_name, host_time_window...).
        confidence: confidence of the link (0-1).
        rows: number of gpu_usage rows.
        gpu_hours: accelerator-hours in those rows.
        tensor_active_avg: time-weighted tensor-pipe activity where measured, else null.
        started_at: earliest start (UTC, ISO 8601).
        ended_at: latest end (UTC, ISO 8601).
        evidence_id: id of the evidence file the rows come from.
        usage_ids: the gpu_usage rows.
    """

    source_kind: str
    cluster: str | None
    job_key: str | None
    accelerator: str | None
    hosts: list[str]
    match_method: str
    confidence: float | None
    rows: int
    gpu_hours: float
    tensor_active_avg: float | None
    started_at: str | None
    ended_at: str | None
    evidence_id: str | None
    usage_ids: list[str]


@dataclass(frozen=True)
class BillingMatch:
    """Billing lines linked to a run, grouped by account, usage type, resource and file.

    Attributes:
        provider: aws | gcp | azure | ...
        account_id: billing account or subscription.
        usage_type: the provider's usage type or meter.
        instance_type: instance type or SKU.
        resource_id: the billed resource.
        accelerator: catalog accelerator key.
        match_method: how the lines were linked (resource_id, tag...).
        confidence: confidence of the link (0-1).
        lines: number of billing lines.
        accelerator_hours: billed accelerator-hours.
        cost_billed: billed cost.
        currency: currency of the cost.
        evidence_id: id of the evidence file the lines come from.
        line_ids: the billing lines.
        window_id: for lines no id or tag ties to this run alone (shared with other
            runs, or linked by time window), the window they are in
            (method:cloud:accelerator:month); lines and accelerator_hours are then those
            lines and the run's allocated accelerator-hours, by logged accelerator-time.
            Null for lines an id or tag links to this run alone.
        shared_accelerator_hours: for a share, the accelerator-hours of the lines shared.
    """

    provider: str
    account_id: str | None
    usage_type: str | None
    instance_type: str | None
    resource_id: str | None
    accelerator: str | None
    match_method: str
    confidence: float | None
    lines: int
    accelerator_hours: float
    cost_billed: float | None
    currency: str | None
    evidence_id: str | None
    line_ids: list[str]
    window_id: str | None
    shared_accelerator_hours: float | None


@dataclass(frozen=True)
class RunReport:
    """One logical training run: what it was, every estimate, and its evidence.

    Attributes:
        run_id: the logical run.
        job_name: the job's name.
        platform: where it ran.
        models: the models whose lineage includes it.
        base_model: the base model it started from.
        base_model_basis: how the base model was resolved.
        method: full | lora | qlora | ...
        objective: sft | dpo | cpt | ...
        params_total: total parameters.
        params_trainable: trainable parameters.
        params_matmul: parameters in matrix multiplies (N_mm).
        params_basis: where the parameter counts come from.
        n_layers: transformer layers.
        attention_dim: attention width.
        seq_len: sequence length.
        tokens: tokens processed (central), epochs included.
        tokens_low: lowest plausible tokens.
        tokens_high: highest plausible tokens.
        tokens_basis: logged | derived_total_flos | derived_steps | unknown.
        epochs: epochs.
        steps: optimiser steps.
        started_at: start (UTC, ISO 8601).
        ended_at: end (UTC, ISO 8601).
        runtime_seconds: logged training runtime.
        precision: training precision.
        accelerator: accelerator type.
        accelerator_count: number of accelerators.
        instance_type: cloud instance type.
        instance_count: number of instances.
        estimates: every method, side by side.
        decided_by: the method that gave the combined central figure.
        implied_utilisation: architecture FLOPs ÷ what the hardware could do at 100 %.
        cross_reference: the guidelines' 6·P·D and the AWS meter's figure.
        flags: cross-check flags, in plain language.
        notes: remarks of the resolver (merged evidence, reported values...).
        usage: linked GPU usage.
        billing: linked billing lines.
        evidence_ids: ids of the evidence files behind the run.
    """

    run_id: str
    job_name: str | None
    platform: str | None
    models: list[str]
    base_model: str | None
    base_model_basis: str | None
    method: str | None
    objective: str | None
    params_total: int | None
    params_trainable: int | None
    params_matmul: int | None
    params_basis: str | None
    n_layers: int | None
    attention_dim: int | None
    seq_len: int | None
    tokens: int | None
    tokens_low: int | None
    tokens_high: int | None
    tokens_basis: str | None
    epochs: float | None
    steps: int | None
    started_at: str | None
    ended_at: str | None
    runtime_seconds: float | None
    precision: str | None
    accelerator: str | None
    accelerator_count: int | None
    instance_type: str | None
    instance_count: int | None
    estimates: list[MethodEstimate]
    decided_by: str | None
    implied_utilisation: float | None
    cross_reference: list[CrossReference]
    flags: list[Flag]
    notes: list[str]
    usage: list[UsageMatch]
    billing: list[BillingMatch]
    evidence_ids: list[str]


@dataclass(frozen=True)
class ModelSeries:
    """A model's cumulative modification compute by month.

    Attributes:
        model_id: the model.
        status: its status.
        threshold_flops: its threshold in FLOP.
        cumulative_flops: cumulative central FLOP at the end of each month of the timeline.
    """

    model_id: str
    status: str
    threshold_flops: float
    cumulative_flops: list[float]


@dataclass(frozen=True)
class AcceleratorHours:
    """Accelerator-hours of one source, platform and accelerator type, by month.

    Attributes:
        source: billing | slurm | dcgm | nvidia-smi | run_logs.
        platform: provider, cluster or platform.
        accelerator: accelerator type.
        hours_by_month: accelerator-hours per month of the timeline (null: none).
        total_hours: the sum.
    """

    source: str
    platform: str | None
    accelerator: str | None
    hours_by_month: list[float | None]
    total_hours: float


@dataclass(frozen=True)
class Unattributed:
    """Accelerator use that no training run accounts for.

    Attributes:
        kind: billing (billed, unmatched) | gpu_usage (scheduler allocations, unmatched).
        provider: provider or scheduler.
        account_id: account, subscription or cluster.
        month: month of use (YYYY-MM).
        accelerator: accelerator type.
        accelerator_hours: accelerator-hours.
        cost_billed: billed cost, for billing.
        currency: its currency.
        label: tags (billing) or job name (scheduler).
    """

    kind: str
    provider: str | None
    account_id: str | None
    month: str | None
    accelerator: str | None
    accelerator_hours: float
    cost_billed: float | None
    currency: str | None
    label: str | None


@dataclass(frozen=True)
class Timeline:
    """Compute and accelerator use over time.

    Attributes:
        months: the months covered (YYYY-MM), in order.
        flops_attribution: how a run's FLOPs are spread over months.
        series: cumulative modification compute per model by month.
        undated_runs: runs with neither start nor end, left out of the series.
        accelerator_hours: accelerator-hours by source, platform and type, by month.
        unattributed: accelerator use no training run accounts for.
    """

    months: list[str]
    flops_attribution: str
    series: list[ModelSeries]
    undated_runs: list[str]
    accelerator_hours: list[AcceleratorHours]
    unattributed: list[Unattributed]


@dataclass(frozen=True)
class Constant:
    """A constant the estimation uses, read from the code.

    Attributes:
        name: its qualified name in the code.
        value: its value (number, or an object of numbers).
        meaning: what it is for.
    """

    name: str
    value: Any
    meaning: str


@dataclass(frozen=True)
class Reference:
    """A regulatory reference.

    Attributes:
        key: short key (one_third, default, gpai, systemic, margin).
        text: the citation.
    """

    key: str
    text: str


@dataclass(frozen=True)
class AcceleratorSpec:
    """Catalog figures of an accelerator the report's estimates use.

    Attributes:
        key: catalog key.
        peak_bf16_flops: dense BF16 peak in FLOP/s.
        peak_fp16_flops: dense FP16 peak in FLOP/s.
        peak_fp8_flops: dense FP8 peak in FLOP/s.
        source: where the figures come from.
    """

    key: str
    peak_bf16_flops: float | None
    peak_fp16_flops: float | None
    peak_fp8_flops: float | None
    source: str


@dataclass(frozen=True)
class Methods:
    """How the figures are made: formulas, constants, catalogs and references.

    Attributes:
        formulas: the FLOP formulas (the docstring of reconcile.flops).
        status_rules: the status rules (the docstring of reconcile.compliance).
        constants: the constants the estimation uses.
        references: the regulatory references.
        accelerators: catalog figures of the accelerators used.
        base_models: catalog figures of the base models used.
        queries: the shipped SQL queries the report runs.
    """

    formulas: str
    status_rules: str
    constants: list[Constant]
    references: list[Reference]
    accelerators: list[AcceleratorSpec]
    base_models: list[BaseCompute]
    queries: list[str]


@dataclass(frozen=True)
class EvidenceMember:
    """One object of an evidence unit.

    Attributes:
        key: the object's key in its store (relative to the bucket or source folder).
        size_bytes: its size in bytes.
        sha256: the sha256 of its bytes, as `sha256sum` prints it; null when it was not
            read (an older delivery no manifest lists, a file the format does not need).
    """

    key: str
    size_bytes: int
    sha256: str | None


@dataclass(frozen=True)
class EvidenceFile:
    """One evidence file (an ingest-ledger unit).

    Attributes:
        id: short id used in the report (E1, E2, ...), in uri order.
        uri: where it was read.
        format: the parser that read it.
        fingerprint: ETag or generation (local files: size and modification time).
        sha256: the unit's digest: sha256 over, for every read in order, the object's key,
            a NUL byte and the sha256 of the bytes read; each object's own sha256 is in
            `files`.
        size_bytes: size in bytes.
        members: number of objects in the unit (a checkpoint folder has several).
        target_table: the table it loaded.
        rows: rows it produced.
        rows_not_counted: of those, rows that count in another file instead (the same
            facts delivered again: `reconcile query overlaps`), in no total here.
        counted_in: ids of the files those rows count in.
        files: the unit's objects, each with its own sha256.
    """

    id: str
    uri: str
    format: str
    fingerprint: str
    sha256: str
    size_bytes: int
    members: int
    target_table: str
    rows: int
    rows_not_counted: int
    counted_in: list[str]
    files: list[EvidenceMember]


@dataclass(frozen=True)
class MissingEvidence:
    """One kind of missing evidence and the runs it keeps without a figure.

    Attributes:
        code: the flag code (reconcile/flags.py).
        words: what is missing, in plain language.
        remedy: what to supply, and how.
        runs: the runs without a figure that miss it.
    """

    code: str
    words: str
    remedy: str | None
    runs: list[str]


@dataclass(frozen=True)
class Coverage:
    """How many training runs got a compute figure, and what the others miss.

    Attributes:
        runs: logical training runs.
        with_figure: runs with a compute figure (by any method).
        missing: the missing evidence of the runs without one, most frequent first.
    """

    runs: int
    with_figure: int
    missing: list[MissingEvidence]


@dataclass(frozen=True)
class QuarantinedFile:
    """An object that failed to parse and was left out.

    Attributes:
        uri: where it was read.
        format: the parser that tried.
        error: why it failed.
        attempts: how many times it was tried.
    """

    uri: str
    format: str
    error: str
    attempts: int


@dataclass(frozen=True)
class Report:
    """The audit report.

    Attributes:
        schema_version: version of this JSON schema (REPORT_SCHEMA_VERSION).
        title: the report's title.
        provenance: versions, evidence digest and data period.
        status_counts: models per status.
        models: each model's status, most urgent first.
        runs: each logical run with every method side by side.
        coverage: how many runs got a figure, and what the others miss.
        timeline: compute and accelerator use over time.
        methods: formulas, constants, catalogs, references.
        evidence: every evidence file used.
        quarantined: objects that failed to parse.
    """

    schema_version: int
    title: str
    provenance: Provenance
    status_counts: list[StatusCount]
    models: list[ModelReport]
    runs: list[RunReport]
    coverage: Coverage
    timeline: Timeline
    methods: Methods
    evidence: list[EvidenceFile]
    quarantined: list[QuarantinedFile]


# ------------------------------------------------------------------------ helpers


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _integer(value: Any) -> int | None:
    return int(value) if value is not None else None


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = con.sql(sql, params=params).to_arrow_table().to_pylist()
    return rows


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    count = warehouse.scalar(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $name",
        {"name": name},
    )
    return bool(count)


def _jsonable(value: Any) -> Any:
    """Assumption JSON as stored, with non-finite numbers as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _base_catalog_version() -> str:
    data = (resources.files("reconcile.data") / "base_models.csv").read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


def evidence_digest(files: Iterable[tuple[str, str]]) -> str:
    """sha256 of ``"<sha256>  <uri>\\n"`` lines sorted by uri (``sha256sum``'s layout).

    Args:
        files: (uri, sha256) pairs.
    """
    digest = hashlib.sha256()
    for uri, sha in sorted(files):
        digest.update(f"{sha}  {uri}\n".encode())
    return digest.hexdigest()


def _flags(codes: Iterable[str]) -> list[Flag]:
    found = set()
    for code in codes:
        run_id, sep, flag = code.partition(": ")
        found.add((flag, run_id) if sep else (code, ""))
    return [
        Flag(code, run_id or None, flag_text(code))
        for code, run_id in sorted(found, key=lambda f: (f[1], f[0]))
    ]


# ---------------------------------------------------------------------- building


def _coverage(con: duckdb.DuckDBPyConnection) -> Coverage:
    """Runs with a figure, and for the rest what is missing (run_coverage, by estimate)."""
    rows = (
        _rows(con, "SELECT run_id, has_figure, missing FROM run_coverage ORDER BY run_id")
        if _table_exists(con, "run_coverage")
        else []
    )
    by_code: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if not row["has_figure"]:
            for code in row["missing"] or []:
                by_code[code].append(row["run_id"])
    missing = [
        MissingEvidence(code, describe(code).words, describe(code).remedy, sorted(runs))
        for code, runs in sorted(by_code.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    return Coverage(len(rows), sum(1 for r in rows if r["has_figure"]), missing)


def build_report(
    con: duckdb.DuckDBPyConnection,
    *,
    registry: ModelRegistry | None = None,
    generated_at: datetime | None = None,
    title: str = "Fine-tuning compute audit report",
) -> Report:
    """The report for the warehouse behind ``con`` (only read from).

    Args:
        con: a connection to a current warehouse (``warehouse.open_for_read``).
        registry: base models and the user's overrides (the config's ``[models]``); when
            given, a threshold that differs from the stored one is noted. Default: the
            shipped catalog, without that check.
        generated_at: a generation time to state (``--stamp``); None keeps the report
            byte-identical for the same data.
        title: the report's title.

    Raises:
        ReportError: the warehouse lacks the tables of the current schema.
    """
    check_threshold = registry is not None
    registry = registry or default_registry()
    for table in ("resolved_runs", "run_estimates", "compliance_status", "ingest_ledger"):
        if not _table_exists(con, table):
            raise ReportError(
                f"the warehouse has no {table} table", hint="run `reconcile ingest` first"
            )
    ledger = _rows(
        con,
        "SELECT uri, format, fingerprint, size_bytes, sha256, members, target_table, "
        "row_count, coalesce(rows_not_counted, 0) AS rows_not_counted, "
        "CAST(overlaps_with AS VARCHAR) AS overlaps_with FROM ingest_ledger ORDER BY uri",
    )
    ids = {row["uri"]: f"E{i}" for i, row in enumerate(ledger, start=1)}
    evidence = [
        EvidenceFile(
            id=f"E{i}",
            uri=row["uri"],
            format=row["format"],
            fingerprint=row["fingerprint"],
            sha256=row["sha256"],
            size_bytes=int(row["size_bytes"]),
            members=len(json.loads(row["members"] or "[]")),
            target_table=row["target_table"],
            rows=int(row["row_count"]),
            rows_not_counted=int(row["rows_not_counted"]),
            counted_in=sorted(
                {
                    ids.get(o["counted_in"], o["counted_in"])
                    for o in json.loads(row["overlaps_with"] or "[]")
                }
            ),
            files=[
                EvidenceMember(m["key"], int(m.get("size") or 0), m.get("sha256"))
                for m in json.loads(row["members"] or "[]")
            ],
        )
        for i, row in enumerate(ledger, start=1)
    ]
    evidence_id = {e.uri: e.id for e in evidence}
    quarantined = [
        QuarantinedFile(r["uri"], r["format"], r["error"], int(r["attempts"]))
        for r in _rows(con, "SELECT uri, format, error, attempts FROM quarantine ORDER BY uri")
    ]
    runs_raw = _rows(con, "SELECT * EXCLUDE (resolved_at) FROM resolved_runs ORDER BY run_key")
    estimates_raw = _rows(
        con,
        "SELECT run_id, method, flops_low, flops_central, flops_high, assumptions, flags "
        "FROM run_estimates ORDER BY run_id, method",
    )
    statuses = _rows(
        con,
        STATUS_SELECT + " ORDER BY model_id",
    )
    lineage_rows = _rows(
        con,
        "SELECT model_id, run_id, relation, lineage_source FROM model_lineage "
        "ORDER BY model_id, run_id",
    )
    estimates_by_run: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in estimates_raw:
        row["assumptions"] = _jsonable(json.loads(row["assumptions"] or "{}"))
        estimates_by_run[row["run_id"]][row["method"]] = row
    runs_by_key = {r["run_key"]: r for r in runs_raw}
    models_of_run: dict[str, set[str]] = defaultdict(set)
    for row in lineage_rows:
        if row["run_id"]:
            models_of_run[row["run_id"]].add(row["model_id"])

    rooms = headroom.headrooms(con)
    energies = _energies(con)
    models = [
        replace(m, headroom=rooms.get(m.model_id), energy=energies.get(m.model_id))
        for m in _models(
            statuses, lineage_rows, runs_by_key, estimates_by_run, registry, check_threshold
        )
    ]
    _match_members(con)
    usage_of = _usage_matches(con, evidence_id)
    billing_of = _billing_matches(con, evidence_id)
    runs = [
        _run(
            run,
            estimates_by_run.get(run["run_key"], {}),
            sorted(models_of_run.get(run["run_key"], set())),
            usage_of.get(run["run_key"], []),
            billing_of.get(run["run_key"], []),
            evidence_id,
        )
        for run in runs_raw
    ]
    by_run = {r.run_id: r for r in runs}
    seconds = accelerator_seconds(con)
    models = [
        replace(m, documentation=document(m, by_run, seconds))
        if m.status in ("provider", "review")
        else m
        for m in models
    ]
    timeline = _timeline(con, models, runs_by_key, estimates_by_run)
    starts = [r["started_at"] for r in runs_raw if r.get("started_at")]
    ends = [r["ended_at"] for r in runs_raw if r.get("ended_at")]
    provenance = Provenance(
        tool_version=__version__,
        database_schema_version=warehouse.schema_version(con),
        accelerator_catalog_version=load_catalog().version,
        base_model_catalog_version=_base_catalog_version(),
        base_model_overrides=sorted(
            m.repo_id for m in registry.entries.values() if m.flops_basis == "user"
        ),
        evidence_digest=evidence_digest((e.uri, e.sha256) for e in evidence),
        evidence_files=len(evidence),
        evidence_bytes=sum(e.size_bytes for e in evidence),
        quarantined_files=len(quarantined),
        data_from=_iso(min(starts)) if starts else None,
        data_to=_iso(max(ends)) if ends else None,
        estimates_stale=_stale(con, bool(runs_raw)),
        generated_at=_iso(generated_at) if generated_at else None,
        stage_engines=[
            f"{r['stage']}: {r['engine']}, sql {r['sql_sha256'][:12]}"
            for r in _rows(con, "SELECT stage, engine, sql_sha256 FROM stage_runs ORDER BY stage")
        ]
        if _table_exists(con, "stage_runs")
        else [],
    )
    counts = [
        StatusCount(s, STATUS_LABELS[s], sum(1 for m in models if m.status == s))
        for s in STATUS_ORDER
    ]
    return Report(
        schema_version=REPORT_SCHEMA_VERSION,
        title=title,
        provenance=provenance,
        status_counts=counts,
        models=models,
        runs=runs,
        coverage=_coverage(con),
        timeline=timeline,
        methods=_methods(models, runs, registry),
        evidence=evidence,
        quarantined=quarantined,
    )


def write_report(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    formats: Sequence[str] = ("html", "md", "json", "csv"),
    registry: ModelRegistry | None = None,
    generated_at: datetime | None = None,
) -> list[Path]:
    """Build the report from ``con`` and write it to ``out_dir``: every format is
    rendered and written to temporary files first, then all are moved into place.

    Args:
        con: a connection to the warehouse (only read from).
        out_dir: the output folder (created if missing).
        formats: any of html, md, json, csv.
        registry: as for ``build_report``.
        generated_at: as for ``build_report``.

    Returns:
        The files written (``report.html``, ``report.md``, ``report.json``, ``runs.csv``,
        ``links.csv``).

    Raises:
        ReportError: the report cannot be built or written; nothing is left behind.
    """
    # Rendering needs the model; the model does not need rendering (imported here).
    from reconcile.report import render as report_render

    chosen = report_render.parse_formats(",".join(formats))
    report = build_report(con, registry=registry, generated_at=generated_at)
    return report_render.write_files(out_dir, report_render.render(report, chosen))


def _stale(con: duckdb.DuckDBPyConnection, has_runs: bool) -> bool:
    """Evidence loaded after the last estimate (or runs never estimated)."""
    estimated, newer = con.execute(
        "SELECT (SELECT count(*) FROM compliance_status) > 0, "
        "coalesce((SELECT max(loaded_at) FROM ingest_ledger) > "
        "(SELECT min(computed_at) FROM compliance_status), false)"
    ).fetchall()[0]
    return bool(newer) if estimated else has_runs


def _models(
    statuses: list[dict[str, Any]],
    lineage_rows: list[dict[str, Any]],
    runs_by_key: Mapping[str, dict[str, Any]],
    estimates_by_run: Mapping[str, dict[str, dict[str, Any]]],
    registry: ModelRegistry,
    check_threshold: bool,
) -> list[ModelReport]:
    named = {r["model_id"] for r in runs_by_key.values() if r.get("model_id")}
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in lineage_rows:
        members[row["model_id"]].append(row)
    models = []
    for row in statuses:
        lineage = []
        for member in members.get(row["model_id"], []):
            combined = estimates_by_run.get(member["run_id"], {}).get("combined", {})
            run = runs_by_key.get(member["run_id"], {})
            lineage.append(
                LineageRun(
                    run_id=member["run_id"],
                    relation=member["relation"],
                    lineage_source=member["lineage_source"],
                    started_at=_iso(run.get("started_at")),
                    flops_low=_number(combined.get("flops_low")),
                    flops_central=_number(combined.get("flops_central")),
                    flops_high=_number(combined.get("flops_high")),
                    decided_by=(combined.get("assumptions") or {}).get("decided_by"),
                )
            )
        lineage.sort(key=lambda r: (r.started_at or "9999", r.run_id))
        models.append(
            _model(row, lineage, row["model_id"] in named, runs_by_key, registry, check_threshold)
        )
    models.sort(key=lambda m: (STATUS_ORDER.index(m.status), m.model_id))
    return models


def _model(
    row: dict[str, Any],
    lineage: list[LineageRun],
    named: bool,
    runs_by_key: Mapping[str, dict[str, Any]],
    registry: ModelRegistry,
    check_threshold: bool,
) -> ModelReport:
    base_id = row["base_model"]
    base = registry.base(base_id)
    threshold = compliance.threshold_for(base, base_id)
    stored_threshold = float(row["threshold_flops"])
    notes = []
    if check_threshold and not math.isclose(threshold.flops, stored_threshold, rel_tol=1e-9):
        notes.append(
            f"the configuration now gives a threshold of {sci(threshold.flops)} FLOP; "
            "run `reconcile estimate` to apply it"
        )
    if not named:
        notes.append(
            "no evidence names a model produced by this run; it is listed under its job name"
        )
    central, high = _number(row["flops_central"]), _number(row["flops_high"])
    share = _number(row["share_of_threshold"])
    status = row["status"]
    stored = f"{sci(stored_threshold)} FLOP"
    flags = _flags(row["flags"] or [])
    doubt = any(is_doubt(f.code) for f in flags)
    verdict = {
        "provider": "presumed provider of this model under the one-third rule",
        "review": "close to the threshold: needs a person's review",
        "below": "below the threshold: not a provider under the one-third rule",
        "insufficient_evidence": "not enough evidence to decide",
    }.get(status, status)
    if status == "provider":
        headline = (
            f"Above the threshold: {sci(central)} FLOP of modification compute is "
            f"{percent(share)} of {stored}, so the modifier is presumed to be this "
            "model's provider."
        )
    elif status == "review":
        why = (
            f"its upper estimate {sci(high)} FLOP reaches it"
            if high is not None and high >= stored_threshold
            else f"within the guidelines' {percent(compliance.ACCURACY_MARGIN)} error margin"
        )
        headline = (
            f"Close to the threshold: {sci(central)} FLOP is {percent(share)} of {stored}, "
            f"{why}; a person should review the evidence."
        )
    elif status == "below":
        headline = (
            f"Below the threshold: {sci(central)} FLOP is {percent(share)} of {stored}; "
            "the one-third rule does not make the modifier its provider."
        )
    else:
        headline = (
            "Cannot be decided: some run of its lineage has no compute estimate "
            f"(threshold {stored})."
        )
    if doubt:
        verdict += "; the evidence is inconsistent"
        headline += " The evidence contradicts itself (see the flags): check it first."
    base_compute = (
        BaseCompute(
            base.repo_id, base.pretraining_flops, base.flops_basis, base.systemic_risk, base.source
        )
        if base is not None
        else None
    )
    return ModelReport(
        model_id=row["model_id"],
        named_in_evidence=named,
        base_model=base_id,
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        verdict=verdict,
        headline=headline,
        notification=_notification(central, lineage, runs_by_key, row["flops_method"]),
        method=row["flops_method"],
        flops_low=_number(row["flops_low"]),
        flops_central=central,
        flops_high=high,
        threshold_flops=stored_threshold,
        threshold_basis=row["threshold_basis"],
        threshold_explanation=threshold.explanation,
        review_from_flops=stored_threshold / (1 + compliance.ACCURACY_MARGIN),
        base_compute=base_compute,
        share_of_threshold=share,
        flags=flags,
        explanation=row["explanation"] or "",
        runs=lineage,
        notes=notes,
    )


def _energies(con: duckdb.DuckDBPyConnection) -> dict[str, ModelEnergy]:
    """Each model's energy row of ``queries/energy.sql``; none before migration 0014."""
    if not _table_exists(con, "run_energy"):
        return {}
    known = {q.name: q for q in queries.available()}
    out = {}
    for row in queries.run(con, known["energy"], {}).to_pylist():
        if row["run_id"] is None:
            out[row["model_id"]] = ModelEnergy(
                basis=row["basis"],
                coverage=_number(row["coverage"]),
                accelerator_hours=_number(row["accelerator_hours"]),
                board_kwh_central=_number(row["board_kwh_central"]),
                facility_kwh_low=_number(row["facility_kwh_low"]),
                facility_kwh_central=_number(row["facility_kwh_central"]),
                facility_kwh_high=_number(row["facility_kwh_high"]),
                tco2e_central=_number(row["tco2e_central"]),
                method=row["method"],
            )
    return out


def accelerator_seconds(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Each run's accelerator-seconds as its energy counted them (``run_energy``)."""
    if not _table_exists(con, "run_energy"):
        return {}
    return {
        run: float(value)
        for run, value in con.execute(
            "SELECT run_id, accelerator_seconds FROM run_energy "
            "WHERE accelerator_seconds IS NOT NULL"
        ).fetchall()
    }


def _notification(
    central: float | None,
    lineage: list[LineageRun],
    runs_by_key: Mapping[str, dict[str, Any]],
    method: str | None,
) -> str:
    """The figure as a notification states it: 2 significant figures and the method.

    When every run was decided by the architecture method with one formula and one
    model shape, the formula and its inputs are spelt out (D summed over the runs);
    otherwise the method text of `reconcile estimate` is used.
    """
    if central is None:
        return "no estimate"
    runs = [runs_by_key.get(r.run_id) for r in lineage]
    if (
        runs
        and all(r.decided_by == "architecture" for r in lineage)
        and all(run is not None and run.get("tokens") for run in runs)
    ):
        shapes = {
            (
                run.get("method"),
                run.get("params_matmul_active") or run.get("params_matmul"),
                run.get("params_trainable"),
                run.get("n_layers"),
                run.get("seq_len"),
                run.get("attention_dim"),
            )
            for run in runs
            if run is not None
        }
        if len(shapes) == 1:
            kind, n_mm, trainable, layers, ctx, width = shapes.pop()
            tokens = sum(float(run["tokens"]) for run in runs if run is not None)
            adapter = flops.frozen_backbone(kind)
            formula = "(4·N + 6·N_adapter)·D" if adapter else "6·N·D"
            values = [f"N={sci(n_mm)}"] + ([f"N_adapter={sci(trainable)}"] if adapter else [])
            if layers and ctx and width:
                formula += " + 12·L·n_ctx·d_attn·D"
                values += [f"L={layers}", f"n_ctx={ctx}", f"d_attn={width}"]
            values.append(f"D={sci(tokens)}")
            over = f", summed over {len(runs)} runs" if len(runs) > 1 else ""
            return f"{sci(central)} FLOP, architecture-based{over}, {formula} with " + ", ".join(
                values
            )
    return f"{sci(central)} FLOP, {method or 'method unknown'}"


def _run(
    run: dict[str, Any],
    estimates: Mapping[str, dict[str, Any]],
    models: list[str],
    usage: list[UsageMatch],
    billing: list[BillingMatch],
    evidence_id: Mapping[str, str],
) -> RunReport:
    arch = estimates.get("architecture", {}).get("assumptions") or {}
    cross = [
        CrossReference(
            name=name,
            formula=str(item.get("formula", "")),
            flops=_number(item.get("flops")),
            ours_over_it=_number(item.get("ours_over_it")),
        )
        for name, item in sorted((arch.get("cross_reference") or {}).items())
    ]
    flag_codes: set[str] = set(run.get("flags") or [])
    for row in estimates.values():
        flag_codes.update(row.get("flags") or [])
    uris = set(run.get("evidence_uris") or [])
    ids = {evidence_id[u] for u in uris if u in evidence_id}
    ids.update(m.evidence_id for m in usage if m.evidence_id is not None)
    ids.update(m.evidence_id for m in billing if m.evidence_id is not None)
    combined = estimates.get("combined", {}).get("assumptions") or {}
    return RunReport(
        run_id=run["run_key"],
        job_name=run.get("job_name"),
        platform=run.get("platform"),
        models=models,
        base_model=run.get("base_model"),
        base_model_basis=run.get("base_model_basis"),
        method=run.get("method"),
        objective=run.get("objective"),
        params_total=_integer(run.get("params_total")),
        params_trainable=_integer(run.get("params_trainable")),
        params_matmul=_integer(run.get("params_matmul")),
        params_basis=run.get("params_basis"),
        n_layers=_integer(run.get("n_layers")),
        attention_dim=_integer(run.get("attention_dim")),
        seq_len=_integer(run.get("seq_len")),
        tokens=_integer(run.get("tokens")),
        tokens_low=_integer(run.get("tokens_low")),
        tokens_high=_integer(run.get("tokens_high")),
        tokens_basis=run.get("tokens_basis"),
        epochs=_number(run.get("epochs")),
        steps=_integer(run.get("steps")),
        started_at=_iso(run.get("started_at")),
        ended_at=_iso(run.get("ended_at")),
        runtime_seconds=_number(run.get("runtime_seconds")),
        precision=run.get("precision"),
        accelerator=run.get("accelerator"),
        accelerator_count=_integer(run.get("accelerator_count")),
        instance_type=run.get("instance_type"),
        instance_count=_integer(run.get("instance_count")),
        estimates=[_method_estimate(m, estimates.get(m), run, billing) for m in METHODS],
        decided_by=combined.get("decided_by"),
        implied_utilisation=_number(arch.get("implied_utilisation")),
        cross_reference=cross,
        flags=_flags(flag_codes),
        notes=list(run.get("notes") or []),
        usage=usage,
        billing=billing,
        evidence_ids=sorted(ids, key=lambda i: int(i[1:])),
    )


def _method_estimate(
    method: str,
    row: dict[str, Any] | None,
    run: Mapping[str, Any],
    billing: list[BillingMatch],
) -> MethodEstimate:
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
        flops_low=_number(row["flops_low"]),
        flops_central=_number(row["flops_central"]),
        flops_high=_number(row["flops_high"]),
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


#: The columns of each member row the report shows, straight from the lake projection
#: (the rows that count once): never joined back to the fact tables by id, where a line
#: id repeated (identical lines, a file delivered twice) would multiply rows.
_MEMBER_COLUMNS = {
    "billing_rollup": "line_id, provider, account_id, usage_type, instance_type, resource_id, "
    "accelerator, accelerator_hours, cost_billed, currency, source_uri",
    "usage_rollup": "usage_id, source_kind, cluster, job_key, host, accelerator, started_at, "
    "ended_at, gpu_seconds, tensor_active_avg, source_uri",
}


def _match_members(con: duckdb.DuckDBPyConnection) -> None:
    """Temporary tables from each matched rollup group to its billing lines / usage rows
    (the same rollup_id expression over the lake projection of the warehouse tables)."""
    lake.register_views(con)
    for stage, view, where in (
        ("billing_rollup", "lake_billing_lines", "accelerator_hours > 0"),
        ("usage_rollup", "lake_gpu_usage", "true"),
    ):
        table = "_billing_members" if stage == "billing_rollup" else "_usage_members"
        columns = _MEMBER_COLUMNS[stage]
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT rollup_id, {columns} FROM (SELECT {rollup_id_sql(stage)} AS rollup_id, "
            f"{columns} FROM {view} WHERE {where}) WHERE rollup_id IN "
            f"(SELECT target_id FROM run_matches WHERE target_table = '{stage}')"
        )


def _usage_matches(
    con: duckdb.DuckDBPyConnection, evidence_id: Mapping[str, str]
) -> dict[str, list[UsageMatch]]:
    """Each run's linked GPU usage, grouped by source, job and file (one query for all)."""
    rows = _rows(
        con,
        "SELECT m.run_id, m.match_method, m.confidence, u.usage_id, u.source_kind, u.cluster, "
        "u.job_key, u.host, u.accelerator, u.started_at, u.ended_at, u.gpu_seconds, "
        "u.tensor_active_avg, u.source_uri "
        "FROM run_matches m JOIN _usage_members u ON u.rollup_id = m.target_id "
        "WHERE m.target_table = 'usage_rollup' ORDER BY m.run_id, u.usage_id, u.source_uri",
    )
    return {run: _usage_groups(items, evidence_id) for run, items in _by_run(rows).items()}


def _by_run(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by their ``run_id``, in their order."""
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_run[row["run_id"]].append(row)
    return by_run


def _usage_groups(rows: list[dict[str, Any]], evidence_id: Mapping[str, str]) -> list[UsageMatch]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (
            row["source_kind"],
            row["cluster"],
            row["job_key"],
            row["accelerator"],
            row["match_method"],
            row["confidence"],
            row["source_uri"],
        )
        groups[key].append(row)
    matches = []
    for key, items in groups.items():
        kind, cluster, job, accelerator, how, confidence, uri = key
        seconds = sum(float(i["gpu_seconds"] or 0.0) for i in items)
        measured = [i for i in items if i["tensor_active_avg"] is not None and i["gpu_seconds"]]
        weight = sum(float(i["gpu_seconds"]) for i in measured)
        tensor = (
            sum(float(i["tensor_active_avg"]) * float(i["gpu_seconds"]) for i in measured) / weight
            if weight
            else None
        )
        starts = [i["started_at"] for i in items if i["started_at"] is not None]
        ends = [i["ended_at"] for i in items if i["ended_at"] is not None]
        matches.append(
            UsageMatch(
                source_kind=kind,
                cluster=cluster,
                job_key=job,
                accelerator=accelerator,
                hosts=sorted({i["host"] for i in items if i["host"]}),
                match_method=how,
                confidence=_number(confidence),
                rows=len(items),
                gpu_hours=seconds / 3600.0,
                tensor_active_avg=tensor,
                started_at=_iso(min(starts)) if starts else None,
                ended_at=_iso(max(ends)) if ends else None,
                evidence_id=evidence_id.get(uri),
                usage_ids=sorted(i["usage_id"] for i in items),
            )
        )
    matches.sort(
        key=lambda m: (m.source_kind, m.job_key or "", m.evidence_id or "", m.match_method)
    )
    return matches


def _billing_matches(
    con: duckdb.DuckDBPyConnection, evidence_id: Mapping[str, str]
) -> dict[str, list[BillingMatch]]:
    """Each run's linked billing, grouped by account, usage type, resource and file, and
    its allocated shares of windows other runs share (one query each for all runs)."""
    rows = _rows(
        con,
        "SELECT m.run_id, m.match_method, m.confidence, b.line_id, b.provider, b.account_id, "
        "b.usage_type, b.instance_type, b.resource_id, b.accelerator, "
        "CAST(b.accelerator_hours AS DOUBLE) AS accelerator_hours, "
        "CAST(b.cost_billed AS DOUBLE) AS cost_billed, b.currency, b.source_uri "
        "FROM run_matches m JOIN _billing_members b ON b.rollup_id = m.target_id "
        "WHERE m.target_table = 'billing_rollup' ORDER BY m.run_id, b.line_id, b.source_uri",
    )
    out = {run: _billing_groups(items, evidence_id) for run, items in _by_run(rows).items()}
    for row in _window_rows(con):
        out.setdefault(row["run_id"], []).append(
            BillingMatch(
                provider=row["provider"],
                account_id=None,
                usage_type=None,
                instance_type=None,
                resource_id=None,
                accelerator=row["accelerator"],
                match_method=row["match_method"],
                confidence=_number(row["confidence"]),
                lines=int(row["allocated_lines"] or 0),
                accelerator_hours=float(row["allocated_hours"] or 0.0),
                cost_billed=None,
                currency=None,
                evidence_id=None,
                line_ids=[],
                window_id=row["window_id"],
                shared_accelerator_hours=_number(row["shared_hours"]),
            )
        )
    return out


def _window_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The allocated shares (``billing_window`` links) with their window's cloud and
    accelerator; none in a warehouse from before allocation."""
    if not _table_exists(con, "billing_window_members"):
        return []
    return _rows(
        con,
        "WITH windows AS (SELECT w.window_id, any_value(b.provider) AS provider, "
        "any_value(b.accelerator) AS accelerator FROM billing_window_members w "
        "JOIN billing_rollup b ON b.rollup_id = w.rollup_id GROUP BY w.window_id) "
        "SELECT m.run_id, m.match_method, m.confidence, m.target_id AS window_id, "
        "m.allocated_hours, m.allocated_lines, "
        "CAST(m.details->>'shared_accelerator_hours' AS DOUBLE) AS shared_hours, "
        "w.provider, w.accelerator "
        "FROM run_matches m JOIN windows w ON w.window_id = m.target_id "
        "WHERE m.target_table = 'billing_window' ORDER BY m.run_id, m.target_id",
    )


def _billing_groups(
    rows: list[dict[str, Any]], evidence_id: Mapping[str, str]
) -> list[BillingMatch]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (
            row["provider"],
            row["account_id"],
            row["usage_type"],
            row["instance_type"],
            row["resource_id"],
            row["accelerator"],
            row["match_method"],
            row["confidence"],
            row["currency"],
            row["source_uri"],
        )
        groups[key].append(row)
    matches = []
    for key, items in groups.items():
        provider, account, usage_type, instance, resource, accelerator, how, conf, cur, uri = key
        costs = [float(i["cost_billed"]) for i in items if i["cost_billed"] is not None]
        matches.append(
            BillingMatch(
                provider=provider,
                account_id=account,
                usage_type=usage_type,
                instance_type=instance,
                resource_id=resource,
                accelerator=accelerator,
                match_method=how,
                confidence=_number(conf),
                lines=len(items),
                accelerator_hours=sum(float(i["accelerator_hours"] or 0.0) for i in items),
                cost_billed=sum(costs) if costs else None,
                currency=cur,
                evidence_id=evidence_id.get(uri),
                line_ids=sorted(i["line_id"] for i in items),
                window_id=None,
                shared_accelerator_hours=None,
            )
        )
    matches.sort(key=lambda m: (m.provider, m.account_id or "", m.resource_id or "", m.line_ids))
    return matches


# ---------------------------------------------------------------------- timeline


def _month(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m")


def _next_month(value: datetime) -> datetime:
    return datetime(value.year + value.month // 12, value.month % 12 + 1, 1, tzinfo=UTC)


def _month_shares(start: datetime | None, end: datetime | None) -> dict[str, float]:
    """How a run's compute spreads over calendar months (UTC), by time."""
    if start is None and end is None:
        return {}
    if start is None or end is None or end <= start:
        return {_month(start or end): 1.0}  # type: ignore[arg-type]
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = (end - start).total_seconds()
    shares: dict[str, float] = {}
    cursor = start
    while cursor < end:
        boundary = min(_next_month(cursor), end)
        shares[_month(cursor)] = (boundary - cursor).total_seconds() / total
        cursor = boundary
    return shares


def _month_range(months: Iterable[str]) -> list[str]:
    found = sorted(set(months))
    if not found:
        return []
    year, month = map(int, found[0].split("-"))
    result = []
    while f"{year:04d}-{month:02d}" <= found[-1]:
        result.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return result


def _timeline(
    con: duckdb.DuckDBPyConnection,
    models: list[ModelReport],
    runs_by_key: Mapping[str, dict[str, Any]],
    estimates_by_run: Mapping[str, dict[str, dict[str, Any]]],
) -> Timeline:
    known = {q.name: q for q in queries.available()}
    # Billed hours from billing_totals, which counts spend delivered in several exports
    # (native and FOCUS...) once; the other sources from accelerator_hours_by_platform.
    hours_rows = [
        r
        for r in queries.run(con, known["accelerator_hours_by_platform"], {}).to_pylist()
        if r["source"] != "billing"
    ]
    hours_rows += [
        {
            "source": "billing",
            "platform": r["provider"],
            "accelerator": r["accelerator"],
            "month": r["month"],
            "accelerator_hours": r["accelerator_hours"],
        }
        for r in queries.run(con, known["billing_totals"], {}).to_pylist()
        if r["accelerator_hours"] and float(r["accelerator_hours"]) > 0
    ]
    unattributed_rows = queries.run(con, known["unattributed_compute"], {}).to_pylist()
    per_model: dict[str, dict[str, float]] = {}
    undated = set()
    for model in models:
        monthly: dict[str, float] = defaultdict(float)
        for member in model.runs:
            run = runs_by_key.get(member.run_id, {})
            central = _number(
                estimates_by_run.get(member.run_id, {}).get("combined", {}).get("flops_central")
            )
            if central is None:
                continue
            shares = _month_shares(run.get("started_at"), run.get("ended_at"))
            if not shares:
                undated.add(member.run_id)
            for month, share in shares.items():
                monthly[month] += central * share
        per_model[model.model_id] = monthly
    months = _month_range(
        [m for monthly in per_model.values() for m in monthly]
        + [r["month"] for r in hours_rows if r["month"]]
        + [r["month"] for r in unattributed_rows if r["month"]]
    )
    series = []
    for model in models:
        total, cumulative = 0.0, []
        for month in months:
            total += per_model[model.model_id].get(month, 0.0)
            cumulative.append(total)
        series.append(ModelSeries(model.model_id, model.status, model.threshold_flops, cumulative))
    grouped: dict[tuple[str, str | None, str | None], dict[str, float]] = defaultdict(dict)
    for row in hours_rows:
        key = (row["source"], row["platform"], row["accelerator"])
        cell = grouped[key]
        month = row["month"] or "unknown"
        cell[month] = cell.get(month, 0.0) + float(row["accelerator_hours"] or 0.0)
    hours = [
        AcceleratorHours(
            source=source,
            platform=platform,
            accelerator=accelerator,
            hours_by_month=[cells.get(m) for m in months],
            total_hours=sum(cells.values()),
        )
        for (source, platform, accelerator), cells in sorted(
            grouped.items(), key=lambda kv: tuple(x or "" for x in kv[0])
        )
    ]
    unattributed = [
        Unattributed(
            kind=r["kind"],
            provider=r["provider"],
            account_id=r["account_id"],
            month=r["month"],
            accelerator=r["accelerator"],
            accelerator_hours=float(r["accelerator_hours"] or 0.0),
            cost_billed=_number(r["cost_billed"]),
            currency=r["currency"],
            label=r["tags"],
        )
        for r in unattributed_rows
    ]
    unattributed.sort(
        key=lambda u: (
            u.kind,
            u.provider or "",
            u.month or "",
            -u.accelerator_hours,
            u.accelerator or "",
            u.label or "",
        )
    )
    return Timeline(
        months=months,
        flops_attribution="each run's combined central FLOPs spread over the months of its "
        "start-to-end window in proportion to time (UTC)",
        series=series,
        undated_runs=sorted(undated),
        accelerator_hours=hours,
        unattributed=unattributed,
    )


# ----------------------------------------------------------------------- methods


def _methods(models: list[ModelReport], runs: list[RunReport], registry: ModelRegistry) -> Methods:
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
