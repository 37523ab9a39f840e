-- 0005_stage_rollups: the results of the heavy stages (queries/stages/*.sql), computed by
-- the DuckDB or the Spark engine and landed here by `reconcile estimate`. Matching and
-- estimation read these instead of every billing line and usage row; run_matches points
-- at their rollup_id (target_table billing_rollup | usage_rollup).
-- rollup_id: md5 over the group's key columns (reconcile.engines.ROLLUP_KEYS), the same
-- expression for a group and for each line/row in it, so the report can list the lines.
CREATE TABLE billing_rollup (
    rollup_id           VARCHAR PRIMARY KEY,
    provider            VARCHAR,
    account_id          VARCHAR,
    month               VARCHAR,
    usage_hour          TIMESTAMPTZ,
    usage_start_at      TIMESTAMPTZ,
    usage_end_at        TIMESTAMPTZ,
    export_kind         VARCHAR,
    counts_billed       BOOLEAN,
    counts_effective    BOOLEAN,
    resource_id         VARCHAR,
    instance_type       VARCHAR,
    accelerator         VARCHAR,
    line_type           VARCHAR,
    currency            VARCHAR,
    tags_key            VARCHAR,
    source_uri          VARCHAR,
    accelerator_hours   DECIMAL(38, 12),
    cost_billed         DECIMAL(38, 10),
    cost_effective      DECIMAL(38, 10),
    line_count          BIGINT,
    computed_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE usage_rollup (
    rollup_id               VARCHAR PRIMARY KEY,
    source_kind             VARCHAR,
    cluster                 VARCHAR,
    month                   VARCHAR,
    job_key                 VARCHAR,
    job_name                VARCHAR,
    host                    VARCHAR,
    accelerator             VARCHAR,
    started_at              TIMESTAMPTZ,
    ended_at                TIMESTAMPTZ,
    node_list               VARCHAR,
    source_uri              VARCHAR,
    usage_rows              BIGINT,
    devices                 BIGINT,
    gpu_count               BIGINT,
    samples                 BIGINT,
    gpu_seconds             DECIMAL(38, 9),
    tensor_active_seconds   DECIMAL(38, 9),
    tensor_covered_seconds  DECIMAL(38, 9),
    computed_at             TIMESTAMPTZ NOT NULL
);

-- Which engine computed each stage of the last estimate, and how long it took.
CREATE TABLE stage_runs (
    stage       VARCHAR PRIMARY KEY,
    engine      VARCHAR NOT NULL,
    rows_out    BIGINT NOT NULL,
    seconds     DOUBLE NOT NULL,
    sql_sha256  VARCHAR NOT NULL,   -- of the SQL text the engine ran
    computed_at TIMESTAMPTZ NOT NULL
);
