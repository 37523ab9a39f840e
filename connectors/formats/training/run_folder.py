"""What training tools leave in an output folder besides ``trainer_state.json``.

Real folders often lack a trainer state, or carry the settings that fix a run's size
elsewhere. Read here, as plain facts (no estimation):

* **LLaMA-Factory** (github.com/hiyouga/LLaMA-Factory): ``trainer_log.jsonl`` (one JSON
  object per logging step: ``current_steps``, ``total_steps``, ``epoch``, ``loss``,
  ``elapsed_time`` as ``H:MM:SS``, and ``total_tokens`` when
  ``include_num_input_tokens_seen`` was on), and its YAML arguments
  (``training_args.yaml``, ``llamaboard_config.yaml`` or the user's own file):
  ``model_name_or_path``, ``stage`` (pt | sft | rm | ppo | dpo | kto), ``pref_loss``
  (sigmoid = DPO, orpo, simpo, ...), ``finetuning_type`` (full | freeze | lora | oft),
  ``quantization_bit``, ``cutoff_len``, ``packing``, batch sizes.
* **axolotl** (github.com/axolotl-ai-cloud/axolotl) YAML: ``base_model``, ``adapter``
  (lora | qlora), ``sequence_len``, ``sample_packing``, ``micro_batch_size``,
  ``gradient_accumulation_steps``, ``num_epochs``, ``rl`` (dpo | kto | orpo | ipo | grpo).
* The model card transformers writes (``README.md``): its "Training hyperparameters"
  list (``train_batch_size``, ``gradient_accumulation_steps``, ``total_train_batch_size``,
  ``num_devices``, ``num_epochs``), which old trainer states lack.
* git-LFS pointer files: a file whose content was never downloaded.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from connectors.formats.training.kit import REPO_ID, number
from reconcile.errors import ParseError

#: The first line of a git-LFS pointer file (git-lfs spec, docs/spec.md).
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"

_CARD_HYPERPARAMETER = re.compile(r"^\s*[-*]\s*([a-z_]+)\s*:\s*([^\s]+)\s*$", re.MULTILINE)
_ELAPSED = re.compile(r"^(?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


def _positive_float(value: Any) -> float | None:
    """A positive finite number a config states, else None (not stated, or no usable
    number: an integer beyond any float is no epoch count)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def is_lfs_pointer(data: bytes) -> bool:
    """Whether a file is a git-LFS pointer instead of its content."""
    return data.startswith(LFS_POINTER_PREFIX)


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    return None


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def elapsed_seconds(text: Any) -> float | None:
    """LLaMA-Factory's ``elapsed_time`` (``6:36:26``, ``1 day, 0:08:23``) in seconds."""
    if not isinstance(text, str):
        return None
    match = _ELAPSED.match(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def trainer_log(text: str, uri: str) -> list[dict[str, Any]]:
    """LLaMA-Factory's ``trainer_log.jsonl`` as trainer-state-like log entries.

    Each line becomes ``{"step", "total_steps", "epoch", "loss", "num_input_tokens_seen",
    "elapsed_seconds"}`` (keys present only when logged). Blank lines are skipped; a
    line that is not a JSON object is a ParseError naming it.
    """
    entries: list[dict[str, Any]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(uri, f"not JSON ({exc.msg})", f"line {line_number}") from None
        if not isinstance(record, dict):
            raise ParseError(uri, "not a JSON object", f"line {line_number}")
        entry: dict[str, Any] = {}
        step = _positive_int(record.get("current_steps"))
        if step is not None:
            entry["step"] = step
        total = _positive_int(record.get("total_steps"))
        if total is not None:
            entry["total_steps"] = total
        for key in ("epoch", "loss"):
            if isinstance(record.get(key), (int, float)) and not isinstance(record[key], bool):
                # an integer beyond any float is an error naming the line, not a crash
                entry[key] = number(record[key], uri, f"{key} (line {line_number})")
        tokens = _positive_int(record.get("total_tokens"))
        if tokens is not None:
            entry["num_input_tokens_seen"] = tokens
        seconds = elapsed_seconds(record.get("elapsed_time"))
        if seconds is not None:
            entry["elapsed_seconds"] = seconds
        entries.append(entry)
    return entries


def _base_name(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def tool_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Run settings from a LLaMA-Factory or axolotl YAML (or any dict of trainer args).

    Returns canonical keys only where the config states them: ``base_model``, ``tool``,
    ``method``, ``objective``, ``per_device_batch``, ``grad_accum_steps``, ``seq_len``,
    ``packing``, ``epochs``, ``max_steps``, ``precision``, ``adapter`` (LoRA settings for
    counting: ``r``, ``target_modules``, ``peft_type``).
    """
    out: dict[str, Any] = {}
    if "finetuning_type" in config or "stage" in config or "cutoff_len" in config:
        out["tool"] = "llama_factory"
        base = _base_name(config.get("model_name_or_path"))
        stage = str(config.get("stage") or "").lower()
        kind = str(config.get("finetuning_type") or "lora").lower()
        quantised = _positive_int(config.get("quantization_bit"))
        method = {"lora": "lora", "full": "full", "freeze": "freeze", "oft": "oft"}.get(kind, kind)
        if method == "lora" and quantised:
            method = "qlora"
        out["method"] = method
        objective = {"pt": "cpt", "sft": "sft", "rm": "reward", "ppo": "ppo", "kto": "kto"}.get(
            stage
        )
        if stage == "dpo":
            loss = str(config.get("pref_loss") or "sigmoid").lower()
            objective = {"orpo": "orpo", "simpo": "simpo", "ipo": "ipo"}.get(loss, "dpo")
        if objective:
            out["objective"] = objective
        seq_len = _positive_int(config.get("cutoff_len"))
        packing = _truthy(config.get("packing"))
        if packing is None and stage == "pt":
            packing = True  # LLaMA-Factory packs pre-training data unless told otherwise
        lora = {
            "peft_type": "LORA",
            "r": _positive_int(config.get("lora_rank")) or 8,
            "target_modules": _lf_targets(config.get("lora_target")),
        }
        if method in ("lora", "qlora"):
            out["adapter"] = lora
    elif "base_model" in config or "sequence_len" in config or "micro_batch_size" in config:
        out["tool"] = "axolotl"
        base = _base_name(config.get("base_model"))
        adapter = str(config.get("adapter") or "").lower()
        out["method"] = {"lora": "lora", "qlora": "qlora"}.get(adapter, "full")
        rl = str(config.get("rl") or "").lower()
        out["objective"] = rl or ("cpt" if config.get("pretraining_dataset") else "sft")
        seq_len = _positive_int(config.get("sequence_len"))
        packing = _truthy(config.get("sample_packing"))
        if out["method"] in ("lora", "qlora"):
            targets = config.get("lora_target_modules")
            if config.get("lora_target_linear"):
                targets = "all-linear"
            out["adapter"] = {
                "peft_type": "LORA",
                "r": _positive_int(config.get("lora_r")) or 8,
                "target_modules": targets if targets else [],
            }
        out["per_device_batch"] = _positive_int(config.get("micro_batch_size"))
        out["epochs"] = _positive_float(config.get("num_epochs"))
    else:
        base = _base_name(config.get("model_name_or_path"))
        seq_len = _positive_int(config.get("max_seq_length") or config.get("max_length"))
        packing = _truthy(config.get("packing"))
    if base:
        out["base_model"] = base
    if seq_len:
        out["seq_len"] = seq_len
    if packing is not None:
        out["packing"] = packing
    out.setdefault("per_device_batch", _positive_int(config.get("per_device_train_batch_size")))
    out["grad_accum_steps"] = _positive_int(config.get("gradient_accumulation_steps"))
    out.setdefault("epochs", _positive_float(config.get("num_train_epochs")))
    out["max_steps"] = _positive_int(config.get("max_steps"))
    for flag, name in (("bf16", "bfloat16"), ("fp16", "float16")):
        if _truthy(config.get(flag)):
            out["precision"] = name
    return {k: v for k, v in out.items() if v is not None}


def _lf_targets(value: Any) -> list[str] | str:
    """LLaMA-Factory's ``lora_target``: ``all`` (every linear layer) or a comma list."""
    if value is None or str(value).strip().lower() == "all":
        return "all-linear"
    return [t.strip() for t in str(value).split(",") if t.strip()]


def card_hyperparameters(text: str) -> dict[str, Any]:
    """The "Training hyperparameters" list of a model card written by transformers.

    Returns ``per_device_batch``, ``grad_accum_steps``, ``global_batch``, ``world_size``,
    ``epochs`` and ``max_steps`` where listed.
    """
    values = {m[1]: m[2] for m in _CARD_HYPERPARAMETER.finditer(text)}
    out: dict[str, Any] = {
        "per_device_batch": _positive_int(values.get("train_batch_size")),
        "grad_accum_steps": _positive_int(values.get("gradient_accumulation_steps")),
        "global_batch": _positive_int(values.get("total_train_batch_size")),
        "world_size": _positive_int(values.get("num_devices")),
        "epochs": _positive_float(values.get("num_epochs")),
        "max_steps": _positive_int(values.get("training_steps")),
    }
    return {k: v for k, v in out.items() if v is not None}


def hub_id(value: str | None) -> bool:
    """Whether a string is shaped like a Hub repository id."""
    return bool(value) and bool(REPO_ID.match(str(value).strip()))
