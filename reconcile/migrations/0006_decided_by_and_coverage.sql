-- 0006_decided_by_and_coverage: which method decided each run's figure (the figure
-- compliance sums), and for every run whether it has a figure and, if not, what evidence
-- is missing and how to supply it.
-- run_estimates.decided_by: on every row of a run, the method whose figure the run's
--   'combined' row carries (architecture | hardware | billing), NULL when none.
ALTER TABLE run_estimates ADD COLUMN decided_by VARCHAR;

-- run_coverage: one row per logical run (resolved_runs.run_key), written by `estimate`.
--   missing: flag codes (reconcile/flags.py) of the evidence that is absent;
--   missing_text: what is missing and how to supply it, in words.
CREATE TABLE run_coverage (
    run_id          VARCHAR NOT NULL,
    has_figure      BOOLEAN NOT NULL,
    decided_by      VARCHAR,
    evidence_kinds  VARCHAR[],
    missing         VARCHAR[],
    missing_text    VARCHAR,
    computed_at     TIMESTAMPTZ NOT NULL
);

-- resolved_runs.evidence_kinds: the formats of the evidence merged into the run.
ALTER TABLE resolved_runs ADD COLUMN evidence_kinds VARCHAR[];

-- What the architecture method needs beyond tokens for some runs:
--   seq_len_max: the longest a sequence could be (cutoff length), for the band's high end;
--   generated_tokens: tokens an online RL policy generated (GRPO/PPO/RLOO), when logged;
--   kl_in_use: whether an online RL run used a KL term (a reference forward).
ALTER TABLE resolved_runs ADD COLUMN seq_len_max BIGINT;
ALTER TABLE resolved_runs ADD COLUMN generated_tokens BIGINT;
ALTER TABLE resolved_runs ADD COLUMN kl_in_use BOOLEAN;

-- resolved_runs.upstream_run_key: the run whose output this run's base model names (its
-- model id, job or output folder): lineage found without declarations.
ALTER TABLE resolved_runs ADD COLUMN upstream_run_key VARCHAR;

-- resolved_runs.accelerator_seconds: device time the evidence states as a total
-- ("23,000 A100-hours" in a run table's accelerator_hours), all devices together.
ALTER TABLE resolved_runs ADD COLUMN accelerator_seconds DOUBLE;
