/* Stage: billing lines -> accelerator-hours and cost per provider, account, month, hour, */
/* usage window, resource, instance type, accelerator, line type, tags and source file. */
/* Shared SQL: runs on DuckDB as written and on Spark after sqlglot transpilation */
/* (docs/shared-sql.md lists the subset it keeps to; tests compare both engines exactly). */
/* Reads: lake_billing_lines (the lake's billing_lines projection, reconcile/lake.py: the */
/* warehouse view billing_lines_counted, whose counts_billed/counts_effective mark the */
/* export kind that counts per provider, account and month, ranked by */
/* reconcile/data/export_kinds.csv; this stage ranks nothing itself). */
/* Output: one row per group of accelerator lines (accelerator_hours > 0) sharing every */
/* attribute run matching looks at, so matching a group is matching each of its lines. */
SELECT
  provider,
  account_id,
  month,
  DATE_TRUNC('HOUR', usage_start_at) AS usage_hour,
  usage_start_at,
  usage_end_at,
  export_kind,
  counts_billed,
  counts_effective,
  resource_id,
  instance_type,
  accelerator,
  line_type,
  currency,
  tags_key,
  source_uri,
  SUM(accelerator_hours) AS accelerator_hours,
  SUM(cost_billed) AS cost_billed,
  SUM(cost_effective) AS cost_effective,
  COUNT(*) AS line_count
FROM lake_billing_lines
WHERE
  accelerator_hours > 0
GROUP BY
  provider,
  account_id,
  month,
  DATE_TRUNC('HOUR', usage_start_at),
  usage_start_at,
  usage_end_at,
  export_kind,
  counts_billed,
  counts_effective,
  resource_id,
  instance_type,
  accelerator,
  line_type,
  currency,
  tags_key,
  source_uri
ORDER BY
  provider NULLS LAST,
  account_id NULLS LAST,
  month NULLS LAST,
  usage_hour NULLS LAST,
  usage_start_at NULLS LAST,
  usage_end_at NULLS LAST,
  export_kind NULLS LAST,
  resource_id NULLS LAST,
  instance_type NULLS LAST,
  accelerator NULLS LAST,
  line_type NULLS LAST,
  currency NULLS LAST,
  tags_key NULLS LAST,
  source_uri NULLS LAST
