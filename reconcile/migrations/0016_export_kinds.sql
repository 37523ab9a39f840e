-- 0016_export_kinds: the export-kind ranking as data. The same spend often arrives in
-- several exports (CUR 2.0 and FOCUS, legacy CUR during a migration, Azure actual and
-- amortized cost, GCP standard and detailed tables): per provider, account and month,
-- hours and billed cost count from one export kind and effective cost from one.
--   export_kind_ranks: reconcile/data/export_kinds.csv, one row per kind with its rank
--     for billed and for effective figures (lowest counts) and why; export_kind NULL is
--     the rank of every kind the file does not list. Filled from the file whenever the
--     warehouse's schema is brought up to date (reconcile.warehouse.migrate): the file
--     is the one ranking; this table is how SQL reads it.
--   billing_lines_counted (0008) now reads the ranks from that table, and its month is
--     the lake's: the month of usage_start_at (UTC), else the billing period, else
--     'unknown' (lines with neither were left out of the view before; the stage counted
--     them). The lake's billing_lines (reconcile/lake.py) is this view, so the billing
--     stage only groups what it marks.
CREATE TABLE export_kind_ranks (
    export_kind     VARCHAR,
    rank_billed     INTEGER NOT NULL,
    rank_effective  INTEGER NOT NULL,
    note            VARCHAR NOT NULL
);

CREATE OR REPLACE VIEW billing_lines_counted AS
WITH lines AS (
    SELECT b.*,
        coalesce(strftime(b.usage_start_at AT TIME ZONE 'UTC', '%Y-%m'), b.billing_period,
                 'unknown') AS month,
        coalesce(k.rank_billed,
                 (SELECT rank_billed FROM export_kind_ranks WHERE export_kind IS NULL))
            AS rank_billed,
        coalesce(k.rank_effective,
                 (SELECT rank_effective FROM export_kind_ranks WHERE export_kind IS NULL))
            AS rank_effective
    FROM billing_lines_once b
    LEFT JOIN export_kind_ranks k ON k.export_kind = b.export_kind
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
