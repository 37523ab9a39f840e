-- What has been ingested: one row per unit in the ledger.
-- Reads: ingest_ledger. Columns: uri, format, target_table, row_count, size_bytes,
--   fingerprint, sha256, modified_at, loaded_at.
SELECT uri, format, target_table, row_count, size_bytes, fingerprint, sha256,
       modified_at, loaded_at
FROM ingest_ledger
ORDER BY uri;
