-- 0003_estimate_flags: cross-check flags travel with each run's estimates.
ALTER TABLE run_estimates ADD COLUMN flags VARCHAR[];
