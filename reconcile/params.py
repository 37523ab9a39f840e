"""Parameter counts from a model's ``config.json``, without weights.

The config is completed with its class defaults by ``transformers.AutoConfig.for_model``
(the config class of its ``model_type``, built from the fields: nothing is read from the
network or the disk), then counted per architecture by our own
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

Remote-code architectures that ``transformers`` has no config class for (ChatGLM, Baichuan,
InternLM/InternLM2, Qwen 1, DeepSeek-MoE v1) are counted from the file as it is, with the
defaults of their own modelling code.

The rules were validated against 300 reference configs (49 model types: decoder-only
dense and MoE, ALiBi, GLM-style, encoder-decoder T5/mT5) and their published parameter
counts; see tests/test_params.py and tests/test_catalog_data.py.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

from reconcile.errors import ParseError
from reconcile.limits import model_shape_problem


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
        self.extra: list[Linear] = []  # linears outside the layers (OPT's projections)
        self.other = 0  # norms, biases of non-linear parts, sinks, routers' biases
        self.experts_per_token = 0
        self.experts = 0

    def layer(self, linears: list[Linear], other: int = 0) -> None:
        self.layers.append(tuple(linears))
        self.other += other

    def sums(self) -> tuple[int, int, int, int]:
        """(params, params active, matmul weights, matmul weights active) of all layers."""
        total = active = mm = mm_active = 0
        for lin in self.extra:
            total += lin.params
            active += lin.params
            mm += lin.weights
            mm_active += lin.weights
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


def _renamed(linears: list[Linear], names: tuple[str, ...]) -> list[Linear]:
    """The same modules under the names a remote-code architecture gives them."""
    return [replace(lin, name=name) for lin, name in zip(linears, names, strict=True)]


def _decoder(cfg: dict[str, Any], model_type: str, c: _Counter) -> None:
    """Count the decoder layers and final norm of a text model."""
    h = int(_get(cfg, "hidden_size", "n_embd", "d_model"))
    n_layers = int(_get(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers"))
    heads = int(
        _get(cfg, "num_attention_heads", "n_head", "num_heads", "n_heads", "attention_heads")
    )
    head_dim = int(_get(cfg, "head_dim", default=h // heads))
    inter = _get(cfg, "intermediate_size", "n_inner", "ffn_hidden_size")
    rms = h  # one RMSNorm
    ln = 2 * h  # one LayerNorm with bias
    if model_type in _MORE:
        _MORE[model_type](cfg, c, h, n_layers, heads, head_dim)
        return

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
        "granite",
        "smollm3",
        "olmo3",
        "internlm",
        "internlm2",
        "internlm3",
        "baichuan",
        "glm",
        "glm4",
    ):
        bias_qkv = bool(cfg.get("attention_bias")) or model_type == "qwen2"
        bias_o = bool(cfg.get("attention_bias"))
        if model_type == "starcoder2":
            bias_qkv = bias_o = bool(cfg.get("use_bias", True))
        if model_type in ("internlm", "internlm2"):  # remote code: one ``bias`` flag
            bias_qkv = bias_o = bool(cfg.get("bias", model_type == "internlm"))
        if model_type in ("glm", "glm4"):  # GLM-4 (HF-native): biased q/k/v, unbiased o
            bias_o = False
        fused = {"phi3": "qkv_proj", "internlm2": "wqkv", "baichuan": "W_pack"}.get(model_type)
        attn = _attention(cfg, h, bias_qkv=bias_qkv, bias_o=bias_o, fused=fused)
        if model_type == "starcoder2":
            mlp = [Linear("c_fc", h, int(inter), bias_o), Linear("c_proj", int(inter), h, bias_o)]
        else:
            mlp = _gated_mlp(
                h,
                int(inter),
                bias=bool(cfg.get("mlp_bias")),
                fused=model_type in ("phi3", "glm", "glm4"),
            )
        if model_type == "internlm2":
            attn = _renamed(attn, ("wqkv", "wo"))
            mlp = _renamed(mlp, ("w1", "w3", "w2"))
        norms = {
            "olmo": 0,
            "gemma2": 4 * rms,
            "gemma3_text": 4 * rms,
            "glm4": 4 * rms,  # input, post-attention, post-self-attention, post-MLP
            "starcoder2": 2 * ln,
        }.get(model_type, 2 * rms)
        if model_type in ("qwen3", "gemma3_text"):
            norms += 2 * head_dim
        if model_type in ("olmo2", "olmo3"):
            kv = int(_get(cfg, "num_key_value_heads", default=heads))
            norms += heads * head_dim + kv * head_dim
        for _ in range(n_layers):
            c.layer(attn + mlp, norms)
        c.other += {"olmo": 0, "starcoder2": ln}.get(model_type, rms)
    elif model_type in (
        "mixtral",
        "phimoe",
        "qwen2_moe",
        "qwen3_moe",
        "gpt_oss",
        "olmoe",
        "granitemoe",
        "granitemoeshared",
    ):
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
        if model_type == "olmoe":  # q/k norms over the full projection widths
            kv = int(_get(cfg, "num_key_value_heads", default=heads))
            norms += heads * head_dim + kv * head_dim
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
            if model_type in ("granitemoe", "granitemoeshared"):
                experts = [
                    Linear("input_linear", h, 2 * moe_inter, False, n_exp, True),
                    Linear("output_linear", moe_inter, h, False, n_exp, True),
                ]
                router = [Linear("router", h, n_exp)]
            elif model_type == "gpt_oss":
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
            if model_type == "granitemoeshared" and int(cfg.get("shared_intermediate_size") or 0):
                width = int(cfg["shared_intermediate_size"])
                shared = [
                    Linear("shared_mlp.input_linear", h, 2 * width),
                    Linear("shared_mlp.output_linear", width, h),
                ]
            c.layer(attn + experts + router + shared, norms)
        c.other += ln if model_type == "phimoe" else rms
    elif model_type in ("deepseek_v3", "deepseek_v2", "deepseek"):
        # deepseek (v1, remote code: DeepSeek-MoE) has plain attention; v2/v3 multi-head
        # latent attention, with an uncompressed query when q_lora_rank is null (V2-Lite).
        c.experts, c.experts_per_token = (
            int(cfg["n_routed_experts"]),
            int(cfg["num_experts_per_tok"]),
        )
        norms = 2 * rms
        if model_type == "deepseek":
            attn = _attention(cfg, h, bias_qkv=False, bias_o=False)
        else:
            kv_lora = int(cfg["kv_lora_rank"])
            nope, rope, v_dim = (
                int(cfg["qk_nope_head_dim"]),
                int(cfg["qk_rope_head_dim"]),
                int(cfg["v_head_dim"]),
            )
            q_lora = int(cfg.get("q_lora_rank") or 0)
            if q_lora:
                attn = [
                    Linear("q_a_proj", h, q_lora),
                    Linear("q_b_proj", q_lora, heads * (nope + rope)),
                ]
            else:
                attn = [Linear("q_proj", h, heads * (nope + rope))]
            attn += [
                Linear("kv_a_proj_with_mqa", h, kv_lora + rope),
                Linear("kv_b_proj", kv_lora, heads * (nope + v_dim)),
                Linear("o_proj", heads * v_dim, h),
            ]
            norms += q_lora + kv_lora
        # the router's score-correction bias (DeepSeek-V3's aux-loss-free balancing)
        router_bias = c.experts if model_type == "deepseek_v3" else 0
        first_dense = int(cfg.get("first_k_dense_replace") or 0)
        freq = int(cfg.get("moe_layer_freq") or 1)
        moe_inter = int(cfg["moe_intermediate_size"])
        for index in range(n_layers):
            if index < first_dense or index % freq != 0:
                c.layer(attn + _gated_mlp(h, int(cfg["intermediate_size"])), norms)
            else:
                shared = _gated_mlp(h, moe_inter * int(cfg.get("n_shared_experts") or 0))
                c.layer(
                    attn
                    + _experts(h, moe_inter, c.experts)
                    + [Linear("gate", h, c.experts)]
                    + shared,
                    norms + router_bias,
                )
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
        if new_arch:
            n_ln = int(cfg.get("num_ln_in_parallel_attn") or 2)
        else:  # parallel attention shares one LayerNorm; falcon-rw is sequential
            n_ln = 1 if cfg.get("parallel_attn", True) else 2
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


def _t5(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, heads: int, _hd: int) -> None:
    """T5 / mT5 encoder-decoder: encoder layers, then decoder layers (with cross-attention).

    T5LayerNorm has a weight only; the relative position bias lives in the first layer of
    each stack; gated-gelu (v1.1, mT5, Flan-T5) has two input matrices.
    """
    inner = heads * int(cfg["d_kv"])
    d_ff = int(cfg["d_ff"])
    gated = str(cfg.get("feed_forward_proj") or "relu").startswith("gated")
    bias_table = int(cfg.get("relative_attention_num_buckets") or 32) * heads

    def attention(prefix: str) -> list[Linear]:
        return [
            Linear(f"{prefix}.q", h, inner),
            Linear(f"{prefix}.k", h, inner),
            Linear(f"{prefix}.v", h, inner),
            Linear(f"{prefix}.o", inner, h),
        ]

    ff = [Linear("wi_0", h, d_ff), Linear("wi_1", h, d_ff)] if gated else [Linear("wi", h, d_ff)]
    ff.append(Linear("wo", d_ff, h))
    for index in range(n_layers):
        c.layer(attention("SelfAttention") + ff, 2 * h + (bias_table if index == 0 else 0))
    decoder_layers = int(_get(cfg, "num_decoder_layers", default=n_layers))
    for index in range(decoder_layers):
        c.layer(
            attention("SelfAttention") + attention("EncDecAttention") + ff,
            3 * h + (bias_table if index == 0 else 0),
        )
    c.other += 2 * h  # the encoder's and the decoder's final norms


def _opt(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, _h: int, _hd: int) -> None:
    """OPT: biased attention and fc1/fc2, LayerNorms; project_in/out when the word
    embedding is narrower than the model (opt-350m)."""
    ffn = int(cfg["ffn_dim"])
    bias = bool(cfg.get("enable_bias", True))
    affine = 2 * h if cfg.get("layer_norm_elementwise_affine", True) else 0
    for _ in range(n_layers):
        c.layer(
            [
                Linear("q_proj", h, h, bias),
                Linear("k_proj", h, h, bias),
                Linear("v_proj", h, h, bias),
                Linear("out_proj", h, h, bias),
                Linear("fc1", h, ffn, bias),
                Linear("fc2", ffn, h, bias),
            ],
            2 * affine,
        )
    proj = int(cfg.get("word_embed_proj_dim") or h)
    if proj != h:
        c.extra += [Linear("project_in", proj, h), Linear("project_out", h, proj)]
    if cfg.get("do_layer_norm_before", True) and not cfg.get("_remove_final_layer_norm"):
        c.other += affine


def _openai_gpt(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, _h: int, _hd: int) -> None:
    """GPT-1 (openai-gpt): GPT-2-style Conv1D blocks, post-LayerNorm, no final norm."""
    width = 4 * h
    for _ in range(n_layers):
        c.layer(
            [
                Linear("c_attn", h, 3 * h, True),
                Linear("attn.c_proj", h, h, True),
                Linear("c_fc", h, width, True),
                Linear("mlp.c_proj", width, h, True),
            ],
            2 * 2 * h,
        )


def _mpt(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, _h: int, _hd: int) -> None:
    """MPT: ALiBi (no position parameters), no biases, LayerNorms without bias."""
    width = int(cfg.get("expansion_ratio") or 4) * h
    for _ in range(n_layers):
        c.layer(
            [
                Linear("Wqkv", h, 3 * h),
                Linear("out_proj", h, h),
                Linear("up_proj", h, width),
                Linear("down_proj", width, h),
            ],
            2 * h,
        )
    c.other += h


def _gpt_neo(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, _h: int, _hd: int) -> None:
    """GPT-Neo: unbiased q/k/v, biased out_proj and MLP; learned positions."""
    width = int(_get(cfg, "intermediate_size", default=4 * h))
    for _ in range(n_layers):
        c.layer(
            [
                Linear("q_proj", h, h),
                Linear("k_proj", h, h),
                Linear("v_proj", h, h),
                Linear("out_proj", h, h, True),
                Linear("c_fc", h, width, True),
                Linear("c_proj", width, h, True),
            ],
            2 * 2 * h,
        )
    c.other += 2 * h


def _gpt_bigcode(
    cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, heads: int, head_dim: int
) -> None:
    """GPT-BigCode (StarCoder, SantaCoder): multi-query attention with one fused c_attn."""
    kv = head_dim if cfg.get("multi_query", True) else h
    width = int(_get(cfg, "n_inner", default=4 * h))
    for _ in range(n_layers):
        c.layer(
            [
                Linear("c_attn", h, h + 2 * kv, True),
                Linear("attn.c_proj", h, h, True),
                Linear("c_fc", h, width, True),
                Linear("mlp.c_proj", width, h, True),
            ],
            2 * 2 * h,
        )
    c.other += 2 * h


def _stablelm(
    cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, heads: int, head_dim: int
) -> None:
    """StableLM (3B-4E1T, 2, Code): LayerNorms with bias, optional q/k/v bias, per-head q/k
    LayerNorms (no bias) and a parallel residual with one norm (stablelm-2-12b)."""
    bias = bool(cfg.get("use_qkv_bias"))
    attn = _attention(cfg, h, bias_qkv=bias, bias_o=False)
    kv = int(_get(cfg, "num_key_value_heads", default=heads))
    norms = 2 * h * (1 if cfg.get("use_parallel_residual") else 2)
    if cfg.get("qk_layernorm"):
        norms += (heads + kv) * head_dim
    for _ in range(n_layers):
        c.layer(attn + _gated_mlp(h, int(cfg["intermediate_size"])), norms)
    c.other += 2 * h


def _chatglm(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, heads: int, _hd: int) -> None:
    """ChatGLM2/3 and GLM-4 (remote code ``chatglm``): fused query_key_value with
    multi-query groups, fused SwiGLU dense_h_to_4h, RMSNorms, untied output_layer.

    ChatGLM-6B (the first, its config has ``inner_hidden_size``; THUDM/ChatGLM-6B
    modeling_chatglm.py): biased query_key_value (3h) and dense, a GELU MLP of
    ``inner_hidden_size`` with biases, LayerNorms, the head tied to the embedding.
    """
    if "ffn_hidden_size" not in cfg and "inner_hidden_size" in cfg:
        inner = int(cfg["inner_hidden_size"])
        for _ in range(n_layers):
            c.layer(
                [
                    Linear("query_key_value", h, 3 * h, True),
                    Linear("dense", h, h, True),
                    Linear("dense_h_to_4h", h, inner, True),
                    Linear("dense_4h_to_h", inner, h, True),
                ],
                2 * 2 * h,
            )
        c.other += 2 * h
        return
    head_dim = int(_get(cfg, "kv_channels", default=h // heads))
    groups = int(cfg["multi_query_group_num"]) if cfg.get("multi_query_attention") else heads
    ffn = int(cfg["ffn_hidden_size"])
    bias_qkv = bool(cfg.get("add_qkv_bias"))
    bias = bool(cfg.get("add_bias_linear"))
    norm = h if cfg.get("rmsnorm", True) else 2 * h
    for _ in range(n_layers):
        c.layer(
            [
                Linear("query_key_value", h, (heads + 2 * groups) * head_dim, bias_qkv),
                Linear("dense", heads * head_dim, h, bias),
                Linear("dense_h_to_4h", h, 2 * ffn, bias),
                Linear("dense_4h_to_h", ffn, h, bias),
            ],
            2 * norm,
        )
    if cfg.get("post_layer_norm", True):
        c.other += norm


def _qwen(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, heads: int, _hd: int) -> None:
    """Qwen (1.0, remote code ``qwen``): biased fused c_attn, unbiased c_proj, SwiGLU whose
    two input matrices are each ``intermediate_size / 2`` wide."""
    width = int(cfg["intermediate_size"]) // 2
    inner = heads * int(_get(cfg, "kv_channels", default=h // heads))
    for _ in range(n_layers):
        c.layer(
            [
                Linear("c_attn", h, 3 * inner, True),
                Linear("attn.c_proj", inner, h),
                Linear("w1", h, width),
                Linear("w2", h, width),
                Linear("mlp.c_proj", width, h),
            ],
            2 * h,
        )
    c.other += h


def _nemotron(
    cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, heads: int, head_dim: int
) -> None:
    """Nemotron / Minitron: squared-ReLU MLP (up, down), LayerNorm1P with bias."""
    bias = bool(cfg.get("attention_bias"))
    attn = _attention(cfg, h, bias_qkv=bias, bias_o=bias)
    inter, mlp_bias = int(cfg["intermediate_size"]), bool(cfg.get("mlp_bias"))
    mlp = [Linear("up_proj", h, inter, mlp_bias), Linear("down_proj", inter, h, mlp_bias)]
    for _ in range(n_layers):
        c.layer(attn + mlp, 2 * 2 * h)
    c.other += 2 * h


def _xglm(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, _h: int, _hd: int) -> None:
    """XGLM: fairseq-style decoder, sinusoidal positions (no parameters)."""
    ffn = int(cfg["ffn_dim"])
    for _ in range(n_layers):
        c.layer(
            [
                Linear("q_proj", h, h, True),
                Linear("k_proj", h, h, True),
                Linear("v_proj", h, h, True),
                Linear("out_proj", h, h, True),
                Linear("fc1", h, ffn, True),
                Linear("fc2", ffn, h, True),
            ],
            2 * 2 * h,
        )
    c.other += 2 * h


def _codegen(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, _h: int, _hd: int) -> None:
    """CodeGen: fused unbiased qkv_proj, parallel MLP with one LayerNorm, biased head."""
    width = int(_get(cfg, "n_inner", default=4 * h))
    for _ in range(n_layers):
        c.layer(
            [
                Linear("qkv_proj", h, 3 * h),
                Linear("out_proj", h, h),
                Linear("fc_in", h, width, True),
                Linear("fc_out", width, h, True),
            ],
            2 * h,
        )
    c.other += 2 * h


def _cohere(
    cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, heads: int, head_dim: int
) -> None:
    """Cohere (Command R, Aya): one weight-only LayerNorm per layer (parallel block),
    optional per-head q/k norms."""
    bias = bool(cfg.get("attention_bias"))
    attn = _attention(cfg, h, bias_qkv=bias, bias_o=bias)
    norms = h
    if cfg.get("use_qk_norm"):
        kv = int(_get(cfg, "num_key_value_heads", default=heads))
        norms += (heads + kv) * head_dim
    for _ in range(n_layers):
        c.layer(attn + _gated_mlp(h, int(cfg["intermediate_size"])), norms)
    c.other += h


def _dbrx(cfg: dict[str, Any], c: _Counter, h: int, n_layers: int, heads: int, _hd: int) -> None:
    """DBRX: fused Wqkv with GQA, bias-free LayerNorms, fine-grained GLU experts."""
    attn_cfg, ffn_cfg = dict(cfg.get("attn_config") or {}), dict(cfg.get("ffn_config") or {})
    head_dim = h // heads
    kv = int(attn_cfg.get("kv_n_heads") or 1)
    n_exp, width = int(ffn_cfg["moe_num_experts"]), int(ffn_cfg["ffn_hidden_size"])
    c.experts, c.experts_per_token = n_exp, int(ffn_cfg["moe_top_k"])
    for _ in range(n_layers):
        c.layer(
            [
                Linear("Wqkv", h, h + 2 * kv * head_dim),
                Linear("out_proj", h, h),
                Linear("router", h, n_exp),
            ]
            + _experts(h, width, n_exp, ("w1", "v1", "w2")),
            2 * h,
        )
    c.other += h


_MoreCounter = Callable[[dict[str, Any], _Counter, int, int, int, int], None]

#: Architectures counted by their own function (the rest are branches of ``_decoder``).
_MORE: dict[str, _MoreCounter] = {
    "t5": _t5,
    "mt5": _t5,
    "opt": _opt,
    "mpt": _mpt,
    "openai-gpt": _openai_gpt,
    "gpt_neo": _gpt_neo,
    "gpt_bigcode": _gpt_bigcode,
    "stablelm": _stablelm,
    "chatglm": _chatglm,
    "qwen": _qwen,
    "nemotron": _nemotron,
    "xglm": _xglm,
    "codegen": _codegen,
    "cohere": _cohere,
    "dbrx": _dbrx,
}


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
    "t5",
    "opt",
    "mpt",
    "gpt_neo",
    "gpt_bigcode",
    "openai-gpt",
    "xglm",
    "cohere",
}

#: Remote-code architectures (``trust_remote_code``) that transformers has no config class
#: for: their config.json is counted as it stands, so it must carry every field used.
_REMOTE_CODE = {"chatglm", "baichuan", "internlm", "internlm2", "qwen", "deepseek"}

#: Learned absolute-position tables: (config field, extra rows).
_POSITIONS = {
    "gpt2": ("n_positions", 0),
    "openai-gpt": ("n_positions", 0),
    "gpt_bigcode": ("n_positions", 0),
    "gpt_neo": ("max_position_embeddings", 0),
    "opt": ("max_position_embeddings", 2),  # OPT offsets positions by 2
}


def _config_validation_errors() -> tuple[type[Exception], ...]:
    """transformers' strict config classes raise huggingface_hub's validation error (not a
    ValueError) for a mistyped field."""
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:  # older huggingface_hub: configs are not strict
        return ()
    return (StrictDataclassError,)


#: What completing a config may raise for a broken config.
_CONFIG_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    KeyError,
    TypeError,
    *_config_validation_errors(),
)


def complete_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config with its class defaults, via ``transformers.AutoConfig`` (offline).

    Raises:
        ParseError: no model_type, or a model_type transformers does not know.
    """
    # No HF_HUB_OFFLINE here: for_model never downloads, and huggingface_hub reads that
    # variable once, at import, so setting it would keep the opt-in Hub look-up
    # ([models] hub) offline for the rest of the process.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import AutoConfig

    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ParseError("config.json", "no model_type")
    problem = model_shape_problem(config)
    if problem:
        raise ParseError("config.json", problem)
    fields = {k: v for k, v in config.items() if not k.startswith("_") and k != "model_type"}
    try:
        completed = AutoConfig.for_model(model_type, **fields).to_dict()
    except _CONFIG_ERRORS as exc:
        if model_type in _REMOTE_CODE:
            return {**fields, "model_type": model_type}
        raise ParseError("config.json", f"model_type {model_type!r} not understood: {exc}") from exc
    completed["model_type"] = model_type
    return completed


