"""Logical runs: evidence merged per job, parameters counted, tokens three ways."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from reconcile import warehouse
from reconcile.cli import cli


@pytest.fixture(scope="module")
def resolved(tmp_path_factory, sample_data):
    db = tmp_path_factory.mktemp("resolve") / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(sample_data)])
    assert result.exit_code in (0, 3), result.output
    con = warehouse.open_for_read(db)
    rows = con.sql("SELECT * FROM resolved_runs").to_arrow_table().to_pylist()
    con.close()
    return {row["run_key"]: row for row in rows}, db


def test_evidence_of_one_job_is_merged_not_double_counted(resolved):
    runs, _ = resolved
    sft = runs["qwen7b-sft-20250304-1301"]
    formats = sorted(m.split(":")[0] for m in sft["member_run_ids"])
    assert formats[:3] == ["flops_meter", "hf", "sagemaker"]
    assert sft["steps"] == 1536
    assert sft["platform"] == "aws-sagemaker"
    assert sft["accelerator_count"] == 16
    assert len(sft["evidence_uris"]) == len(sft["member_run_ids"])


def test_tokens_derived_three_ways_agree_within_their_intervals(resolved):
    runs, _ = resolved
    sft = runs["qwen7b-sft-20250304-1301"]
    assert sft["tokens"] == 402_653_184
    assert sft["tokens_basis"] == "logged"
    evidence = {e["basis"]: e for e in json.loads(sft["tokens_evidence"])}
    assert set(evidence) == {"logged", "derived_total_flos", "derived_steps"}
    # total_flos / (6 x N_hf) with N_hf = non-embedding params + LoRA adapters: an integer.
    assert evidence["derived_total_flos"]["central"] == 402_653_184
    assert "exact integer" in evidence["derived_total_flos"]["detail"]
    # 1,536 steps x (4 x 4 x 16) sequences x 1,024 tokens
    assert evidence["derived_steps"]["central"] == 1536 * 256 * 1024
    for item in evidence.values():
        assert item["low"] <= 402_653_184 <= item["high"]
    assert not [f for f in sft["flags"] if f.startswith("tokens_disagree")]


def test_parameters_from_configs_and_adapters(resolved):
    runs, _ = resolved
    sft = runs["qwen7b-sft-20250304-1301"]
    assert sft["base_model"] == "Qwen/Qwen2.5-7B"
    assert sft["params_total"] == 7_615_616_512
    # r=16 on q,k,v,o,gate,up,down of 28 layers; the meter reports the same figure
    assert sft["params_trainable"] == 40_370_176
    assert sft["params_hf_counted"] == 7_615_616_512 - 152_064 * 3584 + 40_370_176
    assert "params_total_differs_from_reported" not in sft["flags"]
    llama = runs["llama31-8b-legal-fullft-20250411"]
    assert llama["params_total"] == llama["params_trainable"] == 8_030_261_248
    assert llama["params_basis"].startswith("config.json of the run")


def test_old_schema_runs_get_tokens_from_total_flos(resolved):
    runs, _ = resolved
    for key, steps in (
        ("mistral-cpt/run1", 69_000),
        ("mistral-cpt/run2", 66_000),
        ("mistral-cpt/run3", 71_500),
    ):
        run = runs[key]
        assert run["tokens_basis"] == "derived_total_flos"
        assert run["tokens"] == steps * 4_194_304
        assert run["tokens_low"] < run["tokens"] < run["tokens_high"]
        assert run["base_model"] == "mistralai/Mistral-7B-v0.1"


def test_dpo_without_token_counts_gets_an_upper_bound(resolved):
    runs, _ = resolved
    dpo = runs["qwen7b-dpo-20250318-0922"]
    assert dpo["objective"] == "dpo"
    assert dpo["tokens_basis"] == "derived_steps"
    # 200 steps x 128 pairs x 2 sequences (chosen + rejected) x 2,048 tokens
    assert dpo["tokens_high"] == dpo["tokens"] == 200 * 128 * 2 * 2048
    # not packed and no mean length logged: the lower end is open (one token per
    # sequence), flagged, instead of an arbitrary half
    assert dpo["tokens_low"] == 200 * 128 * 2
    assert "tokens_lower_bound_open" in dpo["flags"]


def test_runs_query_shows_the_issue_columns(resolved):
    _, db = resolved
    result = CliRunner().invoke(cli, ["--db", str(db), "query", "runs", "--format", "json"])
    runs = {r["run_id"]: r for r in json.loads(result.stdout)}
    sft = runs["qwen7b-sft-20250304-1301"]
    for column in (
        "base_model",
        "params_total",
        "params_trainable",
        "tokens",
        "tokens_basis",
        "evidence_uris",
        "flags",
    ):
        assert column in sft
    assert sft["params_trainable"] == 40_370_176


def test_resumed_run_counters_are_not_summed(tmp_path):
    run = tmp_path / "bucket" / "job-resume"
    for step, tokens in ((100, 1_000_000), (250, 2_500_000)):  # resumed: counters continue
        folder = run / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(
            json.dumps(
                {
                    "global_step": step,
                    "epoch": 1.0,
                    "log_history": [],
                    "num_input_tokens_seen": tokens,
                }
            )
        )
    db = tmp_path / "w.duckdb"
    CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "bucket")])
    con = warehouse.open_for_read(db)
    rows = con.execute("SELECT tokens, steps FROM resolved_runs").fetchall()
    con.close()
    assert rows == [(2_500_000, 250)]


def test_lora_trainable_count_from_adapter_config_matches_the_safetensors_header(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    from reconcile.models import default_registry
    from reconcile.params import count_parameters, lora_parameters

    base = "Qwen/Qwen2.5-0.5B"
    config = default_registry().config(base)
    count = count_parameters(config)
    r, targets = 8, ["q_proj", "v_proj", "down_proj"]
    tensors = {}
    for index, layer in enumerate(count.layers):
        for lin in layer:
            if lin.name in targets:
                prefix = f"base_model.model.model.layers.{index}.{lin.name}"
                tensors[f"{prefix}.lora_A.weight"] = np.zeros((r, lin.in_features), np.float16)
                tensors[f"{prefix}.lora_B.weight"] = np.zeros((lin.out_features, r), np.float16)
    run = tmp_path / "bucket" / "qwen05-lora"
    run.mkdir(parents=True)
    save_file(tensors, str(run / "adapter_model.safetensors"))
    (run / "adapter_config.json").write_text(
        json.dumps(
            {
                "base_model_name_or_path": base,
                "peft_type": "LORA",
                "r": r,
                "target_modules": targets,
            }
        )
    )
    (run / "trainer_state.json").write_text(
        json.dumps(
            {"global_step": 10, "epoch": 1.0, "log_history": [], "num_input_tokens_seen": 5120}
        )
    )
    db = tmp_path / "w.duckdb"
    CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "bucket")])
    con = warehouse.open_for_read(db)
    trainable, basis, total = con.execute(
        "SELECT params_trainable, params_basis, params_total FROM resolved_runs"
    ).fetchall()[0]
    con.close()
    from_config = lora_parameters(count, r=r, target_modules=targets)
    from_header = sum(int(np.prod(t.shape)) for t in tensors.values())
    assert from_config == from_header == trainable
    assert "adapter safetensors header" in basis
    assert total == count.total == 494_032_768


def test_resolution_ranks_evidence_by_what_the_formats_declare(tmp_path, sample_data):
    """Which format's value wins is read from the warehouse (``evidence_priority``, written
    from the parsers' declarations), not from format names in the core; a change of a
    rank is a change of what resolution read."""
    from connectors.registry import PARSERS, evidence_priority
    from reconcile import resolve

    db = tmp_path / "w.duckdb"
    assert CliRunner().invoke(cli, ["--db", str(db), "ingest", str(sample_data)]).exit_code in (
        0,
        3,
    )
    con = warehouse.open_for_write(db)
    try:
        stored = con.execute(
            "SELECT field_kind, list(source_format ORDER BY rank) FROM evidence_priority "
            "GROUP BY field_kind"
        ).fetchall()
        assert dict((k, tuple(v)) for k, v in stored) == evidence_priority()
        ranked = {name for name, parser in PARSERS.items() if parser.priority}
        assert ranked == {
            f
            for (f,) in con.execute(
                "SELECT DISTINCT source_format FROM evidence_priority"
            ).fetchall()
        }
        assert not resolve.needs_resolving(con)
        # SageMaker's job description is named first for identity; rank it last instead
        con.execute(
            "UPDATE evidence_priority SET rank = 99 "
            "WHERE source_format = 'sagemaker_job' AND field_kind = 'identity'"
        )
        assert resolve.needs_resolving(con)
        resolve.resolve_runs(con)
        assert not resolve.needs_resolving(con)
    finally:
        con.close()
