-- Linking runs to the usage groups and billing groups that measured or paid for them:
-- set-based, every link an equality or interval join, never a loop over runs x groups.
-- Run by reconcile/matching.py over temporary tables it fills (one row per run, id, tag
-- and job id, the landed usage_rollup/billing_rollup with their order `ord`, and node
-- lists expanded once into m_job_hosts); its module documentation gives the methods and
-- their confidence. Statements are separated by lines holding only `;`.
--
-- Time windows: a run's window overlaps a billing line's usage period or a telemetry
-- window when they intersect, with one hour of slack around the run (provisioning
-- before, upload after). Interval joins go through hour buckets (`generate_series`)
-- so the join is an equality on the hour and only concurrent pairs are compared.

-- job_id: a Slurm job id of the run's tags equals a scheduler row's job (array and het-job
-- members included: `123_4`, `123+1` belong to job 123); one link per run and row, through
-- the first tag that names it.
CREATE OR REPLACE TEMP TABLE m_job_links AS
SELECT run_key, target_id, job_id, tag, tag_ord, u_ord
FROM (
    SELECT j.run_key, u.rollup_id AS target_id, j.job_id, j.tag, j.tag_ord, u.ord AS u_ord,
           row_number() OVER (PARTITION BY j.run_key, u.rollup_id ORDER BY j.tag_ord) AS n
    FROM m_run_jobs j
    JOIN m_usage u
      ON u.source_kind = 'slurm' AND u.job_key <> ''
     AND regexp_extract(u.job_key, '^[^_+]*') = j.job_id
)
WHERE n = 1
;
-- Telemetry (every source but the scheduler), with its pod name: the last path segment
-- of its job name (or job key), lower-cased.
CREATE OR REPLACE TEMP TABLE m_telemetry AS
SELECT ord, rollup_id, host, started_at, ended_at,
       string_split(lower(coalesce(nullif(job_name, ''), nullif(job_key, ''), '')), '/')[-1]
           AS pod
FROM m_usage
WHERE source_kind IS DISTINCT FROM 'slurm'
;
-- pod_name: the pod name starts with the run's job name (Kubernetes names pods
-- `<job>-worker-<n>`), inside the run's window when the run has one. "Starts with" as an
-- equality: the pod's prefix of each length a job name has.
CREATE OR REPLACE TEMP TABLE m_pod_links AS
WITH lengths AS (
    SELECT DISTINCT length(job_prefix) AS n FROM m_runs WHERE job_prefix <> ''
), prefixes AS (
    SELECT t.*, left(t.pod, l.n) AS prefix
    FROM m_telemetry t JOIN lengths l ON l.n <= length(t.pod)
)
SELECT r.run_key, p.rollup_id AS target_id, p.pod, p.ord AS t_ord
FROM prefixes p
JOIN m_runs r ON r.job_prefix = p.prefix
WHERE r.started_at IS NULL
   OR (r.started_at - INTERVAL 1 HOUR < p.ended_at
       AND p.started_at < r.ended_at + INTERVAL 1 HOUR)
;
-- host_time_window: telemetry of a host in the node list of a Slurm job linked to the run,
-- inside that job's window (the first such job, in link order); not where the pod name
-- already linked the same telemetry to the run.
CREATE OR REPLACE TEMP TABLE m_host_links AS
SELECT run_key, target_id, host, job_key, t_ord
FROM (
    SELECT j.run_key, t.rollup_id AS target_id, t.host, u.job_key, t.ord AS t_ord,
           row_number() OVER (
               PARTITION BY j.run_key, t.rollup_id ORDER BY j.tag_ord, j.u_ord
           ) AS n
    FROM m_job_links j
    JOIN m_usage u ON u.rollup_id = j.target_id
    JOIN m_job_hosts h ON h.usage_id = j.target_id
    JOIN m_telemetry t ON t.host = h.host
    WHERE u.started_at < t.ended_at AND t.started_at < u.ended_at
      AND NOT EXISTS (
          SELECT 1 FROM m_pod_links p WHERE p.run_key = j.run_key AND p.target_id = t.rollup_id
      )
)
WHERE n = 1
;
-- Billing groups with accelerator-hours, with the hours each covers ([start, end): a line
-- ending on the hour does not touch the next).
CREATE OR REPLACE TEMP TABLE m_billing_hours AS
SELECT rollup_id,
       unnest(generate_series(date_trunc('hour', usage_start_at), date_trunc('hour',
           greatest(usage_start_at, usage_end_at - INTERVAL 1 MICROSECOND)), INTERVAL 1 HOUR))
           AS hour
FROM m_billing
WHERE usage_start_at IS NOT NULL AND usage_end_at IS NOT NULL
;
-- Runs with a window, with the hours it touches (slack included).
CREATE OR REPLACE TEMP TABLE m_run_hours AS
SELECT run_key,
       unnest(generate_series(date_trunc('hour', started_at - INTERVAL 1 HOUR),
                              ended_at + INTERVAL 1 HOUR, INTERVAL 1 HOUR)) AS hour
