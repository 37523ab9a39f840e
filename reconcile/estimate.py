"""``reconcile estimate``: per-run estimates, cross-checks, lineage and compliance status.

Everything here is derived data: each call rebuilds ``run_estimates``, ``model_lineage``
and ``compliance_status`` from the evidence tables in one transaction, so it is
idempotent and a crash leaves the previous results in place.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from reconcile import __version__, energy, flops, lake, methods
from reconcile.catalog import load_catalog, normalize_precision
from reconcile.compliance import Status, classify, threshold_for
from reconcile.engines import ROLLUP_KEYS, DuckDBEngine, Engine, StageResult, rollup_id_sql
from reconcile.errors import ConfigError
from reconcile.flags import (
    IMPLIED_UTILISATION_HIGH,
    IMPLIED_UTILISATION_IMPOSSIBLE,
    IMPLIED_UTILISATION_LOW,
    describe,
)
from reconcile.matching import DEFAULT_TAG_KEYS, LINK_COLUMNS, drop_links, match_runs
from reconcile.methods import UsageEvidence
from reconcile.methods.architecture import statement
from reconcile.models import ModelRegistry, default_registry
from reconcile.resolve import ensure_resolved
from reconcile.schemas import (
    ALLOCATION_KINDS,
    BILLING_WINDOW_MEMBERS,
    COMPLIANCE_STATUS,
    MODEL_LINEAGE,
    RUN_COVERAGE,
    RUN_ESTIMATES,
    RUN_MATCHES,
    STAGE_RUNS,
)
from reconcile.warehouse import record_digest, rollback, schema_version

_URI = re.compile(r"^(s3|gs|az|file|https?)://", re.IGNORECASE)


@dataclass(frozen=True)
class EstimateOptions:
    """Settings of the estimation (the config's ``[estimate]`` and ``[lineage]`` tables)."""

    utilisation: Mapping[str, float] = field(default_factory=lambda: flops.DEFAULT_UTILISATION)
    default_precision: str = "bf16"
    tag_keys: tuple[str, ...] = DEFAULT_TAG_KEYS
    lineage: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, estimate: Mapping[str, Any] | None, lineage: Mapping[str, Any] | None
    ) -> EstimateOptions:
        """Validate the config tables.

        Raises:
            ConfigError: unknown keys or bad values, named.
        """
        estimate = dict(estimate or {})
        for key in estimate:
            if key not in ("utilisation", "default_precision", "tag_keys"):
                raise ConfigError(
                    f"unknown key 'estimate.{key}'",
                    hint="known: utilisation, default_precision, tag_keys",
                )
        tag_keys = estimate.get("tag_keys", list(DEFAULT_TAG_KEYS))
        if not isinstance(tag_keys, list) or not all(isinstance(k, str) for k in tag_keys):
            raise ConfigError("'estimate.tag_keys' must be a list of tag names")
        util = dict(flops.DEFAULT_UTILISATION)
        for key, value in dict(estimate.get("utilisation") or {}).items():
            if key not in util:
                raise ConfigError(
                    f"unknown key 'estimate.utilisation.{key}'", hint="known: low, central, high"
                )
            if not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ConfigError(f"'estimate.utilisation.{key}' must be in (0, 1]")
            util[key] = float(value)
        if not util["low"] <= util["central"] <= util["high"]:
            raise ConfigError("'estimate.utilisation' must satisfy low <= central <= high")
        precision = estimate.get("default_precision", "bf16")
        if normalize_precision(str(precision)) is None:
            raise ConfigError(f"'estimate.default_precision' {precision!r} is not a precision")
        checked: dict[str, dict[str, Any]] = {}
        for model, spec in dict(lineage or {}).items():
            if not isinstance(spec, dict):
                raise ConfigError(f"'lineage.{model}' must be a table")
            for key, value in spec.items():
                if key not in ("runs", "includes", "base_model"):
                    raise ConfigError(
                        f"unknown key 'lineage.{model}.{key}'",
                        hint="known: runs, includes, base_model",
                    )
                if key in ("runs", "includes") and not (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)
                ):
                    raise ConfigError(f"'lineage.{model}.{key}' must be a list of strings")
            checked[model] = dict(spec)
        return cls(
            utilisation=util,
            default_precision=str(normalize_precision(str(precision))),
            tag_keys=tuple(tag_keys),
            lineage=checked,
        )


