-- One row per logical training run (evidence of the same job merged), with its best
-- available FLOP estimate.
-- Reads: resolved_runs, run_estimates.
-- Columns: run_id, platform, job_name, model_id, base_model, base_model_basis, method,
--   objective, params_total, params_trainable, tokens, tokens_low, tokens_high,
--   tokens_basis, epochs, steps, reported_flops, reported_flops_basis, flops, flops_low,
--   flops_high, flops_method, flags, evidence_uris.
-- flops* come from run_estimates (keyed by the logical run), preferring architecture,
-- then hardware, billing, reported; they are NULL until `reconcile estimate` has run.
WITH best AS (
    SELECT run_id, method, flops_low, flops_central, flops_high
    FROM run_estimates
    QUALIFY row_number() OVER (
        PARTITION BY run_id
        ORDER BY CASE method WHEN 'architecture' THEN 1 WHEN 'hardware' THEN 2
                             WHEN 'billing' THEN 3 WHEN 'reported' THEN 4 ELSE 5 END
    ) = 1
)
SELECT
    r.run_key AS run_id, r.platform, r.job_name, r.model_id, r.base_model,
    r.base_model_basis, r.method, r.objective, r.params_total, r.params_trainable,
    r.tokens, r.tokens_low, r.tokens_high, r.tokens_basis, r.epochs, r.steps,
    r.reported_flops, r.reported_flops_basis,
    b.flops_central AS flops, b.flops_low, b.flops_high, b.method AS flops_method,
    r.flags, r.evidence_uris
FROM resolved_runs r
LEFT JOIN best b ON b.run_id = r.run_key
ORDER BY r.base_model NULLS LAST, r.job_name, r.run_key;
