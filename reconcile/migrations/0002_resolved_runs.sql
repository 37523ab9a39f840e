-- 0002_resolved_runs: one row per logical training run, merged from every evidence row
-- (checkpoint folder, job description, tracker export, meter file) that names the same
-- job, with the base model resolved to a Hub id, parameter counts and tokens, each with
-- its basis. Rebuilt in full, in one transaction, from training_runs.

CREATE TABLE resolved_runs (
    run_key                 VARCHAR NOT NULL,   -- the logical run
    member_run_ids          VARCHAR[] NOT NULL, -- training_runs.run_id merged into it
    job_name                VARCHAR,
    platform                VARCHAR,
    run_status              VARCHAR,
    model_id                VARCHAR,
    base_model              VARCHAR,            -- Hub id the run started from
    base_model_catalog      VARCHAR,            -- catalog entry whose compute applies
    base_model_raw          VARCHAR,
    base_model_basis        VARCHAR,
    method                  VARCHAR,
    objective               VARCHAR,
    params_total            BIGINT,
    params_active           BIGINT,
    params_trainable        BIGINT,
    params_matmul           BIGINT,             -- weights in matrix multiplies (head incl.)
    params_matmul_active    BIGINT,
    params_hf_counted       BIGINT,             -- what HF total_flos multiplies by 6 x tokens
    params_basis            VARCHAR,
    n_layers                BIGINT,
    attention_dim           BIGINT,
    tokens                  BIGINT,
    tokens_low              BIGINT,
    tokens_high             BIGINT,
    tokens_basis            VARCHAR,            -- logged | derived_total_flos | derived_steps | unknown
    tokens_padding_included BOOLEAN,
    tokens_evidence         JSON,               -- every derivation with its interval
    epochs                  DOUBLE,
    steps                   BIGINT,
    seq_len                 BIGINT,
    seq_len_basis           VARCHAR,            -- logged | derived_tokens_per_sequence
    global_batch            BIGINT,
    started_at              TIMESTAMPTZ,
    ended_at                TIMESTAMPTZ,
    runtime_seconds         DOUBLE,
    "precision"             VARCHAR,
    instance_type           VARCHAR,
    instance_count          BIGINT,
    accelerator             VARCHAR,
    accelerator_count       BIGINT,
    reported_flops          DOUBLE,
    reported_flops_basis    VARCHAR,
    reported                JSON,               -- every FLOP figure the evidence claims
    tags                    MAP(VARCHAR, VARCHAR),
    flags                   VARCHAR[],
    notes                   VARCHAR[],
    evidence_uris           VARCHAR[],
    resolver_version        INTEGER NOT NULL,
    resolved_at             TIMESTAMPTZ NOT NULL
);
