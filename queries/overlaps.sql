-- Facts delivered more than once, and where they count instead: a billing period
-- delivered again (the newer delivery counts: 're-delivered'), a line or usage row also in
-- another unit (counted once, in the newest: 'duplicate'). Nothing here is in any total.
-- Reads: billing_line_status, gpu_usage_status (migration 0008 says how rows are judged).
-- Columns: table_name, uri, counted_in, overlap_kind, rows, accelerator_hours,
--   cost_billed, currency.
SELECT 'billing_lines' AS table_name, source_uri AS uri, counted_in, overlap_kind,
       count(*) AS rows, sum(accelerator_hours) AS accelerator_hours,
       sum(cost_billed) AS cost_billed, currency
FROM billing_line_status
WHERE NOT counted
GROUP BY ALL
UNION ALL
SELECT 'gpu_usage', source_uri, counted_in, overlap_kind, count(*),
       sum(gpu_seconds) / 3600.0, NULL, NULL
FROM gpu_usage_status
WHERE NOT counted
GROUP BY ALL
ORDER BY table_name, uri, counted_in, overlap_kind;
