"""What every estimation method shares: the evidence of one run it reads
(:class:`RunContext`), the accelerator time linked to the run (:class:`UsageEvidence`),
the reference peak of an accelerator name, and the :class:`Method` contract.

A method turns a run's evidence into a FLOP figure with a band (``flops.Estimate``),
or says why it cannot (:meth:`Method.missing`). It never reads the warehouse: the
estimate stage gathers the evidence, the methods compute, the registry
(``reconcile.methods``) decides which figure compliance sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconcile import flops
from reconcile.catalog import load_catalog, reference_peak


@dataclass
class UsageEvidence:
    """Accelerator time linked to one run, by kind."""

    allocation_seconds: float = 0.0  # scheduler allocations (Slurm)
    telemetry_seconds: float = 0.0  # measured device time (DCGM, nvidia-smi)
    tensor_active_weighted: float = 0.0  # sum of tensor_active x seconds (DCGM)
    tensor_seconds: float = 0.0
    billed_seconds: float = 0.0  # billing accelerator-hours x 3600
    accelerators: set[str] = field(default_factory=set)
    usage_ids: list[str] = field(default_factory=list)  # usage_rollup groups
    line_ids: list[str] = field(default_factory=list)  # billing_rollup groups
    usage_rows: int = 0  # gpu_usage rows in those groups
    billing_lines: int = 0  # billing lines in those groups

    @property
    def measured_tensor_active(self) -> float | None:
        """Time-weighted tensor-pipe activity, when DCGM measured it."""
        return self.tensor_active_weighted / self.tensor_seconds if self.tensor_seconds else None


@dataclass
class RunContext:
    """One logical run's evidence as the methods read it.

    Attributes:
        run: the ``resolved_runs`` row.
        usage: accelerator time and billing linked to the run.
        utilisation: the assumed utilisation band (``[estimate] utilisation``).
        default_precision: the precision of the reference peak when the run names none.
        found: the figures of the methods computed so far, by method name (the registry
            computes them in its order: a later method may read an earlier one's).
        flags: the run's flags; a method adds the ones it raises.
    """

    run: Mapping[str, Any]
    usage: UsageEvidence
    utilisation: Mapping[str, float]
    default_precision: str
    found: dict[str, flops.Estimate] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    @property
    def shape(self) -> flops.RunShape | None:
        """The run's shape for the per-token formula, when tokens and parameters are known."""
        run = self.run
        if not run.get("tokens") or not run.get("params_matmul"):
            return None
        return flops.RunShape(
            tokens=float(run["tokens"]),
            tokens_low=float(run["tokens_low"] or run["tokens"]),
            tokens_high=float(run["tokens_high"] or run["tokens"]),
            params_total=int(run["params_total"] or run["params_matmul"]),
            params_matmul=int(run["params_matmul"]),
            params_matmul_active=int(run["params_matmul_active"] or run["params_matmul"]),
            params_trainable=run.get("params_trainable"),
            n_layers=run.get("n_layers"),
            attention_dim=run.get("attention_dim"),
            seq_len=run.get("seq_len"),
            method=run.get("method"),
            objective=run.get("objective"),
            seq_len_max=run.get("seq_len_max"),
            seq_len_is_upper_bound=run.get("seq_len_basis") == "derived_assuming_single_process",
            generated_tokens=run.get("generated_tokens"),
            kl_in_use=run.get("kl_in_use"),
        )


class Method:
    """One estimation method. Subclasses set the class attributes and implement
    :meth:`estimate` and :meth:`summary` (and :meth:`missing` where "needs …" says too
    little).

    Attributes:
        name: the method's name in ``run_estimates.method`` and everywhere else.
        decides: its rank when the combined figure is chosen (lower wins, subject to
            :func:`reconcile.methods.decide`); None: it never gives the combined figure
            (a claim is cross-checked, not believed).
        needs: what the method needs, in a few words (said when a run has no figure).
        timed: its figure is accelerator time x peak (``accelerator_seconds`` in its
            assumptions): the energy of a run is reckoned from that time.
    """

    name: str = ""
    decides: int | None = None
    needs: str = ""
    timed: bool = False

    def estimate(self, ctx: RunContext) -> flops.Estimate | None:
        """The figure from ``ctx``'s evidence, or None when the evidence does not allow it."""
        raise NotImplementedError

    def defers_to(self, run: Mapping[str, Any]) -> tuple[str, ...]:
        """Methods whose figure, when there is one, decides instead of this one's for
        ``run`` (despite the ranks)."""
        return ()

    def missing(self, run: Mapping[str, Any], billing_linked: bool) -> str:
        """Why a run has no figure by this method (the report's per-run table): by
        default, what it needs."""
        return f"needs {self.needs}"

    def summary(self, assumptions: Mapping[str, Any], run: Mapping[str, Any]) -> str:
        """One line saying how a stored figure was obtained, from its assumptions."""
        raise NotImplementedError


@dataclass(frozen=True)
class Peak:
    """The reference peak of an accelerator name, a band when the name is ambiguous."""

    central: float
    low: float
    high: float
    absolute: float
    candidates: tuple[str, ...]
    columns: tuple[str, ...]

    def record(self, estimate: flops.Estimate, seconds: float) -> None:
        """Write which peak was used, and the absolute bound, into ``estimate``'s
        assumptions."""
        estimate.assumptions["reference_peak"] = {
            "columns": list(self.columns),
            "candidates": list(self.candidates),
            "note": "dense BF16/FP16 tensor peak unless the run's precision says otherwise"
            + (
                "; an ambiguous name: a band over its candidates"
                if len(self.candidates) > 1
                else ""
            ),
        }
        estimate.assumptions["absolute_physical_limit"] = {
            "flops": seconds * self.absolute,
            "note": "at the highest dense peak of any precision (FP8 where there is one): a "
            "bound no run reaches, not the reference",
        }


def peak(
    name: str, precision: str | None, default_precision: str
) -> tuple[Peak | None, str | None]:
    """The reference peak (FLOP/s) of an accelerator, or why there is none.

    The reference is the dense BF16/FP16 tensor peak (``default_precision``, BF16 unless
    configured): the precision fine-tuning runs in. FP8 only when the run's own precision
    says so; an FP8 peak taken when nothing says FP8 halves every implied utilisation.
    The absolute peak (the highest dense figure of any precision) is kept beside it as a
    labelled bound. A name that fits several catalog rows ("H100": SXM, PCIe, NVL) gives
    a band over them: the lowest and highest reference peaks, their mean in the middle.
    """
    catalog = load_catalog()
    # ``unknown:<name>``: a device the catalog lacked when the evidence was loaded; a
    # catalog that has learnt it since resolves the name.
    name = name.removeprefix("unknown:")
    found = catalog.accelerators.get(name)
    candidates = [found] if found else []
    if not candidates:
        match = catalog.resolve_accelerator(name)
        candidates = list(match.candidates) if match else []
    if not candidates:
        return None, f"accelerator {name!r} not in the catalog"
    wanted = precision if precision and precision != default_precision else None
    references: list[tuple[float, str]] = []
    for accelerator in candidates:
        try:
            references.append(reference_peak(accelerator, wanted or default_precision))
        except ValueError:
            continue
    if not references:
        return None, f"no peak for {name}"
    values = [value for value, _ in references]
    absolute = max(
        [
            p
            for a in candidates
            for p in (a.peak_flops(x) for x in ("fp32", "tf32", "bf16", "fp16", "fp8"))
            if p
        ]
        + values
    )
    return (
        Peak(
            sum(values) / len(values),
            min(values),
            max(values),
            absolute,
            tuple(a.key for a in candidates),
            tuple(sorted({column for _, column in references})),
        ),
        None,
    )


def utilisation_text(value: Any) -> str:
    """A utilisation for a summary line (``0.35``, ``n/a``)."""
    return "n/a" if value is None else f"{float(value):.2f}"
