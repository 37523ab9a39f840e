"""Training output folders as real tools leave them (tests/data/real/training): no
trainer state, several runs in one folder, Ludwig, LLaMA-Factory, ChatGLM P-Tuning v2,
git-LFS pointers, evaluation-only folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connectors.formats.base import UnitReader
from connectors.formats.training.hf_checkpoint import HfCheckpointParser
from connectors.formats.training.kit import objective_from_metrics
from connectors.formats.training.ludwig import LudwigParser
from connectors.formats.training.run_folder import (
    card_hyperparameters,
    elapsed_seconds,
    tool_settings,
    trainer_log,
)
from connectors.stores.local import LocalStore
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "training"


def parse(root: Path, parser: HfCheckpointParser | LudwigParser | None = None) -> list[dict]:
    """Rows of the folder ``root``, listed from its parent (so its name is the job's)."""
    store = LocalStore(root.parent)
    parser = parser or HfCheckpointParser()
    objects = list(store.list_objects(root.name + "/"))
    units, _ = parser.units(store, objects, forced=False)
    rows = []
    for unit in units:
        table = parser.parse_unit(UnitReader(store, unit))
        assert table.schema == TRAINING_RUNS
        rows += table.to_pylist()
    return rows


def attributes(row: dict) -> dict:
    return json.loads(row["attributes"])


def test_two_runs_in_one_folder_are_two_rows():
    rows = {r["job_name"]: r for r in parse(REAL / "unsloth-qwen3-4b-base-sft-then-grpo-two-runs")}
    assert set(rows) == {
        "unsloth-qwen3-4b-base-sft-then-grpo-two-runs@checkpoint-60",
        "unsloth-qwen3-4b-base-sft-then-grpo-two-runs@checkpoint-1134",
    }
    sft = rows["unsloth-qwen3-4b-base-sft-then-grpo-two-runs@checkpoint-60"]
    grpo = rows["unsloth-qwen3-4b-base-sft-then-grpo-two-runs@checkpoint-1134"]
    assert (sft["objective"], sft["steps"]) == ("sft", 60)
    assert (grpo["objective"], grpo["steps"], grpo["tokens"]) == ("grpo", 1134, 6_009_260)
    online = attributes(grpo)
    assert online["kl_in_use"] is True
    assert online["completion_steps_covered"] == 1130  # logged every 5 steps up to 1130
    assert len({sft["run_id"], grpo["run_id"]}) == 2


def test_checkpoints_of_one_run_stay_one_row():
    rows = parse(REAL / "unsloth-llama32-3b-instruct-bnb4bit-qlora-3ckpts")
    assert len(rows) == 1 and rows[0]["steps"] == 60


def test_folder_without_trainer_state_is_read_from_results_and_settings():
    (row,) = parse(REAL / "lf-qwen3-4b-base-lora-sft-train-results-only")
    assert row["tokens"] == 890_240  # train_results.json num_input_tokens_seen
    assert row["base_model"] == "Qwen/Qwen3-4B-Base"  # training_args.yaml
    assert (row["method"], row["objective"]) == ("lora", "sft")
    assert (row["per_device_batch"], row["grad_accum_steps"]) == (2, 8)
    assert row["reported_flops"] == pytest.approx(1.949640026161152e16)
    extra = attributes(row)
    assert extra["tool"] == "llama_factory" and extra["max_seq_len"] == 2048
    assert extra["adapter"] == {"peft_type": "LORA", "r": 8, "target_modules": "all-linear"}


def test_llama_factory_log_only_folder():
    (row,) = parse(REAL / "lf-qwen25-3b-instruct-full-sft-log-only")
    assert row["steps"] == 6565 and row["tokens"] is None
    assert row["base_model"] == "Qwen/Qwen2.5-3B-Instruct" and row["method"] == "full"
    assert row["runtime_seconds"] == 6 * 3600 + 36 * 60 + 26  # last elapsed_time 6:36:26


def test_evaluation_only_folders_hold_no_training():
    for slug in (
        "eval-only-lf-gemma2-9b-lora-predict",
        "eval-only-lf-qwen25-3b-instruct-lora-predict",
    ):
        assert parse(REAL / slug) == []


def test_orpo_from_llama_factory_settings():
    (row,) = parse(REAL / "lf-glm4-9b-chat-lora-orpo")
    assert row["objective"] == "orpo"


def test_chatglm_p_tuning_v2_is_prefix_tuning():
    (row,) = parse(REAL / "chatglm2-6b-int4-ptuning-v2-prefix")
    assert row["method"] == "prefix_tuning"
    adapter = attributes(row)["adapter"]
    # ChatGLM2: multi-query attention with 2 groups of 128 channels
    assert (adapter["num_virtual_tokens"], adapter["num_layers"], adapter["token_dim"]) == (
        128,
        28,
        256,
    )


def test_adapter_saved_apart_from_the_trainer_output_joins_its_run():
    (row,) = parse(REAL / "hf-llama2-7b-lora-hr-chatbot")
    assert row["method"] == "lora" and row["base_model"] == "meta-llama/Llama-2-7b-hf"


def test_adapter_in_a_checkpoint_adapter_model_folder():
    (row,) = parse(REAL / "qlora-starcoderbase-15b-old-schema")
    assert row["method"] == "lora" and attributes(row)["adapter"]["r"] == 64


def test_ludwig_folder():
    (row,) = parse(REAL / "ludwig-mistral-7b-instruct-v01-qlora-krishi", LudwigParser())
    assert (row["tokens"], row["tokens_basis"], row["steps"]) == (189_670, "logged", 1680)
    assert row["base_model"] == "mistralai/Mistral-7B-Instruct-v0.1"
    assert row["method"] == "qlora" and row["grad_accum_steps"] == 16
    assert attributes(row)["adapter"]["target_modules"] == ["q_proj", "v_proj"]


def test_git_lfs_pointers_are_skipped_with_a_note(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(REAL / "hf-rinna-japanese-gpt2-medium-full-clm", folder)
    (folder / "config.json").write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345\n"
    )
    (row,) = parse(folder)
    assert row["steps"] and attributes(row)["git_lfs_pointers"] == [
        (folder / "config.json").as_uri()
    ]


def test_negative_total_flos_is_refused(tmp_path):
    state = json.loads(
        (REAL / "hf-rinna-japanese-gpt2-medium-full-clm" / "trainer_state.json").read_text()
    )
    state["total_flos"] = -1.0
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "trainer_state.json").write_text(json.dumps(state))
    with pytest.raises(ParseError, match="'total_flos' is negative"):
        parse(tmp_path / "run")


