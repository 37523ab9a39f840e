-- Accelerator-hours and cost per provider, month, tag and accelerator.
-- Reads: billing_lines_counted. Columns: provider, month, tag_key, tag_value, accelerator,
--   accelerator_hours, cost_billed, cost_effective, currency.
-- A line appears once per tag it carries (untagged lines under tag_key NULL), so totals add
-- up within one tag_key, not across keys. AWS keys have lost their user_ prefix
-- (project, not user_project); GCP labels and Azure tags are as delivered.
WITH tagged AS (
    SELECT b.*, e.entry.key AS tag_key, e.entry.value AS tag_value
    FROM billing_lines_counted b
    LEFT JOIN LATERAL (SELECT unnest(map_entries(b.tags)) AS entry) e ON true
    WHERE counts_billed OR counts_effective
)
SELECT provider,
       month,
       tag_key,
       tag_value,
       accelerator,
       round(coalesce(fsum(accelerator_hours) FILTER (WHERE counts_billed), 0), 6)
           AS accelerator_hours,
       coalesce(sum(cost_billed) FILTER (WHERE counts_billed), 0) AS cost_billed,
       coalesce(sum(cost_effective) FILTER (WHERE counts_effective), 0) AS cost_effective,
       currency
FROM tagged
GROUP BY ALL
ORDER BY provider, month, tag_key NULLS LAST, tag_value, accelerator NULLS LAST, currency;
