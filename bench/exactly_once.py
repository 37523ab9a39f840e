"""What counting each billing line once costs: the exactly-once views over N lines.

Builds a warehouse of N FOCUS-like lines in 40 delivery files (every account-month slice
delivered in several files, so every line is compared) and times, in the same run:

* baseline: the billed total through migration 0001's ranking of export kinds straight
  over ``billing_lines`` (what ``billing_totals`` cost before re-deliveries were judged);
* ``billing_lines_once`` and ``billing_lines_counted`` (what every total reads now);
* ``overlaps.find`` (what an ingest runs to say and record overlaps);

then copies one delivery (N/40 lines) and times them again. Prints seconds and the ratio
to the baseline; results are checked equal (the copy counts once).

    python bench/exactly_once.py --lines 2000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from reconcile import overlaps, warehouse

BEFORE = """
WITH lines AS (
    SELECT *, coalesce(strftime(usage_start_at AT TIME ZONE 'UTC', '%Y-%m'), billing_period)
        AS month,
        CASE export_kind WHEN 'cur2' THEN 1 WHEN 'cur1' THEN 2 ELSE 9 END AS rank_billed
    FROM billing_lines
), chosen AS (
    SELECT provider, coalesce(account_id, '') AS account, month, min(rank_billed) AS best
    FROM lines GROUP BY ALL
)
SELECT count(*), sum(cost_billed) FROM lines
JOIN chosen ON chosen.provider = lines.provider
 AND chosen.account = coalesce(lines.account_id, '') AND chosen.month = lines.month
WHERE rank_billed = best
"""


def _timed(con, sql: str) -> tuple[float, list]:
    start = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - start, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        con = warehouse.open_for_write(Path(folder) / "w.duckdb")
        con.execute(
            f"""
            INSERT INTO billing_lines (line_id, provider, account_id, billing_period,
                usage_start_at, usage_end_at, service, usage_type, line_type, resource_id,
                usage_quantity, cost_billed, cost_effective, currency, export_kind,
                source_uri, source_format)
            SELECT 'l' || i, 'azure', 'sub-' || (i % 20), '2025-05',
                TIMESTAMPTZ '2025-05-01' + INTERVAL (i % 720) HOUR,
                TIMESTAMPTZ '2025-05-01' + INTERVAL (i % 720 + 1) HOUR, 'VM', 'ND96', 'usage',
                'vm-' || i, 1, 98.32, 98.32, 'USD', 'focus',
                'file:///exports/focus-' || (i % 40) || '.csv', 'focus'
            FROM range({args.lines}) t(i)
            """
        )
        base, want = _timed(con, BEFORE)
        print(f"{args.lines:,} lines in 40 deliveries")
        for label in ("clean", "one delivery copied"):
            once, got = _timed(con, "SELECT count(*), sum(cost_billed) FROM billing_lines_once")
            counted, _ = _timed(
                con,
                "SELECT count(*), sum(cost_billed) FROM billing_lines_counted WHERE counts_billed",
            )
            start = time.perf_counter()
            found = overlaps.find(con, ["billing_lines"])
            judged = time.perf_counter() - start
            assert got == want, (got, want)
            print(
                f"{label:>20}: baseline {base:.2f} s | billing_lines_once {once:.2f} s | "
                f"billing_lines_counted {counted:.2f} s ({counted / base:.1f}x) | "
                f"overlaps.find {judged:.2f} s ({sum(o.rows for o in found):,} rows not counted)"
            )
            con.execute(
                "INSERT INTO billing_lines SELECT * REPLACE ('file:///exports/copy.csv' AS "
                "source_uri) FROM billing_lines WHERE source_uri = 'file:///exports/focus-3.csv'"
            )
        con.close()


if __name__ == "__main__":
    main()
