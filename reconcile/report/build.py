"""Building the audit report from the warehouse.

``build_report(con)`` reads a (read-only) warehouse and returns a
``reconcile.report.model.Report``: each model's status and verdict in words, each run
with every method side by side (``reconcile.report.methods``) and its linked usage and
billing (``reconcile.report.links``), the timeline (``reconcile.report.timeline``), the
evidence files and the provenance.

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
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from importlib import resources
from typing import Any

import duckdb

from reconcile import __version__, compliance, headroom, queries, warehouse
from reconcile.catalog import load_catalog
from reconcile.compliance import sci
from reconcile.documentation import document
from reconcile.estimate import STATUS_SELECT
from reconcile.flags import describe, flag_text, is_doubt
from reconcile.methods.architecture import statement
from reconcile.models import ModelRegistry, default_registry
from reconcile.numbers import percent
from reconcile.report.links import run_links
from reconcile.report.methods import METHODS, method_estimate, methods_section
from reconcile.report.model import (
    REPORT_SCHEMA_VERSION,
    STATUS_LABELS,
    STATUS_ORDER,
    BaseCompute,
    BillingMatch,
    Coverage,
    CrossReference,
    EvidenceFile,
    EvidenceMember,
    Flag,
    LineageRun,
    MissingEvidence,
    ModelEnergy,
    ModelReport,
    Provenance,
    QuarantinedFile,
    Report,
    ReportError,
    RunReport,
    StatusCount,
    UsageMatch,
)
from reconcile.report.rows import integer, iso, number, select, table_exists
from reconcile.report.timeline import build_timeline


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


def _coverage(con: duckdb.DuckDBPyConnection) -> Coverage:
    """Runs with a figure, and for the rest what is missing (run_coverage, by estimate)."""
    rows = (
        select(con, "SELECT run_id, has_figure, missing FROM run_coverage ORDER BY run_id")
        if table_exists(con, "run_coverage")
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
        if not table_exists(con, table):
            raise ReportError(
                f"the warehouse has no {table} table", hint="run `reconcile ingest` first"
            )
    ledger = select(
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
        for r in select(con, "SELECT uri, format, error, attempts FROM quarantine ORDER BY uri")
    ]
    runs_raw = select(con, "SELECT * EXCLUDE (resolved_at) FROM resolved_runs ORDER BY run_key")
    estimates_raw = select(
        con,
        "SELECT run_id, method, flops_low, flops_central, flops_high, assumptions, flags "
        "FROM run_estimates ORDER BY run_id, method",
    )
    statuses = select(
        con,
        STATUS_SELECT + " ORDER BY model_id",
    )
    lineage_rows = select(
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
    usage_of, billing_of = run_links(con, evidence_id)
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
    timeline = build_timeline(con, models, runs_by_key, estimates_by_run)
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
        data_from=iso(min(starts)) if starts else None,
        data_to=iso(max(ends)) if ends else None,
        estimates_stale=_stale(con, bool(runs_raw)),
        generated_at=iso(generated_at) if generated_at else None,
        stage_engines=[
            f"{r['stage']}: {r['engine']}, sql {r['sql_sha256'][:12]}"
            for r in select(con, "SELECT stage, engine, sql_sha256 FROM stage_runs ORDER BY stage")
        ]
        if table_exists(con, "stage_runs")
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
        methods=methods_section(models, runs, registry),
        evidence=evidence,
        quarantined=quarantined,
    )


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
                    started_at=iso(run.get("started_at")),
                    flops_low=number(combined.get("flops_low")),
                    flops_central=number(combined.get("flops_central")),
                    flops_high=number(combined.get("flops_high")),
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
    central, high = number(row["flops_central"]), number(row["flops_high"])
    share = number(row["share_of_threshold"])
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
        flops_low=number(row["flops_low"]),
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
    if not table_exists(con, "run_energy"):
        return {}
    known = {q.name: q for q in queries.available()}
    out = {}
    for row in queries.run(con, known["energy"], {}).to_pylist():
        if row["run_id"] is None:
            out[row["model_id"]] = ModelEnergy(
                basis=row["basis"],
                coverage=number(row["coverage"]),
                accelerator_hours=number(row["accelerator_hours"]),
                board_kwh_central=number(row["board_kwh_central"]),
                facility_kwh_low=number(row["facility_kwh_low"]),
                facility_kwh_central=number(row["facility_kwh_central"]),
                facility_kwh_high=number(row["facility_kwh_high"]),
                tco2e_central=number(row["tco2e_central"]),
                method=row["method"],
            )
    return out


def accelerator_seconds(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Each run's accelerator-seconds as its energy counted them (``run_energy``)."""
    if not table_exists(con, "run_energy"):
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
            over = f", summed over {len(runs)} runs" if len(runs) > 1 else ""
            attention = (layers, ctx, width) if layers and ctx and width else None
            return f"{sci(central)} FLOP, architecture-based{over}, " + statement(
                kind, n_mm, trainable, tokens, attention
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
            flops=number(item.get("flops")),
            ours_over_it=number(item.get("ours_over_it")),
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
        params_total=integer(run.get("params_total")),
        params_trainable=integer(run.get("params_trainable")),
        params_matmul=integer(run.get("params_matmul")),
        params_basis=run.get("params_basis"),
        n_layers=integer(run.get("n_layers")),
        attention_dim=integer(run.get("attention_dim")),
        seq_len=integer(run.get("seq_len")),
        tokens=integer(run.get("tokens")),
        tokens_low=integer(run.get("tokens_low")),
        tokens_high=integer(run.get("tokens_high")),
        tokens_basis=run.get("tokens_basis"),
        epochs=number(run.get("epochs")),
        steps=integer(run.get("steps")),
        started_at=iso(run.get("started_at")),
        ended_at=iso(run.get("ended_at")),
        runtime_seconds=number(run.get("runtime_seconds")),
        precision=run.get("precision"),
        accelerator=run.get("accelerator"),
        accelerator_count=integer(run.get("accelerator_count")),
        instance_type=run.get("instance_type"),
        instance_count=integer(run.get("instance_count")),
        estimates=[method_estimate(m, estimates.get(m), run, billing) for m in METHODS],
        decided_by=combined.get("decided_by"),
        implied_utilisation=number(arch.get("implied_utilisation")),
        cross_reference=cross,
        flags=_flags(flag_codes),
        notes=list(run.get("notes") or []),
        usage=usage,
        billing=billing,
        evidence_ids=sorted(ids, key=lambda i: int(i[1:])),
    )
