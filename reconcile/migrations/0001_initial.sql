-- 0001_initial: the canonical tables of the warehouse.
-- Units live in column names; IDs are VARCHAR; money is DECIMAL(38,10);
-- timestamps are UTC TIMESTAMPTZ. Fact tables carry source_uri/source_format so a
-- re-delivered object replaces exactly the rows it produced.

CREATE TABLE training_runs (
    run_id                  VARCHAR NOT NULL,
    platform                VARCHAR,
    job_name                VARCHAR,
    external_run_id         VARCHAR,            -- ARN, W&B/MLflow run id
    run_status              VARCHAR,
    started_at              TIMESTAMPTZ,
    ended_at                TIMESTAMPTZ,
    time_basis              VARCHAR,
    model_id                VARCHAR,
    base_model              VARCHAR,
    base_model_basis        VARCHAR,
    parent_run_id           VARCHAR,
    method                  VARCHAR,
    objective               VARCHAR,
    model_type              VARCHAR,
    params_total            BIGINT,
    params_trainable        BIGINT,
    params_active           BIGINT,
    params_basis            VARCHAR,
    tokens                  BIGINT,
    tokens_basis            VARCHAR,
    epochs                  DOUBLE,
    seq_len                 BIGINT,
    per_device_batch        BIGINT,
    grad_accum_steps        BIGINT,
    world_size              BIGINT,
    global_batch            BIGINT,
    steps                   BIGINT,
    runtime_seconds         DOUBLE,
    "precision"             VARCHAR,
    gradient_checkpointing  BOOLEAN,
    instance_type           VARCHAR,
    instance_count          BIGINT,
    accelerator             VARCHAR,
    accelerator_count       BIGINT,
    reported_flops          DOUBLE,
    reported_flops_basis    VARCHAR,
    tags                    MAP(VARCHAR, VARCHAR),
    attributes              VARCHAR,
    source_uri              VARCHAR NOT NULL,
    source_format           VARCHAR NOT NULL
);

CREATE TABLE billing_lines (
    line_id             VARCHAR NOT NULL,
    provider            VARCHAR NOT NULL,
    account_id          VARCHAR,
    billing_period      VARCHAR,
    usage_start_at      TIMESTAMPTZ,
    usage_end_at        TIMESTAMPTZ,
    service             VARCHAR,
    usage_type          VARCHAR,
    line_type           VARCHAR,
    region              VARCHAR,
    instance_type       VARCHAR,
    sku_id              VARCHAR,
    resource_id         VARCHAR,
    usage_quantity      DOUBLE,
    usage_unit          VARCHAR,
    accelerator         VARCHAR,
    accelerator_hours   DOUBLE,
    cost_billed         DECIMAL(38, 10),
    cost_effective      DECIMAL(38, 10),
    cost_list           DECIMAL(38, 10),
    currency            VARCHAR,
    export_kind         VARCHAR,            -- cur2 | cur1 | focus | gcp_* | azure_*
    tags                MAP(VARCHAR, VARCHAR),
    raw_hash            VARCHAR,
    source_uri          VARCHAR NOT NULL,
    source_format       VARCHAR NOT NULL
);

-- billing_lines, marked with what to count. The same spend often arrives in several
-- exports (CUR 2.0 and FOCUS, legacy CUR during a migration, Azure actual and amortized
-- cost, GCP standard and detailed tables): per provider, account and month, hours and
-- billed cost count from one export kind and effective cost from one, never summed across
-- kinds. Native before FOCUS; CUR 2.0 before legacy; GCP detailed before standard; Azure
-- actual cost for billed figures, amortized cost for effective ones.
-- month = the month of usage_start_at (UTC), else the billing period.
CREATE VIEW billing_lines_counted AS
WITH lines AS (
    SELECT *,
        coalesce(strftime(usage_start_at AT TIME ZONE 'UTC', '%Y-%m'), billing_period) AS month,
        CASE export_kind
            WHEN 'cur2' THEN 1 WHEN 'cur1' THEN 2
            WHEN 'gcp_detailed' THEN 1 WHEN 'gcp_standard' THEN 2
            WHEN 'azure_actual' THEN 1 WHEN 'azure_amortized' THEN 2 WHEN 'azure_usage' THEN 3
            ELSE 9 END AS rank_billed,
        CASE export_kind
            WHEN 'cur2' THEN 1 WHEN 'cur1' THEN 2
            WHEN 'gcp_detailed' THEN 1 WHEN 'gcp_standard' THEN 2
            WHEN 'azure_amortized' THEN 1 WHEN 'azure_actual' THEN 2 WHEN 'azure_usage' THEN 3
            ELSE 9 END AS rank_effective
    FROM billing_lines
), chosen AS (
    SELECT provider, coalesce(account_id, '') AS account, month,
           min(rank_billed) AS best_billed, min(rank_effective) AS best_effective
    FROM lines
    GROUP BY ALL
)
SELECT lines.* EXCLUDE (rank_billed, rank_effective),
       rank_billed = best_billed AS counts_billed,
       rank_effective = best_effective AS counts_effective
FROM lines
JOIN chosen ON chosen.provider = lines.provider
           AND chosen.account = coalesce(lines.account_id, '')
           AND chosen.month = lines.month;

