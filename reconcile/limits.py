"""The ranges real training facts and model configs can take.

A value outside is a broken file, refused at parse time with the field and the value:
one bad file must never poison later commands. Pure data and one check, read by the
parsers (connectors) and by parameter counting alike.
"""

from __future__ import annotations

#: Ranges a training fact can take; a value outside is a broken file, refused at parse
#: time with the field and the value (one bad file must never poison later commands).
#: The largest training runs on record are ~5×10^26 FLOP on ~4×10^13 tokens.
MAX_REPORTED_FLOPS = 1e30
MAX_TOKENS = 10**17
MAX_RUNTIME_SECONDS = 10 * 365 * 86400.0
#: Shape fields of a model config (any architecture's spelling) and the largest value
#: each can sensibly take: whole positive numbers, never floats or booleans.
MODEL_SHAPE_LIMITS = {
    **dict.fromkeys(
        (
            "hidden_size",
            "n_embd",
            "d_model",
            "intermediate_size",
            "n_inner",
            "ffn_hidden_size",
            "inner_hidden_size",
            "d_ff",
            "moe_intermediate_size",
            "shared_expert_intermediate_size",
            "head_dim",
            "kv_channels",
            "d_kv",
        ),
        10**6,
    ),
    **dict.fromkeys(
        (
            "num_hidden_layers",
            "n_layer",
            "num_layers",
            "n_layers",
            "num_decoder_layers",
            "num_attention_heads",
            "n_head",
            "num_heads",
            "num_key_value_heads",
            "multi_query_group_num",
            "num_experts",
            "num_local_experts",
            "n_routed_experts",
            "num_experts_per_tok",
        ),
        10**5,
    ),
    "vocab_size": 10**8,
    "padded_vocab_size": 10**8,
    "max_position_embeddings": 10**9,
    "n_positions": 10**9,
}


def model_shape_problem(config: dict[str, object]) -> str | None:
    """What is wrong with a model config's shape fields, or None: a shape field that is
    not a whole positive number within its limit (``hidden_size: 1e15``, ``-4``, ``true``)."""
    for name, limit in MODEL_SHAPE_LIMITS.items():
        if name not in config or config[name] is None:
            continue
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} should be a whole number, got {value!r:.40}"
        if not 0 < value <= limit:
            return f"{name} is out of range ({value})"
    nested = config.get("text_config")
    if isinstance(nested, dict):
        return model_shape_problem(nested)
    return None