def test_model_card_hyperparameters():
    text = (
        "### Training hyperparameters\n\n- learning_rate: 2e-05\n- train_batch_size: 4\n"
        "- seed: 42\n- distributed_type: multi-GPU\n- num_devices: 8\n"
        "- gradient_accumulation_steps: 2\n- total_train_batch_size: 64\n- num_epochs: 3\n"
    )
    assert card_hyperparameters(text) == {
        "per_device_batch": 4,
        "grad_accum_steps": 2,
        "global_batch": 64,
        "world_size": 8,
        "epochs": 3.0,
    }


def test_llama_factory_log_and_elapsed_time():
    assert elapsed_seconds("1 day, 0:08:23") == 86400 + 503
    entries = trainer_log(
        '{"current_steps": 10, "total_steps": 20, "loss": 1.5, "total_tokens": 4096,'
        ' "elapsed_time": "0:01:00"}\n\n',
        "mem://log",
    )
    assert entries == [
        {
            "step": 10,
            "total_steps": 20,
            "loss": 1.5,
            "num_input_tokens_seen": 4096,
            "elapsed_seconds": 60.0,
        }
    ]
    with pytest.raises(ParseError, match="line 2"):
        trainer_log('{"current_steps": 1}\n[1, 2]\n', "mem://log")
    # a number beyond any float (found by the fuzz suite) is an error naming the line
    for key in ("epoch", "loss"):
        with pytest.raises(ParseError, match=rf"'{key} \(line 2\)' is not finite"):
            trainer_log("{}\n" + json.dumps({key: 10**400}), "mem://log")
    assert tool_settings({"num_train_epochs": 10**400, "stage": "sft"}).get("epochs") is None


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"stage": "dpo", "pref_loss": "simpo", "finetuning_type": "lora"}, ("lora", "simpo")),
        ({"stage": "pt", "finetuning_type": "full", "cutoff_len": 4096}, ("full", "cpt")),
        ({"stage": "sft", "quantization_bit": 4}, ("qlora", "sft")),
        ({"base_model": "x/y", "adapter": "qlora", "rl": "dpo"}, ("qlora", "dpo")),
    ],
)
def test_tool_settings(settings, expected):
    found = tool_settings(settings)
    assert (found["method"], found["objective"]) == expected


