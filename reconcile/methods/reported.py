"""The reported method: FLOP figures the evidence claims (Hugging Face ``total_flos``, a
FLOPs meter), normalised to our per-token formula through the tokens each claim implies.
A claim is cross-checked against the architecture figure; it never decides."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconcile import flops
from reconcile.compliance import sci
from reconcile.flags import REPORTED_TOLERANCE
from reconcile.methods.base import Method, RunContext


class Reported(Method):
    """Claims in the evidence, normalised to our formula."""

    name = "reported"
    decides = None
    needs = "a FLOP figure the evidence claims"

    def estimate(self, ctx: RunContext) -> flops.Estimate | None:
        run = ctx.run
        claims = json.loads(run.get("reported") or "[]")
        if not claims:
            return None
        arch, shape = ctx.found.get("architecture"), ctx.shape
        items = []
        for claim in claims:
            value, basis = float(claim["flops"]), str(claim["basis"])
            implied_tokens = None
            if basis == "hf_total_flos" and run.get("params_hf_counted"):
                implied_tokens = value / (6.0 * run["params_hf_counted"])
            elif basis == "flops_meter_architecture" and run.get("params_total"):
                trainable = run.get("params_trainable") or run["params_total"]
                implied_tokens = value / (4.0 * run["params_total"] + 2.0 * trainable)
            normalised = None
            if implied_tokens is not None and arch is not None and shape is not None:
                normalised = arch.central / shape.tokens * implied_tokens
                if abs(normalised - arch.central) > REPORTED_TOLERANCE * arch.central:
                    ctx.flags.append(f"reported_differs_{basis}")
            items.append(
                {
                    "basis": basis,
                    "flops": value,
                    "source": claim.get("source"),
                    "implied_tokens": implied_tokens,
                    "normalised_to_ours": normalised,
                }
            )
        primary = next((i for i in items if i["normalised_to_ours"] is not None), items[0])
        central = primary["normalised_to_ours"] or primary["flops"]
        values = [i["normalised_to_ours"] or i["flops"] for i in items]
        return flops.Estimate(
            self.name,
            min(values),
            central,
            max(values),
            {
                "claims": items,
                "note": "claims normalised to our per-token "
                "formula through the tokens each claim implies",
            },
        )

    def missing(self, run: Mapping[str, Any], billing_linked: bool) -> str:
        return "the evidence claims no FLOP figure"

    def summary(self, assumptions: Mapping[str, Any], run: Mapping[str, Any]) -> str:
        parts = []
        for claim in assumptions.get("claims") or []:
            normalised = claim.get("normalised_to_ours")
            parts.append(
                f"{claim.get('basis')}: {sci(claim.get('flops'))}"
                + (f" → {sci(normalised)} normalised" if normalised is not None else "")
            )
        return "; ".join(parts) or "no claims"
