-- Everything recorded about one training run, with the ledger entry it came from.
-- Parameters: $run_id. Reads: training_runs, ingest_ledger.
-- Columns: every training_runs column, plus evidence_sha256 and loaded_at.
SELECT r.*, l.sha256 AS evidence_sha256, l.loaded_at
FROM training_runs r
LEFT JOIN ingest_ledger l ON l.uri = r.source_uri
WHERE r.run_id = $run_id;
