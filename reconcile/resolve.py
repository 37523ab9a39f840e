"""From evidence rows to logical runs: merge, resolve the base model, count parameters,
and establish tokens with a basis and an interval.

One training job usually leaves several evidence rows in ``training_runs``: its
checkpoint folder, its SageMaker job description, a tracker export, a meter file. They
name the same job, so they are merged into one *logical run* (``resolved_runs``), never
counted twice. Counters (steps, tokens) are cumulative in every source, and a resumed
run continues them: the merge takes the largest value, never a sum.

Tokens D are established three ways, each with an interval:

* **logged** (``num_input_tokens_seen``, TRL ``num_tokens``, flops_meter
  ``tokens_processed``, a run table): exact counts;
* **derived from HF ``total_flos``**: D = total_flos ÷ (6 × N_hf), N_hf being exactly what
  the Trainer counted (every parameter except ``nn.Embedding`` weights, adapters
  included); the result counts padding and is an integer when N_hf is right — a check;
* **derived from steps × global batch × sequence length** (× 2 sequences per preference
  pair for DPO): an upper bound (shorter sequences are not padded to the maximum when
  packing or dynamic padding is used), so the interval is [½, 1] of the product.

The central value comes from the strongest basis present; every derivation is kept in
``tokens_evidence`` and disagreements become flags.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import pyarrow as pa

from reconcile import flops
from reconcile.adapters import adapter_parameters
from reconcile.errors import ParseError
from reconcile.models import ModelRegistry, Resolution, default_registry
from reconcile.params import ParamCount, count_parameters
from reconcile.schemas import RESOLVED_RUNS
from reconcile.warehouse import record_digest, rollback, stored_digest

RESOLVER_VERSION = 2
#: ``stage_digests`` name under which resolution records the ``[models]`` configuration
#: it used (``ModelRegistry.digest``).
RESOLVE_DIGEST = "resolve"

#: ``params_basis`` of parameters counted from the weights' safetensors headers (the
#: adapter's, for an adapter run): counted, not stated, so they win over any other source.
HEADER_COUNTED = "safetensors_header"
#: The rank of a format that declares none for a kind of field: after every ranked one.
UNRANKED = 1_000_000
#: Relative half-width of a total_flos-derived token count that is not an integer.
DERIVED_FLOS_TOLERANCE = 0.05
#: Relative half-width of a token count a team derived itself (run tables' ``derived``):
#: such counts come from dataset statistics that miss truncation, packing and padding.
DECLARED_DERIVED_SPREAD = 0.25


@dataclass
class _Tokens:
    basis: str
    central: int
    low: int
    high: int
    padding_included: bool | None
    detail: str


def _order(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """``rows`` best first for ``kind`` of field, by the ranks their formats declare
    (``evidence_priority``, attached to each row by :func:`resolve_runs`); ties keep the
    rows' order."""
    return sorted(rows, key=lambda r: r.get("_ranks", {}).get(kind, UNRANKED))


