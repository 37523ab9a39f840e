-- 0014_run_energy: each run's energy, measured where telemetry has it and estimated where
-- it does not (reconcile/energy.py), written by `reconcile estimate`.
--   basis: measured (telemetry covers >= 99 % of the run's accelerator-time) |
--     partly_measured | estimated | none;
--   coverage: share of the accelerator-time the measurement covers;
--   board_kwh_*: accelerator board energy (measured + estimated), low/central/high;
--   facility_kwh_*: board x host overhead x PUE ([energy]);
--   tco2e_central: facility_kwh_central x grid_gco2e_per_kwh ([energy] grid_intensity
--     for grid_key: the run's cluster or platform, else `default`), when given.
CREATE TABLE run_energy (
    run_id                VARCHAR NOT NULL,
    basis                 VARCHAR NOT NULL,
    accelerator           VARCHAR,
    accelerator_seconds   DOUBLE,
    measured_seconds      DOUBLE,
    coverage              DOUBLE,
    measured_kwh          DOUBLE,
    board_kwh_low         DOUBLE,
    board_kwh_central     DOUBLE,
    board_kwh_high        DOUBLE,
    facility_kwh_low      DOUBLE,
    facility_kwh_central  DOUBLE,
    facility_kwh_high     DOUBLE,
    grid_key              VARCHAR,
    grid_gco2e_per_kwh    DOUBLE,
    tco2e_central         DOUBLE,
    method                VARCHAR,
    computed_at           TIMESTAMPTZ NOT NULL
);
