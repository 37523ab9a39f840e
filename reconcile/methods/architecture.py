"""The architecture method: FLOP per token of the model's shape x the tokens trained on
(``flops.architecture``; 6·N·D for full fine-tuning, (4·N + 6·N_adapter)·D for
adapters, the attention term where the shape is known)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile import flops
from reconcile.compliance import sci
from reconcile.methods.base import Method, RunContext

#: How tokens were obtained when the architecture figure decides over accelerator time.
SOLID_TOKENS = ("logged", "derived_total_flos")


class Architecture(Method):
    """Tokens x the per-token FLOP of the model's shape."""

    name = "architecture"
    decides = 0
    needs = "tokens and parameter counts"

    def estimate(self, ctx: RunContext) -> flops.Estimate | None:
        shape = ctx.shape
        return flops.architecture(shape) if shape else None

    def defers_to(self, run: Mapping[str, Any]) -> tuple[str, ...]:
        # Tokens counted by the trainer (or derived from its total_flos) decide; tokens
        # estimated from a dataset or a declaration yield to measured accelerator time.
        return () if run.get("tokens_basis") in SOLID_TOKENS else ("hardware",)

    def missing(self, run: Mapping[str, Any], billing_linked: bool) -> str:
        return super().missing(run, billing_linked) + (
            "" if run.get("tokens") else ": tokens unknown"
        )

    def summary(self, assumptions: Mapping[str, Any], run: Mapping[str, Any]) -> str:
        a, tokens = assumptions, assumptions.get("tokens") or {}
        return (
            f"{a.get('formula', '')}; N_mm={sci(a.get('params_matmul_active'))}, "
            f"N_trainable={sci(a.get('params_trainable'))}, D={sci(tokens.get('central'))} "
            f"tokens ({run.get('tokens_basis') or 'basis unknown'}); attention "
            f"{a.get('attention', 'n/a')}"
        )


def statement(
    kind: str | None,
    params: Any,
    trainable: Any,
    tokens: Any,
    attention: tuple[Any, Any, Any] | None = None,
) -> str:
    """The formula with its inputs, as a notification states it: ``6·N·D with N=…, D=…``,
    ``(4·N + 6·N_adapter)·D with …`` for adapters, ``+ 12·L·n_ctx·d_attn·D`` when
    ``attention`` (layers, context, attention width) is given."""
    adapter = flops.frozen_backbone(kind)
    formula = "(4·N + 6·N_adapter)·D" if adapter else "6·N·D"
    values = [f"N={sci(params)}"] + ([f"N_adapter={sci(trainable)}"] if adapter else [])
    if attention is not None:
        layers, context, width = attention
        formula += " + 12·L·n_ctx·d_attn·D"
        values += [f"L={layers}", f"n_ctx={context}", f"d_attn={width}"]
    values.append(f"D={sci(tokens)}")
    return f"{formula} with " + ", ".join(values)