def evidence_ranks(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Each format's rank per kind of field (``evidence_priority``), by format."""
    ranks: dict[str, dict[str, int]] = {}
    for fmt, kind, rank in con.execute(
        "SELECT source_format, field_kind, rank FROM evidence_priority ORDER BY ALL"
    ).fetchall():
        ranks.setdefault(fmt, {})[kind] = int(rank)
    return ranks


def _first(rows: list[dict[str, Any]], kind: str, column: str) -> Any:
    for row in _order(rows, kind):
        if row.get(column) is not None:
            return row[column]
    return None


def _attributes(row: Mapping[str, Any]) -> dict[str, Any]:
    text = row.get("attributes")
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def group_rows(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Evidence rows grouped by the job they describe.

    Rows merge when they carry the same job name (case-insensitive) and do not name two
    different platforms; a row without a job name stays alone.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    by_job: dict[str, list[list[dict[str, Any]]]] = {}  # a job's groups, in creation order
    for row in rows:
        job = (row.get("job_name") or "").strip().lower()
        if not job:
            groups[("run", row["run_id"])] = [row]
            continue
        placed = False
        for members in by_job.get(job, []):
            platforms = {m.get("platform") for m in members} - {None}
            if row.get("platform") is None or not platforms or row["platform"] in platforms:
                members.append(row)
                placed = True
                break
        if not placed:
            group = [row]
            groups[("job", f"{job}\0{row.get('platform') or ''}\0{len(groups)}")] = group
            by_job.setdefault(job, []).append(group)
    return [sorted(g, key=lambda r: r["run_id"]) for g in groups.values()]


def _resolve_base(
    rows: list[dict[str, Any]], registry: ModelRegistry, flags: list[str], notes: list[str]
) -> Resolution:
    candidates: list[str] = []
    for row in _order(rows, "model"):
        attributes = _attributes(row)
        for value in (
            row.get("base_model"),
            attributes.get("base_model_raw"),
            *attributes.get("base_model_candidates", []),
        ):
            if isinstance(value, str) and value and value not in candidates:
                candidates.append(value)
    resolutions = [registry.resolve(c) for c in candidates]
    if not any(r.catalog_id for r in resolutions):
        # the size may be written only in what the run produced ("…-LLaMA-2-7b-base")
        produced = [
            str(_first(rows, "model_id", "model_id") or ""),
            str(_first(rows, "identity", "job_name") or ""),
        ]
        combined = _family_and_size(candidates, registry, [p for p in produced if p])
        if combined is not None:
            resolutions.insert(0, combined)
    resolved = [r for r in resolutions if r.catalog_id or r.repo_id]
    if not resolved:
        if candidates:
            notes.append(resolutions[0].note)
            flags.append("base_model_unresolved")
            return resolutions[0]
        flags.append("base_model_unknown")
        return Resolution(None, None, None, "unresolved", "no base model in the evidence")
    chosen = next((r for r in resolved if r.catalog_id), resolved[0])
    others = {str(r.catalog_id or r.repo_id) for r in resolved} - {
        str(chosen.catalog_id or chosen.repo_id)
    }
    if others:
        flags.append("base_model_conflict")
        notes.append(f"evidence names other base models too: {', '.join(sorted(others))}")
    if chosen.note:
        notes.append(chosen.note)
    return chosen


_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)([bm])(?![a-z])", re.IGNORECASE)


def _family_and_size(
    candidates: list[str], registry: ModelRegistry, sized: list[str] | None = None
) -> Resolution | None:
    """One catalog model from a family named in one place and a size in another.

    Community runs often say the family in the model card (``base_model: Meta/Llama2``)
    and the size only in another id (``suzushi/luojiu-7b_Tokenize_stage``, their own
    earlier stage). Each family × size pair is resolved; exactly one catalog model must
    come out, else nothing is guessed.
    """
    names = [c.replace("\\", "/").rstrip("/").split("/")[-1] for c in candidates]
    extra = [c.replace("\\", "/").rstrip("/").split("/")[-1] for c in sized or []]
    sizes = {m[1] + m[2].lower() for n in [*names, *extra] for m in _SIZE.finditer(n)}
    families = [n for n in names if not _SIZE.search(n)]
    found: dict[str, Resolution] = {}
    for family in families:
        for size in sorted(sizes):
            hit = registry.resolve(f"{family}-{size}")
            if hit.catalog_id:
                found[hit.catalog_id] = hit
    if len(found) != 1:
        return None
    ((catalog_id, hit),) = found.items()
    note = (
        f"family from {', '.join(repr(f) for f in families)} and size from the other names "
        f"({', '.join(sorted(sizes))}) give {catalog_id}"
    )
    return Resolution(", ".join(candidates), catalog_id, catalog_id, "family_and_size", note)


def _count(
    rows: list[dict[str, Any]], base: Resolution, registry: ModelRegistry, notes: list[str]
) -> tuple[ParamCount | None, str | None]:
    """Parameter counts from the run's own config.json, else the base model's."""
    for row in _order(rows, "training"):
        config = _attributes(row).get("config")
        if isinstance(config, dict) and config.get("model_type"):
            try:
                return (
                    count_parameters(config, completions=registry.completions),
                    "config.json of the run",
                )
            except ParseError as exc:
                notes.append(f"could not count parameters from the run's config: {exc.reason}")
    config = registry.config(base.catalog_id or base.repo_id)
    if config is not None:
        name = base.catalog_id or base.repo_id
        return (
            count_parameters(config, completions=registry.completions),
            f"config of {name} (shipped catalog)",
        )
    return None, None


def _from_hub(
    registry: ModelRegistry,
    base: Resolution,
    count: ParamCount | None,
    params_basis: str | None,
    flags: list[str],
    notes: list[str],
) -> tuple[Resolution, ParamCount | None, str | None]:
    """What the Hub (or the company mirror) says of a base the catalog lacks: its
    config.json for the parameter count, its card's ``base_model`` for the compute."""
    assert registry.hub is not None and base.repo_id
    found = registry.hub.model(base.repo_id)
    if found.problem:
        flags.append("hub_lookup_failed")
        notes.append(f"{base.repo_id}: {found.problem}")
        return base, count, params_basis
    where = f"{found.repo_id}@{found.revision or 'unknown revision'}"
    if count is None and found.config and found.config.get("model_type"):
        try:
            count = count_parameters(found.config, completions=registry.completions)
            params_basis = f"config.json from the Hub ({where})"
        except ParseError as exc:
            notes.append(f"could not count parameters from {where} config.json: {exc.reason}")
    if not base.catalog_id:
        for named in found.base_models:
            parent = registry.resolve(named)
            if parent.catalog_id:
                note = (
                    f"the model card of {where} names {named} as its base: "
                    f"{parent.catalog_id}'s pretraining compute is used (a lower bound of "
                    "the original model's compute, hence a conservative threshold)"
                )
                notes.append(note)
                base = Resolution(base.raw, base.repo_id, parent.catalog_id, "hub", note)
                break
    return base, count, params_basis


def _classification_labels(rows: list[dict[str, Any]], objective: str | None) -> int | None:
    """The number of labels when the model trained is a sequence classifier (a reward
    model): a ``*ForSequenceClassification`` config, a ``SEQ_CLS`` adapter, or TRL's
    reward objective (one label)."""
    for row in _order(rows, "training"):
        attributes = _attributes(row)
        config = attributes.get("config")
        if isinstance(config, dict):
            names = config.get("architectures") or []
            if any(str(n).endswith("ForSequenceClassification") for n in names):
                id2label = config.get("id2label")
                found = config.get("num_labels") or (len(id2label) if id2label else None)
                return int(found) if isinstance(found, int) and found > 0 else 1
        adapter = attributes.get("adapter")
        if isinstance(adapter, dict) and adapter.get("task_type") == "SEQ_CLS":
            return 1
    return 1 if objective == "reward" else None


def _with_classification_head(count: ParamCount, labels: int) -> ParamCount:
    """Counts with the language-model head replaced by a classification head."""
    head = labels * count.hidden_size
    vocab_head = count.vocab_size * count.hidden_size
    return replace(
        count,
        total=count.total - count.lm_head + head,
        active=count.active - count.lm_head + head,
        lm_head=head,
        matmul=count.matmul - vocab_head + head,
        matmul_active=count.matmul_active - vocab_head + head,
        hf_counted=count.hf_counted - count.lm_head + head,
    )


def _hf_counted(rows: list[dict[str, Any]], count: ParamCount) -> int:
    """The parameters HF's ``floating_point_ops`` counted (every weight but
    ``nn.Embedding``), for a model stored quantised by its own code: ChatGLM's int4/int8
    ``QuantizedLinear`` keeps weights packed (bits/8 of the elements) plus one scale per
    output row, in every linear layer of its transformer blocks (THUDM/ChatGLM-6B
    quantization.py)."""
    for row in _order(rows, "training"):
        config = _attributes(row).get("config")
        if not isinstance(config, dict):
            continue
        bits = config.get("quantization_bit")
        if str(config.get("model_type", "")).startswith("chatglm") and bits in (4, 8):
            weights = sum(lin.weights for layer in count.layers for lin in layer)
            scales = sum(lin.out_features * lin.count for layer in count.layers for lin in layer)
            return count.hf_counted - weights + weights * int(bits) // 8 + scales
    return count.hf_counted


def _first_attribute(rows: list[dict[str, Any]], name: str) -> Any:
    for row in _order(rows, "training"):
        value = _attributes(row).get(name)
        if value is not None:
            return value
    return None


def _online_rl(
    rows: list[dict[str, Any]],
    objective: str | None,
    global_batch: int | None,
    per_device: int | None,
    flags: list[str],
    notes: list[str],
) -> tuple[int | None, bool | None]:
    """(generated tokens, KL in use) of an online RL run; (None, None) for other runs.

    Generated tokens = Σ over logged steps of the mean completion length × completions
    per optimizer step, which is the global batch in TRL's GRPO (its batch sizes count
    completions).
    """
    if objective not in flops.ONLINE_OBJECTIVES:
        return None, None
    kl = _first_attribute(rows, "kl_in_use")
    length_steps = _first_attribute(rows, "completion_length_steps")
    completions, assumed = global_batch, ""
    if not completions and per_device:
        completions = per_device
        assumed = " (the per-device batch: one process, no gradient accumulation assumed)"
    if isinstance(length_steps, (int, float)) and completions:
        generated = round(float(length_steps) * completions)
        notes.append(
            f"generated tokens {generated:,} = Σ mean completion length × steps "
            f"({length_steps:,.0f}) × {completions} completions per step{assumed}"
        )
        return generated, bool(kl)
    flags.append("generated_tokens_unknown")
    if isinstance(length_steps, (int, float)):
        notes.append(
            "completion lengths are logged but the completions per step (global batch) "
            "are not: generation is not included"
        )
    return None, bool(kl)


def _trainable(
    rows: list[dict[str, Any]],
    method: str | None,
    count: ParamCount | None,
    flags: list[str],
    notes: list[str],
) -> tuple[int | None, str | None]:
    if method == "full":
        return (count.total if count else _first(rows, "training", "params_total")), "full"
    header = next(
        (
            r["params_trainable"]
            for r in _order(rows, "training")
            if r.get("params_basis") == HEADER_COUNTED and r.get("params_trainable")
        ),
        None,
    )
    if header:
        return int(header), "adapter safetensors header"
    if flops.frozen_backbone(method):
        for row in _order(rows, "training"):
            adapter = _attributes(row).get("adapter")
            if isinstance(adapter, dict):
                value, how = adapter_parameters(method, adapter, count)
                if value is not None:
                    return value, how
                notes.append(f"adapter size not computable from adapter_config.json: {how}")
    reported = _first(rows, "hardware", "params_trainable")
    if reported:
        notes.append("trainable parameters as reported by the evidence, not recomputed")
        return int(reported), "reported"
    if flops.frozen_backbone(method):
        flags.append("trainable_params_unknown")
    return None, None


def _whole(value: float) -> bool:
    return abs(value - round(value)) <= max(1e-6, value * 1e-12)


def _four_bit(rows: list[dict[str, Any]], *, certain: bool = True) -> bool:
    """Whether the base was loaded in 4-bit (bitsandbytes): its config says so, or the run
    names a ``...-bnb-4bit``/``-4bit`` base; with ``certain=False`` a QLoRA method label
    (which 8-bit runs may carry too) is enough."""
    for row in rows:
        attributes = _attributes(row)
        config = attributes.get("config")
        quant = config.get("quantization_config") if isinstance(config, dict) else None
        if isinstance(quant, dict) and (quant.get("load_in_4bit") or quant.get("bits") == 4):
            return True
        names = [row.get("base_model"), *attributes.get("base_model_candidates", [])]
        if any(isinstance(n, str) and "4bit" in n.lower() for n in names):
            return True
        if not certain and row.get("method") == "qlora":
            return True
    return False


def _transformers_version(rows: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(major, minor) of transformers as the evidence records it, if it does."""
    for row in rows:
        attributes = _attributes(row)
        config = attributes.get("config")
        for value in (
            config.get("transformers_version") if isinstance(config, dict) else None,
            attributes.get("transformers_version"),
        ):
            found = re.match(r"^(\d+)\.(\d+)", str(value or ""))
            if found:
                return int(found[1]), int(found[2])
    return None


def _tokens(
    rows: list[dict[str, Any]],
    n_hf: int | None,
    n_flat: int | None,
    n_hf_4bit_half: int | None,
    objective: str | None,
    steps: int | None,
    global_batch: int | None,
    seq_len: int | None,
    world_size: int | None,
    flags: list[str],
) -> tuple[_Tokens | None, list[_Tokens]]:
    found: list[_Tokens] = []
    logged = [
        (r["tokens"], r)
        for r in _order(rows, "training")
        if r.get("tokens") and r.get("tokens_basis") == "logged"
    ]
    if logged:
        value, row = max(logged, key=lambda pair: pair[0])
        source = _attributes(row).get("tokens_source") or row["source_format"]
        padding = None if "num_tokens" in str(source) else True
        if "TRL" in str(source):
            padding = False
        found.append(
            _Tokens(
                "logged",
                int(value),
                int(value),
                int(value),
                padding,
                f"{source} ({row['source_format']})",
            )
        )
    declared = [
        (r["tokens"], r)
        for r in _order(rows, "training")
        if r.get("tokens") and r.get("tokens_basis") == "derived"
    ]
    if declared and not logged:
        # a count the team derived itself (dataset tokens × epochs, say), stated in a run
        # table as `tokens_basis = derived`: kept, with a band of ±DECLARED_DERIVED_SPREAD
        value, row = max(declared, key=lambda pair: pair[0])
        found.append(
            _Tokens(
                "derived_declared",
                int(value),
                int(value * (1 - DECLARED_DERIVED_SPREAD)),
                int(value * (1 + DECLARED_DERIVED_SPREAD)),
                None,
                f"derived by the team ({row['source_format']}), ±{DECLARED_DERIVED_SPREAD:.0%}",
            )
        )
    flos = next(
        (
            r["reported_flops"]
            for r in _order(rows, "training")
            if r.get("reported_flops_basis") == "hf_total_flos" and r.get("reported_flops")
        ),
        None,
    )
    if flos and n_hf:
        derived = flos / (6 * n_hf)
        integral = _whole(derived)
        low_value = high_value = derived
        notes_extra = ""
        sharded = _first_attribute(rows, "parameter_sharding") == "fsdp"
        if sharded and world_size and world_size > 1 and n_flat and not integral:
            # FSDP: the Trainer counted one process's shard of the flattened parameters,
            # embeddings no longer told apart (transformers before use_orig_params): the
            # tokens are total_flos ÷ (6 × all parameters ÷ processes). The processes are
            # those on record (a lower bound of two when fewer were used).
            unit = flos / (6 * n_flat)
            derived, low_value, high_value = unit * world_size, unit * 2, unit * world_size
            integral = _whole(derived)
            flags.append("total_flos_counts_sharded_parameters")
            notes_extra = f"; FSDP shards over {world_size} processes (at least 2)"
        if n_hf_4bit_half and _four_bit(rows, certain=False):
            # bitsandbytes 4-bit weights: transformers before 4.34 counted them at half
            # their elements (packed), 4.34 and later in full
            version = _transformers_version(rows)
            half = flos / (6 * n_hf_4bit_half)
            if version is not None and version < (4, 34) and _four_bit(rows):
                derived = low_value = high_value = half
                integral = _whole(half)
                notes_extra = f"; 4-bit weights counted at half size (transformers {version})"
            elif version is None or (version < (4, 34) and not _four_bit(rows)):
                high_value = max(high_value, half)
                flags.append("total_flos_4bit_count_ambiguous")
                notes_extra = (
                    "; transformers version unknown: before 4.34 4-bit weights counted at "
                    "half size, up to 2x the tokens"
                )
        tolerance = 1e-4 if integral else DERIVED_FLOS_TOLERANCE
        found.append(
            _Tokens(
                "derived_total_flos",
                round(derived),
                math.floor(min(low_value, derived) * (1 - tolerance)),
                math.ceil(max(high_value, derived) * (1 + tolerance)),
                True,
                f"total_flos {flos:.6g} / (6 x {n_hf:,})"
                + (
                    "; an exact integer: the parameter count matches the Trainer's"
                    if integral
                    else "; not an integer: the Trainer counted different parameters"
                )
                + notes_extra,
            )
        )
        if logged and world_size and world_size > 1:
            ratio = derived / found[0].central
            if abs(ratio - world_size) / world_size < 0.01:
                flags.append("total_flos_multiplied_by_world_size")
    if steps and global_batch and seq_len:
        sequences = global_batch * (2 if objective in flops.PAIRED_OBJECTIVES else 1)
        product = steps * sequences * seq_len
        packing = _first_attribute(rows, "packing")
        if packing is True:
            # packed sequences are full: the product is the count
            low, detail = product, "packed: every sequence is full"
        else:
            # unpacked data is padded per batch only: sequences can be far shorter than
            # the maximum, and nothing in the evidence says how much (no fraction assumed)
            low, detail = steps * sequences, "not packed: the lower end is open"
        found.append(
            _Tokens(
                "derived_steps",
                product,
                low,
                product,
                True,
                f"{steps:,} steps x {sequences:,} sequences x {seq_len:,} tokens ({detail})",
            )
        )
    if not found:
        return None, []
    chosen = found[0]
    exact_flos = next(
        (d for d in found if d.basis == "derived_total_flos" and "exact integer" in d.detail), None
    )
    if chosen.basis == "logged" and exact_flos and exact_flos.central > chosen.central * 1.005:
        # total_flos always counts padding; a smaller logged count excluded it
        # (include_num_input_tokens_seen="non_padding"). Compute ran on the padded tokens.
        flags.append("logged_tokens_exclude_padding")
        chosen.padding_included = False
        chosen = exact_flos
    if chosen.basis == "derived_steps" and chosen.low < chosen.high:
        flags.append("tokens_lower_bound_open")
    for other in found[1:]:
        if other.high < chosen.low or other.low > chosen.high:
            flags.append(f"tokens_disagree_{other.basis}")
    return chosen, found


def _max_context(
    rows: list[dict[str, Any]], base: Resolution, registry: ModelRegistry
) -> int | None:
    for row in rows:
        config = _attributes(row).get("config")
        if isinstance(config, dict):
            nested = config.get("text_config")
            text: dict[str, Any] = nested if isinstance(nested, dict) else config
            value = text.get("max_position_embeddings") or text.get("n_positions")
            if isinstance(value, int):
                return value
    config = registry.config(base.catalog_id or base.repo_id)
    if config:
        value = config.get("max_position_embeddings") or config.get("n_positions")
        return value if isinstance(value, int) else None
    return None


def _infer_seq_len(
    rows: list[dict[str, Any]],
    base: Resolution,
    registry: ModelRegistry,
    tokens: int,
    steps: int | None,
    global_batch: int | None,
    per_device: int | None,
    objective: str | None,
    notes: list[str],
) -> tuple[int | None, str | None]:
    """Mean tokens per sequence = tokens ÷ (steps × global batch).

    Trainer logs do not record the sequence length, but they record tokens and steps;
    the global batch is per-device batch × gradient accumulation × processes. When only
    the per-device batch is known, the length assuming one process and no accumulation
    is an upper bound (``derived_assuming_single_process``): kept only when the model's
    context allows it, and the band's low end then leaves attention out.
    """
    if not steps or not (global_batch or per_device):
        return None, None
    pairs = 2 if objective in flops.PAIRED_OBJECTIVES else 1
    length = tokens / (steps * (global_batch or per_device or 1) * pairs)
    limit = _max_context(rows, base, registry)
    if length < 1 or (limit is not None and length > limit * 1.001):
        notes.append(
            f"tokens per sequence {length:,.0f} exceeds the context {limit}: gradient "
            "accumulation or data parallelism not in the logs; sequence length unknown"
        )
        return None, None
    if global_batch:
        notes.append(
            f"mean sequence length {length:,.0f} tokens = tokens ÷ (steps × global batch "
            f"{global_batch})"
        )
        return round(length), "derived_tokens_per_sequence"
    notes.append(
        f"sequence length {length:,.0f} tokens = tokens ÷ (steps × per-device batch), "
        "assuming one process and no gradient accumulation (an upper bound: the band's "
        "low end leaves attention out)"
    )
    return round(length), "derived_assuming_single_process"


def resolve_group(
    rows: list[dict[str, Any]],
    registry: ModelRegistry,
    upstream: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One logical run from its evidence rows.

    ``upstream``: the resolved run whose output this run started from (its base model is
    that run's model id, job or output folder); its base model is this run's too.
    """
    flags: list[str] = []
    notes: list[str] = []
    base = _resolve_base(rows, registry, flags, notes)
    if upstream is not None:
        note = (
            f"the base model {base.raw!r} is the output of run {upstream['run_key']!r}, "
            f"trained from {upstream['base_model']}"
        )
        base = Resolution(
            base.raw,
            upstream["base_model"],
            upstream["base_model_catalog"],
            "upstream_run",
            note,
        )
        notes.append(note)
        flags[:] = [
            f
            for f in flags
            if f not in ("base_model_unresolved", "base_model_unknown", "base_model_conflict")
        ]
    method = flops.canonical_method(_first(rows, "training", "method"))
    objective = flops.canonical_objective(_first(rows, "training", "objective"))
    count, params_basis = _count(rows, base, registry, notes)
    labels = _classification_labels(rows, objective)
    if count is not None and labels:
        count = _with_classification_head(count, labels)
        notes.append(
            f"a sequence-classification model (reward model): its head is {labels} × "
            f"{count.hidden_size}, not the language-model head"
        )
    if registry.hub is not None and base.repo_id and (count is None or not base.catalog_id):
        base, count, params_basis = _from_hub(registry, base, count, params_basis, flags, notes)
    if count is None and base.repo_id:
        flags.append("base_model_not_in_catalog" if not base.catalog_id else "params_unknown")
    header_total = next(
        (
            r["params_total"]
            for r in rows
            if r.get("params_basis") == HEADER_COUNTED and r.get("params_total")
        ),
        None,
    )
    stated_total = None
    if count is None:
        stated_total = next(
            (
                int(r["params_total"])
                for r in _order(rows, "training")
                if r.get("params_basis") in ("run_table", "safetensors_index")
                and r.get("params_total")
            ),
            None,
        )
        if stated_total:
            params_basis = "parameters stated by the evidence (all of them taken as N_mm)"
            notes.append(
                f"no config to count from: the {stated_total:,} parameters the evidence states "
                "stand for N_mm (the input embedding cannot be told apart: a slight overcount)"
            )
            flags[:] = [
                f for f in flags if f not in ("params_unknown", "base_model_not_in_catalog")
            ]
    trainable, trainable_basis = _trainable(rows, method, count, flags, notes)
    if labels and count is not None and trainable and flops.frozen_backbone(method):
        # PEFT trains a classifier's head in full (modules_to_save "score"/"classifier")
        trainable += labels * count.hidden_size
    reported_total = next(
        (
            r["params_total"]
            for r in rows
            if r["source_format"] == "flops_meter" and r.get("params_total")
        ),
        None,
    )
    if count and reported_total and abs(count.total - reported_total) > 0.005 * reported_total:
        flags.append("params_total_differs_from_reported")
    adapter = trainable if flops.frozen_backbone(method) and trainable else 0
    if method in flops.PROMPT_METHODS:
        adapter = 0  # prompts and prefixes are nn.Embedding weights: HF does not count them
    n_hf = _hf_counted(rows, count) + adapter if count else None
    steps = max((r["steps"] for r in rows if r.get("steps")), default=None)
    epochs = max((r["epochs"] for r in rows if r.get("epochs")), default=None)
    seq_len = _first(rows, "hardware", "seq_len")
    world = _first(rows, "hardware", "world_size")
    per_device = _first(rows, "training", "per_device_batch")
    accum = _first(rows, "hardware", "grad_accum_steps")
    global_batch = _first(rows, "hardware", "global_batch")
    if world is None and _first(rows, "hardware", "accelerator_count"):
        world = _first(rows, "hardware", "accelerator_count")
    if global_batch is None and per_device and accum and world:
        global_batch = per_device * accum * world
        notes.append(
            f"global batch {per_device} x {accum} x {world} (one process per accelerator assumed)"
        )
    n_flat = count.total + adapter if count else None
    n_half = (
        n_hf - sum(lin.weights for layer in count.layers for lin in layer) // 2
        if count and n_hf
        else None
    )
    tokens, derivations = _tokens(
        rows, n_hf, n_flat, n_half, objective, steps, global_batch, seq_len, world, flags
    )
    seq_len_basis = "logged" if seq_len else None
    if seq_len is None and tokens is not None:
        seq_len, seq_len_basis = _infer_seq_len(
            rows, base, registry, tokens.central, steps, global_batch, per_device, objective, notes
        )
    if tokens is None:
        flags.append("tokens_unknown")
    seq_len_max = _first_attribute(rows, "max_seq_len")
    if isinstance(seq_len_max, int) and seq_len and seq_len > seq_len_max:
        seq_len_max = seq_len
    generated, kl_in_use = _online_rl(rows, objective, global_batch, per_device, flags, notes)
    reported = [
        {
            "flops": r["reported_flops"],
            "basis": r["reported_flops_basis"],
            "source": r["source_uri"],
        }
        for r in rows
        if r.get("reported_flops")
    ]
    main_reported = next((r for r in _order(rows, "training") if r.get("reported_flops")), None)
    tags: dict[str, str] = {}
    for row in _order(rows, "identity")[::-1]:
        tags.update(dict(row.get("tags") or []))
    key_row = _order(rows, "identity")[0]
    job_name = _first(rows, "identity", "job_name")
    if len(rows) > 1:
        notes.append(
            f"merged {len(rows)} evidence rows of job {job_name!r}: "
            + ", ".join(sorted(r["source_format"] for r in rows))
        )
    if base.basis == "variant" and base.catalog_id:
        flags.append("base_is_post_trained_variant")
    return {
        "run_key": f"{job_name}" if job_name else key_row["run_id"],
        "member_run_ids": [r["run_id"] for r in rows],
        "job_name": job_name,
        "platform": _first(rows, "identity", "platform"),
        "run_status": _first(rows, "identity", "run_status"),
        "model_id": _first(rows, "model_id", "model_id"),
        "base_model": base.repo_id,
        "base_model_catalog": base.catalog_id,
        "base_model_raw": base.raw,
        "base_model_basis": base.basis,
        "method": method,
        "objective": objective,
        "params_total": header_total or (count.total if count else reported_total or stated_total),
        "params_active": count.active if count else None,
        "params_trainable": trainable,
        "params_matmul": count.matmul if count else stated_total,
        "params_matmul_active": count.matmul_active if count else stated_total,
        "params_hf_counted": n_hf,
        "params_basis": "; ".join(
            x
            for x in (
                "safetensors header (total)" if header_total else None,
                params_basis,
                f"trainable: {trainable_basis}" if trainable_basis else None,
            )
            if x
        )
        or None,
        "n_layers": count.n_layers if count else None,
        "attention_dim": count.attention_dim if count else None,
        "tokens": tokens.central if tokens else None,
        "tokens_low": tokens.low if tokens else None,
        "tokens_high": tokens.high if tokens else None,
        "tokens_basis": tokens.basis if tokens else "unknown",
        "tokens_padding_included": tokens.padding_included if tokens else None,
        "tokens_evidence": json.dumps([d.__dict__ for d in derivations]),
        "epochs": epochs,
        "steps": steps,
        "seq_len": seq_len,
        "seq_len_basis": seq_len_basis,
        "global_batch": global_batch,
        "started_at": _first(rows, "identity", "started_at"),
        "ended_at": _first(rows, "identity", "ended_at"),
        "runtime_seconds": _first(rows, "training", "runtime_seconds"),
        "precision": _first(rows, "training", "precision"),
        "instance_type": _first(rows, "hardware", "instance_type"),
        "instance_count": _first(rows, "hardware", "instance_count"),
        "accelerator": _first(rows, "hardware", "accelerator"),
        "accelerator_count": _first(rows, "hardware", "accelerator_count"),
        "reported_flops": main_reported["reported_flops"] if main_reported else None,
        "reported_flops_basis": main_reported["reported_flops_basis"] if main_reported else None,
        "reported": json.dumps(reported),
        "tags": sorted(tags.items()) or None,
        "flags": sorted(set(flags)),
        "notes": notes,
        "evidence_uris": sorted({r["source_uri"] for r in rows}),
        "evidence_kinds": sorted({r["source_format"] for r in rows}),
        "seq_len_max": seq_len_max,
        "generated_tokens": generated,
        "kl_in_use": kl_in_use,
        "upstream_run_key": upstream["run_key"] if upstream is not None else None,
        "accelerator_seconds": (
            float(hours) * 3600.0
            if isinstance(hours := _first_attribute(rows, "accelerator_hours"), (int, float))
            else None
        ),
        "resolver_version": RESOLVER_VERSION,
    }


def _isolated(
    rows: list[dict[str, Any]], registry: ModelRegistry, upstream: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``resolve_group``, fault-isolated per run: evidence whose numbers cannot be
    computed (an overflow, a config no counting rule accepts) gives this run a flag and
    no figure, and every other run goes on."""
    try:
        run = resolve_group(rows, registry, upstream)
        for column, value in run.items():
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise OverflowError(f"{column} = {value:.3e} does not fit a whole-number column")
        return run
    except (ArithmeticError, ParseError) as exc:
        failed = dict.fromkeys(RESOLVED_RUNS.names)
        job_name = _first(rows, "identity", "job_name")
        failed.update(
            {
                "run_key": job_name or _order(rows, "identity")[0]["run_id"],
                "member_run_ids": [r["run_id"] for r in rows],
                "job_name": job_name,
                "model_id": _first(rows, "model_id", "model_id"),
                "base_model_raw": _first(rows, "model", "base_model"),
                "base_model_basis": "unresolved",
                "tokens_basis": "unknown",
                "tokens_evidence": "[]",
                "reported": "[]",
                "flags": ["resolution_failed"],
                "notes": [f"this run's evidence could not be computed: {exc}"],
                "evidence_uris": sorted({r["source_uri"] for r in rows}),
                "evidence_kinds": sorted({r["source_format"] for r in rows}),
                "resolver_version": RESOLVER_VERSION,
            }
        )
        return failed


def _produced_names(resolved: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each run by the names of what it produced: model id (also its last path part) and
    job name, lowercased; a name two runs share names neither."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in resolved:
        names = {run.get("model_id"), run.get("job_name")}
        for name in list(names):
            if isinstance(name, str) and "/" in name:
                names.add(name.rstrip("/").rsplit("/", 1)[-1])
        for name in names:
            if isinstance(name, str) and name.strip():
                found[name.strip().lower()].append(run)
    return {name: runs[0] for name, runs in found.items() if len(runs) == 1}


def _upstream_of(
    run: Mapping[str, Any], produced: Mapping[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The run whose output ``run``'s base model names (by id, path tail or job)."""
    raw = run.get("base_model_raw") or run.get("base_model")
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip().rstrip("/")
    tail = re.split(r"[\\/]", text)[-1]
    for name in (text, tail):
        other = produced.get(name.lower())
        if other is not None and other["run_key"] != run["run_key"]:
            return other
    return None


def resolve_runs(con: duckdb.DuckDBPyConnection, registry: ModelRegistry | None = None) -> int:
    """Rebuild ``resolved_runs`` from ``training_runs`` in one transaction.

    Returns:
        The number of logical runs.
    """
    registry = registry or default_registry()
    registry.completions.load(con)
    evidence = con.sql("SELECT * FROM training_runs ORDER BY run_id").to_arrow_table().to_pylist()
    # A tracker's parent run that other rows name as their parent is a campaign, not a
    # training run: its children carry the work (their lineage still uses the link).
    parents = {row["parent_run_id"] for row in evidence if row.get("parent_run_id")}
    evidence = [
        row
        for row in evidence
        if row["run_id"] not in parents or row.get("steps") or row.get("tokens")
    ]
    ranks = evidence_ranks(con)
    for row in evidence:
        if isinstance(row.get("tags"), dict):
            row["tags"] = list(row["tags"].items())
        row["_ranks"] = ranks.get(row["source_format"], {})
    groups = group_rows(evidence)
    resolved = [_isolated(group, registry, None) for group in groups]
    # Lineage without declarations: a run whose base model is another run's output (its
    # model id, job name or output folder) starts from that run; it takes that run's base.
    # Chains (stage 1 -> stage 2 -> stage 3) settle one link per pass.
    for _ in range(len(resolved)):
        produced = _produced_names(resolved)
        changed = False
        for index, run in enumerate(resolved):
            if run["base_model_catalog"]:
                continue
            upstream = _upstream_of(run, produced)
            if upstream is not None and upstream["base_model_catalog"]:
                resolved[index] = _isolated(groups[index], registry, upstream)
                changed = True
        if not changed:
            break
    table = pa.Table.from_pylist(resolved, schema=RESOLVED_RUNS)
    con.execute("BEGIN TRANSACTION")
    try:
        registry.completions.save(con)
        con.execute("DELETE FROM resolved_runs")
        record_digest(con, RESOLVE_DIGEST, resolution_digest(con, registry))
        con.register("_resolved", table)
        try:
            con.execute(
                "INSERT INTO resolved_runs BY NAME SELECT *, now() AS resolved_at FROM _resolved"
            )
        finally:
            con.unregister("_resolved")
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return len(resolved)


def needs_resolving(con: duckdb.DuckDBPyConnection, registry: ModelRegistry | None = None) -> bool:
    """Whether ``resolved_runs`` does not describe ``training_runs`` as ``registry``
    resolves it: missing (or left over from evidence since removed), built by an older
    resolver, older than the last load of training runs (an ingest that committed its
    units but failed before resolving, e.g. on a full disk), or built from other evidence
    rows, ranks, ``[models]`` or shipped catalog (:func:`resolution_digest`)."""
    rows = con.execute(
        "SELECT (SELECT count(*) FROM training_runs), (SELECT count(*) FROM resolved_runs), "
        "(SELECT coalesce(min(resolver_version), 0) FROM resolved_runs), "
        "coalesce((SELECT max(resolved_at) FROM resolved_runs) < (SELECT max(loaded_at) "
        "FROM ingest_ledger WHERE target_table = 'training_runs'), false)"
    ).fetchall()
    runs, resolved, version, stale = rows[0]
    if not runs:
        return bool(resolved)  # the evidence is gone: so must its runs be
    if resolved == 0 or version != RESOLVER_VERSION or bool(stale):
        return True
    digest = resolution_digest(con, registry or default_registry())
    return stored_digest(con, RESOLVE_DIGEST) != digest


def resolution_digest(con: duckdb.DuckDBPyConnection, registry: ModelRegistry) -> str:
    """What resolution reads, as one sha256: every ``training_runs`` row (a row changed
    outside an ingest counts too), the formats' ranks, and the registry's configuration
    and shipped catalog (``ModelRegistry.digest``)."""
    (count, rows) = con.execute(
        "SELECT count(*), CAST(coalesce(sum(hash(t)), 0) AS VARCHAR) FROM training_runs t"
    ).fetchone() or (0, "0")
    text = json.dumps([RESOLVER_VERSION, registry.digest, count, rows, evidence_ranks(con)])
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_resolved(con: duckdb.DuckDBPyConnection, registry: ModelRegistry | None = None) -> int:
    """Resolve logical runs before an estimate unless ``resolved_runs`` already holds what
    :func:`resolve_runs` would write (:func:`needs_resolving`), so evidence is resolved
    once per change; with the Hub look-up on, always (the Hub's answers can change while
    nothing here does).

    Returns:
        The number of logical runs.
    """
    registry = registry or default_registry()
    if registry.hub is not None or needs_resolving(con, registry):
        return resolve_runs(con, registry)
    (count,) = con.execute("SELECT count(*) FROM resolved_runs").fetchone() or (0,)
    return int(count)
