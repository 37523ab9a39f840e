-- 0007_quarantine_error_kind: why a unit is in quarantine, so only bad content stays there.
-- quarantine.error_kind:
--   'content': the parser rejected the bytes (ParseError, a bad row in a stream); the unit
--     stays quarantined until it changes (or --retry-quarantined);
--   'store': reading it failed (503, throttling, permission denied, vanished); the next
--     run tries it again without --retry-quarantined.
-- Rows written before this migration did not record the kind: NULL, and the next run
-- retries them once (a content error is then recorded again, as 'content').
ALTER TABLE quarantine ADD COLUMN error_kind VARCHAR;

-- Source roots and error lines stored before URIs were redacted may hold credentials: a
-- signed URL's or SAS token's query string, an endpoint's user:password@. Drop them, as
-- connectors.stores.base.redact_uri now does before anything is stored.
UPDATE ingest_ledger
SET source_root = regexp_replace(
    regexp_replace(source_root, '[?#].*$', ''), '^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@', '\1')
WHERE regexp_matches(source_root, '[?#]|://[^/@]*@');
UPDATE quarantine
SET source_root = regexp_replace(
    regexp_replace(source_root, '[?#].*$', ''), '^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@', '\1')
WHERE regexp_matches(source_root, '[?#]|://[^/@]*@');
UPDATE quarantine
SET error = regexp_replace(
    regexp_replace(error, '(://[^\s"''<>?#]*)[?#][^\s"''<>)]*', '\1', 'g'),
    '://[^/\s"''<>@]*@', '://', 'g')
WHERE regexp_matches(error, '://[^\s"''<>]*[?#@]');
