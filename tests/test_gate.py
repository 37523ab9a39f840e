"""`status --fail-on` as a CI gate that cannot pass what nobody assessed: a model without
enough evidence fails `review`, evidence with no estimate (or loaded after it) fails any
level with one line saying to run `estimate`, and the failing models are named."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from reconcile.cli import cli

ORDER = ["provider", "review", "insufficient_evidence", "below"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def sample(tmp_path_factory, sample_data):
    root = tmp_path_factory.mktemp("gate")
    shutil.copytree(sample_data, root / "org")
    return root / "org"


def test_no_estimate_yet_fails_the_gate_saying_so(tmp_path, sample):
    db = str(tmp_path / "w.duckdb")
    config = str(sample / "reconcile.toml")
    assert invoke("--db", db, "--config", config, "ingest", str(sample)).exit_code == 0
    for level in ("provider", "review"):
        result = invoke("--db", db, "status", "--fail-on", level)
        assert result.exit_code == 4
        assert result.stderr.strip().splitlines()[-1] == (
            f"--fail-on {level}: not assessed: evidence is loaded but `reconcile estimate` "
            "has not run: no model is assessed"
        )
    # without a gate it warns and exits 0
    result = invoke("--db", db, "status")
    assert result.exit_code == 0 and "warning: evidence is loaded" in result.stderr


def test_evidence_newer_than_the_estimate_fails_the_gate(tmp_path, sample):
    db = str(tmp_path / "w.duckdb")
    config = str(sample / "reconcile.toml")
    assert invoke("--db", db, "--config", config, "ingest", str(sample)).exit_code == 0
    assert invoke("--db", db, "--config", config, "estimate").exit_code == 0
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "late.runs.csv").write_text("job_name,base_model,tokens\nlate-run,gpt2,1000000\n")
    assert invoke("--db", db, "ingest", str(extra)).exit_code == 0
    result = invoke("--db", db, "status", "--fail-on", "provider")
    assert result.exit_code == 4
    assert "evidence was loaded after the last `reconcile estimate`" in result.stderr


def test_review_fails_on_insufficient_evidence_and_names_the_models(tmp_path, sample):
    db = str(tmp_path / "w.duckdb")
    config = str(sample / "reconcile.toml")
    assert invoke("--db", db, "--config", config, "ingest", str(sample)).exit_code == 0
    # a fine-tune whose tokens nobody logged: no figure, so no status but "look at it"
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "vendor.runs.csv").write_text(
        "job_name,model_id,base_model,method\nvendor-ft,acme-vendor-ft,Qwen/Qwen2.5-7B,full\n"
    )
    assert invoke("--db", db, "ingest", str(extra)).exit_code == 0
    assert invoke("--db", db, "--config", config, "estimate").exit_code == 0
    result = invoke("--db", db, "status")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    # a one-line summary first, then the models most urgent first
    statuses = [
        line.split(": ", 1)[1].split()[0].lower() for line in lines[1:] if not line.startswith(" ")
    ]
    assert lines[0] == f"{len(statuses)} models: " + ", ".join(
        f"{statuses.count(s)} {s.replace('_', ' ')}" for s in ORDER if statuses.count(s)
    )
    assert statuses == sorted(statuses, key=ORDER.index)
    assert "insufficient_evidence" in statuses  # the sample has such a model

    gate = invoke("--db", db, "status", "--fail-on", "review")
    assert gate.exit_code == 4
    named = gate.stderr.strip().splitlines()[-1]
    failing = [s for s in statuses if s in ("provider", "review", "insufficient_evidence")]
    assert named.startswith(f"--fail-on review: {len(failing)} model(s): ")
    assert "(insufficient_evidence)" in named and "(provider)" in named
    provider_only = invoke("--db", db, "status", "--fail-on", "provider")
    assert provider_only.exit_code == 4
    assert "(insufficient_evidence)" not in provider_only.stderr


def test_what_the_last_estimate_changed_is_said(tmp_path, sample):
    """A run table on a schedule: the second run brings a continued pre-training run that
    pushes a model over the threshold; `run --json` lists the change and `status` says it."""
    runs = tmp_path / "runs"
    runs.mkdir()
    header = "job_name,model_id,base_model,method,objective,tokens\n"
    (runs / "team.runs.csv").write_text(
        header + "ft-1,acme-small-ft,EleutherAI/pythia-1b,full,sft,1000000000\n"
    )
    config = tmp_path / "reconcile.toml"
    config.write_text(f'[[sources]]\nuri = "{runs}"\n')
    db = str(tmp_path / "w.duckdb")
    first = invoke("--db", db, "--config", str(config), "run", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["changes"] == []  # nothing to compare with yet
    (runs / "team.runs.csv").write_text(
        header
        + "ft-1,acme-small-ft,EleutherAI/pythia-1b,full,sft,1000000000\n"
        + "cpt-2,acme-small-ft,EleutherAI/pythia-1b,full,cpt,900000000000\n"
        + "new-1,acme-other-ft,EleutherAI/pythia-1b,full,sft,1000000\n"
    )
    second = invoke("--db", db, "--config", str(config), "run", "--json")
    changes = json.loads(second.stdout)["changes"]
    before = {c["model_id"]: (c["before"], c["now"]) for c in changes}
    assert before["acme-other-ft"] == (None, "below")
    assert before["acme-small-ft"][0] == "below" and before["acme-small-ft"][1] in (
        "provider",
        "review",
    )
    status = invoke("--db", db, "status")
    assert f"changed by the last estimate: acme-small-ft: below → {before['acme-small-ft'][1]}" in (
        status.stdout
    )
    assert "changed by the last estimate: acme-other-ft: new → below" in status.stdout
