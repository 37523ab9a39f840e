"""Canonical Arrow schemas of the warehouse tables that parsers fill.

Parsers return tables matching these schemas exactly (names, order, types); the
migrations in ``reconcile/migrations`` create the same columns in DuckDB, and a test
keeps the two in step. Units live in column names; IDs are strings; money is
DECIMAL(38, 10); timestamps are UTC.
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
