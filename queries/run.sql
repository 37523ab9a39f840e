-- Everything known about one logical run: the merged view, then every evidence row
-- with the ledger entry (sha256, load time) it came from.
-- Parameters: $run_id (a run_id of the `runs` query). Reads: resolved_runs,
-- training_runs, ingest_ledger.
-- Columns: run_id, evidence_run_id, source_format, source_uri, evidence_sha256,
--   loaded_at, then the merged run's columns (base model, parameters, tokens with their
--   evidence, flags, notes).
SELECT r.run_key AS run_id, t.run_id AS evidence_run_id, t.source_format, t.source_uri,
       l.sha256 AS evidence_sha256, l.loaded_at,
       r.base_model, r.base_model_catalog, r.base_model_raw, r.base_model_basis,
       r.method, r.objective, r.params_total, r.params_active, r.params_trainable,
       r.params_matmul, r.params_hf_counted, r.params_basis,
       r.tokens, r.tokens_low, r.tokens_high, r.tokens_basis, r.tokens_padding_included,
       r.tokens_evidence, r.steps, r.epochs, r.seq_len, r.global_batch,
       r.started_at, r.ended_at, r.runtime_seconds, r.instance_type, r.instance_count,
       r.accelerator, r.accelerator_count, r.reported, r.tags, r.flags, r.notes
FROM resolved_runs r
JOIN training_runs t ON list_contains(r.member_run_ids, t.run_id)
LEFT JOIN ingest_ledger l ON l.uri = t.source_uri
WHERE r.run_key = $run_id
ORDER BY t.source_format, t.run_id;
