"""FLOP formulas: what the matrix multiplies of a training run really do.

Per token of a training step, with N_mm the weights used in matrix multiplies (every
linear layer including the output head and any adapters; the input-embedding lookup is
free; a tied head counts once):

* forward: 2·N_mm, plus attention 4·n_layer·n_ctx·d_attn (QKᵀ and the weighted sum of
  V, 2 FLOPs per multiply-add each);
* backward, activation gradients: 2·N_mm plus twice the forward attention, through every
  layer above the lowest trainable one (all layers for full fine-tuning and for LoRA on
  every layer);
* backward, weight gradients: 2·N_trainable.

So full fine-tuning costs 6·N_mm + 12·n_layer·n_ctx·d_attn per token (the attention term
as PaLM counts it, Chowdhery et al. 2022, App. B; Kaplan et al. 2020 count 6·n_layer·
n_ctx·d_attn, i.e. QKᵀ only), and LoRA (4·N_mm + 6·N_adapter) + 12·n_layer·n_ctx·d_attn.
Norms, biases, softmax and activations are left out: under 0.1 % for these models.
DPO runs the policy on chosen and rejected sequences (both already in D) plus one
forward of the frozen reference model. Gradient-checkpointing recomputes at most one
forward (layer-wise checkpointing does not recompute the head: measured 40 % of a
forward on a tiny model, see tests/test_ground_truth.py);
the guidelines exclude recomputation from the regulatory figure (Guidelines, Annex
A.1), so it only enters the figure compared with hardware.

Cross-reference figures an auditor would compute by hand are returned too: the
guidelines' 6·P·D with P = total parameters (Annex A.2.2), and the AWS FLOPs meter's
(4·N_total + 2·N_trainable)·D.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Context length assumed for the upper bound when a run's sequence length is unknown.
UNKNOWN_CONTEXT_FOR_HIGH = 8192

#: Default utilisation bounds for the hardware method (fraction of dense peak).
#: low 0.05: below what a stalled-but-running job shows; central 0.35: the middle of the
#: 0.30-0.40 Epoch AI assumes for LLMs (Sevilla et al. 2022) and below the 0.43-0.64
#: (A100) and 0.26-0.46 (H100) MFU reported by llm-foundry's benchmarks, as fine-tuning
#: runs are smaller and less tuned; high 1.0: the physical limit.
DEFAULT_UTILISATION = {"low": 0.05, "central": 0.35, "high": 1.0}


#: Training methods with a frozen backbone: gradients flow through every layer above the
#: lowest adapted one, but only the adapter's own weights get weight gradients. PEFT's
#: peft_type names (lowercased), plus the words run tables use.
ADAPTER_METHODS = frozenset(
    {
        "lora",
        "qlora",
        "dora",
        "adalora",
        "loha",
        "lokr",
        "oft",
        "boft",
        "vera",
        "fourierft",
        "ia3",
        "prompt_tuning",
        "prefix_tuning",
        "p_tuning",
        "multitask_prompt_tuning",
        "adaption_prompt",
        "ln_tuning",
        "bone",
        "hra",
        "xlora",
        "adapter",
        "bottleneck_adapter",
    }
)
#: Adapter methods whose trainable weights are virtual tokens or prefixes (nn.Embedding).
PROMPT_METHODS = frozenset(
    {"prompt_tuning", "prefix_tuning", "p_tuning", "multitask_prompt_tuning", "adaption_prompt"}
)
_METHOD_WORDS = {
    "full": "full",
    "fullfinetuning": "full",
    "fullft": "full",
    "fft": "full",
    "finetune": "full",
    "sft": "full",
    "cpt": "full",
    "pretrain": "full",
    "peft": "lora",
    "lora": "lora",
    "qlora": "qlora",
    "promptuning": "prompt_tuning",
    "prompttuning": "prompt_tuning",
    "prefixtuning": "prefix_tuning",
    "ptuning": "p_tuning",
    "ptuningv2": "prefix_tuning",  # P-Tuning v2 is deep prefix tuning
    "adapters": "adapter",
    "freeze": "freeze",
}
#: Objectives trained on preference pairs: a step's batch holds chosen + rejected sequences.
PAIRED_OBJECTIVES = frozenset(
    {"dpo", "ipo", "orpo", "cpo", "simpo", "nca", "apo", "sppo", "exo", "reward"}
)
#: Objectives that run a frozen reference model forward on the same tokens.
REFERENCE_OBJECTIVES = frozenset({"dpo", "ipo", "kto", "bco", "nca", "sppo", "apo", "exo"})
#: Online RL objectives: the policy generates its own completions (2·N per generated
#: token), and a reference forward runs only when a KL term is in use.
ONLINE_OBJECTIVES = frozenset({"grpo", "ppo", "rloo", "online_dpo", "reinforce", "gspo", "dapo"})


def canonical_method(text: str | None) -> str | None:
    """A training method as the estimator knows it (``LoRA`` → lora, ``P-Tuning`` →
    p_tuning, ``full_finetune`` → full); unknown words are kept, lowercased."""
    if text is None or not str(text).strip():
        return None
    word = str(text).strip().lower()
    if word in ADAPTER_METHODS:
        return word
    key = "".join(ch for ch in word if ch.isalnum())
    return _METHOD_WORDS.get(key, word.replace("-", "_").replace(" ", "_"))


_OBJECTIVE_WORDS = {
    "sft": "sft",
    "supervised": "sft",
    "instruction": "sft",
    "pt": "cpt",
    "pretrain": "cpt",
    "pretraining": "cpt",
    "continued_pretraining": "cpt",
    "rm": "reward",
    "reward_modeling": "reward",
    "reward_trainer": "reward",
    "onlinedpo": "online_dpo",
}


def canonical_objective(text: str | None) -> str | None:
    """A training objective as the estimator knows it (``DPO`` → dpo, ``RM`` → reward)."""
    if text is None or not str(text).strip():
        return None
    word = str(text).strip().lower().replace("-", "_").replace(" ", "_")
    return _OBJECTIVE_WORDS.get(word, _OBJECTIVE_WORDS.get(word.replace("_", ""), word))


def frozen_backbone(method: str | None) -> bool:
    """Whether the method trains adapters on a frozen backbone (LoRA, prompt tuning, ...)."""
    return method in ADAPTER_METHODS


@dataclass(frozen=True)
class RunShape:
    """What the architecture method needs about one run."""

    tokens: float
    tokens_low: float
    tokens_high: float
    params_total: int
    params_matmul: int
    params_matmul_active: int
    params_trainable: int | None
    n_layers: int | None
    attention_dim: int | None
    seq_len: int | None
    method: str | None  # full | lora | qlora | dora | prompt_tuning | ... | None
    objective: str | None  # sft | dpo | grpo | ...
    gradient_checkpointing: bool | None = None
    #: the longest a sequence could be (the cutoff length), for the band's high end
    seq_len_max: int | None = None
    #: seq_len is an upper bound (derived assuming one process): the low end leaves
    #: attention out
    seq_len_is_upper_bound: bool = False
    #: online RL: tokens the policy generated (None when not logged)
    generated_tokens: float | None = None
    #: online RL: whether a KL term (and so a reference forward) is in use
    kl_in_use: bool | None = None


@dataclass
class Estimate:
    """A low/central/high figure with the assumptions that produced it."""

    method: str
    low: float
    central: float
    high: float
    assumptions: dict[str, Any] = field(default_factory=dict)

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the band."""
        return self.low <= value <= self.high


