"""The Hugging Face checkpoint-folder parser, on sample_data/ and on edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from connectors.formats.base import UnitReader
from connectors.formats.training.hf_checkpoint import HfCheckpointParser
from connectors.stores.local import LocalStore
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS


def parse_folder(root: Path, forced: bool = False) -> list[dict]:
    store = LocalStore(root)
    parser = HfCheckpointParser()
    units, _ = parser.units(store, list(store.list_objects()), forced=forced)
    rows = []
    for unit in units:
        table = parser.parse_unit(UnitReader(store, unit))
        assert table.schema == TRAINING_RUNS
        rows += table.to_pylist()
    return rows


def by_job(rows: list[dict]) -> dict[str, dict]:
    return {row["job_name"]: row for row in rows}


@pytest.fixture(scope="module")
def sample_rows(sample_data: Path) -> dict[str, dict]:
    return by_job(parse_folder(sample_data))


def test_one_row_per_run_not_per_checkpoint(sample_rows):
    # Six runs; the SFT run has three mid-run checkpoints plus its final state.
    assert sorted(sample_rows) == [
        "llama31-8b-legal-fullft-20250411",
        "mistral-cpt/run1",
        "mistral-cpt/run2",
        "mistral-cpt/run3",
        "qwen7b-dpo-20250318-0922",
        "qwen7b-sft-20250304-1301",
    ]


def test_lora_sft_run_takes_the_final_state(sample_rows):
    row = sample_rows["qwen7b-sft-20250304-1301"]
    assert row["steps"] == 1536
    assert row["run_status"] == "completed"
    assert row["tokens"] == 402_653_184
    assert row["tokens_basis"] == "logged"
    assert row["reported_flops"] == 6 * 402_653_184 * 7_110_989_312
    assert row["reported_flops_basis"] == "hf_total_flos"
    assert row["per_device_batch"] == 4
    assert row["epochs"] == 3.0
    assert row["runtime_seconds"] == pytest.approx(20117.4)
    assert row["method"] == "lora"
    assert row["objective"] == "sft"
    assert row["base_model"] == "Qwen/Qwen2.5-7B"
    assert row["base_model_basis"] == "adapter_config"
    assert row["model_id"] == "support-assistant-7b-sft"
    attributes = json.loads(row["attributes"])
    assert attributes["checkpoints"] == [500, 1000, 1500, 1536]
    assert attributes["adapter"]["r"] == 16


def test_dpo_run_with_zero_total_flos(sample_rows):
    row = sample_rows["qwen7b-dpo-20250318-0922"]
    assert row["objective"] == "dpo"
    assert row["method"] == "lora"
    assert row["reported_flops"] is None  # 0.0 means "not computed", not zero work
    assert json.loads(row["attributes"])["total_flos_zero"] is True
    assert row["tokens"] is None
    assert row["steps"] == 200
    assert row["model_id"] == "support-assistant-7b"


def test_full_fine_tuning_reads_config(sample_rows):
    row = sample_rows["llama31-8b-legal-fullft-20250411"]
    assert row["method"] == "full"
    assert row["model_type"] == "llama"
    assert row["precision"] == "bfloat16"
    assert row["tokens"] == 2_411_724_800
    assert row["steps"] == 2300
    assert row["base_model"] == "meta-llama/Llama-3.1-8B"
    assert row["model_id"] == "acme-legal-8b"


def test_old_schema_without_batch_size_or_tokens(sample_rows):
    row = sample_rows["mistral-cpt/run1"]
    assert row["steps"] == 69_000
    assert row["per_device_batch"] is None
    assert row["tokens"] is None
    assert row["reported_flops"] == 6 * 69_000 * 4_194_304 * 7_110_660_096
    assert row["base_model"] == "mistralai/Mistral-7B-v0.1"
    assert row["base_model_basis"] == "config_name_or_path"


def _state(step: int, *, final: bool) -> dict:
    history = [{"epoch": step / 100, "loss": 1.0, "step": step}]
    if final:
        history.append(
            {
                "epoch": step / 100,
                "step": step,
                "total_flos": 1e15,
                "train_runtime": 10.0,
                "train_loss": 1.0,
            }
        )
    return {
        "global_step": step,
        "epoch": step / 100,
        "log_history": history,
        "total_flos": 1e15 * step / 100,
    }


def test_without_a_root_state_the_latest_checkpoint_wins(tmp_path):
    for step in (100, 300, 200):
        folder = tmp_path / "job-x" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(json.dumps(_state(step, final=False)))
    (tmp_path / "job-x" / "checkpoint-300" / "training_args.bin").write_bytes(b"\x80\x04pickle")
    (rows,) = [parse_folder(tmp_path)]
    assert len(rows) == 1
    assert rows[0]["steps"] == 300
    assert rows[0]["run_status"] == "incomplete"
    assert rows[0]["reported_flops"] == pytest.approx(3e15)


def test_safetensors_headers_give_exact_parameter_counts(tmp_path):
    from safetensors.numpy import save_file

    run = tmp_path / "lora-run"
    run.mkdir()
    (run / "trainer_state.json").write_text(json.dumps(_state(10, final=True)))
    (run / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-0.5B", "peft_type": "LORA", "r": 8})
    )
    save_file(
        {
            "a.lora_A.weight": np.zeros((8, 896), np.float32),
            "a.lora_B.weight": np.zeros((896, 8), np.float32),
        },
        str(run / "adapter_model.safetensors"),
    )
    full = tmp_path / "full-run"
    full.mkdir()
    (full / "trainer_state.json").write_text(json.dumps(_state(10, final=True)))
    (full / "config.json").write_text(json.dumps({"model_type": "gpt2", "torch_dtype": "float32"}))
    save_file({"w1": np.zeros((3, 5), np.float32)}, str(full / "model-00001-of-00002.safetensors"))
    save_file({"w2": np.zeros((7,), np.float32)}, str(full / "model-00002-of-00002.safetensors"))
    rows = by_job(parse_folder(tmp_path))
    assert rows["lora-run"]["params_trainable"] == 2 * 8 * 896
    assert rows["lora-run"]["params_total"] is None
    assert rows["lora-run"]["params_basis"] == "safetensors_header"
    assert rows["full-run"]["params_total"] == 15 + 7
    assert rows["full-run"]["params_trainable"] == 15 + 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"global_step": 10, "log_history": [', "invalid JSON"),
        (b'{"model_type": "llama"}', "not a Hugging Face trainer state: missing key 'global_step'"),
        (b"", "empty file"),
        (bytes(range(256)) * 8, "not UTF-8 text"),
        (b'{"global_step": "10", "log_history": []}', "'global_step' should be int"),
        (
            b'{"global_step": 10, "log_history": [], "total_flos": "NaN"}',
            "'total_flos' should be a number",
        ),
    ],
)
def test_bad_state_files_raise_parse_error_naming_the_file(tmp_path, content, message):
    run = tmp_path / "bad-run"
    run.mkdir()
    (run / "trainer_state.json").write_bytes(content)
    with pytest.raises(ParseError, match=message) as caught:
        parse_folder(tmp_path)
    assert "bad-run/trainer_state.json" in str(caught.value)
