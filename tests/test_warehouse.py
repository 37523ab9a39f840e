"""Schema migrations and the canonical tables."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from reconcile import warehouse
from reconcile.errors import WarehouseError
from reconcile.schemas import (
    ADDED_AT_INSERT,
    DERIVED_TABLES,
    FACT_TABLES,
    REFERENCE_TABLES,
    SQL_ONLY_TABLES,
)

CANONICAL = [
    "training_runs",
    "billing_lines",
    "gpu_usage",
    "run_estimates",
    "run_matches",
    "model_lineage",
    "compliance_status",
    "ingest_ledger",
    "quarantine",
]


def test_migrations_create_every_table_and_are_recorded(tmp_path):
    db = tmp_path / "w.duckdb"
    con = warehouse.open_for_write(db)
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert set(CANONICAL) <= tables
    rows = con.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    assert [(v, n) for v, n, _ in rows] == [(m.version, m.name) for m in warehouse.migrations()]
    assert rows[0][2] == warehouse.migrations()[0].checksum
    con.close()
    # Re-opening applies nothing new.
    con = warehouse.open_for_write(db)
    assert warehouse.migrate(con) == []
    assert warehouse.schema_version(con) == warehouse.latest_version()
    con.close()


WAREHOUSE_TABLES = {**FACT_TABLES, **DERIVED_TABLES, **REFERENCE_TABLES}


def _same_type(actual: pa.DataType, expected: pa.DataType) -> bool:
    # DuckDB's MAP comes back with a non-null key field; the canonical one is pa.map_.
    if pa.types.is_map(expected):
        return pa.types.is_map(actual)
    return actual == expected


@pytest.mark.parametrize("table", sorted(WAREHOUSE_TABLES))
def test_ddl_matches_the_canonical_arrow_schema(tmp_path, table):
    """Every table's migrated columns are its declared schema's, in order and type, plus
    exactly the columns its writer adds at insert (JSON columns are text to Arrow)."""
    con = warehouse.open_for_write(tmp_path / "w.duckdb")
    migrated = con.sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema
    con.close()
    expected = WAREHOUSE_TABLES[table]
    added = {f.name: f for f in ADDED_AT_INSERT.get(table, ())}
    assert [n for n in migrated.names if n not in added] == expected.names
    for field in expected:
        assert _same_type(migrated.field(field.name).type, field.type), field.name
    for name, field in added.items():
        assert name in migrated.names, f"{table}.{name} is declared as added at insert"
        assert migrated.field(name).type == field.type, name


def test_every_warehouse_table_is_declared_once(tmp_path):
    con = warehouse.open_for_write(tmp_path / "w.duckdb")
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
    }
    con.close()
    declared = [*WAREHOUSE_TABLES, *SQL_ONLY_TABLES]
    assert len(declared) == len(set(declared))
    assert tables == set(declared)
    assert set(ADDED_AT_INSERT) <= set(DERIVED_TABLES)


def test_money_ids_and_timestamps_have_the_promised_types(tmp_path):
    con = warehouse.open_for_write(tmp_path / "w.duckdb")
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'billing_lines'"
        ).fetchall()
    )
    con.close()
    assert types["cost_billed"] == "DECIMAL(38,10)"
    assert types["account_id"] == "VARCHAR"
    assert types["usage_start_at"] == "TIMESTAMP WITH TIME ZONE"


def test_a_newer_database_is_refused(tmp_path):
    db = tmp_path / "w.duckdb"
    warehouse.open_for_write(db).close()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 'x', now())")
    con.close()
    with pytest.raises(WarehouseError, match="newer than this tool"):
        warehouse.open_for_write(db)
    with pytest.raises(WarehouseError, match="schema version 9999"):
        warehouse.open_for_read(db)


def test_missing_database_for_reading_is_a_clear_error(tmp_path):
    with pytest.raises(WarehouseError, match="no such database"):
        warehouse.open_for_read(tmp_path / "absent.duckdb")


def test_no_view_names_a_scheduler_or_an_export_kind(tmp_path):
    """The SQL reads the vocabularies from tables the warehouse fills from the package
    (allocation_kinds from schemas.ALLOCATION_KINDS, export_kind_ranks from
    export_kinds.csv): no view of the current schema names 'slurm' or 'cur2'."""
    from reconcile.schemas import ALLOCATION_KINDS

    con = warehouse.open_for_write(tmp_path / "w.duckdb")
    try:
        views = dict(
            con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
        )
        kinds = [k for (k,) in con.execute("SELECT source_kind FROM allocation_kinds").fetchall()]
    finally:
        con.close()
    assert {"gpu_usage_status", "billing_lines_counted"} <= set(views)
    for name, sql in views.items():
        assert "'slurm'" not in sql and "'cur2'" not in sql, name
    assert sorted(kinds) == sorted(ALLOCATION_KINDS)