@dataclass
class RunResult:
    """Estimates and flags of one logical run."""

    run_key: str
    estimates: list[flops.Estimate]
    combined: flops.Estimate | None
    decided_by: str | None
    flags: list[str]
    failure: str | None = None


@dataclass
class EstimateSummary:
    """What ``estimate`` produced."""

    runs: int = 0
    runs_with_estimate: int = 0
    matches: int = 0
    models: dict[str, str] = field(default_factory=dict)  # model -> status


#: The columns of ``compliance_status`` a reader shows (status, report, library).
STATUS_SELECT = (
    "SELECT model_id, base_model, status, flops_low, flops_central, flops_high, "
    "flops_method, threshold_flops, threshold_basis, share_of_threshold, flags, "
    "explanation FROM compliance_status"
)


#: The configuration sections an estimate reads (with the shipped catalogs and the tool).
DIGEST_SECTIONS = ("estimate", "lineage", "models", "energy")


def inputs_digest(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> str | None:
    """Everything an estimate's result depends on, as one sha256: every loaded unit (URI,
    fingerprint, format options, rows, when it was loaded), the configuration sections
    estimation reads (``DIGEST_SECTIONS``), the accelerator catalog, the export-kind
    ranking, the tool and schema versions. Equal digests give equal estimates, so a
    scheduled run may skip one.

    None when the Hub look-up is on (``[models] hub = true``): its answers (a config
    found that was missing) can change the figures while nothing here changes.
    """
    if (config.get("models") or {}).get("hub"):
        return None
    (ledger,) = con.execute(
        "SELECT coalesce(sha256(string_agg(concat_ws('|', uri, fingerprint, options_digest, "
        "row_count, CAST(loaded_at AS VARCHAR)), '\n' ORDER BY uri)), '') FROM ingest_ledger"
    ).fetchone() or ("",)
    (ranks,) = con.execute(
        "SELECT coalesce(sha256(string_agg(concat_ws('|', coalesce(export_kind, ''), "
        "rank_billed, rank_effective), '\n' ORDER BY export_kind NULLS FIRST)), '') "
        "FROM export_kind_ranks"
    ).fetchone() or ("",)
    text = json.dumps(
        {
            "ledger": ledger,
            "export_kinds": ranks,
            "config": {k: config.get(k) for k in DIGEST_SECTIONS},
            "catalog": load_catalog().version,
            "tool": __version__,
            "schema": schema_version(con),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def staleness(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why the stored statuses do not describe the evidence, in one sentence; None when
    they do (or when there is no evidence at all).

    Evidence loaded and no estimate since, or evidence loaded after the last estimate:
    a status read then would be one nobody assessed.
    """
    loaded, estimated = con.execute(
        "SELECT (SELECT max(loaded_at) FROM ingest_ledger), "
        "greatest((SELECT max(computed_at) FROM compliance_status), "
        "(SELECT max(computed_at) FROM run_coverage), "
        "(SELECT max(computed_at) FROM stage_runs))"
    ).fetchall()[0]
    if loaded is None:
        return None
    if estimated is None:
        return "evidence is loaded but `reconcile estimate` has not run: no model is assessed"
    if loaded > estimated:
        return (
            "evidence was loaded after the last `reconcile estimate`: the statuses are out "
            "of date; run `reconcile estimate`"
        )
    return None


def statuses(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each model's stored status, by model id."""
    return dict(
        con.execute("SELECT model_id, status FROM compliance_status ORDER BY model_id").fetchall()
    )


def status_changes(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Models whose status the last estimate changed, against the estimate before it:
    ``{"model_id", "before", "now"}`` (``before`` None: a new model; ``now`` None: a model
    no longer in the evidence). Empty after the first estimate.
    """
    rows = con.execute(
        """
        WITH times AS (
            SELECT DISTINCT computed_at FROM status_history ORDER BY computed_at DESC LIMIT 2
        ), bounds AS (
            SELECT max(computed_at) AS latest,
                   CASE WHEN count(*) = 2 THEN min(computed_at) END AS previous
            FROM times
        )
        SELECT coalesce(n.model_id, o.model_id) AS model_id, o.status, n.status
        FROM (SELECT * FROM status_history WHERE computed_at = (SELECT latest FROM bounds)) n
        FULL JOIN (SELECT * FROM status_history
                   WHERE computed_at = (SELECT previous FROM bounds)) o
          ON o.model_id = n.model_id
        WHERE (SELECT previous FROM bounds) IS NOT NULL
          AND n.status IS DISTINCT FROM o.status
        ORDER BY 1
        """
    ).fetchall()
    return [{"model_id": m, "before": before, "now": now} for m, before, now in rows]


def estimate_run(
    run: Mapping[str, Any], options: EstimateOptions, usage: UsageEvidence | None = None
) -> RunResult:
    """Every method for one logical run (``reconcile.methods``), the combined figure, and
    the cross-check flags."""
    ctx = methods.RunContext(
        run,
        usage or UsageEvidence(),
        options.utilisation,
        options.default_precision,
        flags=list(run.get("flags") or []),
    )
    found = methods.compute(ctx)
    flags = ctx.flags
    decided_by = methods.decide(found, run)
    arch = found.get("architecture")
    # the best-ranked time there is (the billed time when nothing else measured it)
    hardware = next((found[m.name] for m in methods.TIMED if m.name in found), None)
    if arch and hardware:
        limit = hardware.assumptions["physical_limit"]
        comparable = arch.assumptions["hardware_comparable_central"]
        implied = comparable / limit if limit else None
        arch.assumptions["implied_utilisation"] = implied
        if implied is not None:
            if implied > IMPLIED_UTILISATION_IMPOSSIBLE:
                flags.append("implied_utilisation_above_1")
            elif implied > IMPLIED_UTILISATION_HIGH:
                flags.append("implied_utilisation_above_0.70")
            elif implied < IMPLIED_UTILISATION_LOW:
                flags.append("implied_utilisation_below_0.02")
    combined = methods.combine(found, decided_by, flags)
    return RunResult(run["run_key"], list(found.values()), combined, decided_by, sorted(set(flags)))


def _estimate_isolated(
    run: Mapping[str, Any], options: EstimateOptions, usage: UsageEvidence | None
) -> RunResult:
    """``estimate_run``, fault-isolated per run: a run whose figures cannot be computed
    gets a flag and no estimate (so its model is insufficient_evidence); the rest goes on."""
    try:
        return estimate_run(run, options, usage)
    except (ArithmeticError, ValueError) as exc:
        flags = sorted({*(run.get("flags") or []), "estimation_failed"})
        return RunResult(run["run_key"], [], None, None, flags, f"{type(exc).__name__}: {exc}")


def _references(attributes: Mapping[str, Any]) -> set[str]:
    """URIs a run's hyperparameters point at (an SFT adapter a DPO run starts from...)."""
    found = set()
    for value in (attributes.get("hyperparameters") or {}).values():
        if isinstance(value, str) and _URI.match(value):
            found.add(value.rstrip("/"))
    return found


def _outputs(attributes: Mapping[str, Any]) -> set[str]:
    found = set()
    for key in ("checkpoint_s3_uri", "model_artifacts"):
        value = attributes.get(key)
        if isinstance(value, str) and value:
            found.add(value.rstrip("/"))
    return found


def lineage(
    runs: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    declared: Mapping[str, Mapping[str, Any]],
) -> dict[str, list[tuple[str, str]]]:
    """Model -> [(run_key, relation)] over the whole lineage from the third-party base.

    Links come from the logs (a run whose hyperparameters name another run's output
    starts from it; runs of one tracker campaign, i.e. children of one parent run, are
    continued training of one model) and from ``[lineage]`` declarations in the config.
    """
    by_member = {m: r["run_key"] for r in runs for m in r["member_run_ids"]}
    attributes: dict[str, dict[str, Any]] = defaultdict(dict)
    parents: dict[str, set[str]] = defaultdict(set)
    for row in evidence:
        key = by_member.get(row["run_id"])
        if key is None:
            continue
        try:
            attributes[key].update(json.loads(row.get("attributes") or "{}"))
        except json.JSONDecodeError:
            pass
        if row.get("parent_run_id"):
            parents[key].add(row["parent_run_id"])
    outputs = {key: _outputs(a) for key, a in attributes.items()}
    upstream: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        # found by resolution: the run's base model is another run's output
        if run.get("upstream_run_key"):
            upstream[run["run_key"]].add(run["upstream_run_key"])
    for key, attrs in attributes.items():
        for reference in _references(attrs):
            for other, places in outputs.items():
                if other != key and any(
                    reference == p or reference.startswith(p + "/") or p.startswith(reference + "/")
                    for p in places
                ):
                    upstream[key].add(other)
    campaign: dict[str, set[str]] = defaultdict(set)
    for key, ids in parents.items():
        for parent in ids:
            campaign[parent].add(key)
    model_of = {r["run_key"]: r.get("model_id") for r in runs}
    models: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for run in runs:
        if run.get("model_id"):
            models[run["model_id"]].append((run["run_key"], run.get("objective") or "training"))
    # Campaign siblings without a model of their own belong to their siblings' model.
    for members in campaign.values():
        named = {str(model_of[m]) for m in members if model_of.get(m)}
        if len(named) == 1:
            (model,) = named
            for member in members:
                if not model_of.get(member) and (member, "continued") not in models[model]:
                    models[model].append((member, "continued"))
                    model_of[member] = model
    # Upstream runs (whose output a run started from) are part of its model's lineage.
    for model in list(models):
        frontier = [k for k, _ in models[model]]
        seen = set(frontier)
        while frontier:
            current = frontier.pop()
            for parent in upstream.get(current, ()):
                if parent not in seen:
                    seen.add(parent)
                    models[model].append((parent, "upstream"))
                    frontier.append(parent)
    for model, spec in declared.items():
        for run_key in spec.get("runs", []):
            if all(k != run_key for k, _ in models[model]):
                models[model].append((run_key, "declared"))
        for other in spec.get("includes", []):
            for run_key, _ in list(models.get(other, [])):
                if all(k != run_key for k, _ in models[model]):
                    models[model].append((run_key, "declared"))
    in_lineage = {k for members in models.values() for k, _ in members}
    for run in runs:
        if run["run_key"] not in in_lineage:
            name = run.get("job_name") or run["run_key"]
            models[name].append((run["run_key"], run.get("objective") or "training"))
    return dict(models)


def coverage(run: Mapping[str, Any], result: RunResult) -> dict[str, Any]:
    """Whether a run has a figure and, if not, what evidence is missing and how to supply it.

    A run gets a figure from the architecture method (base model, parameters and tokens)
    or from accelerator time (hardware, billing); the missing pieces are named for both.
    """
    codes = [c for c in result.flags if describe(c).severity == "missing"]
    if result.combined is None and not any(
        run.get(k) for k in ("runtime_seconds", "accelerator_count", "accelerator_seconds")
    ):
        codes.append("accelerator_time_unknown")
    codes = sorted(set(codes)) if result.combined is None else []
    parts = []
    for code in codes:
        info = describe(code)
        parts.append(info.words + (f" — {info.remedy}" if info.remedy else ""))
    return {
        "run_id": run["run_key"],
        "has_figure": result.combined is not None,
        "decided_by": result.decided_by,
        "evidence_kinds": sorted(set(run.get("evidence_kinds") or [])),
        "missing": codes,
        "missing_text": "; ".join(parts) or None,
    }


def _land_stages(
    con: duckdb.DuckDBPyConnection, stages: Mapping[str, StageResult]
) -> dict[str, pa.Table]:
    """The stage results with their ``rollup_id`` (computed by DuckDB, whichever engine
    produced the rows, so ids never depend on the engine)."""
    landed = {}
    for name, result in stages.items():
        con.register("_stage", result.table)
        try:
            # One order for every engine (Spark writes parts in any order): matching and
            # the float sums that follow then see the groups in the same sequence.
            order = ", ".join(ROLLUP_KEYS[name])
            landed[name] = con.sql(
                f"SELECT {rollup_id_sql(name)} AS rollup_id, * FROM _stage ORDER BY {order}"
            ).to_arrow_table()
        finally:
            con.unregister("_stage")
    return landed


def run_estimate(
    con: duckdb.DuckDBPyConnection,
    registry: ModelRegistry | None = None,
    options: EstimateOptions | None = None,
    engine: Engine | None = None,
    digest: str | None = None,
    energy_options: energy.EnergyOptions | None = None,
) -> EstimateSummary:
    """Rebuild estimates, lineage and statuses from the evidence (idempotent).

    The heavy stages (billing and usage rollups) run on ``engine`` (DuckDB in process by
    default, or Spark); their small results land in DuckDB in the same transaction as
    the estimates. ``digest`` (``inputs_digest``) is recorded with them; None records
    that what they came from is unknown. Each run's energy (``run_energy``) follows, with
    ``energy_options`` (``[energy]``).
    """
    registry = registry or default_registry()
    options = options or EstimateOptions()
    engine = engine or DuckDBEngine()
    ensure_resolved(con, registry)
    stages = engine.run_stages(con)
    landed = _land_stages(con, stages)
    runs = con.sql("SELECT * FROM resolved_runs ORDER BY run_key").to_arrow_table().to_pylist()
    evidence = (
        con.sql("SELECT run_id, parent_run_id, attributes FROM training_runs")
        .to_arrow_table()
        .to_pylist()
    )
    member_of = {m: r["run_key"] for r in runs for m in r["member_run_ids"]}
    arns: dict[str, set[str]] = defaultdict(set)
    for run_id, external in con.execute(
        "SELECT run_id, external_run_id FROM training_runs WHERE external_run_id IS NOT NULL"
    ).fetchall():
        if run_id in member_of:
            arns[member_of[run_id]].add(external)
    match_runs(con, runs, landed["usage_rollup"], landed["billing_rollup"], arns, options.tag_keys)
    try:
        links = _links(con)
        windows = con.sql(
            "SELECT * FROM m_window_members ORDER BY window_id, rollup_id"
        ).to_arrow_table()
    finally:
        drop_links(con)
    evidence_of: dict[str, UsageEvidence] = defaultdict(UsageEvidence)
    for link in links:
        target = evidence_of[link["run_key"]]
        if link["target_table"] == "usage_rollup":
            seconds = float(link["gpu_seconds"] or 0)
            target.usage_ids.append(link["target_id"])
            target.usage_rows += int(link["usage_rows"] or 0)
            if link["usage_accelerator"]:
                target.accelerators.add(link["usage_accelerator"])
            if link["source_kind"] in ALLOCATION_KINDS:
                target.allocation_seconds += seconds
            else:
                target.telemetry_seconds += seconds
                if link["tensor_covered_seconds"]:
                    target.tensor_active_weighted += float(link["tensor_active_seconds"])
                    target.tensor_seconds += float(link["tensor_covered_seconds"])
        elif link["target_table"] == "billing_rollup":
            target.line_ids.append(link["target_id"])
            target.billing_lines += int(link["line_count"] or 0)
            target.billed_seconds += float(link["accelerator_hours"]) * 3600.0
            if link["billing_accelerator"]:
                target.accelerators.add(link["billing_accelerator"])
        else:  # a window of lines shared with other runs: the run's allocated share
            target.line_ids.append(link["target_id"])
            target.billing_lines += int(link["allocated_lines"] or 0)
            target.billed_seconds += float(link["allocated_hours"] or 0) * 3600.0
            if link["window_accelerator"]:
                target.accelerators.add(link["window_accelerator"])
    results = {
        r["run_key"]: _estimate_isolated(r, options, evidence_of.get(r["run_key"])) for r in runs
    }

    by_key = {r["run_key"]: r for r in runs}
    rows: list[dict[str, Any]] = []
    for run in runs:
        result = results[run["run_key"]]
        for item in [*result.estimates, *([result.combined] if result.combined else [])]:
            rows.append(
                {
                    "run_id": run["run_key"],
                    "method": item.method,
                    "flops_low": item.low,
                    "flops_central": item.central,
                    "flops_high": item.high,
                    "assumptions": json.dumps(item.assumptions, default=str),
                    "evidence_uris": run["evidence_uris"],
                    "flags": result.flags,
                    "decided_by": result.decided_by,
                }
            )
    coverage_rows = [coverage(run, results[run["run_key"]]) for run in runs]
    models = lineage(runs, evidence, options.lineage)
    lineage_rows, status_rows = [], []
    summary = EstimateSummary(
        runs=len(runs), runs_with_estimate=sum(1 for r in results.values() if r.combined)
    )
    for model, members in sorted(models.items()):
        member_runs = [by_key[k] for k, _ in members if k in by_key]
        declared_base = options.lineage.get(model, {}).get("base_model")
        base_ids = {r.get("base_model_catalog") or r.get("base_model") for r in member_runs}
        base_ids.discard(None)
        base_id = declared_base or (sorted(base_ids)[0] if base_ids else None)
        for run_key, relation in members:
            lineage_rows.append(
                {
                    "model_id": model,
                    "run_id": run_key,
                    "parent_model_id": None,
                    "base_model": base_id,
                    "relation": relation,
                    "lineage_source": "registry" if relation == "declared" else "log",
                    "evidence": json.dumps(by_key.get(run_key, {}).get("evidence_uris") or []),
                }
            )
        status = _model_status(model, member_runs, results, registry, base_id, base_ids)
        summary.models[model] = status.status
        status_rows.append(
            {
                "model_id": model,
                "base_model": base_id,
                "status": status.status,
                "flops_low": status.low,
                "flops_central": status.central,
                "flops_high": status.high,
                "flops_method": _method_text(member_runs, results),
                "threshold_flops": status.threshold.flops,
                "threshold_basis": status.threshold.basis,
                "share_of_threshold": status.share,
                "flags": status.flags,
                "explanation": status.explanation,
            }
        )
    match_rows = [
        {
            "run_id": link["run_key"],
            "target_table": link["target_table"],
            "target_id": link["target_id"],
            "match_method": link["match_method"],
            "confidence": link["confidence"],
            "details": link["details"],
            "allocated_hours": link["allocated_hours"],
            "allocated_lines": link["allocated_lines"],
        }
        for link in links
    ]
    stage_rows = [
        {
            "stage": name,
            "engine": engine.name,
            "rows_out": result.table.num_rows,
            "seconds": result.seconds,
            "sql_sha256": hashlib.sha256(result.sql.encode()).hexdigest(),
        }
        for name, result in stages.items()
    ]
    _write(
        con,
        rows,
        coverage_rows,
        lineage_rows,
        status_rows,
        match_rows,
        windows,
        landed,
        stage_rows,
        digest,
        energy_options or energy.EnergyOptions(),
    )
    summary.matches = len(match_rows)
    return summary


def _links(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every link of ``match_runs`` with what the estimate reads of its target, in link
    order (the float sums of each run then see them in one sequence on every engine)."""
    columns = ", ".join(f"l.{c.strip()}" for c in LINK_COLUMNS.split(","))
    links: list[dict[str, Any]] = (
        con.sql(
            f"SELECT {columns}, l.window_accelerator, u.gpu_seconds, u.usage_rows, "
            "u.accelerator AS usage_accelerator, u.source_kind, u.tensor_active_seconds, "
            "u.tensor_covered_seconds, b.line_count, "
            "b.accelerator_hours, b.accelerator AS billing_accelerator "
            "FROM m_links l JOIN m_runs r USING (run_key) "
            "LEFT JOIN m_usage u ON l.target_table = 'usage_rollup' AND u.rollup_id = l.target_id "
            "LEFT JOIN m_billing b ON l.target_table = 'billing_rollup' "
            "AND b.rollup_id = l.target_id "
            "ORDER BY r.run_ord, l.section, l.ord1, l.ord2, l.target_id"
        )
        .to_arrow_table()
        .to_pylist()
    )
    return links


def _method_text(runs: list[dict[str, Any]], results: dict[str, RunResult]) -> str:
    deciders = sorted({results[r["run_key"]].decided_by or "none" for r in runs})
    if len(runs) == 1 and deciders == ["architecture"]:
        run = runs[0]
        return "architecture-based, " + statement(
            run.get("method"),
            run.get("params_matmul_active") or run.get("params_matmul"),
            run.get("params_trainable"),
            run.get("tokens"),
        )
    return f"sum over {len(runs)} runs, by " + ", ".join(deciders)


def _model_status(
    model: str,
    runs: list[dict[str, Any]],
    results: dict[str, RunResult],
    registry: ModelRegistry,
    base_id: str | None,
    base_ids: set[str],
) -> Status:
    base = registry.base(base_id)
    threshold = threshold_for(base, base_id)
    combined = [results[r["run_key"]].combined for r in runs]
    complete = all(c is not None for c in combined) and bool(combined)
    known = [c for c in combined if c is not None]
    low = sum(c.low for c in known) if known else None
    central = sum(c.central for c in known) if known else None
    high = sum(c.high for c in known) if known else None
    status = classify(
        low,
        central,
        high,
        threshold,
        base,
        complete=complete,
        method_text=_method_text(runs, results),
    )
    if status.status == "insufficient_evidence":
        missing = sorted(
            {
                text
                for run in runs
                if results[run["run_key"]].combined is None
                for text in [coverage(run, results[run["run_key"]])["missing_text"]]
                if text
            }
        )
        if missing:
            status.explanation += "; missing: " + "; ".join(missing)
    if len(base_ids) > 1:
        status.flags.append("lineage_mixes_base_models")
    for run in runs:
        status.flags.extend(f"{run['run_key']}: {flag}" for flag in results[run["run_key"]].flags)
    return status


def _write(
    con: duckdb.DuckDBPyConnection,
    estimates: list[dict[str, Any]],
    coverage_rows: list[dict[str, Any]],
    lineage_rows: list[dict[str, Any]],
    status_rows: list[dict[str, Any]],
    match_rows: list[dict[str, Any]],
    windows: pa.Table,
    landed: Mapping[str, pa.Table],
    stage_rows: list[dict[str, Any]],
    digest: str | None,
    energy_options: energy.EnergyOptions,
) -> None:
    tables = {
        **landed,
        "stage_runs": pa.Table.from_pylist(stage_rows, schema=STAGE_RUNS),
        "run_matches": pa.Table.from_pylist(match_rows, schema=RUN_MATCHES),
        "billing_window_members": windows.cast(BILLING_WINDOW_MEMBERS),
        "run_estimates": pa.Table.from_pylist(estimates, schema=RUN_ESTIMATES),
        "run_coverage": pa.Table.from_pylist(coverage_rows, schema=RUN_COVERAGE),
        "model_lineage": pa.Table.from_pylist(lineage_rows, schema=MODEL_LINEAGE),
        "compliance_status": pa.Table.from_pylist(status_rows, schema=COMPLIANCE_STATUS),
    }
    con.execute("BEGIN TRANSACTION")
    try:
        for name, table in tables.items():
            con.execute(f"DELETE FROM {name}")
            con.register("_rows", table)
            try:
                con.execute(f"INSERT INTO {name} BY NAME SELECT *, now() AS computed_at FROM _rows")
            finally:
                con.unregister("_rows")
        con.execute(
            "INSERT INTO status_history "
            "SELECT model_id, status, flops_central, computed_at FROM compliance_status"
        )
        # energy reads the links and estimates just written (same transaction)
        lake.register_views(con)
        con.execute("DELETE FROM run_energy")
        con.register("_rows", energy.run_energy(con, energy_options))
        try:
            con.execute("INSERT INTO run_energy BY NAME SELECT *, now() AS computed_at FROM _rows")
        finally:
            con.unregister("_rows")
        record_digest(con, "estimate", digest)
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
