-- 0017_allocation_kinds: which gpu_usage source kinds are a scheduler's accounting
-- (reconcile.schemas.ALLOCATION_KINDS), as a table the SQL reads instead of naming a
-- scheduler: filled whenever the warehouse's schema is brought up to date
-- (reconcile.warehouse.migrate).
--   gpu_usage_status (0008) restated with that one change: an allocation row is the same
--   fact as another delivery's row of the same job (kind, cluster, job, start), telemetry
--   the same sample of the same device.
CREATE TABLE allocation_kinds (
    source_kind VARCHAR PRIMARY KEY
);

CREATE OR REPLACE VIEW gpu_usage_status AS
WITH keyed AS (
    SELECT g.*,
        CASE WHEN g.source_kind IN (SELECT source_kind FROM allocation_kinds)
             THEN concat_ws('|', g.source_kind, coalesce(g.cluster, ''),
                            coalesce(g.job_key, ''),
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
