"""`reconcile query` for people and for tools: inline SQL, readable numbers in tables,
Markdown and Parquet output, -o FILE, "did you mean", a vertical layout for wide results."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from reconcile.cli import cli

NUMBERS = "SELECT 1.2759254097224273 AS x, 12345678.9 AS y, 1e23 AS z, 2304 AS n, 'a|b' AS t"


@pytest.fixture(scope="module")
def db(tmp_path_factory, sample_data):
    root = tmp_path_factory.mktemp("query")
    shutil.copytree(sample_data / "onprem/runs", root / "runs")
    path = root / "w.duckdb"
    assert CliRunner().invoke(cli, ["--db", str(path), "ingest", str(root / "runs")]).exit_code == 0
    return path


def query(db, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), "query", *args])


def test_inline_sql_positional_or_with_sql(db):
    for args in ([NUMBERS, "--format", "json"], ["--sql", NUMBERS, "--format", "json"]):
        result = query(db, *args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == [
            {"x": 1.2759254097224273, "y": 12345678.9, "z": 1e23, "n": 2304, "t": "a|b"}
        ]  # raw values in json


def test_tables_show_readable_numbers_and_markdown_too(db):
    table = query(db, NUMBERS)
    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if "1.28" in line)
    assert [c.strip() for c in row.strip("│ ").split("│")] == [
        "1.28",
        "12,345,679",
        "1e+23",
        "2,304",
        "a|b",
    ]
    markdown = query(db, NUMBERS, "--format", "markdown")
    assert markdown.stdout.splitlines() == [
        "| x | y | z | n | t |",
        "|--:|--:|--:|--:|---|",
        "| 1.28 | 12,345,679 | 1e+23 | 2,304 | a\\|b |",
    ]


def test_parquet_and_csv_to_a_file(db, tmp_path):
    out = tmp_path / "runs.parquet"
    result = query(db, "runs", "--format", "parquet", "-o", str(out))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows >= 1 and "run_id" in table.column_names
    assert query(db, "runs", "--format", "parquet").exit_code == 2  # needs -o
    csv_out = tmp_path / "runs.csv"
    assert query(db, "runs", "--format", "csv", "-o", str(csv_out)).exit_code == 0
    assert csv_out.read_text().splitlines()[0].startswith("run_id,")
    assert len(csv_out.read_text().splitlines()) == table.num_rows + 1


def test_a_mistyped_name_gets_a_suggestion(db):
    result = query(db, "biling_totals")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: unknown query 'biling_totals' (did you mean billing_totals or billing_by_tag?)"
    )


def test_a_wide_result_is_shown_one_row_per_block(db):
    result = query(db, "runs")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("runs (") and lines[1].startswith("-- row 1 ")
    assert any(line.strip().startswith("run_id: ") for line in lines)
