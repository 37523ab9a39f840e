"""`[logging] secret_tags`: the values of those tags never reach an error line, a log event
or the quarantine table (and so never the report)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.errors import redact_secrets, set_secret_tags

BAD_TAGS = (
    "job_name,platform,tokens,tags\n"
    'job-a,slurm,100,"{""customer"": ""Bigbank AG"", ""team"": 5"\n'
)


@pytest.fixture(autouse=True)
def _reset():
    yield
    set_secret_tags([])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'got \'{"customer": "Bigbank AG", "team": "ml"}\'',
            'got \'{"customer": ***, "team": "ml"}\'',
        ),
        ("tags {user:customer=Bigbank, project=x}", "tags {user:customer=***, project=x}"),
        ("Customer: 'acme corp'", "Customer: ***"),
        ('{"user_customer":"a\\"b", "x": 1}', '{"user_customer":***, "x": 1}'),
        ("label:customer => bigbank;", "label:customer => ***;"),
        ("the customer table", "the customer table"),  # no value: unchanged
        ("customers: 3", "customers: 3"),  # another key
    ],
)
def test_redaction_masks_values_of_secret_keys_only(text, expected):
    set_secret_tags(["customer"])
    assert redact_secrets(text) == expected


def test_without_secret_tags_nothing_changes():
    set_secret_tags([])
    assert redact_secrets('{"customer": "Bigbank"}') == '{"customer": "Bigbank"}'


def test_secret_tag_values_stay_out_of_errors_logs_and_the_quarantine(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "bad.runs.csv").write_text(BAD_TAGS, encoding="utf-8")
    config = tmp_path / "reconcile.toml"
    config.write_text('[logging]\nsecret_tags = ["customer"]\n[[sources]]\n'
                      f'uri = "{source.as_posix()}"\n', encoding="utf-8")
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    ingest = runner.invoke(cli, ["--config", str(config), "--db", str(db), "ingest", str(source)])
    assert ingest.exit_code == 3
    assert "column tags" in ingest.stderr and '"customer": ***' in ingest.stderr
    run = runner.invoke(
        cli, ["--config", str(config), "--log-format", "json", "--db", str(db), "run"]
    )
    assert run.exit_code == 3
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert any(e["event"] == "ingest.quarantined" for e in events)
    with duckdb.connect(str(db), read_only=True) as con:
        (error,) = con.execute("SELECT error FROM quarantine").fetchone()
    assert '"customer": ***' in error
    for text in (ingest.stdout, ingest.stderr, run.stdout, run.stderr, error):
        assert "Bigbank" not in text
    # Without the setting the value is quoted (the point of the option).
    plain = runner.invoke(cli, ["--db", str(tmp_path / "p.duckdb"), "ingest", str(source)])
    assert "Bigbank AG" in plain.stderr


def test_secret_tags_must_be_a_list_of_strings(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text("[logging]\nsecret_tags = \"customer\"\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert result.exit_code == 1
    assert "'logging.secret_tags' must be list" in result.stderr
