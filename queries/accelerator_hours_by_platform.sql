-- Accelerator-hours per platform and accelerator type, by the evidence that measured them:
-- billing (billed), scheduler allocations, telemetry (measured device time), and the
-- training runs' own logs (runtime x accelerators).
-- Reads: billing_rollup and usage_rollup (stage results of the last `reconcile estimate`),
--   resolved_runs.
-- Columns: source, platform, accelerator, month, accelerator_hours.
SELECT 'billing' AS source, provider AS platform, accelerator, month,
       CAST(sum(accelerator_hours) AS DOUBLE) AS accelerator_hours
FROM billing_rollup WHERE accelerator_hours > 0 AND counts_billed GROUP BY ALL
UNION ALL
SELECT source_kind, coalesce(cluster, source_kind), accelerator, strftime(started_at, '%Y-%m'),
       CAST(sum(gpu_seconds) AS DOUBLE) / 3600.0
FROM usage_rollup WHERE gpu_seconds > 0 GROUP BY ALL
UNION ALL
SELECT 'run_logs', coalesce(platform, 'unknown'), accelerator,
       strftime(coalesce(started_at, ended_at), '%Y-%m'),
       sum(accelerator_count * runtime_seconds) / 3600.0
FROM resolved_runs WHERE accelerator_count IS NOT NULL AND runtime_seconds IS NOT NULL
GROUP BY ALL
ORDER BY source, platform, accelerator, month;
