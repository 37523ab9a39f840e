"""Hardening of the command line: one settings path (file, environment, flags) for every
command, `config show` telling the value in force, query time limits and streaming, and
data that is shown as data (no terminal markup or escapes, no spreadsheet formulas)."""

from __future__ import annotations

import csv
import io
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import click
import duckdb
import pytest
from click.testing import CliRunner, Result

from reconcile import output, queries
from reconcile import settings as config_module
from reconcile.cli import cli

SAMPLE_RUNS = Path(__file__).resolve().parent.parent / "sample_data" / "onprem" / "runs"

#: Values a run table can carry that a terminal or rich would act on.
HOSTILE_NAMES = [
    "[/bold]job",
    "[link=https://evil.example/]click me[/link]",
    "[black on black]hidden",
    "\x1b[2Jcleared",
    "\x9b31mc1-csi",
    "bell\x07and\x08backspace",
    "+SUM(1+1)",
]


def invoke(*args: str) -> Result:
    """Run the CLI in-process with separate stdout and stderr."""
    return CliRunner().invoke(cli, list(args))


def write_config(tmp_path: Path, text: str) -> Path:
    """A reconcile.toml with ``text`` (dedented)."""
    path = tmp_path / "reconcile.toml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def hostile_db(tmp_path: Path) -> Path:
    """A warehouse whose run table carries job names and a model id made of markup,
    escape sequences and formulas, ingested through the real parser."""
    header, first = (SAMPLE_RUNS / "manual.runs.csv").read_text().splitlines()[:2]
    template = next(csv.reader([first]))
    names = next(csv.reader([header]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for index, name in enumerate(HOSTILE_NAMES):
        row = list(template)
        row[names.index("job_name")] = name
        row[names.index("model_id")] = "[red]\x1b]8;;https://evil.example\x07model" if index else ""
        writer.writerow(row)
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "hostile.runs.csv").write_text(buffer.getvalue())
    db = tmp_path / "hostile.duckdb"
    result = invoke("--db", str(db), "ingest", str(folder))
    assert result.exit_code == 0, result.output
    return db


def sql_file(tmp_path: Path, sql: str, name: str = "q.sql") -> Path:
    """A user's SQL file."""
    path = tmp_path / name
    path.write_text(sql)
    return path


# 1. One settings path: [ingest] s3_endpoint_url reaches every command that talks to S3.


def test_every_command_with_an_s3_endpoint_takes_it_from_the_config():
    taking = {
        options for options in config_module.SETTINGS_BY_KEY["ingest.s3_endpoint_url"].options
    }
    found = set()

    def walk(command: click.Command, path: str) -> None:
        for param in command.params:
            if param.name == "s3_endpoint_url":
                found.add((path, "s3_endpoint_url"))
                assert isinstance(param, click.Option)
                assert param.envvar == "RECONCILE_S3_ENDPOINT_URL", path
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())

    walk(cli, "")
    assert found and found == taking


@pytest.mark.emulator
def test_run_ingests_from_the_configured_s3_endpoint(
    tmp_path, s3, bucket, moto_endpoint, monkeypatch
):
    s3.put_object(
        Bucket=bucket,
        Key="runs/manual.runs.csv",
        Body=(SAMPLE_RUNS / "manual.runs.csv").read_bytes(),
    )
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # set by the s3 fixture: only the config may tell
    config = write_config(
        tmp_path,
        f"""
        [ingest]
        s3_endpoint_url = "{moto_endpoint}"

        [[sources]]
        uri = "s3://{bucket}/runs/"
        """,
    )
    db = tmp_path / "w.duckdb"
    result = invoke("--db", str(db), "--config", str(config), "run", "--json")
    assert result.exit_code == 0, result.output
    (source,) = json.loads(result.stdout)["sources"]
    assert source["listed"] > 0
    assert source["new"] == 1


@pytest.mark.emulator
def test_lake_export_writes_to_the_configured_s3_endpoint(
    tmp_path, s3, bucket, moto_endpoint, monkeypatch
):
    db = tmp_path / "w.duckdb"
    assert invoke("--db", str(db), "ingest", str(SAMPLE_RUNS)).exit_code == 0
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    config = write_config(tmp_path, f'[ingest]\ns3_endpoint_url = "{moto_endpoint}"\n')
    result = invoke(
        "--db", str(db), "--config", str(config), "lake", "export", f"s3://{bucket}/lake"
    )
    assert result.exit_code == 0, result.output
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "lake/_reconcile_lake.json" in keys


