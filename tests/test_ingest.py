"""Exactly-once ingest from local folders: skip, replace, quarantine, never double."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.registry import open_source
from reconcile import ingest, warehouse
from reconcile.cli import cli

SFT = "aws/acme-ml-artifacts/sagemaker/qwen7b-sft-20250304-1301/output"


def totals(db: Path) -> dict:
    con = warehouse.open_for_read(db)
    try:
        rows = con.execute(
            "SELECT count(*), sum(steps), sum(tokens), sum(reported_flops) FROM training_runs"
        ).fetchall()[0]
        ledger = con.execute("SELECT count(*), sum(row_count) FROM ingest_ledger").fetchall()[0]
        orphans = con.execute(
            "SELECT count(*) FROM training_runs r ANTI JOIN ingest_ledger l ON l.uri = r.source_uri"
        ).fetchall()[0][0]
    finally:
        con.close()
    return {
        "runs": rows[0],
        "steps": rows[1],
        "tokens": rows[2],
        "flops": rows[3],
        "ledger": ledger[0],
        "ledger_rows": ledger[1],
        "orphans": orphans,
    }


def run_ingest(db: Path, *sources: str) -> ingest.IngestSummary:
    con = warehouse.open_for_write(db)
    try:
        return ingest.ingest(con, [open_source(s) for s in sources])
    finally:
        con.close()


def test_second_run_is_a_no_op(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    first = run_ingest(db, str(hf_runs_copy))
    assert first.counts["new"] == 6
    assert first.rows["training_runs"] == 6
    before = totals(db)
    second = run_ingest(db, str(hf_runs_copy))
    assert second.counts["unchanged"] == 6
    assert second.counts["new"] == second.counts["replaced"] == 0
    assert second.bytes_read == 0
    assert totals(db) == before
    assert before == {
        "runs": 6,
        "steps": 1536 + 200 + 2300 + 69000 + 66000 + 71500,
        "tokens": 402_653_184 + 2_411_724_800,
        "flops": pytest.approx(
            # 6 x tokens x the parameters HF counts (non-embedding, adapters included)
            6 * 402_653_184 * 7_110_989_312
            + 6 * 2_411_724_800 * 7_504_924_672
            + 6 * (69_000 + 66_000 + 71_500) * 4_194_304 * 7_110_660_096
        ),
        "ledger": 6,
        "ledger_rows": 6,
        "orphans": 0,
    }


def test_changed_object_replaces_only_its_rows(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    run_ingest(db, str(hf_runs_copy))
    con = warehouse.open_for_read(db)
    loaded_before = dict(con.execute("SELECT uri, loaded_at FROM ingest_ledger").fetchall())
    con.close()
    state_path = hf_runs_copy / SFT / "trainer_state.json"
    state = json.loads(state_path.read_text())
    state["num_input_tokens_seen"] = 500_000_000
    state_path.write_text(json.dumps(state))
    summary = run_ingest(db, str(hf_runs_copy))
    assert (summary.counts["replaced"], summary.counts["unchanged"]) == (1, 5)
    assert summary.rows_deleted["training_runs"] == 1
    after = totals(db)
    assert after["runs"] == 6
    assert after["tokens"] == 500_000_000 + 2_411_724_800
    con = warehouse.open_for_read(db)
    loaded_after = dict(con.execute("SELECT uri, loaded_at FROM ingest_ledger").fetchall())
    con.close()
    changed = [uri for uri in loaded_after if loaded_after[uri] != loaded_before[uri]]
    assert changed == [(hf_runs_copy / SFT).resolve().as_uri()]


def test_new_checkpoint_in_a_run_folder_replaces_the_run_row(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    run_ingest(db, str(hf_runs_copy))
    extra = hf_runs_copy / SFT / "checkpoint-1536"
    extra.mkdir()
    (extra / "trainer_state.json").write_bytes(
        (hf_runs_copy / SFT / "trainer_state.json").read_bytes()
    )
    summary = run_ingest(db, str(hf_runs_copy))
    assert summary.counts["replaced"] == 1
    assert totals(db)["runs"] == 6


def test_overlapping_sources_do_not_double_count(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    run_ingest(db, str(hf_runs_copy), str(hf_runs_copy / "aws"))
    assert totals(db)["runs"] == 6
    run_ingest(db, str(hf_runs_copy / "aws"))
    assert totals(db)["runs"] == 6


BAD_FILES = {
    "truncated": b'{"global_step": 10, "epoch": 1.0, "log_history": [{"loss": 1.0, ',
    "not-a-state": b'{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}',
    "empty": b"",
    "binary": bytes(range(256)) * 16,
}


def test_bad_inputs_are_quarantined_and_the_rest_load(tmp_path, hf_runs_copy):
    for name, content in BAD_FILES.items():
        folder = hf_runs_copy / "broken" / name
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_bytes(content)
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(hf_runs_copy)])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.stderr.splitlines() if line]
    assert len(lines) == 4
    for name, reason in [
        ("truncated", "invalid JSON"),
        ("not-a-state", "missing key 'global_step'"),
        ("empty", "empty file"),
        ("binary", "not UTF-8 text"),
    ]:
        (line,) = [x for x in lines if f"/broken/{name}/trainer_state.json" in x]
        assert line.startswith("quarantined: file://")
        assert reason in line
    assert totals(db)["runs"] == 6
    con = warehouse.open_for_read(db)
    assert con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 4
    con.close()

    # Unchanged bad objects are not re-read, but still reported (exit 3 again).
    again = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(hf_runs_copy)])
    assert again.exit_code == 3
    summary = json.loads(again.stdout)
    assert summary["objects"]["quarantined"] == 4
    assert summary["objects"]["unchanged"] == 6
    assert summary["bytes_read"] == 0

    # A fixed object loads and leaves quarantine.
    (hf_runs_copy / "broken" / "truncated" / "trainer_state.json").write_text(
        json.dumps({"global_step": 10, "epoch": 1.0, "log_history": []})
    )
    fixed = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(hf_runs_copy)])
    assert json.loads(fixed.stdout)["objects"]["new"] == 1
    assert totals(db)["runs"] == 7
    con = warehouse.open_for_read(db)
    assert con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 3
    con.close()


def test_a_good_object_turned_bad_keeps_its_last_good_rows(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    run_ingest(db, str(hf_runs_copy))
    (hf_runs_copy / SFT / "trainer_state.json").write_text("{ truncated")
    summary = run_ingest(db, str(hf_runs_copy))
    assert summary.counts["quarantined"] == 1
    after = totals(db)
    assert after["runs"] == 6
    assert after["tokens"] == 402_653_184 + 2_411_724_800


def test_dry_run_reads_and_writes_nothing(tmp_path, hf_runs_copy):
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "ingest", "--dry-run", "--json", str(hf_runs_copy)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dry_run"] is True
    assert summary["objects"]["new"] == 6
    assert summary["bytes_read"] == 0
    assert not db.exists()


def test_forced_format_treats_any_json_as_a_trainer_state(tmp_path):
    source = tmp_path / "exports"
    source.mkdir()
    (source / "state-job-7.json").write_text(
        json.dumps(
            {"global_step": 42, "epoch": 1.0, "log_history": [], "num_input_tokens_seen": 1000}
        )
    )
    (source / "notes.txt").write_text("not json")
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "ingest", "--format", "hf_checkpoint", "--json", str(source)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["objects"]["new"] == 1
    assert summary["objects"]["ignored"] == 1
    assert totals(db)["tokens"] == 1000


def test_changed_format_options_re_read_the_units(tmp_path, sample_data):
    source = tmp_path / "accounting"
    shutil.copytree(sample_data / "onprem" / "hpc1-slurm", source)
    db = tmp_path / "w.duckdb"
    utc = tmp_path / "utc.toml"
    utc.write_text('[formats.slurm_sacct]\ncluster = "hpc1"\ntimezone = "UTC"\n')
    berlin = tmp_path / "berlin.toml"
    berlin.write_text('[formats.slurm_sacct]\ncluster = "hpc1"\ntimezone = "Europe/Berlin"\n')

    def ingest_with(config):
        result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "ingest",
                                          "--json", str(source)])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["objects"]

    first = ingest_with(utc)
    assert first["new"] > 0
    assert ingest_with(utc)["unchanged"] == first["new"]
    # The cluster's zone was wrong: fixing it in the config re-reads the dumps.
    assert ingest_with(berlin)["replaced"] == first["new"]
    con = warehouse.open_for_read(db)
    bases = {b for (b,) in con.execute("SELECT DISTINCT time_basis FROM gpu_usage").fetchall()}
    con.close()
    assert "unknown_timezone_read_as_utc" not in bases