def per_token_flops(
    shape: RunShape, *, n_ctx: int | None, active: bool, recompute: bool = False
) -> tuple[float, dict[str, float]]:
    """Training FLOPs per token and the parts they are made of."""
    n_mm = shape.params_matmul_active if active else shape.params_matmul
    adapter = shape.params_trainable or 0
    parameter_efficient = frozen_backbone(shape.method)
    attention_forward = (
        4.0 * shape.n_layers * n_ctx * shape.attention_dim
        if n_ctx and shape.n_layers and shape.attention_dim
        else 0.0
    )
    parts: dict[str, float] = {}
    if parameter_efficient:
        parts["forward"] = 2.0 * (n_mm + adapter)
        parts["backward_activations"] = 2.0 * (n_mm + adapter)
        parts["backward_weights"] = 2.0 * adapter
    else:
        parts["forward"] = 2.0 * n_mm
        parts["backward_activations"] = 2.0 * n_mm
        parts["backward_weights"] = 2.0 * n_mm
    parts["attention"] = 3.0 * attention_forward
    if reference_forward(shape):
        # the frozen reference model: one forward on the same tokens (chosen + rejected
        # for preference pairs)
        parts["reference_forward"] = 2.0 * n_mm + attention_forward
    if recompute:
        parts["checkpointing_recompute"] = (
            2.0 * (n_mm + (adapter if parameter_efficient else 0)) + attention_forward
        )
    return sum(parts.values()), parts


