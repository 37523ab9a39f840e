-- Per model: its lineage's runs, tokens, cumulative modification FLOPs and status.
-- Reads: compliance_status, model_lineage, resolved_runs.
-- Columns: model_id, base_model, runs, tokens, flops, flops_low, flops_high,
--   threshold_flops, threshold_basis, share_of_threshold, status.
-- Models come from `reconcile estimate` (lineage over resumes, SFT -> DPO chains and
-- continued training); before it has run, this returns no rows.
WITH runs AS (
    SELECT l.model_id, count(*) AS runs, CAST(sum(r.tokens) AS BIGINT) AS tokens
    FROM model_lineage l
    LEFT JOIN resolved_runs r ON r.run_key = l.run_id
    GROUP BY l.model_id
)
SELECT c.model_id, c.base_model, runs.runs, runs.tokens,
       c.flops_central AS flops, c.flops_low, c.flops_high,
       c.threshold_flops, c.threshold_basis, c.share_of_threshold, c.status
FROM compliance_status c
LEFT JOIN runs USING (model_id)
ORDER BY c.model_id;
