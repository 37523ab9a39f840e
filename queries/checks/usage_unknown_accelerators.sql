-- Scheduler allocations and GPU telemetry on a device the catalog does not identify (an
-- nvidia-smi or DCGM model name it lacks, or a Slurm GRES type nothing maps, such as a
-- site's own name or "h100", which fits several rows): their time is counted; a hardware
-- estimate uses the name as far as the catalog resolves it (a band over the rows it fits),
-- nothing where it resolves nothing. Teach reconcile/data/accelerators.csv the device, or
-- map the GRES type with the sacct `gres_types` (or `partitions`, `nodes`) option.
-- Reads: gpu_usage_once (each allocation or window counted once). Columns: source_kind,
--   cluster, accelerator, hosts, first_started_at, last_ended_at, rows, gpu_hours.
-- A check: zero rows means every device was identified.
SELECT source_kind,
       cluster,
       accelerator,
       list_sort(list_distinct(list(host) FILTER (host IS NOT NULL))) AS hosts,
       min(started_at) AS first_started_at,
       max(ended_at) AS last_ended_at,
       count(*) AS rows,
       sum(gpu_seconds) / 3600.0 AS gpu_hours
FROM gpu_usage_once
WHERE starts_with(accelerator, 'unknown:')
GROUP BY source_kind, cluster, accelerator
ORDER BY gpu_hours DESC NULLS LAST, source_kind, accelerator;
