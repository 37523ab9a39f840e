"""The audit report's data model: one set of frozen dataclasses, and the report's error.

``reconcile.report.build`` makes a ``Report`` from the warehouse; the HTML, Markdown and
JSON renderings (``reconcile.report.render``) are all made from it, so the three formats
always say the same thing. The JSON rendering is ``dataclasses.asdict`` of the model; its
schema (``reconcile/templates/report.schema.json``) is generated from these dataclasses
and their docstrings (``reconcile.report.schema``) and versioned by
``REPORT_SCHEMA_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconcile.documentation import Documentation
from reconcile.errors import ReconcileError
from reconcile.headroom import Headroom

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


class ReportError(ReconcileError):
    """The report cannot be built or written."""


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