CREATE TABLE gpu_usage (
    usage_id            VARCHAR NOT NULL,
    source_kind         VARCHAR NOT NULL,   -- slurm | dcgm | nvidia-smi
    cluster             VARCHAR,
    job_key             VARCHAR,            -- Slurm JobID, DCGM hpc_job or namespace/pod
    job_name            VARCHAR,
    user_name           VARCHAR,
    account             VARCHAR,
    "partition"         VARCHAR,
    job_state           VARCHAR,
    host                VARCHAR,
    gpu_uuid            VARCHAR,
    accelerator         VARCHAR,            -- catalog key, e.g. NVIDIA H100 SXM5-80GB
    gpu_count           BIGINT,
    gpu_fraction        DOUBLE,             -- share of one GPU per device (MIG slice < 1)
    mig_profile         VARCHAR,
    started_at          TIMESTAMPTZ,
    ended_at            TIMESTAMPTZ,
    time_basis          VARCHAR,            -- how the source clock became UTC
    elapsed_seconds     DOUBLE,
    gpu_seconds         DOUBLE,             -- elapsed x gpu_count x gpu_fraction
    samples             BIGINT,             -- telemetry samples integrated
    gpu_util_avg        DOUBLE,             -- ratio 0-1, time with any kernel running
    tensor_active_avg   DOUBLE,             -- ratio 0-1, tensor pipe active
    sm_active_avg       DOUBLE,
    dram_active_avg     DOUBLE,
    power_avg_watts     DOUBLE,
    energy_joules       DOUBLE,
    confidence          VARCHAR,            -- allocation | measured
    tags                MAP(VARCHAR, VARCHAR),
    source_uri          VARCHAR NOT NULL,
    source_format       VARCHAR NOT NULL
);

-- One row per method per run: architecture | hardware | billing | reported.
CREATE TABLE run_estimates (
    run_id          VARCHAR NOT NULL,
    method          VARCHAR NOT NULL,
    flops_low       DOUBLE,
    flops_central   DOUBLE,
    flops_high      DOUBLE,
    assumptions     JSON,
    evidence_uris   VARCHAR[],
    computed_at     TIMESTAMPTZ NOT NULL
);

-- Links between a run and billing lines / GPU-usage rows.
CREATE TABLE run_matches (
    run_id          VARCHAR NOT NULL,
    target_table    VARCHAR NOT NULL,   -- billing_lines | gpu_usage
    target_id       VARCHAR NOT NULL,   -- line_id | usage_id
    match_method    VARCHAR NOT NULL,   -- tag | resource_id | job_id | time_window
    confidence      DOUBLE,
    details         JSON,
    computed_at     TIMESTAMPTZ NOT NULL
);

-- Which runs lie between a third-party base model and a released model.
CREATE TABLE model_lineage (
    model_id        VARCHAR NOT NULL,
    run_id          VARCHAR,
    parent_model_id VARCHAR,
    base_model      VARCHAR,
    relation        VARCHAR,            -- sft | dpo | continued | resumed | declared
    lineage_source  VARCHAR NOT NULL,   -- log | registry
    evidence        JSON,
    computed_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE compliance_status (
    model_id            VARCHAR NOT NULL,
    base_model          VARCHAR,
    status              VARCHAR NOT NULL,  -- provider | review | below | insufficient_evidence
    flops_low           DOUBLE,
    flops_central       DOUBLE,
    flops_high          DOUBLE,
    flops_method        VARCHAR,
    threshold_flops     DOUBLE,
    threshold_basis     VARCHAR,
    share_of_threshold  DOUBLE,
    flags               VARCHAR[],
    explanation         VARCHAR,
    computed_at         TIMESTAMPTZ NOT NULL
);

-- One row per ingested unit (an object, or a directory-shaped unit such as a
-- checkpoint folder). Written in the same transaction as the rows it produced.
CREATE TABLE ingest_ledger (
    uri             VARCHAR PRIMARY KEY,
    source_root     VARCHAR NOT NULL,
    format          VARCHAR NOT NULL,
    parser_version  INTEGER NOT NULL,   -- a newer parser re-reads the unit
    fingerprint     VARCHAR NOT NULL,   -- etag, or a digest of member etags
    size_bytes      BIGINT NOT NULL,
    sha256          VARCHAR NOT NULL,   -- of the bytes actually read
    members         JSON NOT NULL,      -- [{key, etag, size}]
    target_table    VARCHAR NOT NULL,
    row_count       BIGINT NOT NULL,
    modified_at     TIMESTAMPTZ,
    loaded_at       TIMESTAMPTZ NOT NULL
);

-- Objects that failed to parse, with the error. Previously loaded rows of the same
-- uri (an older, good version) stay loaded until a good version replaces them.
CREATE TABLE quarantine (
    uri             VARCHAR PRIMARY KEY,
    source_root     VARCHAR NOT NULL,
    format          VARCHAR NOT NULL,
    parser_version  INTEGER NOT NULL,
    fingerprint     VARCHAR NOT NULL,
    error           VARCHAR NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    attempts        BIGINT NOT NULL
);
