-- 0010_config_completions: a model config completed with its class defaults through
-- transformers, kept per config and transformers version, so a run whose evidence did
-- not change never imports transformers again (an hourly no-op run: seconds saved).
--   digest: sha256 of the config (canonical JSON) and the transformers version;
--   completed: the completed config (JSON).
CREATE TABLE config_completions (
    digest                  VARCHAR PRIMARY KEY,
    transformers_version    VARCHAR NOT NULL,
    completed               JSON NOT NULL,
    computed_at             TIMESTAMPTZ NOT NULL
);
