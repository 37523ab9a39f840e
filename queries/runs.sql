-- One row per logical training run (evidence of the same job merged), with the figure
-- compliance sums for it.
-- Reads: resolved_runs, run_estimates, run_coverage.
-- Columns: run_id, platform, job_name, model_id, base_model, base_model_basis, method,
--   objective, params_total, params_trainable, params_basis, tokens, tokens_low,
--   tokens_high, tokens_basis, epochs, steps, reported_flops, reported_flops_basis, flops,
--   flops_low, flops_high, flops_method, formula, missing, flags, evidence_uris.
-- flops* are the run's 'combined' estimate (the figure and band compliance sums) and
-- flops_method the method that decided it; a run without one shows NULL figures and, in
-- missing, what evidence is absent and how to supply it. A FLOP figure the logs claim
-- (HF total_flos) stays in reported_flops and is never the run's figure.
-- formula: the architecture method's formula for the run's method and objective.
SELECT
    r.run_key AS run_id, r.platform, r.job_name, r.model_id, r.base_model,
    r.base_model_basis, r.method, r.objective, r.params_total, r.params_trainable,
    r.params_basis, r.tokens, r.tokens_low, r.tokens_high, r.tokens_basis, r.epochs, r.steps,
    r.reported_flops, r.reported_flops_basis,
    c.flops_central AS flops, c.flops_low, c.flops_high, c.decided_by AS flops_method,
    json_extract_string(a.assumptions, '$.formula') AS formula,
    cov.missing_text AS missing,
    r.flags, r.evidence_uris
FROM resolved_runs r
LEFT JOIN run_estimates c ON c.run_id = r.run_key AND c.method = 'combined'
LEFT JOIN run_estimates a ON a.run_id = r.run_key AND a.method = 'architecture'
LEFT JOIN run_coverage cov ON cov.run_id = r.run_key
ORDER BY r.base_model NULLS LAST, r.job_name, r.run_key;
