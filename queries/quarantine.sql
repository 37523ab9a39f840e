-- Objects that failed to parse and why; fix or re-deliver them, then ingest again.
-- Reads: quarantine. Columns: uri, format, error, attempts, first_seen_at, last_seen_at.
SELECT uri, format, error, attempts, first_seen_at, last_seen_at
FROM quarantine
ORDER BY uri;