def reference_forward(shape: RunShape) -> bool:
    """Whether the objective runs a frozen reference model forward on every token."""
    if shape.objective in REFERENCE_OBJECTIVES:
        return True
    return shape.objective in ONLINE_OBJECTIVES and bool(shape.kl_in_use)


def formula(shape: RunShape) -> str:
    """The architecture formula for the run's method and objective, in words."""
    adapter = frozen_backbone(shape.method)
    text = "(4·N_mm + 6·N_adapter)·D" if adapter else "6·N_mm·D"
    if reference_forward(shape):
        text += " + 2·N_mm·D (reference forward)"
    if shape.objective in ONLINE_OBJECTIVES:
        text += " + 2·N_active·G (generation)" if shape.generated_tokens else ""
    return text + " + 12·L·n_ctx·d_attn·D"


def architecture(shape: RunShape) -> Estimate:
    """The architecture method: per-token cost × tokens, with its band.

    Central: active experts, the logged/derived central tokens, attention at the run's
    sequence length. Low: the lowest plausible tokens. High: all experts, the highest
    tokens, and attention at an assumed long context when the length is unknown.
    """
    known_ctx = shape.seq_len
    central_per_token, parts = per_token_flops(shape, n_ctx=known_ctx, active=True)
    low_per_token = central_per_token
    if shape.seq_len_is_upper_bound:
        low_per_token, _ = per_token_flops(shape, n_ctx=None, active=True)
    if frozen_backbone(shape.method) and shape.n_layers:
        # Below the lowest trainable module autograd computes no activation gradients:
        # in the lowest adapted layer, gradients towards its frozen input (and the keys'
        # side of attention) are skipped. Up to one layer's activation gradients.
        attention_layer = (
            4.0 * known_ctx * shape.attention_dim if known_ctx and shape.attention_dim else 0.0
        )
        low_per_token -= 2.0 * shape.params_matmul_active / shape.n_layers + attention_layer
    high_ctx = max(known_ctx or 0, shape.seq_len_max or 0) or UNKNOWN_CONTEXT_FOR_HIGH
    high_per_token, _ = per_token_flops(shape, n_ctx=high_ctx, active=False)
    assumptions: dict[str, Any] = {
        "formula": formula(shape),
        "per_token_parts": parts,
        "tokens": {"low": shape.tokens_low, "central": shape.tokens, "high": shape.tokens_high},
        "params_matmul": shape.params_matmul,
        "params_matmul_active": shape.params_matmul_active,
        "params_trainable": shape.params_trainable,
        "n_ctx": known_ctx,
        "attention": "included"
        if known_ctx
        else (
            f"sequence length unknown: left out of low/central, included at "
            f"{UNKNOWN_CONTEXT_FOR_HIGH} tokens in high"
        ),
        "negligible": "norms, biases, softmax and activations (< 0.1 %)",
        "low": (
            "without the activation gradients of the lowest adapted layer, which autograd skips"
            if frozen_backbone(shape.method)
            else "lowest tokens"
        ),
        "gradient_checkpointing": "excluded (recomputation does not count, Guidelines A.1)",
    }
    assumptions["objective"] = shape.objective
    if shape.objective in REFERENCE_OBJECTIVES:
        assumptions["reference"] = "policy on every token, plus the frozen reference forward"
    generation = 0.0
    if shape.objective in ONLINE_OBJECTIVES:
        assumptions["reference"] = (
            "KL term in use: a reference forward on every token"
            if shape.kl_in_use
            else "no KL term logged: no reference forward"
        )
        if shape.generated_tokens:
            generation = 2.0 * shape.params_matmul_active * shape.generated_tokens
            assumptions["generation"] = {
                "generated_tokens": shape.generated_tokens,
                "flops": generation,
                "formula": "2·N_active per generated token (a forward with a KV cache)",
            }
        else:
            assumptions["generation"] = "generated tokens not logged: generation not included"
    hardware_comparable, _ = per_token_flops(
        shape, n_ctx=known_ctx, active=True, recompute=bool(shape.gradient_checkpointing)
    )
    assumptions["hardware_comparable_central"] = hardware_comparable * shape.tokens + generation
    without_attention, _ = per_token_flops(shape, n_ctx=None, active=True)
    assumptions["central_without_attention"] = without_attention * shape.tokens + generation
    assumptions["cross_reference"] = cross_reference(shape)
    return Estimate(
        "architecture",
        low_per_token * shape.tokens_low + generation,
        central_per_token * shape.tokens + generation,
        high_per_token * shape.tokens_high + generation,
        assumptions,
    )


