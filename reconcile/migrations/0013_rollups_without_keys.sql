-- 0013_rollups_without_keys: billing_rollup and usage_rollup without their PRIMARY KEY.
-- The rollup_id is unique by construction (md5 over the group's key columns, one row per
-- group of the stage's GROUP BY), and the index cost every estimate most of its write:
-- replacing 1 M billing groups took 16.6 s with the key and 0.8 s without it
-- (bench/org_scale.py). Same columns, same order, the rows kept.
CREATE TABLE billing_rollup_0013 (
    rollup_id           VARCHAR NOT NULL,
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
INSERT INTO billing_rollup_0013 SELECT * FROM billing_rollup;
DROP TABLE billing_rollup;
ALTER TABLE billing_rollup_0013 RENAME TO billing_rollup;

CREATE TABLE usage_rollup_0013 (
    rollup_id               VARCHAR NOT NULL,
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
INSERT INTO usage_rollup_0013 SELECT * FROM usage_rollup;
DROP TABLE usage_rollup;
ALTER TABLE usage_rollup_0013 RENAME TO usage_rollup;