FROM m_runs
WHERE started_at IS NOT NULL AND ended_at IS NOT NULL
;
-- resource_id claims: the line's resource id is one of the run's ids (training-job ARN,
-- job name) or ends with `/<id>` (an Azure or GCP resource path). Joined on the last path
-- segment, which both sides then share, and checked exactly.
CREATE OR REPLACE TEMP TABLE m_resource_claims AS
SELECT DISTINCT i.run_key, b.rollup_id, b.resource_id
FROM m_billing b
JOIN m_run_ids i ON i.last_segment = string_split(b.resource_id, '/')[-1]
WHERE b.resource_id <> ''
  AND (b.resource_id = i.id OR ends_with(b.resource_id, '/' || i.id))
;
-- tag claims: the line carries the run's value of a configured tag key, on the run's
-- accelerator (or any, when the run names none), inside the run's window; not where the
-- run already claims the line by resource id.
CREATE OR REPLACE TEMP TABLE m_tag_claims AS
WITH pairs AS (
    SELECT DISTINCT g.run_key, b.rollup_id, g.key, g.key_ord, g.value
    FROM m_billing b
    JOIN m_tagsets s ON s.tags_key = b.tags_key
    JOIN m_run_tags g ON g.key = s.key AND g.value = s.value
    JOIN m_billing_hours bh ON bh.rollup_id = b.rollup_id
    JOIN m_run_hours rh ON rh.run_key = g.run_key AND rh.hour = bh.hour
    JOIN m_runs r ON r.run_key = g.run_key
    WHERE (coalesce(r.accelerator, '') = '' OR b.accelerator = r.accelerator)
      AND r.started_at - INTERVAL 1 HOUR < b.usage_end_at
      AND b.usage_start_at < r.ended_at + INTERVAL 1 HOUR
)
SELECT run_key, rollup_id, list(key ORDER BY key_ord) AS keys,
       list(value ORDER BY key_ord) AS tag_values
FROM pairs p
WHERE NOT EXISTS (
    SELECT 1 FROM m_resource_claims c WHERE c.run_key = p.run_key AND c.rollup_id = p.rollup_id
)
GROUP BY run_key, rollup_id
;
-- time_window claims, the fallback for runs no billing id or tag identifies, over the
-- lines no run claims by id or tag: a line of the run's cloud on the run's accelerator
-- whose usage period overlaps the run's window. Lines with the same cloud, accelerator,
-- month and period are alike here, so they are claimed as one bucket.
CREATE OR REPLACE TEMP TABLE m_time_buckets AS
SELECT provider, accelerator, month, usage_start_at, usage_end_at,
       list(rollup_id ORDER BY ord) AS rollup_ids, min(ord) AS ord
FROM m_billing b
WHERE usage_start_at IS NOT NULL AND usage_end_at IS NOT NULL AND accelerator IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM m_resource_claims c WHERE c.rollup_id = b.rollup_id)
  AND NOT EXISTS (SELECT 1 FROM m_tag_claims c WHERE c.rollup_id = b.rollup_id)
GROUP BY ALL
;
CREATE OR REPLACE TEMP TABLE m_time_claims AS
WITH identified AS (
    SELECT run_key FROM m_resource_claims UNION SELECT run_key FROM m_tag_claims
), bucket_hours AS (
    SELECT bucket_id, unnest(generate_series(date_trunc('hour', usage_start_at),
               date_trunc('hour', greatest(usage_start_at, usage_end_at - INTERVAL 1 MICROSECOND)),
               INTERVAL 1 HOUR)) AS hour
    FROM (SELECT ord AS bucket_id, * FROM m_time_buckets)
)
SELECT DISTINCT r.run_key, t.ord AS bucket_id
FROM m_time_buckets t
JOIN bucket_hours bh ON bh.bucket_id = t.ord
JOIN m_run_hours rh ON rh.hour = bh.hour
JOIN m_runs r ON r.run_key = rh.run_key
WHERE r.run_key NOT IN (SELECT run_key FROM identified)
  AND coalesce(r.accelerator, '') <> '' AND t.accelerator = r.accelerator
  AND t.provider = r.provider
  AND r.started_at - INTERVAL 1 HOUR < t.usage_end_at
  AND t.usage_start_at < r.ended_at + INTERVAL 1 HOUR
