-- Every evidence row of training_runs as parsed, one per source object or folder.
-- Reads: training_runs, ingest_ledger. Columns: run_id, source_format, job_name,
--   platform, base_model, tokens, tokens_basis, reported_flops, reported_flops_basis,
--   source_uri, sha256, loaded_at.
SELECT t.run_id, t.source_format, t.job_name, t.platform, t.base_model, t.tokens,
       t.tokens_basis, t.reported_flops, t.reported_flops_basis, t.source_uri,
       l.sha256, l.loaded_at
FROM training_runs t
LEFT JOIN ingest_ledger l ON l.uri = t.source_uri
ORDER BY t.job_name NULLS LAST, t.source_format;
