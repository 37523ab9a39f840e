/* Stage: GPU usage (scheduler allocations and telemetry windows) -> accelerator-seconds */
/* and tensor-active integrals per source, job, pod, host and window. */
/* Shared SQL: runs on DuckDB as written and on Spark after sqlglot transpilation */
/* (docs/shared-sql.md lists the subset it keeps to; tests compare both engines exactly). */
/* Reads: lake_gpu_usage (the lake's gpu_usage projection, reconcile/lake.py), where */
/* gpu_seconds, tensor_active_seconds (tensor-pipe activity x GPU-seconds) and */
/* tensor_covered_seconds (GPU-seconds with a tensor measurement) are DECIMAL(38,9). */
/* Output: one row per group of usage rows sharing every attribute run matching looks */
/* at (the devices of one host in one window collapse into one row), with the device */
/* count, summed accelerator-seconds and the integrals the FLOP estimate needs. */
SELECT
  source_kind,
  cluster,
  month,
  job_key,
  job_name,
  host,
  accelerator,
  started_at,
  ended_at,
  node_list,
  source_uri,
  COUNT(*) AS usage_rows,
  COUNT(DISTINCT gpu_uuid) AS devices,
  SUM(gpu_count) AS gpu_count,
  SUM(samples) AS samples,
  SUM(gpu_seconds) AS gpu_seconds,
  SUM(tensor_active_seconds) AS tensor_active_seconds,
  SUM(tensor_covered_seconds) AS tensor_covered_seconds
FROM lake_gpu_usage
GROUP BY
  source_kind,
  cluster,
  month,
  job_key,
  job_name,
  host,
  accelerator,
  started_at,
  ended_at,
  node_list,
  source_uri
ORDER BY
  source_kind NULLS LAST,
  cluster NULLS LAST,
  month NULLS LAST,
  job_key NULLS LAST,
  job_name NULLS LAST,
  host NULLS LAST,
  accelerator NULLS LAST,
  started_at NULLS LAST,
  ended_at NULLS LAST,
  node_list NULLS LAST,
  source_uri NULLS LAST
