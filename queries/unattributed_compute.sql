-- Accelerator usage nobody can attribute to a training run: billed accelerator-hours and
-- scheduler allocations with no match, per provider/source, account, month, tags.
-- Reads: billing_rollup and usage_rollup (the stage results of the last
--   `reconcile estimate`; billing counts one export kind per provider, account and month,
--   so the same spend delivered twice counts once), run_matches and
--   billing_window_members (lines allocated to runs through a shared window count as
--   attributed).
-- Columns: kind, provider, account_id, month, accelerator, accelerator_hours, cost_billed,
--   currency, tags.
SELECT 'billing' AS kind, b.provider, b.account_id, b.month, b.accelerator,
       CAST(sum(b.accelerator_hours) AS DOUBLE) AS accelerator_hours,
       sum(b.cost_billed) AS cost_billed, b.currency, b.tags_key AS tags
FROM billing_rollup b
ANTI JOIN run_matches m ON m.target_table = 'billing_rollup' AND m.target_id = b.rollup_id
ANTI JOIN billing_window_members w ON w.rollup_id = b.rollup_id
WHERE b.accelerator_hours > 0 AND b.counts_billed
GROUP BY ALL
UNION ALL
SELECT 'gpu_usage' AS kind, u.source_kind AS provider, u.cluster AS account_id,
       strftime(u.started_at, '%Y-%m') AS month, u.accelerator,
       CAST(sum(u.gpu_seconds) AS DOUBLE) / 3600.0 AS accelerator_hours, NULL AS cost_billed,
       NULL AS currency, u.job_name AS tags
FROM usage_rollup u
ANTI JOIN run_matches m ON m.target_table = 'usage_rollup' AND m.target_id = u.rollup_id
WHERE u.source_kind = 'slurm' AND u.gpu_seconds > 0
GROUP BY ALL
ORDER BY kind, provider, month, accelerator_hours DESC;
