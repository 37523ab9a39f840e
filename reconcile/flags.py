"""The one vocabulary of flags: what each code means, how serious it is, and — for the
flags that say evidence is missing — what to supply so the run gets a figure.

Flags are raised by resolution (``resolve.py``), estimation (``estimate.py``) and
compliance (``compliance.py``) as short codes stored in the warehouse; the report, the
coverage view and ``status`` read their words here. The thresholds behind the
cross-check flags live here too, so a flag and its definition cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconcile.compliance import GPAI_INDICATIVE_FLOPS, SYSTEMIC_RISK_FLOPS
from reconcile.numbers import percent, sci

#: Implied-utilisation flags (architecture FLOPs ÷ hardware physical limit).
IMPLIED_UTILISATION_IMPOSSIBLE = 1.0
#: (../shared/DESIGN.md; regulation.md §5: fine-tuning runs reach 0.2-0.6 of the dense
#: BF16 peak, the best tuned pretraining about 0.5-0.6).
IMPLIED_UTILISATION_HIGH = 0.70
IMPLIED_UTILISATION_LOW = 0.02
#: Reported vs reconstructed, after normalising to the same tokens and formula.
REPORTED_TOLERANCE = 0.10


@dataclass(frozen=True)
class FlagInfo:
    """What a flag code means.

    Attributes:
        code: the code as stored.
        severity: ``doubt`` (the evidence contradicts itself), ``missing`` (evidence
            needed for a figure is absent), ``regulatory`` (a threshold cross-check),
            or ``info``.
        words: the meaning in plain language.
        remedy: for ``missing`` flags, what to supply and how.
    """

    code: str
    severity: str
    words: str
    remedy: str | None = None


def _entries() -> dict[str, FlagInfo]:
    rows: list[tuple[str, str, str, str | None]] = [
        (
            "implied_utilisation_above_1",
            "doubt",
            "the logged tokens need more than the hardware's peak throughput for the "
            "accelerator time on record: tokens or accelerator time are wrong",
            None,
        ),
        (
            "implied_utilisation_above_0.70",
            "doubt",
            f"implied utilisation above {percent(IMPLIED_UTILISATION_HIGH)}: unusually high; "
            "check tokens and accelerator time",
            None,
        ),
        (
            "implied_utilisation_below_0.02",
            "info",
            f"implied utilisation below {percent(IMPLIED_UTILISATION_LOW)}: far more "
            "accelerator time than the tokens need (idle or unlogged work)",
            None,
        ),
        (
            "billed_hours_differ_from_logged_runtime",
            "doubt",
            "billed accelerator-hours and the logged runtime × accelerators disagree",
            None,
        ),
        (
            "hardware_unknown_accelerator",
            "missing",
            "accelerator unknown or not in the catalog: no hardware estimate",
            "name the accelerator in a run table (accelerator, accelerator_count) or add it "
            "to the catalog",
        ),
        (
            "base_plus_modification_above_1e23",
            "regulatory",
            f"base + modification compute exceeds {sci(GPAI_INDICATIVE_FLOPS)} FLOP, the "
            "indicative GPAI criterion",
            None,
        ),
        (
            "base_plus_modification_above_1e25",
            "regulatory",
            f"base + modification compute exceeds {sci(SYSTEMIC_RISK_FLOPS)} FLOP, the "
            "systemic-risk presumption",
            None,
        ),
        (
            "modification_alone_above_1e23",
            "regulatory",
            f"the modification alone exceeds {sci(GPAI_INDICATIVE_FLOPS)} FLOP, the "
            "indicative GPAI criterion",
            None,
        ),
        (
            "lineage_mixes_base_models",
            "doubt",
            "the lineage's runs start from different base models",
            None,
        ),
        ("no_estimate", "missing", "no method could estimate the compute", None),
        ("lineage_run_without_estimate", "missing", "a run of the lineage has no estimate", None),
        (
            "base_model_unresolved",
            "missing",
            "the base model named in the logs could not be resolved",
            'map it in reconcile.toml: [models.aliases] "<name in the logs>" = "<org>/<name>"',
        ),
        (
            "base_model_unknown",
            "missing",
            "the logs do not name the base model",
            "add base_model to a run table row for this job, or keep the run's "
            "adapter_config.json / config.json / model card beside its trainer_state.json",
        ),
        (
            "base_model_not_in_catalog",
            "missing",
            "the base model is not in the catalog and the evidence has no config to count "
            "its parameters",
            'add [models.base."<org>/<name>"] with config = "<a shipped config>", keep the '
            "base's config.json beside the run, give params_total in a run table, or enable "
            "[models] hub = true",
        ),
        ("base_model_conflict", "doubt", "the evidence names different base models", None),
        (
            "trainable_params_unknown",
            "missing",
            "trainable parameters unknown",
            "keep adapter_config.json (and adapter_model.safetensors) with the run, or give "
            "params_trainable in a run table",
        ),
        (
            "params_unknown",
            "missing",
            "parameter count unknown: no config for the base model",
            "keep config.json with the run, or give params_total in a run table",
        ),
        (
            "tokens_unknown",
            "missing",
            "tokens unknown: no architecture estimate",
            "log num_input_tokens_seen (include_num_input_tokens_seen=True), keep "
            "trainer_state.json with total_flos, or give tokens (or steps, global_batch and "
            "seq_len) in a run table",
        ),
        (
            "accelerator_time_unknown",
            "missing",
            "no accelerator time: no hardware estimate",
            "keep train_runtime with the accelerator type and count (a run table, the job "
            "description), or ingest the scheduler's or the cloud's records of the job",
        ),
        (
            "hub_lookup_failed",
            "missing",
            "the Hub (or mirror) look-up for the base model failed",
            "check HF_ENDPOINT and HF_TOKEN, or add the base to [models.base] with a config",
        ),
        (
            "total_flos_counts_sharded_parameters",
            "info",
            "FSDP: HF total_flos counted each rank's shard of the parameters; tokens derived "
            "with the shard size",
            None,
        ),
        (
            "total_flos_4bit_count_ambiguous",
            "info",
            "a 4-bit model's total_flos: transformers before 4.34 counted 4-bit weights at half "
            "size, so the tokens may be up to twice those derived (the band's high end)",
            None,
        ),
        (
            "tokens_lower_bound_open",
            "info",
            "tokens are steps × batch × maximum length, an upper bound: the data was not "
            "packed and nothing says how much shorter the sequences were",
            None,
        ),
        (
            "resolution_failed",
            "missing",
            "this run's evidence could not be computed (the run's notes say why)",
            "fix or remove the file named in the run's notes; the other runs are not affected",
        ),
        (
            "estimation_failed",
            "missing",
            "this run's figures could not be computed",
            "check the run's evidence (query run --param run_id=…); the other runs are not "
            "affected",
        ),
        ("logged_tokens_exclude_padding", "info", "logged tokens exclude padding", None),
        (
            "base_is_post_trained_variant",
            "info",
            "the base is a post-trained variant of a catalog model",
            None,
        ),
        (
            "total_flos_multiplied_by_world_size",
            "info",
            "HF total_flos is the logged tokens × the number of processes",
            None,
        ),
        (
            "params_total_differs_from_reported",
            "doubt",
            "the parameter count differs from the one the evidence reports",
            None,
        ),
        (
            "generated_tokens_unknown",
            "info",
            "an online RL run (GRPO/PPO/RLOO) with no logged completion lengths: "
            "generation compute is not included",
            None,
        ),
        (
            "no_training",
            "info",
            "the folder holds evaluation or prediction results only: no training",
            None,
        ),
        (
            "git_lfs_pointer",
            "info",
            "some files are git-LFS pointers (the content was never downloaded); skipped",
            None,
        ),
    ]
    return {code: FlagInfo(code, severity, words, remedy) for code, severity, words, remedy in rows}


VOCABULARY = _entries()

#: Families of flags whose code ends with a variable part.
_PREFIXED = (
    ("methods_disagree_", "doubt", "the {} estimate's band does not overlap the decided figure"),
    (
        "reported_differs_",
        "doubt",
        "a FLOP figure the logs report ({}) differs from ours by more than "
        f"{percent(REPORTED_TOLERANCE)}",
    ),
    ("tokens_disagree_", "doubt", "token counts disagree ({})"),
)


def describe(code: str) -> FlagInfo:
    """The vocabulary entry of a code (an unknown code reads as its words)."""
    if code in VOCABULARY:
        return VOCABULARY[code]
    for prefix, severity, text in _PREFIXED:
        if code.startswith(prefix):
            return FlagInfo(code, severity, text.format(code.removeprefix(prefix)))
    return FlagInfo(code, "info", code.replace("_", " "))


def flag_text(code: str) -> str:
    """What a flag means, in plain language."""
    return describe(code).words


def is_doubt(code: str) -> bool:
    """Whether a flag says the evidence contradicts itself."""
    return describe(code).severity == "doubt"
