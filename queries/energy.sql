-- Energy per model and per run: measured where telemetry has it, estimated where it does
-- not (reconcile/energy.py states the method, the draw factor, host overhead and PUE and
-- their sources). A model's rows first (run_id NULL, its lineage's runs summed), then
-- each run. Sums are exact (DECIMAL), so the same data gives the same figures whatever
-- order the engine adds them in.
-- Reads: run_energy (written by `reconcile estimate`), model_lineage.
-- Columns: model_id, run_id, basis, coverage (share of accelerator-time measured),
--   accelerator_hours, board_kwh_low/central/high, facility_kwh_low/central/high,
--   tco2e_central, method.
WITH runs AS (
    SELECT l.model_id, e.*
    FROM model_lineage l JOIN run_energy e ON e.run_id = l.run_id
)
SELECT model_id, NULL AS run_id,
       CASE WHEN bool_and(basis = 'measured') THEN 'measured'
            WHEN bool_or(basis IN ('measured', 'partly_measured')) THEN 'partly_measured'
            WHEN bool_and(basis = 'none') THEN 'none'
            ELSE 'estimated' END AS basis,
       CAST(sum(CAST(measured_seconds AS DECIMAL(38, 6))) AS DOUBLE)
           / nullif(CAST(sum(CAST(accelerator_seconds AS DECIMAL(38, 6))) AS DOUBLE), 0)
           AS coverage,
       CAST(sum(CAST(accelerator_seconds AS DECIMAL(38, 6))) AS DOUBLE) / 3600
           AS accelerator_hours,
       CAST(sum(CAST(board_kwh_low AS DECIMAL(38, 9))) AS DOUBLE) AS board_kwh_low,
       CAST(sum(CAST(board_kwh_central AS DECIMAL(38, 9))) AS DOUBLE) AS board_kwh_central,
       CAST(sum(CAST(board_kwh_high AS DECIMAL(38, 9))) AS DOUBLE) AS board_kwh_high,
       CAST(sum(CAST(facility_kwh_low AS DECIMAL(38, 9))) AS DOUBLE) AS facility_kwh_low,
       CAST(sum(CAST(facility_kwh_central AS DECIMAL(38, 9))) AS DOUBLE) AS facility_kwh_central,
       CAST(sum(CAST(facility_kwh_high AS DECIMAL(38, 9))) AS DOUBLE) AS facility_kwh_high,
       CAST(sum(CAST(tco2e_central AS DECIMAL(38, 9))) AS DOUBLE) AS tco2e_central,
       count(*) || ' run(s): ' || count(*) FILTER (basis = 'measured') || ' measured, '
           || count(*) FILTER (basis = 'partly_measured') || ' partly measured, '
           || count(*) FILTER (basis = 'estimated') || ' estimated (accelerator-seconds x '
           || 'board power limit x draw factor 0.5/0.76/1.0), '
           || count(*) FILTER (basis = 'none') || ' without accelerator time; facility = '
           || 'board x host overhead x PUE' AS method
FROM runs GROUP BY model_id
UNION ALL
SELECT model_id, run_id, basis, coverage, accelerator_seconds / 3600, board_kwh_low,
       board_kwh_central, board_kwh_high, facility_kwh_low, facility_kwh_central,
       facility_kwh_high, tco2e_central, method
FROM runs
ORDER BY model_id, run_id NULLS FIRST
