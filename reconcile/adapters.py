"""Trainable parameters of a PEFT adapter, from its ``adapter_config.json`` and the base
model's shapes.

PEFT writes every setting that fixes an adapter's size into ``adapter_config.json``
(prompt-learning methods also record the ``token_dim``, ``num_layers`` and
``num_transformer_submodules`` it prepared them with), so the count needs no weights.
Sizes follow PEFT's modules (``peft/tuners/*/model.py`` and ``layer.py``):

* LoRA/QLoRA/DoRA/rsLoRA, AdaLoRA: r × (in + out) per targeted linear module (+ ``out``
  per module for DoRA's magnitude), see :func:`reconcile.params.lora_parameters`;
* prompt tuning: ``num_virtual_tokens × token_dim`` per transformer submodule;
* P-tuning: the virtual-token embedding plus its MLP prompt encoder
  (token_dim → encoder_hidden_size → encoder_hidden_size → token_dim, with biases);
* prefix tuning: ``num_virtual_tokens × num_layers × 2 × token_dim`` (a key and a value
  prefix per layer), or with ``prefix_projection`` an embedding of ``token_dim`` and a
  two-layer MLP up to that size;
* IA³: one scaling vector per targeted module, of its input size for feed-forward
  modules and of its output size otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile.params import ParamCount, lora_parameters

_LORA_FAMILY = ("lora", "qlora", "dora", "adalora")


def _int(config: Mapping[str, Any], key: str) -> int | None:
    value = config.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _targets(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _matches(name: str, targets: list[str]) -> bool:
    return targets == ["all-linear"] or any(
        name == t or name.endswith("." + t) or t.endswith("." + name) for t in targets
    )


def adapter_parameters(
    method: str | None, config: Mapping[str, Any], count: ParamCount | None
) -> tuple[int | None, str]:
    """(trainable parameters, how they were counted) of an adapter; None when the config
    does not say enough."""
    kind = (method or str(config.get("peft_type", "lora"))).lower()
    if kind in _LORA_FAMILY:
        r = _int(config, "r") or _int(config, "init_r")
        if count is None or r is None or not config.get("target_modules"):
            return None, "LoRA rank or targets missing"
        value = lora_parameters(
            count,
            r=r,
            target_modules=config["target_modules"],
            use_dora=bool(config.get("use_dora")),
            modules_to_save=config.get("modules_to_save") or None,
        )
        return value, "adapter_config.json × base shapes"
    tokens = _int(config, "num_virtual_tokens")
    token_dim = _int(config, "token_dim") or (count.hidden_size if count else None)
    submodules = _int(config, "num_transformer_submodules") or 1
    if kind in ("prompt_tuning", "multitask_prompt_tuning"):
        if not tokens or not token_dim:
            return None, "num_virtual_tokens or token_dim missing"
        return tokens * token_dim * submodules, "num_virtual_tokens × token_dim"
    if kind == "p_tuning":
        hidden = _int(config, "encoder_hidden_size") or token_dim
        if not tokens or not token_dim or not hidden:
            return None, "num_virtual_tokens or token_dim missing"
        mlp = (
            token_dim * hidden + hidden + hidden * hidden + hidden + hidden * token_dim + token_dim
        )
        return (
            tokens * token_dim * submodules + mlp,
            "virtual-token embedding + MLP prompt encoder",
        )
    if kind == "prefix_tuning":
        layers = _int(config, "num_layers") or (count.n_layers if count else None)
        if not tokens or not token_dim or not layers:
            return None, "num_virtual_tokens, token_dim or num_layers missing"
        width = layers * 2 * token_dim
        if config.get("prefix_projection"):
            hidden = _int(config, "encoder_hidden_size") or token_dim
            value = tokens * token_dim + token_dim * hidden + hidden + hidden * width + width
            return value, "prefix embedding + projection MLP"
        return tokens * width, "num_virtual_tokens × num_layers × 2 × token_dim"
    if kind == "ia3":
        if count is None:
            return None, "base shapes unknown"
        targets = _targets(config.get("target_modules"))
        feedforward = _targets(config.get("feedforward_modules"))
        total = 0
        for layer in count.layers:
            for lin in layer:
                if _matches(lin.name, targets):
                    size = lin.in_features if _matches(lin.name, feedforward) else lin.out_features
                    total += size * lin.count
        return (total or None), "one scaling vector per targeted module"
    return None, f"no size rule for {kind}"
