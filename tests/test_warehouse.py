"""Schema migrations and the canonical tables."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from reconcile import warehouse
from reconcile.errors import WarehouseError
from reconcile.schemas import FACT_TABLES

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


@pytest.mark.parametrize("table", sorted(FACT_TABLES))
def test_ddl_matches_the_canonical_arrow_schema(tmp_path, table):
    con = warehouse.open_for_write(tmp_path / "w.duckdb")
    empty = con.sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table()
    con.close()
    expected = FACT_TABLES[table]
    assert empty.schema.names == expected.names
    for field in expected:
        actual = empty.schema.field(field.name).type
        if pa.types.is_map(field.type):
            assert pa.types.is_map(actual), field.name
        else:
            assert actual == field.type, field.name


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
