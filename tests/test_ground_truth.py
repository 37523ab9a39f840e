"""Validation against measured FLOPs: real, tiny Hugging Face Trainer fine-tunings on CPU.

Each case trains a random-initialised tiny model for a few steps with
``torch.utils.flop_counter.FlopCounterMode`` counting every matmul of forward and
backward (eager attention: the CPU SDPA kernel would not be counted), saves what the
Trainer writes (trainer_state.json, config.json, adapter files), ingests it with
``reconcile`` and checks the architecture estimate against the measurement.

The configs make attention and the vocabulary a real share of the work (a 2,048-token
vocabulary against a 64-wide model; 128-token sequences), so a formula that left either
out would miss by far more than the 5 % allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch", reason="the ground-truth tests need the test extra (torch)")
transformers = pytest.importorskip("transformers")

from reconcile import warehouse  # noqa: E402
from reconcile.cli import cli  # noqa: E402
from reconcile.flops import RunShape, per_token_flops  # noqa: E402

VOCAB, SEQ, BATCH, STEPS = 2048, 128, 4, 3


def _config(kind: str) -> Any:
    common = {"vocab_size": VOCAB, "num_hidden_layers": 2}
    if kind == "llama":
        return transformers.LlamaConfig(
            hidden_size=64,
            intermediate_size=176,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            tie_word_embeddings=False,
            **common,
        )
    if kind == "qwen2":
        return transformers.Qwen2Config(
            hidden_size=64,
            intermediate_size=160,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            tie_word_embeddings=True,
            **common,
        )
    return transformers.GPT2Config(
        n_embd=64, n_layer=2, n_head=4, n_positions=256, vocab_size=VOCAB
    )


def _batches(padded: bool) -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(0)
    rows = []
    for index in range(BATCH * STEPS):
        length = SEQ if not padded else int(SEQ * (0.5 + 0.5 * (index % BATCH) / BATCH))
        ids = torch.randint(0, VOCAB, (length,), generator=generator)
        if padded:
            pad = SEQ - length  # padded to the full length: compute runs on every position
            input_ids = torch.cat([ids, torch.zeros(pad, dtype=torch.long)])
            mask = torch.cat(
                [torch.ones(length, dtype=torch.long), torch.zeros(pad, dtype=torch.long)]
            )
            labels = torch.cat([ids, torch.full((pad,), -100)])
            rows.append({"input_ids": input_ids, "attention_mask": mask, "labels": labels})
        else:
            rows.append({"input_ids": ids, "labels": ids})
    return rows


def train(
    out: Path, kind: str, *, lora: bool = False, padded: bool = False, checkpointing: bool = False
) -> float:
    """Train, save what the Trainer writes, and return the measured FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(
        _config(kind), attn_implementation="eager"
    )
    if lora:
        import peft

        targets = ["c_attn", "c_fc"] if kind == "gpt2" else ["q_proj", "v_proj", "down_proj"]
        model = peft.get_peft_model(
            model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=targets)
        )
    args = transformers.TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=BATCH,
        max_steps=STEPS,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        include_num_input_tokens_seen=True,
        gradient_checkpointing=checkpointing,
        disable_tqdm=True,
        seed=0,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=_batches(padded))
    with FlopCounterMode(display=False) as counter:
        trainer.train()
    trainer.save_state()
    trainer.save_model()
    if lora:  # the base's config, as a full checkpoint folder would hold it
        model.base_model.model.config.save_pretrained(str(out))
    return float(counter.get_total_flops())


def estimates_of(tmp_path: Path) -> dict[str, dict[str, Any]]:
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "runs")]).exit_code == 0
    result = runner.invoke(cli, ["--db", str(db), "estimate"])
    assert result.exit_code == 0, result.output
    con = warehouse.open_for_read(db)
    rows = con.execute(
        "SELECT r.job_name, e.flops_low, e.flops_central, e.flops_high, e.assumptions, "
        "r.tokens, r.tokens_basis, r.params_trainable FROM run_estimates e "
        "JOIN resolved_runs r ON r.run_key = e.run_id WHERE e.method = 'architecture'"
    ).fetchall()
    con.close()
    return {
        r[0]: {
            "low": r[1],
            "central": r[2],
            "high": r[3],
            "assumptions": json.loads(r[4]),
            "tokens": r[5],
            "tokens_basis": r[6],
            "trainable": r[7],
        }
        for r in rows
    }


CASES = {
    "llama-full-packed": {"kind": "llama"},
    "qwen2-tied-lora-padded": {"kind": "qwen2", "lora": True, "padded": True},
    "gpt2-full-padded": {"kind": "gpt2", "padded": True},
}


@pytest.mark.slow
def test_architecture_estimate_matches_measured_flops(tmp_path):
    measured = {name: train(tmp_path / "runs" / name, **spec) for name, spec in CASES.items()}
    estimates = estimates_of(tmp_path)
    for name, flops_measured in measured.items():
        estimate = estimates[name]
        assert estimate["tokens"] == STEPS * BATCH * SEQ, name  # padding counted
        assert abs(estimate["central"] - flops_measured) <= 0.05 * flops_measured, (
            name,
            estimate["central"],
            flops_measured,
        )
        assert estimate["low"] <= flops_measured <= estimate["high"], name
        # The guidelines' 6·P·D and the meter's formula are shown beside ours.
        cross = estimate["assumptions"]["cross_reference"]
        assert cross["guidelines_6PD"]["flops"] > 0 and cross["aws_meter"]["flops"] > 0
    # Leaving attention out would miss the measurement by more than the tolerance.
    llama = estimates["llama-full-packed"]["assumptions"]["per_token_parts"]
    assert llama["attention"] / sum(llama.values()) > 0.05


@pytest.mark.slow
def test_gradient_checkpointing_recompute_is_excluded_but_known(tmp_path):
    plain = train(tmp_path / "runs" / "llama-plain", "llama")
    checkpointed = train(tmp_path / "other" / "llama-gc", "llama", checkpointing=True)
    assert checkpointed > plain  # the recomputed forward is real work
    estimate = estimates_of(tmp_path)["llama-plain"]
    assert abs(estimate["central"] - plain) <= 0.05 * plain  # regulatory figure: no recompute
    shape = RunShape(
        tokens=STEPS * BATCH * SEQ,
        tokens_low=0,
        tokens_high=0,
        params_total=0,
        params_matmul=estimate["assumptions"]["params_matmul"],
        params_matmul_active=estimate["assumptions"]["params_matmul"],
        params_trainable=None,
        n_layers=2,
        attention_dim=64,
        seq_len=SEQ,
        method="full",
        objective=None,
    )
    # Recomputation is at most one more forward (the head is not recomputed by layer-wise
    # checkpointing): the hardware-comparable figure is an upper bound for it.
    per_token, _ = per_token_flops(shape, n_ctx=SEQ, active=True, recompute=True)
    assert plain < checkpointed <= per_token * shape.tokens