class ConfigCompletions:
    """Completed configs by digest of (config, transformers version): transformers is
    imported only for a config not seen before. ``load``/``save`` keep them in the
    warehouse (``config_completions``) from one process to the next.
    """

    def __init__(self) -> None:
        self.known: dict[str, dict[str, Any]] = {}
        self.new: dict[str, dict[str, Any]] = {}

    @staticmethod
    def digest(config: dict[str, Any]) -> str:
        """sha256 of the config's canonical JSON and the installed transformers version."""
        text = json.dumps(config, sort_keys=True, default=str) + "\x1f" + transformers_version()
        return hashlib.sha256(text.encode()).hexdigest()

    def complete(self, config: dict[str, Any]) -> dict[str, Any]:
        """``complete_config(config)``, once per config and transformers version."""
        key = self.digest(config)
        if key not in self.known:
            done = complete_config(config)
            try:  # kept as JSON (id2label's int keys become text: counting never reads them)
                kept = json.loads(json.dumps(done))
            except (TypeError, ValueError):
                return done  # a value JSON cannot hold: not kept, used as it is
            self.known[key] = self.new[key] = kept
        return copy.deepcopy(self.known[key])

    def load(self, con: Any) -> None:
        """The completions the warehouse keeps for the installed transformers."""
        version = transformers_version()
        for key, text in con.execute(
            "SELECT digest, CAST(completed AS VARCHAR) FROM config_completions "
            "WHERE transformers_version = $v",
            {"v": version},
        ).fetchall():
            self.known.setdefault(key, json.loads(text))

    def save(self, con: Any) -> None:
        """Keep the completions made since the last save (inside the caller's transaction)."""
        version = transformers_version()
        for key, done in self.new.items():
            con.execute(
                "INSERT OR REPLACE INTO config_completions VALUES ($k, $v, $c::JSON, now())",
                {"k": key, "v": version, "c": json.dumps(done)},
            )
        self.new.clear()


