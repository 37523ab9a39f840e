-- Which training runs have a compute figure, and for the rest what evidence is missing
-- and how to supply it. One row per logical run; runs without a figure first.
-- Reads: resolved_runs, run_coverage.
-- Columns: run_id, job_name, evidence_kinds, base_model, base_model_basis, method,
--   objective, tokens_basis, has_figure, flops_method, missing, how_to_supply.
-- missing holds flag codes (reconcile/flags.py); how_to_supply says the same in words,
-- each with what to add. Empty until `reconcile estimate` has run.
SELECT r.run_key AS run_id, r.job_name, r.evidence_kinds, r.base_model, r.base_model_basis,
       r.method, r.objective, r.tokens_basis, c.has_figure, c.decided_by AS flops_method,
       c.missing, c.missing_text AS how_to_supply
FROM resolved_runs r
JOIN run_coverage c ON c.run_id = r.run_key
ORDER BY c.has_figure, r.job_name NULLS LAST, r.run_key;
