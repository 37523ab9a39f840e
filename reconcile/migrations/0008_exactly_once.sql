-- 0008_exactly_once: which fact rows count when the same facts arrive more than once.
--
-- Real deliveries repeat themselves: an export saved twice under another name, a billing
-- period delivered again (not final, then final; a month-to-date file re-run), two
-- scheduler dumps covering the same jobs, a telemetry log and its copy. Every unit stays
-- loaded (the audit trail keeps what arrived); these views decide what counts, so no
-- total depends on how often or in which order the facts were delivered.
--
-- Billing lines (billing_line_status):
--   * a line's identity is its content: every canonical column but the source (a CUR
--     identity/LineItemId is not used: it is unique only within a partition and not kept
--     across updates, https://docs.aws.amazon.com/cur/latest/userguide/identity-columns.html),
--     numbered within its unit so that identical lines of one file stay distinct facts;
--   * a slice is (provider, account, export kind, month): one delivery of a slice is the
--     lines one unit has in it;
--   * re-delivered: an older delivery of a slice is replaced as a whole by a newer one
--     (modification time, then URI) whose usage window contains the older one's, which
--     has at least as many lines and repeats at least half of the older one's: the newer
--     delivery wins, lines it restated included (a part of a delivery, with fewer lines,
--     never replaces it: its lines count once as duplicates instead);
--   * duplicate: a line whose identity is also in another counting delivery counts once,
--     in the newest delivery (overlapping date ranges, a file copied into a split export).
-- GPU usage (gpu_usage_status):
--   * a scheduler allocation's identity is (cluster, job id, start); a telemetry window's
--     is (source, cluster, host, device, MIG instance, start), the device being the GPU
--     UUID, else its index or PCI bus id, and the start being the scrape's bytes for a
--     scrape without timestamps (its time is only the file's modification time);
--   * of the rows sharing an identity (numbered within their unit), the one that ends
--     last counts (a job's final record over a dump taken while it ran; a whole log over
--     a truncated copy), then the newest delivery.
-- Each status row says counted, and if not, counted_in (the unit whose row counts) and
-- overlap_kind ('re-delivered' | 'duplicate'). *_once views are the counted rows; the lake
-- projections, billing_lines_counted and every stage read those.

CREATE OR REPLACE VIEW billing_line_status AS
WITH lines AS (
    SELECT b.*,
        coalesce(strftime(b.usage_start_at AT TIME ZONE 'UTC', '%Y-%m'), b.billing_period,
                 'unknown') AS slice_month,
        coalesce(b.account_id, '') AS slice_account,
        hash(b.provider, b.account_id, b.billing_period, b.usage_start_at, b.usage_end_at,
             b.service, b.usage_type, b.line_type, b.region, b.instance_type, b.sku_id,
             b.resource_id, b.usage_quantity, b.usage_unit, b.accelerator,
             b.accelerator_hours, b.cost_billed, b.cost_effective, b.cost_list, b.currency,
             b.export_kind, b.tags) AS content_key
    FROM billing_lines b
), deliveries AS (
    SELECT d.*, coalesce(l.modified_at, l.loaded_at, TIMESTAMPTZ '1970-01-01 00:00:00+00')
               AS delivered_at
    FROM (
        SELECT provider, slice_account, export_kind, slice_month, source_uri,
               min(usage_start_at) AS lo,
               max(coalesce(usage_end_at, usage_start_at)) AS hi,
               count(*) AS n
        FROM lines
        GROUP BY ALL
    ) d
    LEFT JOIN ingest_ledger l ON l.uri = d.source_uri
), repeated AS (
    -- contents found in more than one delivery of a slice: only their lines are compared
    SELECT provider, slice_account, export_kind, slice_month, content_key
    FROM lines
    GROUP BY ALL
    HAVING count(DISTINCT source_uri) > 1
), keyed AS (
    SELECT lines.*,
        row_number() OVER (PARTITION BY source_uri, content_key ORDER BY line_id)
            AS occurrence
    FROM lines
    SEMI JOIN repeated r
      ON r.provider = lines.provider AND r.slice_account = lines.slice_account
     AND r.export_kind = lines.export_kind AND r.slice_month = lines.slice_month
     AND r.content_key = lines.content_key
), shared AS (
    SELECT a.provider, a.slice_account, a.export_kind, a.slice_month,
           a.source_uri AS older_uri, b.source_uri AS newer_uri, count(*) AS n
    FROM keyed a
    JOIN keyed b
      ON b.provider = a.provider AND b.slice_account = a.slice_account
     AND b.export_kind = a.export_kind AND b.slice_month = a.slice_month
     AND b.content_key = a.content_key AND b.occurrence = a.occurrence
     AND b.source_uri <> a.source_uri
    GROUP BY ALL
), replaced AS (
    SELECT o.provider, o.slice_account, o.export_kind, o.slice_month, o.source_uri,
           arg_max(nw.source_uri, nw.delivered_at) AS replaced_by
    FROM deliveries o
    JOIN shared s
      ON s.older_uri = o.source_uri AND s.provider = o.provider
     AND s.slice_account = o.slice_account AND s.export_kind = o.export_kind
     AND s.slice_month = o.slice_month
    JOIN deliveries nw
      ON nw.source_uri = s.newer_uri AND nw.provider = o.provider
     AND nw.slice_account = o.slice_account AND nw.export_kind = o.export_kind
     AND nw.slice_month = o.slice_month
    WHERE (nw.delivered_at > o.delivered_at
           OR (nw.delivered_at = o.delivered_at AND nw.source_uri > o.source_uri))
      AND (nw.lo <= o.lo OR (nw.lo IS NULL AND o.lo IS NULL))
      AND (nw.hi >= o.hi OR (nw.hi IS NULL AND o.hi IS NULL))
      AND nw.n >= o.n          -- as many lines or more: a part of a delivery never replaces it
      AND 2 * s.n >= o.n
    GROUP BY ALL
), judged AS (
    -- lines whose content is also in another delivery: counted once, in the newest
    -- delivery that is not itself replaced
    SELECT k.*, r.replaced_by,
        row_number() OVER w AS pick,
        first_value(k.source_uri) OVER w AS first_uri
    FROM keyed k
    JOIN deliveries d
      ON d.source_uri = k.source_uri AND d.provider = k.provider
     AND d.slice_account = k.slice_account AND d.export_kind = k.export_kind
     AND d.slice_month = k.slice_month
    LEFT JOIN replaced r
      ON r.source_uri = k.source_uri AND r.provider = k.provider
     AND r.slice_account = k.slice_account AND r.export_kind = k.export_kind
     AND r.slice_month = k.slice_month
    WINDOW w AS (
        PARTITION BY k.provider, k.slice_account, k.export_kind, k.slice_month,
                     k.content_key, k.occurrence, r.replaced_by IS NULL
        ORDER BY d.delivered_at DESC, k.source_uri DESC)
), single AS (
    -- lines whose content no other delivery has: counted unless their delivery is replaced
    SELECT lines.*, r.replaced_by
    FROM lines
    ANTI JOIN repeated x
      ON x.provider = lines.provider AND x.slice_account = lines.slice_account
     AND x.export_kind = lines.export_kind AND x.slice_month = lines.slice_month
     AND x.content_key = lines.content_key
    LEFT JOIN replaced r
      ON r.source_uri = lines.source_uri AND r.provider = lines.provider
     AND r.slice_account = lines.slice_account AND r.export_kind = lines.export_kind
     AND r.slice_month = lines.slice_month
)
SELECT * EXCLUDE (slice_account, slice_month, content_key, occurrence, replaced_by,
                  pick, first_uri),
       replaced_by IS NULL AND pick = 1 AS counted,
       CASE WHEN replaced_by IS NOT NULL THEN replaced_by
            WHEN pick > 1 THEN first_uri END AS counted_in,
       CASE WHEN replaced_by IS NOT NULL THEN 're-delivered'
            WHEN pick > 1 THEN 'duplicate' END AS overlap_kind
FROM judged
UNION ALL BY NAME
SELECT * EXCLUDE (slice_account, slice_month, content_key, replaced_by),
       replaced_by IS NULL AS counted,
       replaced_by AS counted_in,
       CASE WHEN replaced_by IS NOT NULL THEN 're-delivered' END AS overlap_kind
FROM single;

CREATE OR REPLACE VIEW billing_lines_once AS
SELECT * EXCLUDE (counted, counted_in, overlap_kind) FROM billing_line_status WHERE counted;

CREATE OR REPLACE VIEW gpu_usage_status AS
WITH keyed AS (
    SELECT g.*,
        CASE WHEN g.source_kind = 'slurm'
             THEN concat_ws('|', 'slurm', coalesce(g.cluster, ''), coalesce(g.job_key, ''),
                            coalesce(CAST(g.started_at AS VARCHAR), ''))
             ELSE concat_ws('|', g.source_kind, coalesce(g.cluster, ''), coalesce(g.host, ''),
                            coalesce(g.gpu_uuid, g.tags['gpu_index'], g.tags['pci_bus_id'], ''),
                            coalesce(g.mig_profile, ''), coalesce(g.tags['mig_instance'], ''),
                            coalesce(g.tags['scrape_sha256'],
                                     CAST(g.started_at AS VARCHAR), ''))
        END AS fact_key,
        coalesce(l.modified_at, l.loaded_at, TIMESTAMPTZ '1970-01-01 00:00:00+00')
            AS delivered_at
    FROM gpu_usage g
    LEFT JOIN ingest_ledger l ON l.uri = g.source_uri
), numbered AS (
    SELECT *,
        row_number() OVER (PARTITION BY source_uri, fact_key ORDER BY usage_id) AS occurrence
    FROM keyed
), judged AS (
    SELECT *,
        row_number() OVER w AS pick,
        first_value(source_uri) OVER w AS first_uri
    FROM numbered
    WINDOW w AS (PARTITION BY fact_key, occurrence
                 ORDER BY ended_at DESC NULLS LAST, delivered_at DESC, source_uri DESC)
)
SELECT * EXCLUDE (fact_key, delivered_at, occurrence, pick, first_uri),
       pick = 1 AS counted,
       CASE WHEN pick > 1 THEN first_uri END AS counted_in,
       CASE WHEN pick > 1 THEN 'duplicate' END AS overlap_kind
FROM judged;

CREATE OR REPLACE VIEW gpu_usage_once AS
SELECT * EXCLUDE (counted, counted_in, overlap_kind) FROM gpu_usage_status WHERE counted;

-- billing_lines_counted (0001) now ranks export kinds over the lines that count once.
CREATE OR REPLACE VIEW billing_lines_counted AS
WITH lines AS (
    SELECT *,
        coalesce(strftime(usage_start_at AT TIME ZONE 'UTC', '%Y-%m'), billing_period) AS month,
        CASE export_kind
            WHEN 'cur2' THEN 1 WHEN 'cur1' THEN 2
            WHEN 'gcp_detailed' THEN 1 WHEN 'gcp_standard' THEN 2
            WHEN 'azure_actual' THEN 1 WHEN 'azure_amortized' THEN 2 WHEN 'azure_usage' THEN 3
            ELSE 9 END AS rank_billed,
        CASE export_kind
            WHEN 'cur2' THEN 1 WHEN 'cur1' THEN 2
            WHEN 'gcp_detailed' THEN 1 WHEN 'gcp_standard' THEN 2
            WHEN 'azure_amortized' THEN 1 WHEN 'azure_actual' THEN 2 WHEN 'azure_usage' THEN 3
            ELSE 9 END AS rank_effective
    FROM billing_lines_once
), chosen AS (
    SELECT provider, coalesce(account_id, '') AS account, month,
           min(rank_billed) AS best_billed, min(rank_effective) AS best_effective
    FROM lines
    GROUP BY ALL
)
SELECT lines.* EXCLUDE (rank_billed, rank_effective),
       rank_billed = best_billed AS counts_billed,
       rank_effective = best_effective AS counts_effective
FROM lines
JOIN chosen ON chosen.provider = lines.provider
           AND chosen.account = coalesce(lines.account_id, '')
           AND chosen.month = lines.month;

-- What the ingest found repeated, recorded with each unit when it was last judged:
--   rows_not_counted: rows of this unit that count in another unit instead;
--   overlaps_with: [{"counted_in": uri, "rows": n,
--                    "overlap_kind": "re-delivered" | "duplicate"}].
ALTER TABLE ingest_ledger ADD COLUMN rows_not_counted BIGINT;
ALTER TABLE ingest_ledger ADD COLUMN overlaps_with JSON;