def test_ingest_format_in_the_config_is_used(tmp_path):
    """[ingest] format (shown by `config show`) reaches `ingest --format`."""
    config = write_config(tmp_path, '[ingest]\nformat = "no_such_format"\n')
    result = invoke(
        "--db", str(tmp_path / "w.duckdb"), "--config", str(config), "ingest", str(SAMPLE_RUNS)
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown format 'no_such_format'")


# 3. Query time limits, streamed output.

SLOW_SQL = "SELECT sum(a.range * b.range) AS s FROM range(100000000) a, range(100000) b"


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_query_past_its_timeout_is_interrupted(hostile_db, tmp_path, fmt):
    sql = sql_file(tmp_path, SLOW_SQL, "slow.sql")
    result = invoke("--db", str(hostile_db), "query", str(sql), "--format", fmt, "--timeout", "0.5")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {sql}: stopped after the time limit of 0.5 s")
    assert result.stderr.count("\n") == 1


def test_the_timeout_interrupts_a_result_while_it_streams(hostile_db, tmp_path):
    sql = sql_file(tmp_path, "SELECT range AS n FROM range(10000000000)", "long.sql")
    result = invoke(
        "--db", str(hostile_db), "query", str(sql), "--format", "csv", "--timeout", "0.5"
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("n\n0\n1\n")  # rows were written as they came
    assert "time limit of 0.5 s" in result.stderr and result.stderr.count("\n") == 1


def test_the_timeout_comes_from_the_config_and_the_environment(hostile_db, tmp_path, monkeypatch):
    sql = sql_file(tmp_path, SLOW_SQL, "slow.sql")
    config = write_config(tmp_path, "[query]\ntimeout = 0.5\n")
    result = invoke("--db", str(hostile_db), "--config", str(config), "query", str(sql))
    assert result.exit_code == 1
    assert "time limit of 0.5 s" in result.stderr
    monkeypatch.setenv("RECONCILE_QUERY_TIMEOUT", "0.25")
    result = invoke("--db", str(hostile_db), "--config", str(config), "query", str(sql))
    assert "time limit of 0.25 s" in result.stderr


@pytest.mark.parametrize("value", ["-1", '"soon"'])
def test_an_invalid_query_timeout_in_the_config_names_the_key(tmp_path, value):
    config = write_config(tmp_path, f"[query]\ntimeout = {value}\n")
    result = invoke("--config", str(config), "query", "runs")
    assert result.exit_code == 1
    assert "'query.timeout' must be" in result.stderr and result.stderr.count("\n") == 1


def test_a_fast_query_is_not_interrupted_and_zero_means_no_limit(hostile_db, tmp_path):
    sql = sql_file(tmp_path, "SELECT 42 AS n")
    for timeout in ("0", "30"):
        result = invoke(
            "--db", str(hostile_db), "query", str(sql), "--format", "json", "--timeout", timeout
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == [{"n": 42}]


def test_results_are_streamed_in_batches_and_equal_the_whole_table(tmp_path):
    con = duckdb.connect()
    query = queries.QueryFile(
        "many", "many.sql", "SELECT range AS n, 'x' || range AS s FROM range(25000)"
    )
    names, batches = queries.stream(con, query, {}, batch_rows=1000)
    chunks = list(batches)
    assert names == ["n", "s"] and len(chunks) >= 25
    whole = queries.run(con, query, {})
    assert "".join(output.iter_json(chunks)) == output.to_json(whole)
    assert "".join(output.iter_csv(names, chunks)) == output.to_csv(whole)
    assert "".join(output.iter_json([])) == "[]"


def test_json_and_csv_output_of_many_rows(hostile_db, tmp_path):
    sql = sql_file(tmp_path, "SELECT range AS n FROM range(25000)")
    result = invoke("--db", str(hostile_db), "query", str(sql), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{"n": i} for i in range(25000)]
    result = invoke("--db", str(hostile_db), "query", str(sql), "--format", "csv")
    assert result.stdout.splitlines() == ["n", *map(str, range(25000))]


# 4. Data is never read as terminal markup or control sequences.


def _assert_inert(text: str) -> None:
    assert not any(ch in text for ch in "\x1b\x9b\x07\x08"), repr(text)


def test_markup_and_escapes_in_data_are_shown_literally(hostile_db, tmp_path):
    sql = sql_file(tmp_path, "SELECT job_name FROM training_runs ORDER BY job_name")
    result = invoke("--db", str(hostile_db), "query", str(sql))
    assert result.exit_code == 0, result.output
    _assert_inert(result.stdout)
    for literal in (
        "[/bold]job",
        "[link=https://evil.example/]click me[/link]",
        "[black on black]hidden",
        "[2Jcleared",
        "31mc1-csi",
        "bellandbackspace",
    ):
        assert literal in result.stdout, literal


def test_query_runs_in_table_format_survives_hostile_names(hostile_db):
    result = invoke("--db", str(hostile_db), "query", "runs")
    assert result.exit_code == 0, result.output
    _assert_inert(result.stdout)
    assert "runs (7 rows)" in result.stdout


def test_a_hostile_query_file_name_and_column_name_are_inert(hostile_db, tmp_path):
    sql = sql_file(tmp_path, 'SELECT 1 AS "[bold]\x1b[31mcol"', "[red]name.sql")
    result = invoke("--db", str(hostile_db), "query", str(sql))
    assert result.exit_code == 0, result.output
    _assert_inert(result.stdout)
    assert "[red]name (1" in result.stdout  # the title wraps to the table's width
    assert "[bold][31mcol" in result.stdout


def test_status_shows_model_ids_without_escapes(hostile_db):
    assert invoke("--db", str(hostile_db), "estimate").exit_code == 0
    result = invoke("--db", str(hostile_db), "status")
    assert result.exit_code == 0, result.output
    _assert_inert(result.stdout)
    assert "[red]]8;;https://evil.example" in result.stdout


def test_json_output_escapes_c1_controls(hostile_db, tmp_path):
    sql = sql_file(tmp_path, "SELECT job_name FROM training_runs ORDER BY job_name")
    result = invoke("--db", str(hostile_db), "query", str(sql), "--format", "json")
    _assert_inert(result.stdout)
    assert sorted(r["job_name"] for r in json.loads(result.stdout)) == sorted(HOSTILE_NAMES)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b[2Jb", "a[2Jb"),
        ("a\x9b2Jb", "a2Jb"),
        ("line\nnext\r\tend", "line next end"),
        ("\u202eevil\u202c", "evil"),
        ("caf\u00e9 \U0001f999", "caf\u00e9 \U0001f999"),
    ],
)
def test_terminal_safe(raw, shown):
    assert output.terminal_safe(raw) == shown


# 5. CSV formula injection.


def test_csv_cells_that_look_like_formulas_are_neutralised(hostile_db, tmp_path):
    sql = sql_file(
        tmp_path,
        "SELECT * FROM (VALUES "
        "(1, '+SUM(1+1)', -5, -2.5::DOUBLE), (2, '=HYPERLINK(\"x\")', 7, 0.0), "
        "(3, '@cmd', -1, 1.0), (4, '-2+3', 0, 2.0), (5, '-42', 0, 3.0), "
        "(6, e'\\tx', 0, 4.0), (7, e'\\rx', 0, 5.0), (8, 'plain', 0, 6.0), "
        "(9, '-1.5e3', 0, 7.0)"
        ') AS t(i, "=label", n, d) ORDER BY i',
    )
    result = invoke("--db", str(hostile_db), "query", str(sql), "--format", "csv")
    assert result.exit_code == 0, result.output
    header, *rows = list(csv.reader(io.StringIO(result.stdout)))
    assert header == ["i", "'=label", "n", "d"]
    assert [r[1] for r in rows] == [
        "'+SUM(1+1)",
        '\'=HYPERLINK("x")',
        "'@cmd",
        "'-2+3",
        "-42",  # a plain number as text: a spreadsheet reads a number, no formula
        "'\tx",
        "'\rx",
        "plain",
        "-1.5e3",
    ]
    assert [r[2] for r in rows][:3] == ["-5", "7", "-1"]  # numbers stay numbers
    assert rows[0][3] == "-2.5"


def test_csv_neutralises_job_names_from_the_warehouse(hostile_db, tmp_path):
    sql = sql_file(tmp_path, "SELECT job_name FROM training_runs WHERE job_name LIKE '+%'")
    result = invoke("--db", str(hostile_db), "query", str(sql), "--format", "csv")
    assert result.stdout == "job_name\n'+SUM(1+1)\n"


# 6. `config show` tells the value in force and where it came from.


def _shown(result: Result) -> dict[str, str]:
    assert result.exit_code == 0, result.output
    return dict(line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line)


def test_config_show_reports_the_environment_over_the_file(tmp_path, monkeypatch):
    config = write_config(
        tmp_path,
        """
        [warehouse]
        memory_limit = "1GB"

        [query]
        timeout = 60

        [ingest]
        s3_endpoint_url = "http://file.example:9000"
        """,
    )
    shown = _shown(invoke("--config", str(config), "config", "show"))
    assert shown["warehouse.memory_limit"] == f"1GB  (file {config})"
    assert shown["query.timeout"] == f"60  (file {config})"
    assert shown["run.lock_timeout"] == "60.0  (default)"
    assert "RECONCILE_MEMORY_LIMIT" not in os.environ  # the file's value did not leak

    monkeypatch.setenv("RECONCILE_MEMORY_LIMIT", "2GB")
    monkeypatch.setenv("RECONCILE_QUERY_TIMEOUT", "5")
    monkeypatch.setenv("RECONCILE_S3_ENDPOINT_URL", "http://env.example:9000")
    monkeypatch.setenv("RECONCILE_LOCK_TIMEOUT", "7")
    shown = _shown(invoke("--config", str(config), "config", "show"))
    assert shown["warehouse.memory_limit"] == "2GB  (env)"
    assert shown["query.timeout"] == "5  (env)"
    assert shown["ingest.s3_endpoint_url"] == "http://env.example:9000  (env)"
    assert shown["run.lock_timeout"] == "7  (env)"
    assert shown["config"] == f"{config}  (flag; found)"


def test_config_show_matches_the_memory_limit_a_query_runs_under(hostile_db, tmp_path, monkeypatch):
    config = write_config(tmp_path, '[warehouse]\nmemory_limit = "1GB"\n')
    sql = sql_file(tmp_path, "SELECT current_setting('memory_limit') AS m")

    def in_force() -> str:
        result = invoke(
            "--db", str(hostile_db), "--config", str(config), "query", str(sql), "--format", "json"
        )
        assert result.exit_code == 0, result.output
        value: str = json.loads(result.stdout)[0]["m"]
        return value

    def duckdb_says(limit: str) -> Any:
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{limit}'")
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]  # type: ignore[index]

    assert in_force() == duckdb_says("1GB")
    monkeypatch.setenv("RECONCILE_MEMORY_LIMIT", "2GB")
    assert in_force() == duckdb_says("2GB")
    shown = _shown(invoke("--config", str(config), "config", "show"))
    assert shown["warehouse.memory_limit"] == "2GB  (env)"


def test_config_show_without_a_file_shows_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shown = _shown(invoke("config", "show"))
    assert shown["warehouse.memory_limit"] == "512MB  (default)"
    assert shown["query.timeout"] == "300.0  (default)"
    assert shown["ingest.s3_endpoint_url"] == "(none: AWS)  (default)"
    assert shown["ingest.workers"] == "(1 for local folders, 8 for object stores)  (default)"
    assert shown["engine.name"] == "duckdb  (default)"
    assert shown["config"] == "reconcile.toml  (default; no file: defaults)"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://boto.example:9000")
    shown = _shown(invoke("config", "show"))
    assert shown["ingest.s3_endpoint_url"] == (
        "http://boto.example:9000  (env AWS_ENDPOINT_URL, read by boto3)"
    )


def test_every_setting_in_the_schema_is_shown(tmp_path):
    """A key of the file's schema that `config show` forgets would hide its value."""
    config = write_config(tmp_path, "")
    shown = _shown(invoke("--config", str(config), "config", "show"))
    for table, keys in config_module.SCHEMA.items():
        if isinstance(keys, dict):
            assert all(f"{table}.{k}" in shown for k in keys) or table in shown, table
        elif table != "sources":
            assert table in shown, table


def test_run_retries_quarantined_objects_on_request(tmp_path):
    """`run --retry-quarantined` re-reads an unchanged quarantined object, as `ingest` does."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "team.runs.csv").write_text("job_name,tokens\nbroken,-5\n")
    config = write_config(tmp_path, f'[[sources]]\nuri = "{source.as_posix()}"\n')
    db = tmp_path / "w.duckdb"
    base = ["--config", str(config), "--db", str(db)]

    def attempts() -> int:
        con = duckdb.connect(str(db), read_only=True)
        try:
            return int(con.execute("SELECT max(attempts) FROM quarantine").fetchone()[0])
        finally:
            con.close()

    assert invoke(*base, "run").exit_code == 3
    assert attempts() == 1
    assert invoke(*base, "run").exit_code == 3
    assert attempts() == 1  # unchanged: not read again
    assert invoke(*base, "run", "--retry-quarantined").exit_code == 3
    assert attempts() == 2


def test_log_events_survive_a_host_dictconfig(tmp_path):
    """``logging.config.dictConfig`` (a host application's, or a library's) disables every
    logger that existed before it; the command line's events must still reach stderr."""
    import logging.config

    logging.getLogger("reconcile")  # exists before the host configures logging

    logging.config.dictConfig({"version": 1})
    assert logging.getLogger("reconcile").disabled
    config = tmp_path / "reconcile.toml"
    config.write_text(f'[[sources]]\nuri = "{SAMPLE_RUNS.as_posix()}"\n', encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--log-format", "json",
              "--db", str(tmp_path / "w.duckdb"), "run"]
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert events[0] == "run.start" and "ingest.source" in events and events[-1] == "run.done"
