"""``reconcile query`` runs the user's SQL bound and boxed in: parameter values are bound
(never pasted into the SQL), and a query file can neither write nor read any file,
install or load extensions, or change the settings that forbid it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile.cli import cli


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with the sample's run table only (fast to build)."""
    root = tmp_path_factory.mktemp("sandbox")
    source = Path(__file__).resolve().parent.parent / "sample_data" / "onprem" / "runs"
    db = root / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(source)])
    assert result.exit_code == 0, result.output
    return db


def query(db: Path, sql_file: Path, *params: str) -> tuple[int, str, str]:
    args = ["--db", str(db), "query", str(sql_file), "--format", "json"]
    for param in params:
        args += ["--param", param]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout, result.stderr


HOSTILE_VALUES = [
    "x' OR '1'='1",
    "'; DROP TABLE training_runs; --",
    "$other",
    "?",
    "%s %d {0} {name}",
    "\\'\\\\",
    'a"b',
    "line one\nline two\r\n",
    "\u202eevil\u202c 🦙 é",
    "x" * 100_000,
    "",
    "=",
    "1e309",
    "NaN",
    "NULL",
]


def test_parameter_values_come_back_verbatim(small_db, tmp_path):
    sql = tmp_path / "echo.sql"
    columns = ", ".join(f"$v{i} AS v{i}, length($v{i}) AS n{i}" for i in range(len(HOSTILE_VALUES)))
    sql.write_text(f"SELECT {columns}, (SELECT count(*) FROM training_runs) AS runs")
    params = [f"v{i}={value}" for i, value in enumerate(HOSTILE_VALUES)]
    code, out, err = query(small_db, sql, *params)
    assert code == 0, err
    (row,) = json.loads(out)
    assert row.pop("runs") == 3  # no statement pasted in: the table is intact
    for i, value in enumerate(HOSTILE_VALUES):
        assert (row[f"v{i}"], row[f"n{i}"]) == (value, len(value))


def test_a_hostile_value_in_a_shipped_query_matches_nothing(small_db):
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            str(small_db),
            "query",
            "run",
            "--format",
            "json",
            "--param",
            "run_id=x' OR '1'='1' --",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1) TO '{out}/copy.csv'",
        "COPY training_runs TO '{out}/copy.parquet' (FORMAT parquet)",
        "EXPORT DATABASE '{out}/export'",
        "ATTACH '{out}/new.duckdb' AS other",
        "SET log_query_path = '{out}/queries.log'",
        "SET profiling_output = '{out}/profile.json'",
        "PRAGMA enable_profiling = 'json'",
        "SET temp_directory = '{out}/spill'",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE stolen AS SELECT 1 AS x",
        "DROP TABLE training_runs",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('{out}/../w.duckdb')",
        "SELECT * FROM glob('/etc/*')",
    ],
)
def test_a_query_file_can_neither_write_nor_read_files(small_db, tmp_path, statement):
    out = tmp_path / "out"
    out.mkdir()
    sql = tmp_path / "evil.sql"
    sql.write_text(statement.format(out=out))
    before = sorted(os.listdir(small_db.parent))
    code, stdout, stderr = query(small_db, sql)
    assert code == 1, stdout
    assert stderr.startswith(f"Error: {sql}: ") and stderr.count("\n") == 1
    assert list(out.iterdir()) == []  # nothing written where the query pointed
    assert sorted(os.listdir(small_db.parent)) == before  # nor next to the database
    assert "root:" not in stdout + stderr


def test_several_statements_cannot_unlock_then_write(small_db, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    sql = tmp_path / "evil.sql"
    sql.write_text(
        "SET lock_configuration = false;\n"
        "SET enable_external_access = true;\n"
        f"COPY (SELECT 1) TO '{out}/x.csv';\n"
        "SELECT 1 AS one;\n"
    )
    code, _, stderr = query(small_db, sql)
    assert code == 1
    assert "configuration" in stderr
    assert list(out.iterdir()) == []


def test_ordinary_queries_still_work_after_the_lock_down(small_db, tmp_path):
    sql = tmp_path / "ok.sql"
    sql.write_text(
        "-- temp tables live in memory: allowed\n"
        "CREATE TEMP TABLE t AS SELECT run_id FROM training_runs;\n"
        "SELECT count(*) AS n FROM t;\n"
    )
    code, out, err = query(small_db, sql)
    assert code == 0, err
    assert json.loads(out) == [{"n": 3}]
