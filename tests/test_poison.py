"""One bad file never poisons the other runs: out-of-range values are refused at parse
time (quarantined with the field and the value), and a run that still cannot be computed
— loaded by an older version, say — is flagged alone while every other run goes on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
from click.testing import CliRunner

from reconcile.cli import cli

REAL = Path(__file__).resolve().parent / "data" / "real" / "training"
GOOD = "hf-rinna-japanese-gpt2-medium-full-clm"


def _runs(db: Path) -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["--db", str(db), "query", "runs", "--format", "json"])
    assert result.exit_code == 0, result.output
    return {r["job_name"]: r for r in json.loads(result.stdout)}


def test_out_of_range_values_are_quarantined_with_the_field(tmp_path):
    shutil.copytree(REAL / GOOD, tmp_path / "src" / "good")
    state = json.loads((REAL / GOOD / "trainer_state.json").read_text())
    for name, change in {
        "huge-flos": {"total_flos": 1e308},
        "negative-runtime": {
            "log_history": [
                *state["log_history"][:-1],
                {**state["log_history"][-1], "train_runtime": -5.0},
            ]
        },
        "nan-tokens": {"num_input_tokens_seen": float("nan")},
    }.items():
        folder = tmp_path / "src" / name
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(json.dumps({**state, **change}))
    huge = tmp_path / "src" / "huge-config"
    shutil.copytree(REAL / GOOD, huge)
    config = json.loads((huge / "config.json").read_text())
    (huge / "config.json").write_text(json.dumps({**config, "n_embd": 1e15}))
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "src")])
    assert result.exit_code == 3, result.output
    text = result.output
    assert "reported_flops is out of range (1.000e+308)" in text
    assert "'train_runtime' is negative (-5.0)" in text
    assert "not finite" in text or "non-negative number, got nan" in text
    assert "n_embd should be a whole number, got 1000000000000000.0" in text
    # every later command still works, for all the other data
    for args in (["estimate"], ["status"], ["report", "--out", str(tmp_path / "r")]):
        result = CliRunner().invoke(cli, ["--db", str(db), *args])
        assert result.exit_code == 0, (args, result.output)
    assert _runs(db)["good"]["flops"] > 0


def test_a_run_that_cannot_be_computed_is_flagged_alone(tmp_path):
    """A warehouse loaded before these checks (or by a buggy parser) holds a row whose
    numbers overflow: resolution and estimation isolate it."""
    shutil.copytree(REAL / GOOD, tmp_path / "src" / "good")
    db = tmp_path / "w.duckdb"
    assert (
        CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "src")]).exit_code == 0
    )
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO training_runs BY NAME SELECT * REPLACE ("
        "'poisoned:1' AS run_id, 'poisoned' AS job_name, 1.7e308 AS reported_flops, "
        "'file:///elsewhere/poisoned' AS source_uri) FROM training_runs"
    )
    con.close()
    result = CliRunner().invoke(cli, ["--db", str(db), "estimate"])
    assert result.exit_code == 0, result.output
    runs = _runs(db)
    assert runs["good"]["flops"] > 0
    assert "resolution_failed" in runs["poisoned"]["flags"] or runs["poisoned"]["flops"] is None
    assert runs["poisoned"]["flops"] is None
