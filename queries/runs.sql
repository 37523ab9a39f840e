-- One row per training run, with its best available FLOP estimate.
-- Reads: training_runs, run_estimates, compliance inputs as they land.
-- Columns: run_id, platform, job_name, model_id, base_model, method, objective,
--   params_total, params_trainable, tokens, tokens_basis, epochs, steps,
--   reported_flops, reported_flops_basis, flops, flops_low, flops_high, flops_method,
--   flags, source_uri.
-- flops* come from run_estimates, preferring architecture, then hardware, billing,
-- reported; they are NULL until `reconcile estimate` has run.
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
    r.run_id, r.platform, r.job_name, r.model_id, r.base_model, r.method, r.objective,
    r.params_total, r.params_trainable, r.tokens, r.tokens_basis, r.epochs, r.steps,
    r.reported_flops, r.reported_flops_basis,
    b.flops_central AS flops, b.flops_low, b.flops_high, b.method AS flops_method,
    CAST([] AS VARCHAR[]) AS flags,
    r.source_uri
FROM training_runs r
LEFT JOIN best b USING (run_id)
ORDER BY r.base_model NULLS LAST, r.job_name, r.run_id;
