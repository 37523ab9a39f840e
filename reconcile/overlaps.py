"""Facts delivered more than once: found, said and recorded, never counted twice.

Every unit stays loaded; the warehouse views of migration 0008 (``billing_line_status``,
``gpu_usage_status``) decide which rows count: a billing period delivered again counts
from its newest delivery, a line or usage row also present in another unit counts once.
This module turns those views into what an ingest says ("412 lines of … already loaded
from …; counted once") and records it on each unit's ledger row (``rows_not_counted``,
``overlaps_with``); ``reconcile query overlaps`` lists the same from the views.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from reconcile.warehouse import rollback

#: Fact table -> its status view (every row, with counted / counted_in / overlap_kind).
STATUS_VIEWS = {"billing_lines": "billing_line_status", "gpu_usage": "gpu_usage_status"}
#: How a fact table's rows are named in sentences.
_ROW_WORDS = {"billing_lines": "billing lines", "gpu_usage": "usage rows"}


@dataclass(frozen=True)
class Overlap:
    """Rows of one unit that count in another unit instead."""

    table: str
    uri: str
    counted_in: str
    kind: str  # 're-delivered' (a newer delivery of the period) | 'duplicate'
    rows: int

    def sentence(self) -> str:
        """One line for the ingest summary."""
        words = _ROW_WORDS.get(self.table, "rows")
        if self.kind == "re-delivered":
            return (
                f"{self.rows} {words} of {self.uri} are re-delivered by the newer "
                f"{self.counted_in}; the newer delivery counts"
            )
        return (
            f"{self.rows} {words} of {self.uri} already loaded from {self.counted_in}; counted once"
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "table": self.table,
            "uri": self.uri,
            "counted_in": self.counted_in,
            "overlap_kind": self.kind,
            "rows": self.rows,
        }


def find(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> list[Overlap]:
    """Every overlap in ``tables`` now, one per (unit, unit counted instead, kind)."""
    found: list[Overlap] = []
    for table in sorted(set(tables) & STATUS_VIEWS.keys()):
        rows = con.execute(
            f"SELECT source_uri, counted_in, overlap_kind, count(*) FROM {STATUS_VIEWS[table]} "
            "WHERE NOT counted GROUP BY ALL ORDER BY 1, 2, 3"
        ).fetchall()
        found += [Overlap(table, str(u), str(c), str(k), int(n)) for u, c, k, n in rows]
    return found


def record(
    con: duckdb.DuckDBPyConnection, tables: Iterable[str], touched: Sequence[str]
) -> list[Overlap]:
    """Judge ``tables`` again, write each of their units' ``rows_not_counted`` and
    ``overlaps_with`` on the ledger (one transaction), and return the overlaps that
    involve a unit in ``touched`` (the units this ingest loaded or replaced).
    """
    tables = sorted(set(tables) & STATUS_VIEWS.keys())
    found = find(con, tables)
    per_unit: dict[str, list[Overlap]] = {}
    for item in found:
        per_unit.setdefault(item.uri, []).append(item)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "UPDATE ingest_ledger SET rows_not_counted = 0, overlaps_with = NULL "
            "WHERE list_contains($tables, target_table) "
            "AND (rows_not_counted IS NULL OR rows_not_counted <> 0 OR overlaps_with IS NOT NULL)",
            {"tables": tables},
        )
        if per_unit:
            judged = pa.table(
                {
                    "uri": list(per_unit),
                    "rows": pa.array(
                        [sum(i.rows for i in v) for v in per_unit.values()], pa.int64()
                    ),
                    "overlaps": [
                        json.dumps(
                            [
                                {"counted_in": i.counted_in, "rows": i.rows, "overlap_kind": i.kind}
                                for i in items
                            ]
                        )
                        for items in per_unit.values()
                    ],
                }
            )
            con.register("_judged", judged)
            try:
                con.execute(
                    "UPDATE ingest_ledger SET rows_not_counted = j.rows, "
                    "overlaps_with = j.overlaps::JSON FROM _judged j "
                    "WHERE ingest_ledger.uri = j.uri"
                )
            finally:
                con.unregister("_judged")
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    wanted = set(touched)
    return [i for i in found if i.uri in wanted or i.counted_in in wanted]
