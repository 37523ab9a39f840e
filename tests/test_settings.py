"""The settings: every section validated once, when the settings are loaded, and handed
to the commands, the scheduled job and the library explicitly (no environment side
channel); the pipeline's stages resolve the evidence once per change."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from reconcile import pipeline
from reconcile.api import Warehouse
from reconcile.cli import cli
from reconcile.errors import ConfigError
from reconcile.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

#: One invalid value per section a module validates, and the words its error has.
BAD_SECTIONS = {
    "estimate": ("[estimate]\nutilisaton = 0.3\n", "unknown key 'estimate.utilisaton'"),
    "lineage": ('[lineage."m"]\nruns = "a"\n', "'lineage.m.runs' must be a list of strings"),
    "energy": ("[energy]\npue = 9\n", "'energy.pue' must be between 1.0 and 3.0, got 9"),
    "models": ("[models]\nhub = 1\n", "'models.hub' must be true or false"),
    "models.base": (
        '[models.base."org/m"]\npretraining_flops = 1e24\n',
        "'models.base.org/m.source' is required with a compute figure",
    ),
    "formats": ("[formats.nosuch]\nx = 1\n", "unknown key 'formats.nosuch'"),
    "engine": ('[engine]\nname = "trino"\n', "unknown engine 'trino'"),
    "sources": ('[[sources]]\nuri = "a"\nbucket = "b"\n', "unknown key 'sources[0].bucket'"),
    "logging": ("[logging]\nsecret_tags = [1]\n", "'logging.secret_tags' must be a list"),
}


@pytest.mark.parametrize("section", sorted(BAD_SECTIONS))
def test_every_section_is_validated_when_the_settings_load(tmp_path, section):
    text, words = BAD_SECTIONS[section]
    path = tmp_path / "reconcile.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        Settings.load(path, required=True)
    assert raised.value.message == f"{path}: {words}" or raised.value.message.startswith(
        f"{path}: {words}"
    )
    # every command stops there, `config show` and read-only ones included
    for args in (["config", "show"], ["status"], ["query", "--list"]):
        result = CliRunner().invoke(cli, ["--config", str(path), *args])
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith(f"Error: {path}: {words}"), result.stderr
        assert result.stderr.count("\n") == 1


def test_the_library_validates_the_same_sections(tmp_path):
    path = tmp_path / "reconcile.toml"
    path.write_text(BAD_SECTIONS["estimate"][0])
    with pytest.raises(ConfigError, match=re.escape(BAD_SECTIONS["estimate"][1])):
        Warehouse(tmp_path / "w.duckdb", config=path)


def test_the_memory_limit_reaches_the_connections_without_the_environment(
    tmp_path, sample_data, monkeypatch
):
    monkeypatch.delenv("RECONCILE_MEMORY_LIMIT", raising=False)
    path = tmp_path / "reconcile.toml"
    path.write_text('[warehouse]\nmemory_limit = "1GB"\n')
    settings = Settings.load(path, required=True, db=tmp_path / "w.duckdb")
    assert settings.memory_limit == "1GB"
    pipeline.ingest(settings, pipeline.open_sources(settings, [str(sample_data / "onprem")]))
    with pipeline.reading(settings) as con:
        (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    expected = duckdb.connect().execute("SET memory_limit = '1GB'")
    assert limit == expected.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert "RECONCILE_MEMORY_LIMIT" not in os.environ
    # the environment still beats the file, read once into the settings
    monkeypatch.setenv("RECONCILE_MEMORY_LIMIT", "2GB")
    assert Settings.load(path, required=True).memory_limit == "2GB"


def _resolved_at(db: Path) -> list[tuple[str, object]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT run_key, resolved_at FROM resolved_runs ORDER BY run_key"
        ).fetchall()
    finally:
        con.close()


def test_evidence_is_resolved_once_per_change(tmp_path, sample_data):
    db = tmp_path / "w.duckdb"
    settings = Settings.from_data({}, db=db)
    pipeline.ingest(settings, pipeline.open_sources(settings, [str(sample_data)]))
    after_ingest = _resolved_at(db)
    assert after_ingest
    pipeline.estimate(settings)
    assert _resolved_at(db) == after_ingest  # the estimate found them current
    # an ingest of nothing new does not resolve either
    summary = pipeline.ingest(settings, pipeline.open_sources(settings, [str(sample_data)]))
    assert summary.logical_runs is None and _resolved_at(db) == after_ingest
    # another [models] configuration: the estimate resolves again, with it
    aliased = Settings.from_data(
        {"models": {"aliases": {"mistral-7b": "mistralai/Mistral-7B-v0.1"}}}, db=db
    )
    pipeline.estimate(aliased)
    again = _resolved_at(db)
    assert [k for k, _ in again] == [k for k, _ in after_ingest]
    assert all(new > old for (_, new), (_, old) in zip(again, after_ingest, strict=True))


def test_the_command_line_holds_no_sql_and_no_transaction():
    """cli.py parses flags, calls the pipeline and prints: the SQL and the transactions
    live in the stages."""
    text = (ROOT / "reconcile" / "cli.py").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for pattern in (r"\.execute\(", r"\.sql\(", r"\bBEGIN\b", r"\bCOMMIT\b", r"\bSELECT\b"):
        assert not re.search(pattern, code), pattern
    for pattern in (r"os\.environ\[[^]]+\]\s*=", r"registry_for|ModelRegistry\("):
        assert not re.search(pattern, code), pattern


def test_config_show_prints_the_settings_in_force(tmp_path):
    path = tmp_path / "reconcile.toml"
    path.write_text(
        textwrap.dedent(
            """
            [estimate]
            default_precision = "fp16"

            [[sources]]
            uri = "s3://acme-billing/cur/"
            """
        )
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "show"])
    assert result.exit_code == 0, result.output
    assert f'estimate = {{"default_precision": "fp16"}}  (file {path})' in result.output
    assert f"sources = s3://acme-billing/cur/  (file {path})" in result.output


def test_runs_of_evidence_since_removed_are_resolved_away(tmp_path, sample_data):
    """A run table re-delivered empty leaves no logical run, model or status behind."""
    folder = tmp_path / "runs"
    folder.mkdir()
    table = folder / "manual.runs.csv"
    table.write_text((sample_data / "onprem" / "runs" / "manual.runs.csv").read_text())
    settings = Settings.from_data({}, db=tmp_path / "w.duckdb")
    pipeline.ingest(settings, pipeline.open_sources(settings, [str(folder)]))
    assert pipeline.estimate(settings).runs > 0
    table.write_text(table.read_text().splitlines()[0] + "\n")  # the header alone
    pipeline.ingest(settings, pipeline.open_sources(settings, [str(folder)]))
    summary = pipeline.estimate(settings)
    assert summary.runs == 0 and summary.models == {}
    with pipeline.reading(settings) as con:
        assert con.execute("SELECT count(*) FROM resolved_runs").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM compliance_status").fetchone() == (0,)


def test_a_tool_with_another_catalog_resolves_again(tmp_path, sample_data, monkeypatch):
    """What a run resolves to depends on the catalog the tool ships: a warehouse resolved
    by a tool with another catalog (or another transformers) is resolved again."""
    from reconcile import models, resolve
    from reconcile.models import ModelRegistry

    settings = Settings.from_data({}, db=tmp_path / "w.duckdb")
    pipeline.ingest(settings, pipeline.open_sources(settings, [str(sample_data / "onprem")]))
    with pipeline.writing(settings, "test") as con:
        assert not resolve.needs_resolving(con, ModelRegistry())
        monkeypatch.setattr(models, "shipped_digest", lambda: "another catalog")
        assert resolve.needs_resolving(con, ModelRegistry())


@pytest.mark.parametrize(
    ("text", "environ", "words"),
    [
        ('[report]\nformats = ["html", "pdf"]\n', {}, "unknown report format pdf"),
        ('[warehouse]\nmemory_limit = "lots"\n', {}, "'warehouse.memory_limit' 'lots' is not"),
        ("", {"RECONCILE_MEMORY_LIMIT": "lots"}, "'warehouse.memory_limit' 'lots' is not"),
        ('[run]\nfail_on = "everything"\n', {}, "'run.fail_on' must be one of provider, review"),
        ('log_format = "xml"\n', {}, "'log_format' must be one of human, json"),
        ("", {"RECONCILE_ENGINE": "trino"}, "unknown engine 'trino'"),
    ],
)
def test_values_a_command_would_refuse_halfway_are_refused_at_load(tmp_path, text, environ, words):
    """A run must not ingest and estimate for an hour and then stop at its report."""
    path = tmp_path / "reconcile.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        Settings.load(path, required=True, environ=environ)
    assert words in raised.value.one_line()


def test_help_and_version_answer_whatever_the_configuration(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[models]\nbogus = 1\n")
    runner = CliRunner()
    for args in (["--help"], ["--version"], ["status", "--help"], ["run", "-h"]):
        result = runner.invoke(cli, ["--config", str(path), *args])
        assert result.exit_code == 0, (args, result.output)
    result = runner.invoke(cli, ["--config", str(path), "status"])
    assert result.exit_code == 1
    assert (
        result.stderr == f"Error: {path}: unknown key 'models.bogus' (known: aliases, base, hub)\n"
    )


def test_the_library_estimates_on_the_configured_engine_and_masks_secret_tags(
    tmp_path, sample_data
):
    from reconcile.errors import redact_secrets, set_secret_tags

    path = tmp_path / "reconcile.toml"
    path.write_text('[logging]\nsecret_tags = ["customer"]\n[engine]\nname = "duckdb"\n')
    try:
        wh = Warehouse(tmp_path / "w.duckdb", config=path)
        assert wh.settings.engine_name == "duckdb"
        assert redact_secrets("customer=Bigbank") == "customer=***"
    finally:
        set_secret_tags([])
