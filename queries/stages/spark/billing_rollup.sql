/* Stage: billing lines -> accelerator-hours and cost per provider, account, month, hour, */
/* usage window, resource, instance type, accelerator, line type, tags and source file. */
/* Shared SQL: runs on DuckDB as written and on Spark after sqlglot transpilation */
/* (docs/shared-sql.md lists the subset it keeps to; tests compare both engines exactly). */
/* Reads: lake_billing_lines (the lake's billing_lines projection, reconcile/lake.py). */
/* Every line's export kind is ranked so that one kind counts per provider, account and */
/* month (the same spend often arrives as CUR 2.0 and FOCUS): counts_billed marks the */
/* kind for billed cost and usage, counts_effective the one for amortised cost; the same */
/* ranking as the warehouse view billing_lines_counted. */
/* Output: one row per group of accelerator lines (accelerator_hours > 0) sharing every */
/* attribute run matching looks at, so matching a group is matching each of its lines. */
WITH ranked AS (
  SELECT
    provider,
    account_id,
    month,
    export_kind,
    usage_start_at,
    usage_end_at,
    resource_id,
    instance_type,
    accelerator,
    line_type,
    currency,
    tags_key,
    source_uri,
    accelerator_hours,
    cost_billed,
    cost_effective,
    CASE export_kind
      WHEN 'cur2'
      THEN 1
      WHEN 'cur1'
      THEN 2
      WHEN 'gcp_detailed'
      THEN 1
      WHEN 'gcp_standard'
      THEN 2
      WHEN 'azure_actual'
      THEN 1
      WHEN 'azure_amortized'
      THEN 2
      WHEN 'azure_usage'
      THEN 3
      ELSE 9
    END AS rank_billed,
    CASE export_kind
      WHEN 'cur2'
      THEN 1
      WHEN 'cur1'
      THEN 2
      WHEN 'gcp_detailed'
      THEN 1
      WHEN 'gcp_standard'
      THEN 2
      WHEN 'azure_amortized'
      THEN 1
      WHEN 'azure_actual'
      THEN 2
      WHEN 'azure_usage'
      THEN 3
      ELSE 9
    END AS rank_effective
  FROM lake_billing_lines
), best AS (
  SELECT
    provider,
    COALESCE(account_id, '') AS account_key,
    month,
    MIN(rank_billed) AS best_billed,
    MIN(rank_effective) AS best_effective
  FROM ranked
  GROUP BY
    provider,
    COALESCE(account_id, ''),
    month
)
SELECT
  r.provider,
  r.account_id,
  r.month,
  DATE_TRUNC('HOUR', r.usage_start_at) AS usage_hour,
  r.usage_start_at,
  r.usage_end_at,
  r.export_kind,
  r.rank_billed = b.best_billed AS counts_billed,
  r.rank_effective = b.best_effective AS counts_effective,
  r.resource_id,
  r.instance_type,
  r.accelerator,
  r.line_type,
  r.currency,
  r.tags_key,
  r.source_uri,
  SUM(r.accelerator_hours) AS accelerator_hours,
  SUM(r.cost_billed) AS cost_billed,
  SUM(r.cost_effective) AS cost_effective,
  COUNT(*) AS line_count
FROM ranked AS r
JOIN best AS b
  ON b.provider = r.provider
  AND b.account_key = COALESCE(r.account_id, '')
  AND b.month = r.month
WHERE
  r.accelerator_hours > 0
GROUP BY
  r.provider,
  r.account_id,
  r.month,
  DATE_TRUNC('HOUR', r.usage_start_at),
  r.usage_start_at,
  r.usage_end_at,
  r.export_kind,
  r.rank_billed = b.best_billed,
  r.rank_effective = b.best_effective,
  r.resource_id,
  r.instance_type,
  r.accelerator,
  r.line_type,
  r.currency,
  r.tags_key,
  r.source_uri
ORDER BY
  r.provider NULLS LAST,
  r.account_id NULLS LAST,
  r.month NULLS LAST,
  usage_hour NULLS LAST,
  r.usage_start_at NULLS LAST,
  r.usage_end_at NULLS LAST,
  r.export_kind NULLS LAST,
  r.resource_id NULLS LAST,
  r.instance_type NULLS LAST,
  r.accelerator NULLS LAST,
  r.line_type NULLS LAST,
  r.currency NULLS LAST,
  r.tags_key NULLS LAST,
  r.source_uri NULLS LAST
