-- Per produced model: runs, tokens, FLOPs and compliance status.
-- Reads: resolved_runs, compliance_status.
-- Columns: model_id, base_model, runs, tokens, flops, flops_low, flops_high,
--   threshold_flops, threshold_basis, share_of_threshold, status.
-- Runs without a model id are grouped under their job name. Until `reconcile estimate`
-- has run, flops and status are NULL.
WITH runs AS (
    SELECT coalesce(model_id, job_name, run_key) AS model_id, base_model, run_key, tokens
    FROM resolved_runs
),
per_model AS (
    SELECT model_id, any_value(base_model) AS base_model, count(*) AS runs,
           CAST(sum(tokens) AS BIGINT) AS tokens
    FROM runs
    GROUP BY model_id
)
SELECT p.model_id, coalesce(c.base_model, p.base_model) AS base_model, p.runs, p.tokens,
       c.flops_central AS flops, c.flops_low, c.flops_high,
       c.threshold_flops, c.threshold_basis, c.share_of_threshold, c.status
FROM per_model p
LEFT JOIN compliance_status c USING (model_id)
ORDER BY p.model_id;
