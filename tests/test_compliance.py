"""Statuses you can explain from the numbers: shares near a threshold, levels crossed
only together, and what an insufficient-evidence status is missing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reconcile import compliance
from reconcile.cli import cli
from reconcile.models import BaseModel
from reconcile.numbers import percent


@pytest.mark.parametrize(
    ("share", "text"),
    [
        (0.999, "99.9 %"),
        (1.001, "100.1 %"),
        (0.99996, "99.996 %"),
        (1.0, "100 %"),
        (0.00052, "0.052 %"),
        (None, "n/a"),
    ],
)
def test_percent_shows_the_side_of_a_threshold(share, text):
    assert percent(share) == text


def _base(flops: float) -> BaseModel:
    return BaseModel("org/base", "x", 1, 1, None, flops, "published", None, "test")


@pytest.mark.parametrize(
    ("base_flops", "modification", "flag"),
    [
        (8e22, 3e22, "base_plus_modification_above_1e23"),  # crossed only together
        (3e24, 1e22, None),  # the base alone is above 1e23: nothing new to say
        (9e24, 2e24, "base_plus_modification_above_1e25"),
        (4e25, 1e24, None),  # above 1e25 on its own
    ],
)
def test_levels_crossed_only_together(base_flops, modification, flag):
    base = _base(base_flops)
    threshold = compliance.threshold_for(base, base.repo_id)
    status = compliance.classify(
        modification, modification, modification, threshold, base, complete=True, method_text="t"
    )
    levels = [f for f in status.flags if f.startswith("base_plus")]
    assert levels == ([flag] if flag else [])


def test_status_prints_the_share_and_what_is_missing(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "team.runs.csv").write_text(
        "job_name,model_id,base_model,method,tokens\n"
        "small-run,acme-small,Qwen/Qwen2.5-7B,lora,1000\n"
        "lost-run,acme-lost,Qwen/Qwen2.5-7B,full,\n"
    )
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "ingest", str(folder)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db), "estimate"]).exit_code == 0
    result = runner.invoke(cli, ["--db", str(db), "status"])
    lines = result.stdout.splitlines()
    lost = next(i for i, line in enumerate(lines) if line.startswith("acme-lost:"))
    assert lines[lost].endswith("threshold (n/a)")
    assert "missing:" in lines[lost + 1] and "tokens unknown" in lines[lost + 1]
    small = next(line for line in lines if line.startswith("acme-small:"))
    assert "(0 %)" not in small and " %)" in small
    assert "flag: lost-run: tokens unknown" in result.stdout


def test_lineage_without_declarations_sums_sft_and_dpo(tmp_path):
    """A DPO run on an SFT run's output (its base model is the SFT model's id) is linked
    without a [lineage] declaration: each alone is below Mistral-7B's default threshold,
    together they cross it."""
    folder = tmp_path / "runs"
    folder.mkdir()
    # 6·N·D per run: N_mm of Mistral-7B-v0.1 = 7,241,732,096 − 32,000×4,096 − 65×4,096
    (folder / "team.runs.csv").write_text(
        "job_name,model_id,base_model,method,objective,tokens\n"
        "legal-sft,acme/legal-sft,mistralai/Mistral-7B-v0.1,full,sft,500000000000\n"
        "legal-dpo,acme/legal-dpo,acme/legal-sft,full,dpo,300000000000\n"
    )
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "ingest", str(folder)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db), "estimate"]).exit_code == 0
    result = runner.invoke(cli, ["--db", str(db), "query", "lineage", "--format", "json"])
    links = {(r["model_id"], r["run_id"]): r["relation"] for r in json.loads(result.stdout)}
    assert links[("acme/legal-dpo", "legal-sft")] == "upstream"
    assert links[("acme/legal-dpo", "legal-dpo")] == "dpo"
    result = runner.invoke(cli, ["--db", str(db), "query", "runs", "--format", "json"])
    dpo = next(r for r in json.loads(result.stdout) if r["run_id"] == "legal-dpo")
    assert dpo["base_model_basis"] == "upstream_run"
    assert dpo["base_model"] == "mistralai/Mistral-7B-v0.1"
    result = runner.invoke(cli, ["--db", str(db), "query", "per_model_totals", "--format", "json"])
    models = {m["model_id"]: m for m in json.loads(result.stdout)}
    n_mm = 7_241_732_096 - 32_000 * 4_096 - 65 * 4_096
    sft, dpo_alone = 6 * n_mm * 5e11, 8 * n_mm * 3e11  # DPO adds the reference forward
    threshold = 1e23 / 3
    assert sft < threshold and dpo_alone < threshold < sft + dpo_alone
    assert models["acme/legal-sft"]["status"] == "below"
    assert models["acme/legal-dpo"]["flops"] == pytest.approx(sft + dpo_alone, rel=1e-6)
    assert models["acme/legal-dpo"]["status"] == "provider"
