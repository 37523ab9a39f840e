"""Canonical Arrow schemas of the warehouse tables: one declaration per table.

Fact tables (``FACT_TABLES``) are what parsers fill: parsers return tables matching these
schemas exactly (names, order, types). Derived tables (``DERIVED_TABLES``) are what
resolution and estimation write, reference tables (``REFERENCE_TABLES``) what the
warehouse fills from what the package declares (its data files, its parsers); their
writers build Arrow tables with these schemas and add the columns of
``ADDED_AT_INSERT`` in the INSERT. The migrations
in ``reconcile/migrations`` create the same columns in DuckDB, and
``tests/test_warehouse.py`` keeps every table in step with them. Units live in column
names; IDs are strings; money is DECIMAL(38, 10); timestamps are UTC.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(38, 10)
TAGS = pa.map_(pa.string(), pa.string())

#: Provenance columns every fact table carries, so that a re-delivered object can
#: replace exactly the rows it produced.
PROVENANCE = [
    pa.field("source_uri", pa.string(), nullable=False),
    pa.field("source_format", pa.string(), nullable=False),
]

#: ``gpu_usage.source_kind`` values whose rows are a scheduler's accounting: the
#: accelerators a job held for its whole elapsed time, busy or not (an allocation), as
#: opposed to telemetry that measured the devices (``dcgm``, ``nvidia-smi``). Matching
#: expands their node lists; the hardware method prefers their time; energy never counts
#: them as measured.
ALLOCATION_KINDS: tuple[str, ...] = ("slurm",)

TRAINING_RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("platform", pa.string()),
        pa.field("job_name", pa.string()),
        pa.field("external_run_id", pa.string()),
        pa.field("run_status", pa.string()),
        pa.field("started_at", TS),
        pa.field("ended_at", TS),
        pa.field("time_basis", pa.string()),
        pa.field("model_id", pa.string()),
        pa.field("base_model", pa.string()),
        pa.field("base_model_basis", pa.string()),
        pa.field("parent_run_id", pa.string()),
        pa.field("method", pa.string()),
        pa.field("objective", pa.string()),
        pa.field("model_type", pa.string()),
        pa.field("params_total", pa.int64()),
        pa.field("params_trainable", pa.int64()),
        pa.field("params_active", pa.int64()),
        pa.field("params_basis", pa.string()),
        pa.field("tokens", pa.int64()),
        pa.field("tokens_basis", pa.string()),
        pa.field("epochs", pa.float64()),
        pa.field("seq_len", pa.int64()),
        pa.field("per_device_batch", pa.int64()),
        pa.field("grad_accum_steps", pa.int64()),
        pa.field("world_size", pa.int64()),
        pa.field("global_batch", pa.int64()),
        pa.field("steps", pa.int64()),
        pa.field("runtime_seconds", pa.float64()),
        pa.field("precision", pa.string()),
        pa.field("gradient_checkpointing", pa.bool_()),
        pa.field("instance_type", pa.string()),
        pa.field("instance_count", pa.int64()),
        pa.field("accelerator", pa.string()),
        pa.field("accelerator_count", pa.int64()),
        pa.field("reported_flops", pa.float64()),
        pa.field("reported_flops_basis", pa.string()),
        pa.field("tags", TAGS),
        pa.field("attributes", pa.string()),  # JSON: format-specific extras
        *PROVENANCE,
    ]
)

BILLING_LINES = pa.schema(
    [
        pa.field("line_id", pa.string(), nullable=False),
        pa.field("provider", pa.string(), nullable=False),
        pa.field("account_id", pa.string()),
        pa.field("billing_period", pa.string()),
        pa.field("usage_start_at", TS),
        pa.field("usage_end_at", TS),
        pa.field("service", pa.string()),
        pa.field("usage_type", pa.string()),
        pa.field("line_type", pa.string()),
        pa.field("region", pa.string()),
        pa.field("instance_type", pa.string()),
        pa.field("sku_id", pa.string()),
        pa.field("resource_id", pa.string()),
        pa.field("usage_quantity", pa.float64()),
        pa.field("usage_unit", pa.string()),
        pa.field("accelerator", pa.string()),
        pa.field("accelerator_hours", pa.float64()),
        pa.field("cost_billed", MONEY),
        pa.field("cost_effective", MONEY),
        pa.field("cost_list", MONEY),
        pa.field("currency", pa.string()),
        # Which export the line came from (cur2, cur1, focus, gcp_detailed, gcp_standard,
        # azure_actual, azure_amortized, azure_usage): the same spend often arrives in
        # several, and queries take one kind per provider, account and month.
        pa.field("export_kind", pa.string()),
        pa.field("tags", TAGS),
        pa.field("raw_hash", pa.string()),
        *PROVENANCE,
    ]
)

#: GPU usage from schedulers and telemetry. One row per job allocation (Slurm) or per
#: contiguous telemetry window of one device and one job/pod (DCGM, nvidia-smi).
#: ``gpu_seconds`` = ``elapsed_seconds`` × ``gpu_count`` × ``gpu_fraction`` (a MIG slice
#: is a fraction of its GPU). Activity averages are time-weighted ratios 0–1
#: (``gpu_util_avg`` = time with any kernel running, NOT FLOP utilisation;
#: ``tensor_active_avg`` = tensor-pipe activity, the input for FLOP estimates).
#: ``time_basis`` says how the source's clock became UTC.
GPU_USAGE = pa.schema(
    [
        pa.field("usage_id", pa.string(), nullable=False),
        pa.field("source_kind", pa.string(), nullable=False),
        pa.field("cluster", pa.string()),
        pa.field("job_key", pa.string()),
        pa.field("job_name", pa.string()),
        pa.field("user_name", pa.string()),
        pa.field("account", pa.string()),
        pa.field("partition", pa.string()),
        pa.field("job_state", pa.string()),
        pa.field("host", pa.string()),
        pa.field("gpu_uuid", pa.string()),
        pa.field("accelerator", pa.string()),
        pa.field("gpu_count", pa.int64()),
        pa.field("gpu_fraction", pa.float64()),
        pa.field("mig_profile", pa.string()),
        pa.field("started_at", TS),
        pa.field("ended_at", TS),
        pa.field("time_basis", pa.string()),
        pa.field("elapsed_seconds", pa.float64()),
        pa.field("gpu_seconds", pa.float64()),
        pa.field("samples", pa.int64()),
        pa.field("gpu_util_avg", pa.float64()),
        pa.field("tensor_active_avg", pa.float64()),
        pa.field("sm_active_avg", pa.float64()),
        pa.field("dram_active_avg", pa.float64()),
        pa.field("power_avg_watts", pa.float64()),
        pa.field("energy_joules", pa.float64()),
        pa.field("confidence", pa.string()),
        pa.field("tags", TAGS),
        *PROVENANCE,
    ]
)

#: Tables a parser may produce, by name.
FACT_TABLES: dict[str, pa.Schema] = {
    "training_runs": TRAINING_RUNS,
    "billing_lines": BILLING_LINES,
    "gpu_usage": GPU_USAGE,
}


STRINGS = pa.list_(pa.string())

#: One row per logical training run (``reconcile.resolve``): evidence rows merged, base
#: model resolved, parameters and tokens each with its basis. JSON columns are text.
RESOLVED_RUNS = pa.schema(
    [
        pa.field("run_key", pa.string()),
        pa.field("member_run_ids", STRINGS),
        pa.field("job_name", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("run_status", pa.string()),
        pa.field("model_id", pa.string()),
        pa.field("base_model", pa.string()),
        pa.field("base_model_catalog", pa.string()),
        pa.field("base_model_raw", pa.string()),
        pa.field("base_model_basis", pa.string()),
        pa.field("method", pa.string()),
        pa.field("objective", pa.string()),
        pa.field("params_total", pa.int64()),
        pa.field("params_active", pa.int64()),
        pa.field("params_trainable", pa.int64()),
        pa.field("params_matmul", pa.int64()),
        pa.field("params_matmul_active", pa.int64()),
        pa.field("params_hf_counted", pa.int64()),
        pa.field("params_basis", pa.string()),
        pa.field("n_layers", pa.int64()),
        pa.field("attention_dim", pa.int64()),
        pa.field("tokens", pa.int64()),
        pa.field("tokens_low", pa.int64()),
        pa.field("tokens_high", pa.int64()),
        pa.field("tokens_basis", pa.string()),
        pa.field("tokens_padding_included", pa.bool_()),
        pa.field("tokens_evidence", pa.string()),  # JSON
        pa.field("epochs", pa.float64()),
        pa.field("steps", pa.int64()),
        pa.field("seq_len", pa.int64()),
        pa.field("seq_len_basis", pa.string()),
        pa.field("global_batch", pa.int64()),
        pa.field("started_at", TS),
        pa.field("ended_at", TS),
        pa.field("runtime_seconds", pa.float64()),
        pa.field("precision", pa.string()),
        pa.field("instance_type", pa.string()),
        pa.field("instance_count", pa.int64()),
        pa.field("accelerator", pa.string()),
        pa.field("accelerator_count", pa.int64()),
        pa.field("reported_flops", pa.float64()),
        pa.field("reported_flops_basis", pa.string()),
        pa.field("reported", pa.string()),  # JSON
        pa.field("tags", TAGS),
        pa.field("flags", STRINGS),
        pa.field("notes", STRINGS),
        pa.field("evidence_uris", STRINGS),
        pa.field("resolver_version", pa.int32()),
        pa.field("evidence_kinds", STRINGS),
        pa.field("seq_len_max", pa.int64()),
        pa.field("generated_tokens", pa.int64()),
        pa.field("kl_in_use", pa.bool_()),
        pa.field("upstream_run_key", pa.string()),
        pa.field("accelerator_seconds", pa.float64()),
    ]
)

#: The billing stage's result (``queries/stages/billing_rollup.sql``): accelerator lines
#: grouped by every attribute run matching looks at.
BILLING_ROLLUP = pa.schema(
    [
        pa.field("provider", pa.string()),
        pa.field("account_id", pa.string()),
        pa.field("month", pa.string()),
        pa.field("usage_hour", TS),
        pa.field("usage_start_at", TS),
        pa.field("usage_end_at", TS),
        pa.field("export_kind", pa.string()),
        pa.field("counts_billed", pa.bool_()),
        pa.field("counts_effective", pa.bool_()),
        pa.field("resource_id", pa.string()),
        pa.field("instance_type", pa.string()),
        pa.field("accelerator", pa.string()),
        pa.field("line_type", pa.string()),
        pa.field("currency", pa.string()),
        pa.field("tags_key", pa.string()),
        pa.field("source_uri", pa.string()),
        pa.field("accelerator_hours", pa.decimal128(38, 12)),
        pa.field("cost_billed", MONEY),
        pa.field("cost_effective", MONEY),
        pa.field("line_count", pa.int64()),
    ]
)

#: The usage stage's result (``queries/stages/usage_rollup.sql``): accelerator-second
#: integrals per job, host and accelerator.
USAGE_ROLLUP = pa.schema(
    [
        pa.field("source_kind", pa.string()),
        pa.field("cluster", pa.string()),
        pa.field("month", pa.string()),
        pa.field("job_key", pa.string()),
        pa.field("job_name", pa.string()),
        pa.field("host", pa.string()),
        pa.field("accelerator", pa.string()),
        pa.field("started_at", TS),
        pa.field("ended_at", TS),
        pa.field("node_list", pa.string()),
        pa.field("source_uri", pa.string()),
        pa.field("usage_rows", pa.int64()),
        pa.field("devices", pa.int64()),
        pa.field("gpu_count", pa.int64()),
        pa.field("samples", pa.int64()),
        pa.field("gpu_seconds", pa.decimal128(38, 9)),
        pa.field("tensor_active_seconds", pa.decimal128(38, 9)),
        pa.field("tensor_covered_seconds", pa.decimal128(38, 9)),
    ]
)

#: Which engine computed each stage of the last estimate, and how long it took.
STAGE_RUNS = pa.schema(
    [
        pa.field("stage", pa.string()),
        pa.field("engine", pa.string()),
        pa.field("rows_out", pa.int64()),
        pa.field("seconds", pa.float64()),
        pa.field("sql_sha256", pa.string()),
    ]
)

#: Links between a run and the stage groups (or shared billing windows) it matched.
RUN_MATCHES = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("target_table", pa.string()),
        pa.field("target_id", pa.string()),
        pa.field("match_method", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("details", pa.string()),  # JSON
        pa.field("allocated_hours", pa.float64()),
        pa.field("allocated_lines", pa.int64()),
    ]
)

#: The billing_rollup groups of each shared billing window, with how many runs claimed
#: each (``queries/matching/links.sql``, ``m_window_members``).
BILLING_WINDOW_MEMBERS = pa.schema(
    [
        pa.field("window_id", pa.string()),
        pa.field("rollup_id", pa.string()),
        pa.field("claimants", pa.int64()),
    ]
)

#: One row per method per run: architecture | hardware | billing | reported | combined.
RUN_ESTIMATES = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("method", pa.string()),
        pa.field("flops_low", pa.float64()),
        pa.field("flops_central", pa.float64()),
        pa.field("flops_high", pa.float64()),
        pa.field("assumptions", pa.string()),  # JSON
        pa.field("evidence_uris", STRINGS),
        pa.field("flags", STRINGS),
        pa.field("decided_by", pa.string()),
    ]
)

#: Per run: whether it has a figure and, if not, what evidence is missing.
RUN_COVERAGE = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("has_figure", pa.bool_()),
        pa.field("decided_by", pa.string()),
        pa.field("evidence_kinds", STRINGS),
        pa.field("missing", STRINGS),
        pa.field("missing_text", pa.string()),
    ]
)

#: Which runs lie between a third-party base model and a released model.
MODEL_LINEAGE = pa.schema(
    [
        pa.field("model_id", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("parent_model_id", pa.string()),
        pa.field("base_model", pa.string()),
        pa.field("relation", pa.string()),
        pa.field("lineage_source", pa.string()),
        pa.field("evidence", pa.string()),  # JSON
    ]
)

#: Each model's status against the thresholds, with its figure and flags.
COMPLIANCE_STATUS = pa.schema(
    [
        pa.field("model_id", pa.string()),
        pa.field("base_model", pa.string()),
        pa.field("status", pa.string()),
        pa.field("flops_low", pa.float64()),
        pa.field("flops_central", pa.float64()),
        pa.field("flops_high", pa.float64()),
        pa.field("flops_method", pa.string()),
        pa.field("threshold_flops", pa.float64()),
        pa.field("threshold_basis", pa.string()),
        pa.field("share_of_threshold", pa.float64()),
        pa.field("flags", STRINGS),
        pa.field("explanation", pa.string()),
    ]
)

#: Each run's energy, measured where telemetry has it and estimated where it does not
#: (``reconcile.energy``; the columns are described in migration 0014).
RUN_ENERGY = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("basis", pa.string()),  # measured | partly_measured | estimated | none
        pa.field("accelerator", pa.string()),
        pa.field("accelerator_seconds", pa.float64()),
        pa.field("measured_seconds", pa.float64()),
        pa.field("coverage", pa.float64()),
        pa.field("measured_kwh", pa.float64()),
        pa.field("board_kwh_low", pa.float64()),
        pa.field("board_kwh_central", pa.float64()),
        pa.field("board_kwh_high", pa.float64()),
        pa.field("facility_kwh_low", pa.float64()),
        pa.field("facility_kwh_central", pa.float64()),
        pa.field("facility_kwh_high", pa.float64()),
        pa.field("grid_key", pa.string()),
        pa.field("grid_gco2e_per_kwh", pa.float64()),
        pa.field("tco2e_central", pa.float64()),
        pa.field("method", pa.string()),
    ]
)

#: Tables resolution and estimation write, by name.
DERIVED_TABLES: dict[str, pa.Schema] = {
    "resolved_runs": RESOLVED_RUNS,
    "billing_rollup": BILLING_ROLLUP,
    "usage_rollup": USAGE_ROLLUP,
    "stage_runs": STAGE_RUNS,
    "run_matches": RUN_MATCHES,
    "billing_window_members": BILLING_WINDOW_MEMBERS,
    "run_estimates": RUN_ESTIMATES,
    "run_coverage": RUN_COVERAGE,
    "model_lineage": MODEL_LINEAGE,
    "compliance_status": COMPLIANCE_STATUS,
    "run_energy": RUN_ENERGY,
}

#: The export-kind ranking (``reconcile/data/export_kinds.csv``): which export of the same
#: spend counts, for billed and for effective figures (lowest rank counts); a NULL
#: ``export_kind`` is the rank of every kind not listed.
EXPORT_KIND_RANKS = pa.schema(
    [
        pa.field("export_kind", pa.string()),
        pa.field("rank_billed", pa.int32(), nullable=False),
        pa.field("rank_effective", pa.int32(), nullable=False),
        pa.field("note", pa.string(), nullable=False),
    ]
)

#: ``evidence_priority``: each training format's rank per kind of field, as its parser
#: declares it (written by ``reconcile.ingest.record_formats``, read by resolution).
EVIDENCE_PRIORITY = pa.schema(
    [
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("field_kind", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
    ]
)

#: Tables the warehouse fills from what the package declares: its data files and its
#: parsers.
#: ``allocation_kinds``: :data:`ALLOCATION_KINDS` as a table the SQL views read.
ALLOCATION_KINDS_TABLE = pa.schema([pa.field("source_kind", pa.string(), nullable=False)])

REFERENCE_TABLES: dict[str, pa.Schema] = {
    "export_kind_ranks": EXPORT_KIND_RANKS,
    "evidence_priority": EVIDENCE_PRIORITY,
    "allocation_kinds": ALLOCATION_KINDS_TABLE,
}

COMPUTED_AT = pa.field("computed_at", TS, nullable=False)
#: md5 over the group's key columns (``reconcile.engines.rollup_id_sql``).
ROLLUP_ID = pa.field("rollup_id", pa.string(), nullable=False)

#: The columns a writer adds in its INSERT rather than in the Arrow table it builds:
#: when the row was written (``now()``), and a stage group's id, computed by DuckDB
#: whichever engine produced the group.
ADDED_AT_INSERT: dict[str, tuple[pa.Field, ...]] = {
    "resolved_runs": (pa.field("resolved_at", TS, nullable=False),),
    "billing_rollup": (ROLLUP_ID, COMPUTED_AT),
    "usage_rollup": (ROLLUP_ID, COMPUTED_AT),
    **{
        name: (COMPUTED_AT,)
        for name in DERIVED_TABLES
        if name not in ("resolved_runs", "billing_rollup", "usage_rollup")
    },
}

#: Tables written by SQL statements alone, never from an Arrow table: the ingest's
#: bookkeeping (``reconcile.ingest``), the status history, cached config completions,
#: the digests of what was last computed, and the migrations applied.
SQL_ONLY_TABLES = (
    "ingest_ledger",
    "quarantine",
    "status_history",
    "config_completions",
    "stage_digests",
    "schema_migrations",
)


def empty_table(schema: pa.Schema) -> pa.Table:
    """An empty table with exactly ``schema``."""
    return schema.empty_table()


def conform(rows: list[dict[str, object]], schema: pa.Schema) -> pa.Table:
    """Build a table from row dicts, with exactly the columns of ``schema``.

    Missing keys become nulls; unknown keys are an error (a typo in a parser must
    not silently drop a value).

    Raises:
        KeyError: a row has a key that is not a column of ``schema``.
    """
    names = set(schema.names)
    for row in rows:
        extra = set(row) - names
        if extra:
            raise KeyError(f"unknown columns {sorted(extra)}")
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)
