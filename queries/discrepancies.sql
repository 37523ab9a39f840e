-- Runs whose evidence disagrees: every cross-check flag, one row per run and flag.
-- Reads: run_estimates, resolved_runs.
-- Columns: run_id, job_name, model_id, flag.
-- A check: zero rows means every run's evidence agrees.
SELECT DISTINCT r.run_key AS run_id, r.job_name, r.model_id, unnest(e.flags) AS flag
FROM resolved_runs r
JOIN run_estimates e ON e.run_id = r.run_key
WHERE len(e.flags) > 0
ORDER BY run_id, flag;
