-- 0004_options_digest: a unit is re-read when its format's options change (for example a
-- Slurm cluster's time zone in [formats.slurm_sacct]), not only when its bytes change.
ALTER TABLE ingest_ledger ADD COLUMN options_digest VARCHAR DEFAULT '';
ALTER TABLE quarantine ADD COLUMN options_digest VARCHAR DEFAULT '';
