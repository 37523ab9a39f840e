-- Accelerator usage nobody can attribute to a training run: billed accelerator-hours and
-- scheduler allocations with no match, per provider/source, account, month, tags.
-- Reads: billing_lines_counted (one export kind per provider, account and month, so the
--   same spend delivered twice counts once), gpu_usage, run_matches.
-- Columns: kind, provider, account_id, month, accelerator, accelerator_hours, cost_billed,
--   currency, tags.
SELECT 'billing' AS kind, b.provider, b.account_id, strftime(b.usage_start_at, '%Y-%m') AS month,
       b.accelerator, sum(b.accelerator_hours) AS accelerator_hours,
       sum(b.cost_billed) AS cost_billed, b.currency, CAST(b.tags AS VARCHAR) AS tags
FROM billing_lines_counted b
ANTI JOIN run_matches m ON m.target_table = 'billing_lines' AND m.target_id = b.line_id
WHERE b.accelerator_hours > 0 AND b.counts_billed
GROUP BY ALL
UNION ALL
SELECT 'gpu_usage' AS kind, u.source_kind AS provider, u.cluster AS account_id,
       strftime(u.started_at, '%Y-%m') AS month, u.accelerator,
       sum(u.gpu_seconds) / 3600.0 AS accelerator_hours, NULL AS cost_billed, NULL AS currency,
       u.job_name AS tags
FROM gpu_usage u
ANTI JOIN run_matches m ON m.target_table = 'gpu_usage' AND m.target_id = u.usage_id
WHERE u.source_kind = 'slurm' AND u.gpu_seconds > 0
GROUP BY ALL
ORDER BY kind, provider, month, accelerator_hours DESC;
