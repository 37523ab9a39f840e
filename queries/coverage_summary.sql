-- How many runs have a compute figure, by the kind of evidence and the training method,
-- and which missing pieces keep the others from one.
-- Reads: resolved_runs, run_coverage.
-- Columns: evidence_kinds, method, runs, with_figure, share_with_figure, missing.
-- missing: the flag codes of the runs without a figure, with their counts.
SELECT array_to_string(r.evidence_kinds, '+') AS evidence_kinds,
       coalesce(r.method, 'unknown') AS method,
       count(*) AS runs,
       count(*) FILTER (WHERE c.has_figure) AS with_figure,
       round(count(*) FILTER (WHERE c.has_figure) / count(*), 3) AS share_with_figure,
       (SELECT string_agg(code || ' ×' || n, ', ' ORDER BY n DESC, code)
        FROM (SELECT code, count(*) AS n
              FROM (SELECT unnest(c2.missing) AS code
                    FROM run_coverage c2 JOIN resolved_runs r2 ON r2.run_key = c2.run_id
                    WHERE array_to_string(r2.evidence_kinds, '+')
                              = array_to_string(r.evidence_kinds, '+')
                      AND coalesce(r2.method, 'unknown') = coalesce(r.method, 'unknown'))
              GROUP BY code)) AS missing
FROM resolved_runs r
JOIN run_coverage c ON c.run_id = r.run_key
GROUP BY ALL
ORDER BY runs DESC, evidence_kinds, method;
