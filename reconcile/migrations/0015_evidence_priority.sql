-- 0015_evidence_priority: which training format's value wins when two describe one run,
-- per kind of field, as each parser declares it (connectors: Parser.priority). Written
-- from the parsers in use by every ingest and whenever the pipeline opens the warehouse
-- for writing (reconcile.ingest.record_formats); read by resolution, which so names no
-- format.
--   source_format: the parser's name (training_runs.source_format);
--   field_kind: identity | hardware | training | model | model_id;
--   rank: 1 first.
CREATE TABLE evidence_priority (
    source_format VARCHAR NOT NULL,
    field_kind    VARCHAR NOT NULL,
    rank          INTEGER NOT NULL,
    PRIMARY KEY (source_format, field_kind)
);
