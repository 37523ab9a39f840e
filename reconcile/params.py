"""Parameter counts from a model's ``config.json``, without weights.

The config is completed with its class defaults by ``transformers.AutoConfig`` (offline:
``HF_HUB_OFFLINE=1``, nothing is downloaded), then counted per architecture by our own
rules: embeddings, attention (GQA, multi-query, MLA), dense and gated MLPs, MoE experts
(total and active), routers, shared experts, biases, norms, tied or untied heads, and
vision towers where a checkpoint includes them.

Conventions (the same for a base model and its modification):

* ``total``: every weight and bias of the model; a tied LM head counted once; buffers
  (rotary ``inv_freq``) and multi-token-prediction modules excluded.
* ``active``: per text token: all non-expert weights plus the top-k routed experts (and
  any shared experts); a vision tower is not active on text tokens. Equal to ``total``
  for dense text-only models.
* ``matmul`` / ``matmul_active``: weights that take part in a matrix multiply per token,
  i.e. every linear layer including the output head; the input-embedding lookup costs
  nothing, a tied head counts once (it is the embedding matrix, used as the head).
  Biases and norms are left out (negligible, < 0.1 % for these models).
* ``hf_counted``: what the Hugging Face Trainer multiplies by 6 × tokens for
  ``total_flos``: ``num_parameters(exclude_embeddings=True)``, i.e. ``total`` minus every
  ``nn.Embedding`` weight (input embedding, learned positions). A tied head is the
  embedding and is excluded with it; an untied head is included.

The rules were validated against 96 reference configs (26 model types) and their
published parameter counts; see tests/test_params.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from reconcile.errors import ParseError


@dataclass(frozen=True)
class Linear:
    """One linear module per layer: name as PEFT targets it, shape, multiplicity."""

    name: str
    in_features: int
    out_features: int
    bias: bool = False
    count: int = 1  # e.g. number of experts sharing this shape
    expert: bool = False  # a routed expert (only top-k are active per token)

    @property
    def weights(self) -> int:
        """Weight parameters of all copies."""
        return self.in_features * self.out_features * self.count

    @property
    def params(self) -> int:
        """Weights and biases of all copies."""
        return (
            self.in_features * self.out_features + (self.out_features if self.bias else 0)
        ) * self.count


@dataclass(frozen=True)
class ParamCount:
    """Parameter counts of one model (see the module docstring for conventions)."""

    model_type: str
    total: int
    active: int
    embedding: int
    lm_head: int
    matmul: int
    matmul_active: int
    hf_counted: int
    vision: int
    n_layers: int
    hidden_size: int
    attention_dim: int
    vocab_size: int
    experts: int
    experts_per_token: int
    #: per-layer linear modules (for LoRA counting), one list per decoder layer
    layers: tuple[tuple[Linear, ...], ...] = field(repr=False, default=())

    @property
    def is_moe(self) -> bool:
        """Whether the model routes tokens to experts."""
        return self.experts > 0


class _Counter:
    """Accumulates layers of one model."""

    def __init__(self) -> None:
        self.layers: list[tuple[Linear, ...]] = []
        self.other = 0  # norms, biases of non-linear parts, sinks, routers' biases
        self.experts_per_token = 0
        self.experts = 0

    def layer(self, linears: list[Linear], other: int = 0) -> None:
        self.layers.append(tuple(linears))
        self.other += other

    def sums(self) -> tuple[int, int, int, int]:
        """(params, params active, matmul weights, matmul weights active) of all layers."""
        total = active = mm = mm_active = 0
        for linears in self.layers:
            for lin in linears:
                total += lin.params
                mm += lin.weights
                if lin.expert and self.experts:
                    share = self.experts_per_token / lin.count
                    active += int(lin.params * share)
                    mm_active += int(lin.weights * share)
                else:
                    active += lin.params
                    mm_active += lin.weights
        return total + self.other, active + self.other, mm, mm_active


def _get(cfg: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        value = cfg.get(name)
        if value is not None:
            return value
    return default


def _attention(
    cfg: dict[str, Any], h: int, *, bias_qkv: bool, bias_o: bool, fused: str | None = None
) -> list[Linear]:
    heads = int(_get(cfg, "num_attention_heads", "n_head"))
    kv = int(_get(cfg, "num_key_value_heads", default=heads))
    head_dim = int(_get(cfg, "head_dim", default=h // heads))
    q, k = heads * head_dim, kv * head_dim
    if fused:
        return [Linear(fused, h, q + 2 * k, bias_qkv), Linear("o_proj", q, h, bias_o)]
    return [
        Linear("q_proj", h, q, bias_qkv),
        Linear("k_proj", h, k, bias_qkv),
        Linear("v_proj", h, k, bias_qkv),
        Linear("o_proj", q, h, bias_o),
    ]


def _gated_mlp(h: int, inter: int, bias: bool = False, fused: bool = False) -> list[Linear]:
    if fused:
        return [Linear("gate_up_proj", h, 2 * inter, bias), Linear("down_proj", inter, h, bias)]
    return [
        Linear("gate_proj", h, inter, bias),
        Linear("up_proj", h, inter, bias),
        Linear("down_proj", inter, h, bias),
    ]


def _experts(
    h: int,
    inter: int,
    n: int,
    names: tuple[str, str, str] = ("gate_proj", "up_proj", "down_proj"),
    bias: bool = False,
) -> list[Linear]:
    return [
        Linear(names[0], h, inter, bias, n, True),
        Linear(names[1], h, inter, bias, n, True),
        Linear(names[2], inter, h, bias, n, True),
    ]


def _decoder(cfg: dict[str, Any], model_type: str, c: _Counter) -> None:
    """Count the decoder layers and final norm of a text model."""
    h = int(_get(cfg, "hidden_size", "n_embd", "d_model"))
    n_layers = int(_get(cfg, "num_hidden_layers", "n_layer"))
    heads = int(_get(cfg, "num_attention_heads", "n_head"))
    head_dim = int(_get(cfg, "head_dim", default=h // heads))
    inter = _get(cfg, "intermediate_size", "n_inner", "ffn_hidden_size")
    rms = h  # one RMSNorm
    ln = 2 * h  # one LayerNorm with bias

    if model_type in (
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "olmo",
        "olmo2",
        "phi3",
        "yi",
        "gemma",
        "gemma2",
        "gemma3_text",
        "starcoder2",
    ):
        bias_qkv = bool(cfg.get("attention_bias")) or model_type == "qwen2"
        bias_o = bool(cfg.get("attention_bias"))
        if model_type == "starcoder2":
            bias_qkv = bias_o = bool(cfg.get("use_bias", True))
        fused = "qkv_proj" if model_type == "phi3" else None
        attn = _attention(cfg, h, bias_qkv=bias_qkv, bias_o=bias_o, fused=fused)
        if model_type == "starcoder2":
            mlp = [Linear("c_fc", h, int(inter), bias_o), Linear("c_proj", int(inter), h, bias_o)]
        else:
            mlp = _gated_mlp(
                h, int(inter), bias=bool(cfg.get("mlp_bias")), fused=model_type == "phi3"
            )
        norms = {"olmo": 0, "gemma2": 4 * rms, "gemma3_text": 4 * rms, "starcoder2": 2 * ln}.get(
            model_type, 2 * rms
        )
        if model_type in ("qwen3", "gemma3_text"):
            norms += 2 * head_dim
        if model_type == "olmo2":
            kv = int(_get(cfg, "num_key_value_heads", default=heads))
            norms += heads * head_dim + kv * head_dim
        for _ in range(n_layers):
            c.layer(attn + mlp, norms)
        c.other += {"olmo": 0, "starcoder2": ln}.get(model_type, rms)
    elif model_type in ("mixtral", "phimoe", "qwen2_moe", "qwen3_moe", "gpt_oss"):
        n_exp = int(_get(cfg, "num_local_experts", "num_experts"))
        c.experts, c.experts_per_token = n_exp, int(cfg["num_experts_per_tok"])
        moe_inter = int(_get(cfg, "moe_intermediate_size", "intermediate_size"))
        bias = bool(cfg.get("attention_bias")) or (
            model_type == "qwen2_moe" and cfg.get("qkv_bias", True)
        )
        attn = _attention(cfg, h, bias_qkv=bias, bias_o=bool(cfg.get("attention_bias")))
        norms = 2 * (ln if model_type == "phimoe" else rms)
        if model_type == "qwen3_moe":
            norms += 2 * head_dim
        if model_type == "gpt_oss":
            norms += heads  # attention sinks, one scalar per head
        sparse_step = int(cfg.get("decoder_sparse_step") or 1)
        dense_only = set(cfg.get("mlp_only_layers") or [])
        for index in range(n_layers):
            if model_type in ("qwen2_moe", "qwen3_moe") and (
                index in dense_only or (index + 1) % sparse_step != 0
            ):
                c.layer(attn + _gated_mlp(h, int(cfg["intermediate_size"])), norms)
                continue
            if model_type == "gpt_oss":
                experts = [
                    Linear("gate_up_proj", h, 2 * moe_inter, True, n_exp, True),
                    Linear("down_proj", moe_inter, h, True, n_exp, True),
                ]
                router = [Linear("router", h, n_exp, True)]
            else:
                experts = _experts(
                    h,
                    moe_inter,
                    n_exp,
                    ("w1", "w3", "w2")
                    if model_type in ("mixtral", "phimoe")
                    else ("gate_proj", "up_proj", "down_proj"),
                )
                router = [Linear("gate", h, n_exp)]
            shared: list[Linear] = []
            if model_type == "qwen2_moe":
                shared = _gated_mlp(h, int(cfg["shared_expert_intermediate_size"])) + [
                    Linear("shared_expert_gate", h, 1)
                ]
            c.layer(attn + experts + router + shared, norms)
        c.other += ln if model_type == "phimoe" else rms
    elif model_type == "deepseek_v3":
        c.experts, c.experts_per_token = (
            int(cfg["n_routed_experts"]),
            int(cfg["num_experts_per_tok"]),
        )
        q_lora, kv_lora = int(cfg["q_lora_rank"]), int(cfg["kv_lora_rank"])
        nope, rope, v_dim = (
            int(cfg["qk_nope_head_dim"]),
            int(cfg["qk_rope_head_dim"]),
            int(cfg["v_head_dim"]),
        )
        attn = [
            Linear("q_a_proj", h, q_lora),
            Linear("q_b_proj", q_lora, heads * (nope + rope)),
            Linear("kv_a_proj_with_mqa", h, kv_lora + rope),
            Linear("kv_b_proj", kv_lora, heads * (nope + v_dim)),
            Linear("o_proj", heads * v_dim, h),
        ]
        norms = 2 * rms + q_lora + kv_lora
        first_dense = int(cfg.get("first_k_dense_replace") or 0)
        moe_inter = int(cfg["moe_intermediate_size"])
        for index in range(n_layers):
            if index < first_dense:
                c.layer(attn + _gated_mlp(h, int(cfg["intermediate_size"])), norms)
            else:
                shared = _gated_mlp(h, moe_inter * int(cfg.get("n_shared_experts") or 0))
                c.layer(
                    attn
                    + _experts(h, moe_inter, c.experts)
                    + [Linear("gate", h, c.experts)]
                    + shared,
                    norms + c.experts,
                )  # + the router's score-correction bias
        c.other += rms
    elif model_type == "llama4_text":
        c.experts, c.experts_per_token = (
            int(cfg["num_local_experts"]),
            int(cfg["num_experts_per_tok"]),
        )
        attn = _attention(
            cfg, h, bias_qkv=bool(cfg.get("attention_bias")), bias_o=bool(cfg.get("attention_bias"))
        )
        moe_layers = cfg.get("moe_layers")
        if moe_layers is None:
            step = int(cfg.get("interleave_moe_layer_step") or 1)
            moe_layers = list(range(step - 1, n_layers, step))
        for index in range(n_layers):
            if index in moe_layers:
                experts = _experts(h, int(cfg["intermediate_size"]), c.experts)
                shared = _gated_mlp(h, int(cfg["intermediate_size"]))
                c.layer(attn + experts + [Linear("router", h, c.experts)] + shared, 2 * rms)
            else:
                c.layer(attn + _gated_mlp(h, int(cfg["intermediate_size_mlp"])), 2 * rms)
        c.other += rms
    elif model_type == "gpt2":
        width = int(inter or 4 * h)
        for _ in range(n_layers):
            c.layer(
                [
                    Linear("c_attn", h, 3 * h, True),
                    Linear("attn.c_proj", h, h, True),
                    Linear("c_fc", h, width, True),
                    Linear("mlp.c_proj", width, h, True),
                ],
                2 * ln,
            )
        c.other += ln
    elif model_type == "gptj":
        width = int(inter or 4 * h)
        for _ in range(n_layers):
            c.layer(
                [
                    Linear("q_proj", h, h),
                    Linear("k_proj", h, h),
                    Linear("v_proj", h, h),
                    Linear("out_proj", h, h),
                    Linear("fc_in", h, width, True),
                    Linear("fc_out", width, h, True),
                ],
                ln,
            )
        c.other += ln
    elif model_type == "gpt_neox":
        for _ in range(n_layers):
            c.layer(
                [
                    Linear("query_key_value", h, 3 * h, True),
                    Linear("dense", h, h, True),
                    Linear("dense_h_to_4h", h, int(inter), True),
                    Linear("dense_4h_to_h", int(inter), h, True),
                ],
                2 * ln,
            )
        c.other += ln
    elif model_type == "bloom":
        for _ in range(n_layers):
            c.layer(
                [
                    Linear("query_key_value", h, 3 * h, True),
                    Linear("dense", h, h, True),
                    Linear("dense_h_to_4h", h, 4 * h, True),
                    Linear("dense_4h_to_h", 4 * h, h, True),
                ],
                2 * ln,
            )
        c.other += ln + ln  # final norm, and the norm right after the word embeddings
    elif model_type == "falcon":
        new_arch = bool(cfg.get("new_decoder_architecture"))
        kv = (
            int(_get(cfg, "num_kv_heads", default=heads))
            if new_arch
            else (1 if cfg.get("multi_query", True) else heads)
        )
        width = int(_get(cfg, "ffn_hidden_size", default=4 * h))
        bias = bool(cfg.get("bias"))
        n_ln = int(cfg.get("num_ln_in_parallel_attn") or 2) if new_arch else 1
        for _ in range(n_layers):
            c.layer(
                [
                    Linear("query_key_value", h, (heads + 2 * kv) * head_dim, bias),
                    Linear("dense", heads * head_dim, h, bias),
                    Linear("dense_h_to_4h", h, width, bias),
                    Linear("dense_4h_to_h", width, h, bias),
                ],
                n_ln * ln,
            )
        c.other += ln
    elif model_type == "phi":
        for _ in range(n_layers):
            c.layer(
                _attention(cfg, h, bias_qkv=True, bias_o=True)[:3]
                + [
                    Linear("dense", h, h, True),
                    Linear("fc1", h, int(inter), True),
                    Linear("fc2", int(inter), h, True),
                ],
                ln,
            )
        c.other += ln
    else:
        raise ValueError(model_type)


def _vision(model_type: str, vcfg: dict[str, Any], text_hidden: int) -> int:
    """Parameters of the vision tower and projector of a multimodal checkpoint."""
    h, inter = int(vcfg["hidden_size"]), int(vcfg["intermediate_size"])
    n_layers, patch = int(vcfg["num_hidden_layers"]), int(vcfg["patch_size"])
    image = int(vcfg["image_size"])
    channels = int(vcfg.get("num_channels") or 3)
    per_layer = 4 * (h * h + h) + (h * inter + inter) + (inter * h + h) + 2 * (2 * h)
    if model_type == "gemma3":  # SigLIP tower + RMS-normed linear projector
        patches = (image // patch) ** 2
        embeddings = channels * patch * patch * h + h + patches * h
        return embeddings + n_layers * per_layer + 2 * h + h + h * text_hidden
    if model_type == "llama4":
        patches = (image // patch) ** 2
        embeddings = channels * patch * patch * h + h + (patches + 1) * h  # unfold, class, pos
        encoder = n_layers * per_layer + 2 * (2 * h)  # + pre and post LayerNorms
        ratio = float(vcfg.get("pixel_shuffle_ratio") or 0.5)
        shuffled = int(h / (ratio * ratio))
        proj_in = int(vcfg.get("projector_input_dim") or shuffled)
        out = int(vcfg.get("vision_output_dim") or proj_in)
        adapter = shuffled * proj_in + proj_in * out  # pixel-shuffle MLP, no biases
        return embeddings + encoder + adapter + out * text_hidden
    raise ValueError(model_type)


#: Families whose LM head is tied to the input embedding when the config does not say.
_TIED_BY_DEFAULT = {
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "gpt2",
    "bloom",
    "falcon",
    "starcoder2",
    "qwen2",
}


def complete_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config with its class defaults, via ``transformers.AutoConfig`` (offline).

    Raises:
        ParseError: no model_type, or a model_type transformers does not know.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import AutoConfig

    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ParseError("config.json", "no model_type")
    fields = {k: v for k, v in config.items() if not k.startswith("_") and k != "model_type"}
    try:
        completed = AutoConfig.for_model(model_type, **fields).to_dict()
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError("config.json", f"model_type {model_type!r} not understood: {exc}") from exc
    completed["model_type"] = model_type
    return completed


def count_parameters(config: dict[str, Any], *, complete: bool = True) -> ParamCount:
    """Count a model's parameters from its config (see the module docstring).

    Args:
        config: the ``config.json`` content.
        complete: fill class defaults through transformers first.

    Raises:
        ParseError: the architecture is not supported or the config lacks a needed field.
    """
    cfg = complete_config(config) if complete else dict(config)
    model_type = str(cfg["model_type"])
    text = cfg
    if model_type in ("gemma3", "llama4") and isinstance(cfg.get("text_config"), dict):
        text = dict(cfg["text_config"])
        text.setdefault("model_type", f"{model_type}_text")
    text_type = str(text.get("model_type", model_type))
    counter = _Counter()
    try:
        _decoder(text, text_type, counter)
        h = int(_get(text, "hidden_size", "n_embd"))
        vocab = int(text["vocab_size"])
    except ValueError:
        raise ParseError(
            "config.json", f"architecture {text_type!r} is not supported for parameter counting"
        ) from None
    except (KeyError, TypeError) as exc:
        raise ParseError("config.json", f"{text_type} config lacks a needed field: {exc}") from None
    tie_default = text_type in _TIED_BY_DEFAULT or model_type in _TIED_BY_DEFAULT
    tied = bool(
        _get(
            text,
            "tie_word_embeddings",
            default=_get(cfg, "tie_word_embeddings", default=tie_default),
        )
    )
    embedding = vocab * h
    positions = int(text.get("n_positions") or 0) * h if text_type == "gpt2" else 0
    head_bias = vocab if (text_type in ("phi", "gptj") or text.get("lm_head_bias")) else 0
    lm_head = 0 if tied else vocab * h + head_bias
    layers_total, layers_active, mm, mm_active = counter.sums()
    vision = 0
    if model_type in ("gemma3", "llama4") and isinstance(cfg.get("vision_config"), dict):
        vision = _vision(model_type, cfg["vision_config"], h)
    total = embedding + positions + lm_head + layers_total + vision
    active = embedding + positions + lm_head + layers_active  # text tokens skip the tower
    head_mm = vocab * h  # the head's matmul, tied or not
    heads = int(_get(text, "num_attention_heads", "n_head"))
    head_dim = int(_get(text, "head_dim", default=h // heads))
    if text_type == "deepseek_v3":
        head_dim = int(text["qk_nope_head_dim"]) + int(text["qk_rope_head_dim"])
    return ParamCount(
        model_type=model_type,
        total=total,
        active=active,
        embedding=embedding,
        lm_head=lm_head,
        matmul=mm + head_mm,
        matmul_active=mm_active + head_mm,
        hf_counted=total - embedding - positions,
        vision=vision,
        n_layers=len(counter.layers),
        hidden_size=h,
        attention_dim=heads * head_dim,
        vocab_size=vocab,
        experts=counter.experts,
        experts_per_token=counter.experts_per_token,
        layers=tuple(counter.layers),
    )


def lora_parameters(
    count: ParamCount,
    *,
    r: int,
    target_modules: list[str] | str,
    use_dora: bool = False,
    modules_to_save: list[str] | None = None,
) -> int:
    """Trainable parameters a LoRA adapter adds: r × (in + out) per targeted linear
    module (per expert copy for expert modules), + a magnitude vector of ``out`` per
    module with DoRA, + full copies of ``modules_to_save`` (e.g. ``lm_head``).

    ``target_modules`` may be a list of module names (matched against the module's
    name, as PEFT does with suffixes) or ``"all-linear"``.
    """
    total = 0
    targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    all_linear = targets == ["all-linear"]
    for layer in count.layers:
        for lin in layer:
            if lin.name in ("gate", "router", "shared_expert_gate"):
                hit = lin.name in targets
            else:
                hit = all_linear or any(
                    lin.name == t or lin.name.endswith("." + t) or t.endswith("." + lin.name)
                    for t in targets
                )
            if hit:
                total += r * (lin.in_features + lin.out_features) * lin.count
                if use_dora:
                    total += lin.out_features * lin.count
    for name in modules_to_save or []:
        if name in ("lm_head", "embed_out"):
            total += count.vocab_size * count.hidden_size
        elif name in ("embed_tokens", "wte", "word_embeddings"):
            total += count.embedding
    return total