@pytest.mark.parametrize(
    ("keys", "objective"),
    [
        (["completions/mean_length", "reward", "reward_std", "kl"], "grpo"),
        (["completion_length", "rewards/format/mean", "reward"], "grpo"),
        (["objective/kl", "objective/rlhf_reward", "val/ratio"], "ppo"),
        (["objective/kl", "objective/rlhf_reward"], "rloo"),
        (["rewards/chosen", "log_odds_ratio", "nll_loss"], "orpo"),
        (["rewards/chosen", "kl"], "kto"),
        (["rewards/chosen", "nll_loss"], "cpo"),
        (["rewards/chosen", "rewards/margins"], "dpo"),
        (["num_tokens", "mean_token_accuracy"], "sft"),
        (["loss"], None),
    ],
)
def test_objective_from_metrics(keys, objective):
    assert objective_from_metrics(keys) == objective


def test_lora_written_into_a_full_checkpoint(tmp_path):
    """LoRA tensors saved by hand in the model's own safetensors (no adapter_config): a
    frozen backbone, the trainable count from those tensors' shapes."""
    np = pytest.importorskip("numpy")
    from safetensors.numpy import save_file

    run = tmp_path / "handmade-lora"
    run.mkdir()
    shutil.copy(REAL / "hf-rinna-japanese-gpt2-medium-full-clm" / "trainer_state.json", run)
    tensors = {
        "transformer.h.0.attn.c_attn.weight": np.zeros((16, 48), dtype=np.float16),
        "transformer.h.0.attn.c_attn.lora_A.weight": np.zeros((4, 16), dtype=np.float16),
        "transformer.h.0.attn.c_attn.lora_B.weight": np.zeros((48, 4), dtype=np.float16),
    }
    save_file(tensors, str(run / "model.safetensors"))
    (row,) = parse(run)
    assert row["method"] == "lora"
    assert row["params_total"] == 16 * 48 + 4 * 16 + 48 * 4
    assert row["params_trainable"] == 4 * 16 + 48 * 4


def test_safetensors_index_and_model_card_text(tmp_path):
    run = tmp_path / "sharded"
    run.mkdir()
    shutil.copy(REAL / "hf-rinna-japanese-gpt2-medium-full-clm" / "trainer_state.json", run)
    (run / "model.safetensors.index.json").write_text(
        json.dumps(
            {
                "metadata": {"total_size": 2 * 1_000_000},
                "weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors"},
            }
        )
    )
    (run / "config.json").write_text(json.dumps({"model_type": "llama", "torch_dtype": "bfloat16"}))
    (run / "README.md").write_text(
        "# my model\n\nThis model is a fine-tuned version of "
        "[meta-llama/Llama-2-7b-hf](https://huggingface.co/meta-llama/Llama-2-7b-hf) on the "
        "None dataset.\n"
    )
    (row,) = parse(run)
    assert row["params_total"] == 1_000_000 and row["params_basis"] == "safetensors_index"
    assert "meta-llama/Llama-2-7b-hf" in attributes(row)["base_model_candidates"]
