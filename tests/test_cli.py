"""The command line: exit codes, one-line errors, queries with bound parameters."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from reconcile.cli import EXIT_CODES, cli


@pytest.fixture
def loaded_db(tmp_path, sample_data):
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(sample_data)])
    assert result.exit_code == 0, result.output
    return db


def test_every_command_has_help():
    def walk(command: click.Command, path: str) -> None:
        assert command.help and command.help.strip(), f"{path} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{path} {param.opts[0]} has no help text"
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "reconcile")


def test_top_level_help_describes_the_whole_tool():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for word in ("ingest", "query", "estimate", "status", "report", "run", "Exit codes"):
        assert word in result.output


def test_exit_codes_table():
    assert EXIT_CODES == {"ok": 0, "error": 1, "usage": 2, "quarantined": 3, "fail_on": 4}


def test_usage_error_exits_2():
    result = CliRunner().invoke(cli, ["ingest"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2


def test_unknown_scheme_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", "ftp://x/y"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: unsupported source scheme ftp:// (known: az://, file://, gs://, s3://)\n"
    )
    assert not (tmp_path / "w.duckdb").exists()


def test_unknown_format_lists_the_known_ones(tmp_path, sample_data):
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", "--format", "nope", str(sample_data)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown format 'nope' (known: ")
    assert "hf_checkpoint" in result.stderr and result.stderr.count("\n") == 1


def test_query_with_a_bound_parameter(loaded_db):
    runs = json.loads(
        CliRunner()
        .invoke(cli, ["--db", str(loaded_db), "query", "runs", "--format", "json"])
        .stdout
    )
    sft = next(r for r in runs if r["job_name"] == "qwen7b-sft-20250304-1301")
    assert sft["tokens"] == 402_653_184
    assert sft["method"] == "lora"
    assert sft["flags"] == []
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            str(loaded_db),
            "query",
            "run",
            "--format",
            "json",
            "--param",
            f"run_id={sft['run_id']}",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    # One row per piece of evidence of the run: meter file, checkpoint folder, job JSON.
    assert [r["source_format"] for r in rows] == ["flops_meter", "hf_checkpoint", "sagemaker_job"]
    assert {r["run_id"] for r in rows} == {sft["run_id"]}
    assert all(r["steps"] == 1536 for r in rows)
    assert all(len(r["evidence_sha256"]) == 64 for r in rows)


def test_parameter_values_are_bound_not_pasted(loaded_db):
    hostile = "x' OR '1'='1"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            str(loaded_db),
            "query",
            "run",
            "--format",
            "json",
            "--param",
            f"run_id={hostile}",
        ],
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_missing_parameter_is_a_clear_error(loaded_db):
    result = CliRunner().invoke(cli, ["--db", str(loaded_db), "query", "run"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: queries/run.sql: ")
    assert "run_id" in result.stderr
    assert result.stderr.count("\n") == 1


def test_query_files_cannot_write(loaded_db, tmp_path):
    sql = tmp_path / "drop.sql"
    sql.write_text("DROP TABLE training_runs;")
    result = CliRunner().invoke(cli, ["--db", str(loaded_db), "query", str(sql)])
    assert result.exit_code == 1
    assert "read-only" in result.stderr
    runs = json.loads(
        CliRunner()
        .invoke(cli, ["--db", str(loaded_db), "query", "runs", "--format", "json"])
        .stdout
    )
    # Six checkpoint-folder runs (tracker exports, job descriptions and the meter merge into
    # them) and the run table's three runs; the MLflow campaign parent "mistral-cpt" is not
    # a run of its own.
    assert len(runs) == 9


def test_csv_output(loaded_db):
    assert CliRunner().invoke(cli, ["--db", str(loaded_db), "estimate"]).exit_code == 0
    result = CliRunner().invoke(
        cli, ["--db", str(loaded_db), "query", "per_model_totals", "--format", "csv"]
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "model_id,base_model,runs,tokens,flops,flops_low,flops_high,"
        "threshold_flops,threshold_basis,share_of_threshold,status"
    )
    # run1..run3 (69,000 + 66,000 + 71,500 steps x 4,194,304 tokens, from total_flos)
    (mistral,) = [line for line in lines if line.startswith("acme-mistral-7b-cpt,")]
    assert mistral.startswith("acme-mistral-7b-cpt,mistralai/Mistral-7B-v0.1,3,866123776000,")
    assert mistral.endswith(",default_gpai,1.2759254097224273,provider")


def test_query_on_missing_database(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.duckdb"), "query", "runs"])
    assert result.exit_code == 1
    assert "no such database" in result.stderr


def test_config_file_and_environment_precedence(tmp_path, sample_data, monkeypatch):
    config = tmp_path / "reconcile.toml"
    from_file = tmp_path / "from-file.duckdb"
    config.write_text(f'db = "{from_file}"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "ingest", str(sample_data)])
    assert result.exit_code == 0, result.output
    assert from_file.exists()
    from_env = tmp_path / "from-env.duckdb"
    monkeypatch.setenv("RECONCILE_DB", str(from_env))
    result = CliRunner().invoke(cli, ["--config", str(config), "ingest", str(sample_data)])
    assert result.exit_code == 0
    assert from_env.exists()


def test_invalid_config_names_the_key(tmp_path):
    config = tmp_path / "reconcile.toml"
    config.write_text("[ingest]\nworkerz = 3\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "query", "runs"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "unknown key 'ingest.workerz'" in result.stderr
    config.write_text("db = 5\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "query", "runs"])
    assert "'db' must be str, got int" in result.stderr


def test_options_for_an_unknown_format_are_an_error(tmp_path, sample_data):
    config = tmp_path / "reconcile.toml"
    config.write_text("[formats.hf_checkpiont]\nx = 1\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "ingest", str(sample_data)])
    assert result.exit_code == 1
    assert "unknown key 'formats.hf_checkpiont'" in result.stderr
    config.write_text("[formats.hf_checkpoint]\nx = 1\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "ingest", str(sample_data)])
    assert result.exit_code == 1
    assert "unknown key 'formats.hf_checkpoint.x'" in result.stderr
