-- Accelerator-hours and cost per provider, month and accelerator.
-- Reads: billing_lines. Columns: provider, month, accelerator, accelerator_hours,
--   cost_billed, cost_effective, currency.
-- The same spend often arrives in several exports (CUR 2.0 and FOCUS, legacy CUR during a
-- migration, Azure actual and amortized cost, GCP standard and detailed tables). For each
-- provider, account and month, hours and billed cost come from one export kind and
-- effective (amortised) cost from one export kind, so nothing is counted twice:
-- native exports before FOCUS; CUR 2.0 before legacy CUR; GCP detailed before standard;
-- Azure actual cost for billed figures, amortized cost for effective ones.
-- month = the month of usage_start_at (UTC), else the billing period.
WITH lines AS (
    SELECT *,
        coalesce(strftime(usage_start_at, '%Y-%m'), billing_period) AS month,
        CASE export_kind
            WHEN 'cur2' THEN 1 WHEN 'cur1' THEN 2
            WHEN 'gcp_detailed' THEN 1 WHEN 'gcp_standard' THEN 2
            WHEN 'azure_actual' THEN 1 WHEN 'azure_amortized' THEN 2 WHEN 'azure_usage' THEN 3
            ELSE 9 END AS rank_billed,
        CASE export_kind
            WHEN 'cur2' THEN 1 WHEN 'cur1' THEN 2
            WHEN 'gcp_detailed' THEN 1 WHEN 'gcp_standard' THEN 2
            WHEN 'azure_amortized' THEN 1 WHEN 'azure_actual' THEN 2 WHEN 'azure_usage' THEN 3
            ELSE 9 END AS rank_effective
    FROM billing_lines
), chosen AS (
    SELECT provider, coalesce(account_id, '') AS account, month,
           min(rank_billed) AS best_billed, min(rank_effective) AS best_effective
    FROM lines
    GROUP BY ALL
), kept AS (
    SELECT lines.*, rank_billed = best_billed AS for_billed,
           rank_effective = best_effective AS for_effective
    FROM lines
    JOIN chosen ON chosen.provider = lines.provider
               AND chosen.account = coalesce(lines.account_id, '')
               AND chosen.month = lines.month
    WHERE rank_billed = best_billed OR rank_effective = best_effective
)
SELECT provider,
       month,
       accelerator,
       coalesce(sum(accelerator_hours) FILTER (WHERE for_billed), 0) AS accelerator_hours,
       coalesce(sum(cost_billed) FILTER (WHERE for_billed), 0) AS cost_billed,
       coalesce(sum(cost_effective) FILTER (WHERE for_effective), 0) AS cost_effective,
       currency
FROM kept
GROUP BY provider, month, accelerator, currency
ORDER BY provider, month, accelerator NULLS LAST, currency;