def cross_reference(shape: RunShape) -> dict[str, Any]:
    """The figures auditors compute by hand, and how far ours is from them."""
    ours, _ = per_token_flops(shape, n_ctx=shape.seq_len, active=True)
    simple = 6.0 * shape.params_total * shape.tokens
    trainable = (
        shape.params_trainable if shape.params_trainable is not None else (shape.params_total)
    )
    meter = (4.0 * shape.params_total + 2.0 * trainable) * shape.tokens
    ours_total = ours * shape.tokens
    return {
        "guidelines_6PD": {
            "flops": simple,
            "formula": "6·P·D, P = total parameters",
            "ours_over_it": ours_total / simple if simple else None,
        },
        "aws_meter": {
            "flops": meter,
            "formula": "(4·N_total + 2·N_trainable)·D",
            "ours_over_it": ours_total / meter if meter else None,
        },
    }


def hardware(
    accelerator_seconds: float,
    peak_flops: float,
    *,
    utilisation: dict[str, float] | None = None,
    measured_utilisation: float | None = None,
    peak_high: float | None = None,
    peak_low: float | None = None,
) -> Estimate:
    """The hardware method: accelerator-seconds × dense peak × utilisation.

    ``peak_flops`` is the reference: the dense BF16/FP16 tensor peak unless the run's
    precision says otherwise. With a measured tensor-pipe activity (DCGM), the central
    value uses it and the band narrows around it (±25 %, capped at 1.0); otherwise the
    configured bounds apply. High at utilisation 1.0 of the reference is the limit the
    implied utilisation is measured against (``peak_high`` replaces it when given).
    """
    bounds = dict(utilisation or DEFAULT_UTILISATION)
    assumptions: dict[str, Any] = {
        "accelerator_seconds": accelerator_seconds,
        "peak_flops_per_second": peak_flops,
    }
    if measured_utilisation is not None:
        central_u = measured_utilisation
        low_u, high_u = central_u * 0.75, min(1.0, central_u * 1.25)
        assumptions["utilisation"] = {
            "basis": "measured tensor-pipe activity (DCGM)",
            "low": low_u,
            "central": central_u,
            "high": high_u,
        }
    else:
        low_u, central_u, high_u = bounds["low"], bounds["central"], bounds["high"]
        assumptions["utilisation"] = {"basis": "assumed", **bounds}
    top = peak_high or peak_flops
    bottom = peak_low or peak_flops
    assumptions["physical_limit"] = accelerator_seconds * top
    return Estimate(
        "hardware",
        accelerator_seconds * bottom * low_u,
        accelerator_seconds * peak_flops * central_u,
        accelerator_seconds * top * high_u,
        assumptions,
    )
