-- Each model's lineage from its third-party base: every run whose compute counts towards
-- the model, how it was linked, and the run's combined FLOPs.
-- Reads: model_lineage, run_estimates, resolved_runs.
-- Columns: model_id, base_model, run_id, relation, lineage_source, job_name, tokens,
--   flops, flops_low, flops_high.
SELECT l.model_id, l.base_model, l.run_id, l.relation, l.lineage_source, r.job_name, r.tokens,
       e.flops_central AS flops, e.flops_low, e.flops_high
FROM model_lineage l
LEFT JOIN resolved_runs r ON r.run_key = l.run_id
LEFT JOIN run_estimates e ON e.run_id = l.run_id AND e.method = 'combined'
ORDER BY l.model_id, r.started_at NULLS LAST, l.run_id;