@functools.cache
def transformers_version() -> str:
    """The installed transformers' version (read once: 3 ms a call, once per run before)."""
    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return "unknown"


def count_parameters(
    config: dict[str, Any],
    *,
    complete: bool = True,
    completions: ConfigCompletions | None = None,
) -> ParamCount:
    """Count a model's parameters from its config (see the module docstring).

    Args:
        config: the ``config.json`` content.
        complete: fill class defaults through transformers first.
        completions: completed configs already known (transformers is then not needed).

    Raises:
        ParseError: the architecture is not supported or the config lacks a needed field.
    """
    problem = model_shape_problem(config)
    if problem:
        raise ParseError("config.json", problem)
    if not complete:
        cfg = dict(config)
    else:
        cfg = completions.complete(config) if completions is not None else complete_config(config)
    model_type = str(cfg["model_type"])
    text = cfg
    if model_type in ("gemma3", "llama4") and isinstance(cfg.get("text_config"), dict):
        text = dict(cfg["text_config"])
        text.setdefault("model_type", f"{model_type}_text")
    text_type = str(text.get("model_type", model_type))
    counter = _Counter()
    try:
        _decoder(text, text_type, counter)
        h = int(_get(text, "hidden_size", "n_embd", "d_model"))
        vocab = int(
            text.get("padded_vocab_size") or text["vocab_size"]
            if text_type == "chatglm"
            else text["vocab_size"]
        )
    except ValueError:
        raise ParseError(
            "config.json", f"architecture {text_type!r} is not supported for parameter counting"
        ) from None
    except (KeyError, TypeError) as exc:
        raise ParseError("config.json", f"{text_type} config lacks a needed field: {exc}") from None
    tie_default = text_type in _TIED_BY_DEFAULT or model_type in _TIED_BY_DEFAULT
    if text_type == "chatglm" and "inner_hidden_size" in text:
        tie_default = True  # ChatGLM-6B ties its lm_head to word_embeddings
    tied = bool(
        _get(
            text,
            "tie_word_embeddings",
            default=_get(cfg, "tie_word_embeddings", default=tie_default),
        )
    )
    if text_type in ("t5", "mt5"):
        # T5Config forces tie_word_embeddings to True (the flag only says whether decoder
        # outputs are rescaled), but T5 1.1 / mT5 / Flan-T5 checkpoints store their own
        # lm_head: the file's flag is what says whether the head is a separate matrix.
        tied = config.get("tie_word_embeddings", True) is not False
    width = h  # of the word embedding and the head
    if text_type == "opt":
        width = int(text.get("word_embed_proj_dim") or h)
    embedding = vocab * width
    positions = 0
    if text_type in _POSITIONS:
        key, offset = _POSITIONS[text_type]
        positions = (int(text.get(key) or 0) + offset) * h
    head_bias = (
        vocab if (text_type in ("phi", "gptj", "codegen") or text.get("lm_head_bias")) else 0
    )
    lm_head = 0 if tied else vocab * width + head_bias
    layers_total, layers_active, mm, mm_active = counter.sums()
    vision = 0
    if model_type in ("gemma3", "llama4") and isinstance(cfg.get("vision_config"), dict):
        vision = _vision(model_type, cfg["vision_config"], h)
    total = embedding + positions + lm_head + layers_total + vision
    active = embedding + positions + lm_head + layers_active  # text tokens skip the tower
    head_mm = vocab * width  # the head's matmul, tied or not
    heads = int(
        _get(text, "num_attention_heads", "n_head", "num_heads", "n_heads", "attention_heads")
    )
    head_dim = int(_get(text, "head_dim", "d_kv", "kv_channels", default=h // heads))
    if text_type in ("deepseek_v3", "deepseek_v2"):
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
