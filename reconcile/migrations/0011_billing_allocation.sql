-- 0011_billing_allocation: a billing line several runs claim (concurrent runs of one
-- project on a tagged pool, concurrent runs of one cloud in a time window) is allocated
-- to them instead of counted once per run (reconcile/matching.py, queries/matching/).
--   run_matches.target_table billing_window: one link per run and window (method, cloud,
--   accelerator, month; target_id names it), carrying the run's share:
--   allocated_hours (accelerator-hours) of allocated_lines billing lines it shares.
--   billing_window_members: the billing_rollup groups of each window, once each, with
--   how many runs claimed each (claimants).
ALTER TABLE run_matches ADD COLUMN allocated_hours DOUBLE;
ALTER TABLE run_matches ADD COLUMN allocated_lines BIGINT;

CREATE TABLE billing_window_members (
    window_id       VARCHAR NOT NULL,
    rollup_id       VARCHAR NOT NULL,
    claimants       BIGINT NOT NULL,
    computed_at     TIMESTAMPTZ NOT NULL
);
