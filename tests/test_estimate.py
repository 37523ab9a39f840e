"""Estimation, lineage and status on the sample organisation, against hand-computed figures."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.compliance import DEFAULT_THRESHOLD, sci


@pytest.fixture(scope="module")
def estimated(tmp_path_factory, sample_data):
    db = tmp_path_factory.mktemp("estimate") / "w.duckdb"
    config = sample_data / "reconcile.toml"
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(db), "--config", str(config), "ingest",
                                 str(sample_data)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--db", str(db), "--config", str(config), "estimate"])
    assert result.exit_code == 0, result.output
    return db


def query(db, name, *params):
    args = ["--db", str(db), "query", name, "--format", "json"]
    for param in params:
        args += ["--param", param]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_per_model_totals_against_hand_computed_figures(estimated):
    models = {m["model_id"]: m for m in query(estimated, "per_model_totals")}
    # Mistral-7B-v0.1 CPT, three runs of 69,000 / 66,000 / 71,500 steps x 4,194,304 tokens.
    # Per token: 6 x N_mm (every weight but the input embedding and the norms:
    # 7,241,732,096 - 32,000 x 4,096 - (2 x 32 + 1) x 4,096)
    # + 12 x 32 layers x 4,096 context x 4,096 attention width.
    n_mm = 7_241_732_096 - 32_000 * 4_096 - (2 * 32 + 1) * 4_096
    per_token = 6 * n_mm + 12 * 32 * 4_096 * 4_096
    tokens = (69_000 + 66_000 + 71_500) * 4_194_304
    mistral = models["acme-mistral-7b-cpt"]
    assert mistral["runs"] == 3 and mistral["tokens"] == tokens == 866_123_776_000
    assert mistral["flops"] == pytest.approx(per_token * tokens, rel=1e-9)  # 4.25e22
    assert mistral["threshold_flops"] == pytest.approx(1e23 / 3)
    assert mistral["threshold_basis"] == "default_gpai"  # Mistral never published its compute
    assert mistral["status"] == "provider"
    assert mistral["share_of_threshold"] == pytest.approx(per_token * tokens / (1e23 / 3))
    # Pythia-1B CPT on 82e9 tokens, sequence 2,048: N_mm = 16 x (2048x6144 + 2048x2048 +
    # 2 x 2048x8192) + the untied 50,304 x 2,048 head; threshold = 1.821e21 / 3.
    n_mm = 16 * (2048 * 6144 + 2048 * 2048 + 2 * 2048 * 8192) + 50_304 * 2048
    pythia_flops = (6 * n_mm + 12 * 16 * 2048 * 2048) * 82_000_000_000
    pythia = models["acme-pythia-1b-domain"]
    assert pythia["flops"] == pytest.approx(pythia_flops, rel=1e-9)  # 5.13e20
    assert pythia["threshold_flops"] == pytest.approx(1.821e21 / 3)
    assert pythia["flops"] < pythia["threshold_flops"] <= pythia["flops"] * 1.3
    assert pythia["status"] == "review"
    assert models["support-assistant-7b"]["status"] == "below"
    assert models["acme-legal-8b"]["status"] == "below"


def test_each_cpt_run_is_below_the_default_threshold_alone(estimated):
    runs = {r["run_id"]: r for r in query(estimated, "lineage")}
    for key in ("mistral-cpt/run1", "mistral-cpt/run2", "mistral-cpt/run3"):
        assert runs[key]["flops"] < DEFAULT_THRESHOLD
        assert runs[key]["model_id"] == "acme-mistral-7b-cpt"
    assert runs["mistral-cpt/run1"]["relation"] == "continued"  # joined through its campaign


def test_dpo_model_includes_its_sft_run(estimated):
    lineage = [r for r in query(estimated, "lineage") if r["model_id"] == "support-assistant-7b"]
    assert {r["run_id"]: r["relation"] for r in lineage} == {
        "qwen7b-sft-20250304-1301": "upstream", "qwen7b-dpo-20250318-0922": "dpo"}


def test_implausible_run_is_flagged(estimated):
    flags = {(r["run_id"], r["flag"]) for r in query(estimated, "discrepancies")}
    assert ("qwen15b-ocr-ft", "implied_utilisation_above_1") in flags
    runs = {r["run_id"]: r for r in query(estimated, "run_reconciliation")}
    # 40e9 tokens of Qwen2.5-1.5B in 2 h on 8 H100s: ~8x what the hardware can do.
    assert runs["qwen15b-ocr-ft"]["implied_utilisation"] > 1
    assert runs["qwen7b-sft-20250304-1301"]["implied_utilisation"] < 0.70


def test_measured_tensor_activity_drives_the_hardware_estimate(estimated):
    runs = {r["run_id"]: r for r in query(estimated, "run_reconciliation")}
    legal = runs["llama31-8b-legal-fullft-20250411"]
    low, high = legal["hardware_flops_low"], legal["hardware_flops_high"]
    assert low <= legal["architecture_flops"] <= high
    assert legal["decided_by"] == "architecture"


def test_shadow_azure_compute_is_unattributed_and_other_bills_are_matched(estimated):
    rows = query(estimated, "unattributed_compute")
    billing = [r for r in rows if r["kind"] == "billing"]
    # 4 x ND96isr_H100_v5 (8 GPUs each) for 72 h, delivered in two exports but counted once.
    assert [(r["provider"], r["accelerator_hours"]) for r in billing] == [("azure", 2304.0)]
    runs = {r["run_id"]: r for r in query(estimated, "run_reconciliation")}
    assert runs["qwen7b-sft-20250304-1301"]["billing_flops"] is not None  # by the job's ARN
    assert runs["llama31-8b-legal-fullft-20250411"]["billing_flops"] is not None  # by time


def test_unmatched_slurm_allocations_are_unattributed(estimated):
    rows = query(estimated, "unattributed_compute")
    jobs = {r["tags"] for r in rows if r["kind"] == "gpu_usage"}
    assert "mistral-cpt-dryrun" in jobs
    assert "mistral-cpt-run1" not in jobs  # matched through the run's Slurm job id


def test_status_command_and_fail_on(estimated):
    result = CliRunner().invoke(cli, ["--db", str(estimated), "status", "--fail-on", "provider"])
    assert result.exit_code == 4
    assert "acme-mistral-7b-cpt: PROVIDER  4.3×10^22 FLOP of 3.3×10^22 threshold" in result.stdout
    one = CliRunner().invoke(cli, ["--db", str(estimated), "status", "--model", "acme-legal-8b",
                                   "--json", "--fail-on", "review"])
    assert one.exit_code == 0
    (row,) = json.loads(one.stdout)
    assert row["status"] == "below"
    assert "architecture-based, 6·N·D" in row["explanation"]


def test_estimate_is_idempotent(estimated, sample_data):
    before = query(estimated, "per_model_totals")
    result = CliRunner().invoke(cli, ["--db", str(estimated), "--config",
                                      str(sample_data / "reconcile.toml"), "estimate"])
    assert result.exit_code == 0
    assert query(estimated, "per_model_totals") == before


def test_two_significant_figures():
    assert sci(3.4e22) == "3.4×10^22"
    assert sci(33_333_333_333_333_333_333_333) == "3.3×10^22"
    assert sci(None) == "n/a"


def estimated_table(tmp_path, table: str):
    """A warehouse with one run table (CSV text) ingested and estimated."""
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "team.runs.csv").write_text(table)
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "ingest", str(folder)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db), "estimate"]).exit_code == 0
    return db


def test_query_runs_shows_the_figure_compliance_sums(estimated):
    """Each run's figure in `query runs` is the one its model's total is summed from."""
    runs = {r["run_id"]: r for r in query(estimated, "runs")}
    lineage = query(estimated, "lineage")
    models = {m["model_id"]: m for m in query(estimated, "per_model_totals")}
    assert runs and lineage
    for model_id, model in models.items():
        members = [row["run_id"] for row in lineage if row["model_id"] == model_id]
        total = sum(runs[r]["flops"] for r in members)
        assert total == pytest.approx(model["flops"], rel=1e-12), model_id
        assert sum(runs[r]["flops_high"] for r in members) == pytest.approx(
            model["flops_high"], rel=1e-12
        )
    # The DPO run's tokens are only an upper bound (steps x batch x length), so hardware
    # decides it; `query runs` says so instead of showing the architecture figure.
    dpo = runs["qwen7b-dpo-20250318-0922"]
    assert dpo["tokens_basis"] == "derived_steps" and dpo["flops_method"] == "hardware"
    assert all(r["flops_method"] in ("architecture", "hardware", "billing") for r in runs.values())


def test_coverage_names_what_is_missing(tmp_path, sample_data):
    """A run whose base model cannot be resolved and whose tokens are unknown has no
    figure; coverage says which evidence is missing and how to supply it."""
    db = estimated_table(
        tmp_path,
        "job_name,base_model,method,tokens,tokens_basis,accelerator,accelerator_count,"
        "runtime_seconds\n"
        "orphan-a,/mnt/nowhere/mystery-model,full,1000000,logged,,,\n"
        "orphan-b,Qwen/Qwen2.5-7B,full,,,,,\n"
        "fine-c,Qwen/Qwen2.5-7B,full,1000000,logged,,,\n",
    )
    rows = {r["job_name"]: r for r in query(db, "coverage")}
    assert rows["fine-c"]["has_figure"] is True and rows["fine-c"]["missing"] == []
    orphan = rows["orphan-a"]
    assert orphan["has_figure"] is False
    assert "base_model_unresolved" in orphan["missing"]
    assert "[models.aliases]" in orphan["how_to_supply"]
    assert rows["orphan-b"]["missing"] == ["accelerator_time_unknown", "tokens_unknown"]
    assert "num_input_tokens_seen" in rows["orphan-b"]["how_to_supply"]
    runs = {r["job_name"]: r for r in query(db, "runs")}
    assert runs["orphan-b"]["flops"] is None and "tokens unknown" in runs["orphan-b"]["missing"]
    summary = query(db, "coverage_summary")
    assert summary == [
        {
            "evidence_kinds": "run_table",
            "method": "full",
            "runs": 3,
            "with_figure": 1,
            "share_with_figure": 0.333,
            "missing": "accelerator_time_unknown ×2, base_model_unresolved ×1, "
            "tokens_unknown ×1",
        }
    ]


def test_run_table_derived_tokens_and_stated_parameters(tmp_path):
    """A run table's `tokens_basis = derived` is honoured with its band, and its
    params_total/params_trainable stand in when no config can be counted."""
    db = estimated_table(
        tmp_path,
        "job_name,base_model,method,tokens,tokens_basis,params_total,params_trainable\n"
        "derived-a,Qwen/Qwen2.5-7B,full,2000000000,derived,,\n"
        "private-b,acme/house-model-3b,lora,1000000000,logged,3000000000,20000000\n",
    )
    runs = {r["job_name"]: r for r in query(db, "runs")}
    derived = runs["derived-a"]
    assert derived["tokens_basis"] == "derived_declared"
    assert (derived["tokens_low"], derived["tokens"], derived["tokens_high"]) == (
        1_500_000_000,
        2_000_000_000,
        2_500_000_000,
    )
    stated = runs["private-b"]
    assert stated["params_total"] == 3_000_000_000 and stated["params_trainable"] == 20_000_000
    assert "stated by the evidence" in stated["params_basis"]
    # (4·N + 6·N_adapter)·D with N the stated total: no config, so no attention term
    assert stated["flops"] == pytest.approx((4 * 3e9 + 6 * 2e7) * 1e9)
    assert "base_model_not_in_catalog" not in stated["flags"]
