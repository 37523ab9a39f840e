-- Billing lines that are accelerator compute of a type the catalog does not know (an
-- instance family or GPU/TPU SKU with no catalog row): their hours cannot be counted until
-- reconcile/data/instances.csv or accelerators.csv learns them.
-- Reads: billing_lines_once (each line counted once). Columns: provider, accelerator,
--   instance_type, usage_type, accounts, first_usage_at, last_usage_at, lines,
--   usage_quantity, usage_unit, cost_billed, currency.
-- A check: zero rows means every accelerator line was identified.
SELECT provider,
       accelerator,
       instance_type,
       usage_type,
       list_sort(list_distinct(list(account_id))) AS accounts,
       min(usage_start_at) AS first_usage_at,
       max(usage_end_at) AS last_usage_at,
       count(*) AS lines,
       sum(usage_quantity) AS usage_quantity,
       any_value(usage_unit) AS usage_unit,
       sum(cost_billed) AS cost_billed,
       currency
FROM billing_lines_once
WHERE starts_with(accelerator, 'unknown:')
GROUP BY provider, accelerator, instance_type, usage_type, currency
ORDER BY cost_billed DESC NULLS LAST, provider, accelerator;
