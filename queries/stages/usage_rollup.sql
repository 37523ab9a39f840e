-- Stage: GPU usage (scheduler allocations and telemetry windows) -> accelerator-seconds
-- and tensor-active integrals per source, job, pod, host and window.
-- Shared SQL: runs on DuckDB as written and on Spark after sqlglot transpilation
-- (docs/shared-sql.md lists the subset it keeps to; tests compare both engines exactly).
-- Reads: lake_gpu_usage (the lake's gpu_usage projection, reconcile/lake.py), where
-- gpu_seconds, tensor_active_seconds (tensor-pipe activity x GPU-seconds) and
-- tensor_covered_seconds (GPU-seconds with a tensor measurement) are DECIMAL(38,9).
-- Output: one row per group of usage rows sharing every attribute run matching looks
-- at (the devices of one host in one window collapse into one row), with the device
-- count, summed accelerator-seconds and the integrals the FLOP estimate needs.
SELECT source_kind, cluster, month, job_key, job_name, host, accelerator,
       started_at, ended_at, node_list, source_uri,
       count(*) AS usage_rows,
       count(DISTINCT gpu_uuid) AS devices,
       sum(gpu_count) AS gpu_count,
       sum(samples) AS samples,
       sum(gpu_seconds) AS gpu_seconds,
       sum(tensor_active_seconds) AS tensor_active_seconds,
       sum(tensor_covered_seconds) AS tensor_covered_seconds
FROM lake_gpu_usage
GROUP BY source_kind, cluster, month, job_key, job_name, host, accelerator,
         started_at, ended_at, node_list, source_uri
ORDER BY source_kind, cluster, month, job_key, job_name, host, accelerator,
         started_at, ended_at, node_list, source_uri