;
-- Every claim on a line at the strongest level any run claims it: resource id, else tag,
-- else time window (a weaker claim of another run on the same line does not count).
CREATE OR REPLACE TEMP TABLE m_claims AS
WITH resource AS (
    SELECT run_key, rollup_id, 'resource_id' AS method, CAST(0.95 AS DOUBLE) AS confidence,
           json_object('resource_id', resource_id) AS details
    FROM m_resource_claims
), tag AS (
    SELECT run_key, rollup_id, 'tag' AS method, CAST(0.6 AS DOUBLE) AS confidence,
           json_object('tags', map_from_entries(list_zip(keys, tag_values))) AS details
    FROM m_tag_claims c
    WHERE NOT EXISTS (SELECT 1 FROM m_resource_claims r WHERE r.rollup_id = c.rollup_id)
), time_claims AS (
    SELECT c.run_key, unnest(b.rollup_ids) AS rollup_id, 'time_window' AS method,
           CAST(0.4 AS DOUBLE) AS confidence, json_object('provider', b.provider) AS details
    FROM m_time_claims c JOIN m_time_buckets b ON b.ord = c.bucket_id
)
SELECT c.*, count(*) OVER (PARTITION BY c.rollup_id) AS claimants
FROM (SELECT * FROM resource UNION ALL SELECT * FROM tag UNION ALL SELECT * FROM time_claims) c
;
-- A line claimed by several runs is allocated to them by their logged accelerator-time
-- inside its usage period (accelerators x overlapping seconds; equal shares when none
-- logged any), and each run's shares are summed per window: cloud, accelerator, month
-- and method. Time-window claims are always summed per window, shared or not: a run's
-- own billing is what an id or a tag names, a time window only apportions the rest. The
-- window's lines are listed once, in m_window_members.
CREATE OR REPLACE TEMP TABLE m_shares AS
WITH weighted AS (
    SELECT c.run_key, c.rollup_id, c.method, c.confidence, c.claimants,
           b.provider, b.accelerator, b.month, b.line_count,
           b.accelerator_hours AS hours,
           coalesce(r.accelerator_count, 1) * greatest(0, coalesce(
               epoch(least(r.ended_at, b.usage_end_at))
               - epoch(greatest(r.started_at, b.usage_start_at)), 0)) AS weight
    FROM m_claims c
    JOIN m_billing b ON b.rollup_id = c.rollup_id
    JOIN m_runs r ON r.run_key = c.run_key
    WHERE c.claimants > 1 OR c.method = 'time_window'
)
SELECT *,
       CASE WHEN sum(weight) OVER (PARTITION BY rollup_id) > 0
            THEN weight / sum(weight) OVER (PARTITION BY rollup_id)
            ELSE 1.0 / claimants END AS share,
       method || ':' || coalesce(provider, '') || ':' || coalesce(accelerator, '') || ':'
           || coalesce(month, '') AS window_id
FROM weighted
;
CREATE OR REPLACE TEMP TABLE m_window_members AS
SELECT window_id, rollup_id, any_value(claimants) AS claimants
FROM m_shares
GROUP BY ALL
;
-- Every link, in the order of the runs and, within a run: scheduler rows, telemetry,
-- billing lines one by one (in stage order), then the allocated windows.
CREATE OR REPLACE TEMP TABLE m_links AS
SELECT l.run_key, 'usage_rollup' AS target_table, l.target_id, 'job_id' AS match_method,
       CAST(0.95 AS DOUBLE) AS confidence, json_object('job_id', l.job_id, 'tag', l.tag) AS details,
       CAST(NULL AS DOUBLE) AS allocated_hours, CAST(NULL AS BIGINT) AS allocated_lines,
       CAST(NULL AS VARCHAR) AS window_accelerator, 0 AS section, l.tag_ord AS ord1, l.u_ord AS ord2
FROM m_job_links l
UNION ALL
SELECT run_key, 'usage_rollup', target_id, 'pod_name', CAST(0.8 AS DOUBLE), json_object('pod', pod),
       NULL, NULL, NULL, 1, t_ord, 0
FROM m_pod_links
UNION ALL
SELECT run_key, 'usage_rollup', target_id, 'host_time_window', CAST(0.7 AS DOUBLE),
       json_object('host', host, 'job_key', job_key), NULL, NULL, NULL, 1, t_ord, 0
FROM m_host_links
UNION ALL
SELECT c.run_key, 'billing_rollup', c.rollup_id, c.method, c.confidence, c.details,
       NULL, NULL, NULL, 2, b.ord, 0
FROM m_claims c JOIN m_billing b ON b.rollup_id = c.rollup_id
WHERE c.claimants = 1 AND c.method <> 'time_window'
UNION ALL
SELECT run_key, 'billing_window', window_id, method, any_value(confidence),
       json_object('allocated_by', 'logged accelerator-time', 'lines', sum(line_count),
                   'shared_accelerator_hours', CAST(sum(hours) AS DOUBLE),
                   'allocated_accelerator_hours',
                   CAST(sum(CAST(hours * share AS DECIMAL(38, 12))) AS DOUBLE),
                   'most_runs_sharing_a_line', max(claimants)),
       -- each share rounded to 1e-12 h, then summed exactly: the same figure whatever
       -- order the engine adds them in
       CAST(sum(CAST(hours * share AS DECIMAL(38, 12))) AS DOUBLE), sum(line_count),
       any_value(accelerator), 3, 0, 0
FROM m_shares
GROUP BY run_key, window_id, method
