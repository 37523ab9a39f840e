"""The training formats' kit: what experiment trackers (W&B, MLflow) record about a
Hugging Face Trainer run, and the value readers and row checks every training format uses.

Both trackers receive the same values from transformers' integration callbacks
(``transformers/integrations/integration_utils.py``): ``TrainingArguments.to_dict()``
merged over the model's ``config.to_dict()`` (arguments win on a name clash), and the
Trainer's log entries as metrics. This module turns those key/value pairs into
``training_runs`` columns the same way for every tracker; the tracker modules only
find the values in their own files.

MLflow stores parameters as strings (``"4"``, ``"True"``, ``"None"``), W&B keeps YAML
types, so every reader here accepts both. A value of the wrong kind is a ParseError
naming the key: a tracker file with a non-numeric batch size is damaged, not data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from connectors.formats.values import INT64_MAX, check_int64
from reconcile.catalog import AcceleratorMatch, load_catalog
from reconcile.errors import ParseError
from reconcile.limits import MAX_REPORTED_FLOPS, MAX_RUNTIME_SECONDS, MAX_TOKENS

#: Folder names that say nothing about the job (shared with hf_checkpoint): the job name
#: is the nearest other folder of ``output_dir``.
GENERIC_DIRS = frozenset(
    {
        "",
        "output",
        "outputs",
        "model",
        "models",
        "final",
        "checkpoints",
        "results",
        "artifacts",
        "opt",
        "ml",
        "tmp",
        "mnt",
        "workspace",
    }
)
_CHECKPOINT_DIR = re.compile(r"^checkpoint-\d+$")
# A numbered folder ("run1", "trial-3") says little alone: it keeps its parent.
_NUMBERED_DIR = re.compile(
    r"^(run|trial|seed|attempt|try|exp|experiment|v|version|part)[-_]?\d+$", re.IGNORECASE
)
#: A Hub repository id ("org/name"); local paths and bare names are not resolvable ids.
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

#: Keys a team can set (W&B config, MLflow tag or param) to state a column directly;
#: the first alias present wins. Documented in docs/formats.md.
HINTS: dict[str, tuple[str, ...]] = {
    "job_name": ("job_name", "training_job_name", "sagemaker_job_name"),
    "platform": ("platform", "cloud"),
    "model_id": ("model_id", "hub_model_id"),
    "method": ("method", "finetuning_method"),
    "objective": ("objective",),
    "num_nodes": ("num_nodes", "nnodes", "num_machines"),
    "gpus_per_node": ("gpus_per_node", "nproc_per_node"),
    "world_size": ("world_size",),
    "accelerator": ("accelerator", "gpu_type"),
    "instance_type": ("instance_type",),
    "instance_count": ("instance_count",),
}

#: Sequence-length keys, in order of trust: TRL's SFTConfig ``max_seq_length``, the
#: ``block_size``/``max_seq_len`` arguments of the HF and torchtune example scripts.
#: ``max_length`` only counts next to TRL's keys: in a plain model config it is the
#: generation default (20), not the training length.
_SEQ_LEN_KEYS = ("max_seq_length", "max_seq_len", "seq_len", "seq_length", "block_size")
_TRL_MARKERS = ("max_prompt_length", "packing", "dataset_text_field", "completion_only_loss")

#: Ubuntu cloud kernel flavours in ``uname -r`` (linux-aws, linux-gcp, linux-gke,
#: linux-azure), as W&B records them in ``os``; Amazon Linux kernels end in ``amzn2``.
_KERNEL_PLATFORMS = (
    (re.compile(r"-(gcp|gke)\b"), "gcp"),
    (re.compile(r"-aws\b|\.amzn\d"), "aws"),
    (re.compile(r"-azure\b"), "azure"),
)

_NONE_STRINGS = frozenset({"", "none", "null"})


def is_none(value: Any) -> bool:
    """Whether a logged value means "not set" (None, or MLflow's string ``"None"``)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE_STRINGS)


#: Most bytes read of a file that describes a run rather than logs it (a model or W&B
#: config, a job description, a summary, a model card): real ones are kilobytes, so a
#: bigger one is refused before it is parsed (whole-object reads otherwise stop at 512 MiB).
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
#: Most bytes of one MLflow param, tag or meta.yaml file (MLflow caps values at 8,000
#: characters).
MAX_TRACKER_VALUE_BYTES = 1024 * 1024
#: Most values a YAML document may expand to: its aliases are shared by reference when
#: loaded, but walking or serialising them expands every one ("billion laughs").
MAX_YAML_VALUES = 1_000_000


def number(value: Any, uri: str, key: str) -> float | None:
    """A finite number from a logged value (int, float or numeric string)."""
    if is_none(value):
        return None
    if isinstance(value, bool):
        raise ParseError(uri, f"{key!r} should be a number, got {value!r}")
    try:
        if isinstance(value, str):
            result = float(value.strip())
        elif isinstance(value, (int, float)):
            result = float(value)
        else:
            raise ParseError(uri, f"{key!r} should be a number, got {type(value).__name__}")
    except ValueError:
        raise ParseError(uri, f"{key!r} should be a number, got {value!r}") from None
    except OverflowError:  # an integer beyond any float
        raise ParseError(uri, f"{key!r} is not finite ({value!r:.40})") from None
    if not math.isfinite(result):
        raise ParseError(uri, f"{key!r} is not finite ({value!r})")
    return result


def count(value: Any, uri: str, key: str) -> int | None:
    """A non-negative whole number from a logged value."""
    result = number(value, uri, key)
    if result is None:
        return None
    if result < 0 or result != int(result):
        raise ParseError(uri, f"{key!r} should be a non-negative whole number, got {value!r}")
    if result > INT64_MAX:
        raise ParseError(uri, f"{key!r} is too large ({value!r})")
    return int(result)


def load_json(text: str | bytes, uri: str) -> Any:
    """JSON text into Python values; invalid or absurdly nested JSON is a ParseError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(uri, f"invalid JSON: {exc.msg}", f"line {exc.lineno}") from exc
    except UnicodeDecodeError as exc:
        raise ParseError(uri, f"not UTF-8 text (byte {exc.start})") from exc
    except RecursionError:
        raise ParseError(uri, "invalid JSON: nested too deeply") from None


def load_yaml(text: str, uri: str, what: str = "YAML") -> Any:
    """A YAML document (safe types only) into Python values.

    Raises:
        ParseError: invalid YAML, nesting too deep, a recursive alias, or aliases that
            expand to more than ``MAX_YAML_VALUES`` values.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParseError(uri, f"{what} is not valid YAML: {' '.join(str(exc).split())}") from exc
    except RecursionError:
        raise ParseError(uri, f"{what} is nested too deeply") from None
    check_yaml_value(value, uri, what)
    return value


def check_yaml_value(value: Any, uri: str, what: str = "YAML") -> None:
    """Refuse a loaded YAML value that contains itself or expands past ``MAX_YAML_VALUES``.

    Raises:
        ParseError: naming ``what``.
    """
    try:
        size = _expanded_size(value, {}, set())
    except RecursionError:
        raise ParseError(uri, f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise ParseError(uri, f"{what} {exc}") from None
    if size > MAX_YAML_VALUES:
        raise ParseError(uri, f"{what} expands to more than {MAX_YAML_VALUES:,} values")


#: Training facts and the largest value each can take (reconcile.schemas).
_TRAINING_LIMITS = {
    "tokens": float(MAX_TOKENS),
    "reported_flops": MAX_REPORTED_FLOPS,
    "runtime_seconds": MAX_RUNTIME_SECONDS,
    "steps": float(MAX_TOKENS),
    "epochs": 1e6,
    "params_total": 1e15,
    "params_trainable": 1e15,
    "params_active": 1e15,
}


def check_row(row: Mapping[str, Any], uri: str, where: str | None = None) -> None:
    """Refuse a training row with a whole number no INT64 column holds, or with a fact
    no real run has (``check_int64``, then ``check_training_ranges``).

    Raises:
        ParseError: the first such column.
    """
    check_int64(row, uri, where)
    check_training_ranges(row, uri, where)


def check_training_ranges(row: Mapping[str, Any], uri: str, where: str | None = None) -> None:
    """Refuse a training row whose facts no real run has: a negative token count, FLOP
    figure or runtime, or one beyond any training on record (``total_flos: 1e308``),
    naming the field and the value — so that one broken file is quarantined instead of
    poisoning every later estimate.

    Raises:
        ParseError: the first such field.
    """
    for column, limit in _TRAINING_LIMITS.items():
        value = row.get(column)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if value != value or value < 0:  # NaN or negative
            raise ParseError(uri, f"{column} should be a non-negative number, got {value!r}", where)
        if value > limit:
            raise ParseError(uri, f"{column} is out of range ({value:.3e})", where)


def _expanded_size(value: Any, memo: dict[int, int], active: set[int]) -> int:
    """Values in ``value`` with every alias expanded (each shared node counted once per
    use, computed once); raises ValueError for a node that contains itself."""
    if not isinstance(value, (dict, list)):
        return 1
    key = id(value)
    if key in memo:
        return memo[key]
    if key in active:
        raise ValueError("contains itself through an alias")
    active.add(key)
    children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1
    for child in children:
        total += _expanded_size(child, memo, active)
        if total > MAX_YAML_VALUES:
            break
    active.discard(key)
    memo[key] = total
    return total


def flag(value: Any, uri: str, key: str) -> bool | None:
    """A boolean from a logged value (``True``/``"True"``/``"false"``...)."""
    if is_none(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ParseError(uri, f"{key!r} should be true or false, got {value!r}")


def text(value: Any) -> str | None:
    """A logged value as a stripped string; None when unset."""
    if is_none(value):
        return None
    return str(value).strip()


def from_epoch(seconds: float, uri: str, key: str) -> datetime:
    """A UTC timestamp from seconds since the epoch.

    Raises:
        ParseError: outside the years 1 to 9999.
    """
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise ParseError(uri, f"{key!r} is not a plausible time ({seconds!r})") from None


def parse_iso(value: Any, uri: str, key: str) -> datetime | None:
    """An ISO-8601 timestamp; trackers write UTC, so one without an offset is UTC."""
    if is_none(value):
        return None
    if not isinstance(value, str):
        raise ParseError(uri, f"{key!r} should be an ISO-8601 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO-8601, or past year 9999 once in UTC
        raise ParseError(uri, f"{key!r} is not an ISO-8601 timestamp: {value!r}") from None


def hint(sources: Sequence[Mapping[str, Any]], column: str) -> tuple[str | None, str | None]:
    """The value a team stated for ``column`` and the key it came from.

    ``sources`` are searched in order (e.g. MLflow tags before params).
    """
    for source in sources:
        for alias in HINTS[column]:
            value = text(source.get(alias))
            if value:
                return value, alias
    return None, None


def path_job_name(path: str | None) -> str | None:
    """The job a path names: the last folder that is not generic or ``checkpoint-N``; a
    numbered one (``run1``) keeps its parent (``mistral-cpt/run1``), so that unrelated
    projects' ``run1`` stay apart. Used for run folders and trackers' ``output_dir`` alike.
    """
    if not path:
        return None
    parts = [
        p
        for p in path.replace("\\", "/").split("/")
        if p and p.lower() not in GENERIC_DIRS and not _CHECKPOINT_DIR.match(p)
    ]
    if not parts:
        return None
    if _NUMBERED_DIR.match(parts[-1]) and len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def job_name(
    args: Mapping[str, Any],
    hinted: tuple[str | None, str | None],
    tracker_name: str | None,
    tracker_label: str,
) -> tuple[str | None, str | None]:
    """The training job's name and where it came from.

    Rule: a stated ``job_name`` hint; else the last meaningful folder of
    ``output_dir`` (the same name the checkpoint folder gives the run); else
    ``run_name`` (its last meaningful folder when it is a path, as transformers
    defaults it to ``output_dir``); else the tracker's own run name.
    """
    value, alias = hinted
    if value:
        return value, f"hint:{alias}"
    from_output = path_job_name(text(args.get("output_dir")))
    if from_output:
        return from_output, "output_dir"
    run_name = text(args.get("run_name"))
    if run_name:
        name = path_job_name(run_name) if "/" in run_name else run_name
        if name:
            return name, "run_name"
    if tracker_name:
        name = path_job_name(tracker_name) if "/" in tracker_name else tracker_name
        if name:
            return name, tracker_label
    return None, None


def base_model(
    candidates: list[tuple[Any, str]], attributes: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The first candidate that is a Hub repo id, with its basis.

    When none is (local paths, bare names), the first goes to
    ``attributes['base_model_raw']`` for central resolution; when candidates differ,
    all of them go to ``attributes['base_model_candidates']``.
    """
    names: list[tuple[str, str]] = []
    for value, basis in candidates:
        name = text(value)
        if name and name not in [n for n, _ in names]:
            names.append((name, basis))
    if len(names) > 1:
        attributes["base_model_candidates"] = [n for n, _ in names]
    for name, basis in names:
        if REPO_ID.match(name):
            return name, basis
    if names:
        attributes["base_model_raw"] = names[0][0]
    return None, None


def seq_len(args: Mapping[str, Any], uri: str) -> tuple[int | None, str | None]:
    """Training sequence length and the key it came from."""
    for key in _SEQ_LEN_KEYS:
        value = count(args.get(key), uri, key)
        if value:
            return value, key
    if any(marker in args for marker in _TRL_MARKERS):
        value = count(args.get("max_length"), uri, "max_length")
        if value:
            return value, "max_length"
    return None, None


def precision(args: Mapping[str, Any], uri: str) -> str | None:
    """``bf16``/``fp16`` from the mixed-precision flags, else the weights' dtype."""
    if flag(args.get("bf16"), uri, "bf16"):
        return "bf16"
    if flag(args.get("fp16"), uri, "fp16"):
        return "fp16"
    return text(args.get("torch_dtype")) or text(args.get("dtype"))


def peft_method(
    peft: Mapping[str, Any] | None, args: Mapping[str, Any], uri: str
) -> tuple[str | None, dict[str, Any]]:
    """``lora``/``qlora``/... from a logged PEFT config or TRL's ModelConfig arguments.

    Returns the method (None when nothing says PEFT) and the adapter settings.
    """
    quantized = bool(
        flag(args.get("load_in_4bit"), uri, "load_in_4bit")
        or flag(args.get("load_in_8bit"), uri, "load_in_8bit")
    )
    quant = args.get("quantization_config")
    if isinstance(quant, Mapping):
        quantized = quantized or bool(quant.get("load_in_4bit") or quant.get("load_in_8bit"))
    if peft:
        method = str(peft.get("peft_type", "lora")).lower()
        keys = ("r", "lora_alpha", "target_modules", "use_dora", "use_rslora")
        settings = {k: peft[k] for k in keys if k in peft}
        return ("qlora" if method == "lora" and quantized else method), settings
    if flag(args.get("use_peft"), uri, "use_peft") or not is_none(args.get("lora_r")):
        settings = {
            k.removeprefix("lora_"): args[k]
            for k in ("lora_r", "lora_alpha", "lora_target_modules")
            if not is_none(args.get(k))
        }
        for key in ("r", "alpha"):
            if key in settings:
                settings[key] = count(settings[key], uri, f"lora_{key}")
        return ("qlora" if quantized else "lora"), settings
    return None, {}


def platform_from(
    hinted: tuple[str | None, str | None],
    *,
    program: str | None = None,
    os_name: str | None = None,
    slurm: bool = False,
    instance_type: str | None = None,
) -> tuple[str | None, str | None]:
    """The platform and the evidence for it, strongest first."""
    value, alias = hinted
    if value:
        return value.lower(), f"hint:{alias}"
    if program and program.startswith("/opt/ml/"):
        return "aws-sagemaker", "program under /opt/ml/ (SageMaker container)"
    if instance_type and instance_type.lower().startswith("ml."):
        return "aws-sagemaker", "SageMaker instance type"
    if slurm:
        return "slurm", "SLURM_* environment"
    if os_name:
        for pattern, name in _KERNEL_PLATFORMS:
            if pattern.search(os_name.lower()):
                return name, f"kernel flavour in os ({os_name})"
    return None, None


def accelerator_key(name: str | None) -> str | None:
    """The catalog key of an accelerator name as people write it ("A100 80GB", "H100
    SXM", "ml.p4d.24xlarge"), None when unknown. A name that fits several catalog rows
    ("H100": SXM, PCIe or NVL) is kept as written, normalised: the estimator gives it a
    band over its candidates (``Catalog.resolve_accelerator``)."""
    found = accelerator_match(name)
    if found is None:
        return None
    unique = found.unique
    if unique is not None:
        return unique.key
    return " ".join(str(name).split())


def accelerator_match(name: str | None) -> AcceleratorMatch | None:
    """Every catalog row ``name`` can mean, with a count written in it ("8x A100")."""
    return load_catalog().resolve_accelerator(name)


def instance_hardware(instance_type: str | None) -> tuple[str | None, float | None]:
    """(accelerator key, accelerators per instance) of a catalog instance type."""
    catalog = load_catalog()
    found = catalog.instance(instance_type)
    if found is None:
        return None, None
    return found.accelerator_key, found.accelerators_per_instance


def parameter_sharding(args: Mapping[str, Any]) -> str | None:
    """``fsdp`` when the trainer arguments shard parameters with FSDP (``fsdp`` set to a
    sharding strategy): the Trainer then counts only the local shard in ``total_flos``
    (transformers' ``num_parameters`` on the wrapped model)."""
    value = args.get("fsdp")
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    if isinstance(value, str) and ("shard" in value.lower() or value.lower() == "true"):
        return "fsdp"
    if value is True:
        return "fsdp"
    return None


def objective_from_metrics(keys: Iterable[str]) -> str | None:
    """The training objective from the metric names a trainer logged (TRL's trainers each
    log their own; see trl/trainer/*_trainer.py): GRPO ``completions/mean_length`` or
    ``completion_length`` with ``reward_std``; PPO/RLOO/online DPO ``objective/kl``; ORPO
    ``log_odds_ratio``; KTO ``kl`` beside ``rewards/``; CPO/SimPO ``nll_loss`` beside
    ``rewards/``; DPO ``rewards/chosen``; SFT ``num_tokens``/``mean_token_accuracy``."""
    names = {k.removeprefix("train/") for k in keys}
    if any(k.startswith("completions/") or k == "completion_length" for k in names) and (
        "reward" in names or "reward_std" in names or any(k.startswith("rewards/") for k in names)
    ):
        return "grpo"
    if "objective/kl" in names or "objective/rlhf_reward" in names:
        if any(k.startswith("val/") or k.startswith("loss/value") for k in names):
            return "ppo"
        if "objective/scores" in names and "rewards/chosen" in names:
            return "online_dpo"
        return "rloo" if "objective/rlhf_reward" in names else "ppo"
    preference = any(k.startswith("rewards/") for k in names)
    if "log_odds_ratio" in names or "log_odds_chosen" in names or "odds_ratio_loss" in names:
        return "orpo"
    if preference and "kl" in names:
        return "kto"
    if preference and "nll_loss" in names:
        return "cpo"
    if "rewards/chosen" in names or "rewards/margins" in names or "rewards/accuracies" in names:
        return "dpo"
    if any(k in ("num_tokens", "mean_token_accuracy") for k in names):
        return "sft"
    return None


def accelerators(
    *,
    gpu_name: str | None,
    gpu_count: int | None,
    nodes: int | None,
    nodes_basis: str | None,
    world_size: int | None,
    instance_type: str | None,
    instance_count: int | None,
    attributes: dict[str, Any],
) -> tuple[str | None, int | None]:
    """The accelerator (catalog key) and the total number of accelerators.

    ``gpu_count`` is per node (trackers see only the node of rank 0). The total is,
    in order: nodes × GPUs per node; the number of ranks when it is at least one node's
    GPUs (one rank per GPU, as DDP, FSDP and DeepSpeed run); instances × the catalog's
    accelerators per instance; one node's GPUs, recorded as a lower bound. The rule
    used goes to ``attributes['accelerator_count_basis']``.
    """
    accelerator = accelerator_key(gpu_name)
    if gpu_name and accelerator is None:
        attributes["accelerator_raw"] = gpu_name
    per_instance: float | None = None
    if instance_type:
        from_instance, per_instance = instance_hardware(instance_type)
        accelerator = accelerator or from_instance
    total: int | None = None
    basis = ""
    if nodes and gpu_count:
        total, basis = nodes * gpu_count, f"{nodes_basis} × GPUs per node"
        attributes["nodes"] = nodes
    elif world_size and gpu_count and world_size >= gpu_count:
        total, basis = world_size, "world_size (one rank per GPU)"
        if world_size % gpu_count == 0:
            attributes["nodes"] = world_size // gpu_count
    elif instance_count and per_instance:
        total, basis = round(instance_count * per_instance), "instance_count × catalog"
    elif gpu_count:
        total, basis = gpu_count, "GPUs of the logging node (node count unknown: a lower bound)"
    if total is not None:
        attributes["accelerator_count_basis"] = basis
    return accelerator, total
