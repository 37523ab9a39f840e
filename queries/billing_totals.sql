-- Accelerator-hours and cost per provider, month and accelerator.
-- Reads: billing_lines. Columns: provider, month, accelerator, accelerator_hours,
--   cost_billed, cost_effective, currency.
SELECT provider,
       strftime(usage_start_at, '%Y-%m') AS month,
       accelerator,
       sum(accelerator_hours) AS accelerator_hours,
       sum(cost_billed) AS cost_billed,
       sum(cost_effective) AS cost_effective,
       currency
FROM billing_lines
GROUP BY ALL
ORDER BY provider, month, accelerator NULLS LAST, currency;
