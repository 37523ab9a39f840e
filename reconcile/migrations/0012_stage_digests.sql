-- 0012_stage_digests: what the last estimate and each report were computed from, as one
-- digest each, so a scheduled `reconcile run` that finds nothing new skips both (an
-- hourly run that changed nothing takes about a second instead of re-estimating).
--   name: estimate | report:<output folder>;
--   digest: sha256 of the inputs (reconcile.estimate.inputs_digest; for a report, the
--   estimate's digest, the formats and the [report] options).
CREATE TABLE stage_digests (
    name        VARCHAR PRIMARY KEY,
    digest      VARCHAR NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL
);
