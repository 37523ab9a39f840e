-- Accelerator-hours and cost per provider, month and accelerator.
-- Reads: billing_lines_counted (billing_lines with the export kind to count per provider,
--   account and month, so the same spend delivered in two exports counts once).
-- Columns: provider, month, accelerator, accelerator_hours, cost_billed, cost_effective,
--   currency. month = month of usage_start_at (UTC); accelerator NULL = not accelerator
--   compute, 'unknown:<type>' = accelerator compute the catalog does not know.
SELECT provider,
       month,
       accelerator,
       round(coalesce(fsum(accelerator_hours) FILTER (WHERE counts_billed), 0), 6)
           AS accelerator_hours,
       coalesce(sum(cost_billed) FILTER (WHERE counts_billed), 0) AS cost_billed,
       coalesce(sum(cost_effective) FILTER (WHERE counts_effective), 0) AS cost_effective,
       currency
FROM billing_lines_counted
WHERE counts_billed OR counts_effective
GROUP BY provider, month, accelerator, currency
ORDER BY provider, month, accelerator NULLS LAST, currency;
