-- Every logical run with every method side by side, the combined figure, implied
-- utilisation and flags.
-- Reads: resolved_runs, run_estimates.
-- Columns: run_id, job_name, model_id, base_model, tokens, tokens_basis,
--   architecture_flops, hardware_flops_low, hardware_flops, hardware_flops_high,
--   billing_flops, reported_flops, combined_flops, combined_low, combined_high,
--   decided_by, implied_utilisation, guidelines_6pd_flops, aws_meter_flops, flags.
WITH e AS (
    SELECT run_id,
           max(flops_central) FILTER (WHERE method = 'architecture') AS architecture_flops,
           max(flops_low) FILTER (WHERE method = 'hardware') AS hardware_flops_low,
           max(flops_central) FILTER (WHERE method = 'hardware') AS hardware_flops,
           max(flops_high) FILTER (WHERE method = 'hardware') AS hardware_flops_high,
           max(flops_central) FILTER (WHERE method = 'billing') AS billing_flops,
           max(flops_central) FILTER (WHERE method = 'reported') AS reported_flops,
           max(flops_central) FILTER (WHERE method = 'combined') AS combined_flops,
           max(flops_low) FILTER (WHERE method = 'combined') AS combined_low,
           max(flops_high) FILTER (WHERE method = 'combined') AS combined_high,
           max(json_extract_string(assumptions, '$.decided_by'))
               FILTER (WHERE method = 'combined') AS decided_by,
           max(CAST(json_extract(assumptions, '$.implied_utilisation') AS DOUBLE))
               FILTER (WHERE method = 'architecture') AS implied_utilisation,
           max(CAST(json_extract(assumptions, '$.cross_reference.guidelines_6PD.flops') AS DOUBLE))
               FILTER (WHERE method = 'architecture') AS guidelines_6pd_flops,
           max(CAST(json_extract(assumptions, '$.cross_reference.aws_meter.flops') AS DOUBLE))
               FILTER (WHERE method = 'architecture') AS aws_meter_flops,
           any_value(flags) AS flags
    FROM run_estimates
    GROUP BY run_id
)
SELECT r.run_key AS run_id, r.job_name, r.model_id, r.base_model, r.tokens, r.tokens_basis,
       e.architecture_flops, e.hardware_flops_low, e.hardware_flops, e.hardware_flops_high,
       e.billing_flops, e.reported_flops, e.combined_flops, e.combined_low, e.combined_high,
       e.decided_by, e.implied_utilisation, e.guidelines_6pd_flops, e.aws_meter_flops,
       coalesce(e.flags, r.flags) AS flags
FROM resolved_runs r
LEFT JOIN e ON e.run_id = r.run_key
ORDER BY r.base_model NULLS LAST, r.run_key;
