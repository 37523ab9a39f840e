"""Hugging Face Trainer output folders (``trainer_state.json`` and its neighbours).

A run's output folder holds ``checkpoint-<step>/trainer_state.json`` for every save
and, after ``save_state()``, a final ``trainer_state.json`` at its root next to
``train_results.json``/``all_results.json``. The whole folder is one unit and becomes
one ``training_runs`` row, taken from the state with the highest ``global_step``
(the root one on a tie), so a run is never counted once per checkpoint.

Sidecars read when present, in the chosen state's folder or the run folder:
``config.json`` (architecture, dtype, ``_name_or_path``), ``adapter_config.json``
(PEFT: base model, LoRA rank and targets), ``README.md`` (model card YAML front
matter: ``base_model``, tags, model name), ``train_results.json``/``all_results.json``,
and the JSON headers of ``*.safetensors`` files (exact parameter counts, fetched with
ranged reads; the tensors themselves are never downloaded).
``training_args.bin`` is a pickle and is never read.

Field meanings follow transformers' ``TrainerState`` (trainer_callback.py) and
``Trainer`` (trainer.py): ``total_flos`` is 6 × input tokens (padding included) ×
non-embedding parameters of the whole model, summed over data-parallel ranks, and 0
when the model does not report ``floating_point_ops`` (TRL's DPO trainer);
``num_input_tokens_seen`` is summed over ranks and cumulative over epochs;
``train_batch_size`` is per device.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
import struct
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa

from connectors.formats.base import MAX_OBJECT_BYTES, Parser, Unit, UnitReader
from connectors.formats.training.kit import (
    MAX_SIDECAR_BYTES,
    REPO_ID,
    check_training_ranges,
    load_json,
    load_yaml,
    objective_from_metrics,
    path_job_name,
)
from connectors.formats.training.run_folder import (
    card_hyperparameters,
    is_lfs_pointer,
    tool_settings,
    trainer_log,
)
from connectors.formats.values import INT64_MAX
from connectors.stores.base import ObjectInfo, Store
from reconcile.errors import ParseError
from reconcile.limits import model_shape_problem
from reconcile.schemas import TRAINING_RUNS, conform

STATE_FILE = "trainer_state.json"
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
#: Files that make a folder a training output folder even without a trainer state.
_RESULT_FILES = frozenset({"train_results.json", "all_results.json", "trainer_log.jsonl"})
_SIDECARS = frozenset(
    {
        "config.json",
        "adapter_config.json",
        "README.md",
        "train_results.json",
        "all_results.json",
        "eval_results.json",
        "predict_results.json",
        "trainer_log.jsonl",
        "model.safetensors.index.json",
    }
)
# A Hub repository id ("org/name"); local paths and bare names are not resolvable ids.
_TRL_OBJECTIVE_TAGS = ("dpo", "orpo", "kto", "cpo", "ppo", "grpo", "rloo", "sft", "reward-trainer")
# safetensors: 8-byte little-endian header length, then a JSON header.
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
#: Training-argument YAML files read beside a run (LLaMA-Factory, axolotl); others are
#: read only when small and shaped like trainer arguments.
_MAX_YAML_BYTES = 256 * 1024


def _is_state(key: str) -> bool:
    return posixpath.basename(key) == STATE_FILE


def _is_yaml(key: str) -> bool:
    return key.endswith((".yaml", ".yml"))


def _is_member(key: str) -> bool:
    name = posixpath.basename(key)
    return (
        name == STATE_FILE or name in _SIDECARS or name.endswith(".safetensors") or _is_yaml(name)
    )


def _run_dir(state_dir: str) -> str:
    """The run's output folder for a folder holding a trainer_state.json."""
    if _CHECKPOINT_DIR.match(posixpath.basename(state_dir)):
        return posixpath.dirname(state_dir)
    return state_dir


def _inside(folder: str, parent: str) -> bool:
    """Whether ``folder`` is ``parent`` or below it."""
    return folder == parent or folder.startswith(parent.rstrip("/") + "/") or parent == ""


def _common(a: str, b: str) -> str:
    """The deepest folder holding both ``a`` and ``b`` ("" for the listing root)."""
    return posixpath.commonpath([a, b]) if a and b else ""


def _alone_under(folder: str, run_dirs: set[str]) -> bool:
    """Whether exactly one run folder lies at or below ``folder``."""
    return sum(1 for r in run_dirs if _inside(r, folder)) == 1


def _job_name(run_dir: str) -> str | None:
    """The job's name from its run folder (the rule shared with the tracker parsers)."""
    return path_job_name(run_dir)


#: What _load_json returns for a git-LFS pointer (the file's content was never fetched).
_LFS = object()


def _load_json(
    reader: UnitReader, key: str, limit: int = MAX_OBJECT_BYTES, *, lfs: list[str] | None = None
) -> Any:
    data = reader.read(key, limit=limit)
    uri = reader.uri(key)
    if lfs is not None and is_lfs_pointer(data):
        lfs.append(uri)
        return _LFS
    if not data.strip():
        raise ParseError(uri, "empty file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(uri, f"not UTF-8 text (byte {exc.start})") from exc
    return load_json(text, uri)


def _validate_state(state: Any, uri: str) -> dict[str, Any]:
    if not isinstance(state, dict):
        raise ParseError(uri, "not a Hugging Face trainer state: top level is not an object")
    for key, kind in (("global_step", int), ("log_history", list)):
        if key not in state:
            raise ParseError(uri, f"not a Hugging Face trainer state: missing key {key!r}")
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            raise ParseError(
                uri, f"{key!r} should be {kind.__name__}, got {type(state[key]).__name__}"
            )
    if not 0 <= state["global_step"] <= INT64_MAX:
        raise ParseError(uri, f"'global_step' is out of range ({state['global_step']})")
    for index, entry in enumerate(state["log_history"]):
        if not isinstance(entry, dict):
            raise ParseError(uri, "log_history entry is not an object", f"log_history[{index}]")
    # Optional counts the run split and the step figures compare: whole numbers or absent.
    for key in ("max_steps", "train_batch_size"):
        if key in state:
            state[key] = _count(state[key], uri, key)
    return state


def _number(value: Any, uri: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(uri, f"{key!r} should be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise ParseError(uri, f"{key!r} is not finite ({value!r:.40})") from None
    if not math.isfinite(number):
        raise ParseError(uri, f"{key!r} is not finite ({value!r})")
    return number


def _count(value: Any, uri: str, key: str) -> int | None:
    number = _number(value, uri, key)
    if number is None:
        return None
    if number < 0 or number != int(number):
        raise ParseError(uri, f"{key!r} should be a non-negative whole number, got {value!r}")
    if number > INT64_MAX:
        raise ParseError(uri, f"{key!r} is too large ({value!r})")
    return int(number)


def _dig(value: Any, *keys: str) -> dict[str, Any] | None:
    """The object at ``keys`` in nested objects, or None where any level is not one."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else None


def _front_matter(text: str, uri: str) -> dict[str, Any]:
    """YAML front matter of a model card (between the first two '---' lines)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ParseError(uri, "model card front matter is not closed by '---'") from None
    meta = load_yaml("\n".join(lines[1:end]), uri, "model card front matter")
    return meta if isinstance(meta, dict) else {}


#: The sentence transformers' model cards open with, naming the base.
_CARD_BASE = re.compile(
    r"fine-tuned version of \[([^\]\s]+)\]\((?:https?://huggingface\.co/([\w.-]+/[\w.-]+))?"
)
#: Tensor names of LoRA weights written by hand or by PEFT into a full checkpoint.
_LORA_TENSOR = re.compile(r"(^|\.)(lora_[AB]|lora_(up|down))(\.|$)")


def _safetensors_params(reader: UnitReader, info: ObjectInfo) -> int:
    """Number of parameters in a safetensors file, from its JSON header alone."""
    return _safetensors_counts(reader, info)[0]


def _safetensors_counts(reader: UnitReader, info: ObjectInfo) -> tuple[int, int]:
    """(all parameters, LoRA parameters) of a safetensors file, from its JSON header."""
    uri = reader.uri(info.key)
    head = reader.read_range(info.key, 0, 8)
    if len(head) < 8:
        raise ParseError(uri, "safetensors file shorter than its 8-byte header length")
    (length,) = struct.unpack("<Q", head)
    if length > _MAX_SAFETENSORS_HEADER or 8 + length > info.size:
        raise ParseError(uri, f"safetensors header length {length} is impossible for the file size")
    try:
        header = json.loads(reader.read_range(info.key, 8, length))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ParseError(uri, "safetensors header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise ParseError(uri, "safetensors header is not an object")
    total = lora = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        shape = tensor.get("shape") if isinstance(tensor, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ParseError(uri, f"tensor {name!r} has no valid shape")
        total += math.prod(shape)
        if _LORA_TENSOR.search(name):
            lora += math.prod(shape)
        if total > INT64_MAX:
            raise ParseError(uri, f"tensor {name!r} makes the parameter count impossibly large")
    return total, lora


def _log_by_step(state: dict[str, Any]) -> dict[int, tuple[Any, ...]]:
    """Training log entries by step: (loss, learning rate, epoch) of the first at each."""
    found: dict[int, tuple[Any, ...]] = {}
    for entry in state["log_history"]:
        step = entry.get("step")
        if isinstance(step, int) and "loss" in entry:
            found.setdefault(
                step, (entry.get("loss"), entry.get("learning_rate"), entry.get("epoch"))
            )
    return found


_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "float8_e4m3fn": 1, "int8": 1}


def _index_counts(index: dict[str, Any], config: dict[str, Any] | None, uri: str) -> dict[str, Any]:
    """What ``model.safetensors.index.json`` says: the parameter total (its
    ``metadata.total_parameters``, else ``total_size`` bytes ÷ the config's dtype size) and
    the LoRA tensors its weight map names."""
    metadata: dict[str, Any] = _dig(index, "metadata") or {}
    total = _count(metadata.get("total_parameters"), uri, "total_parameters")
    if total is None:
        size = _count(metadata.get("total_size"), uri, "total_size")
        dtype = str((config or {}).get("torch_dtype") or (config or {}).get("dtype") or "")
        if size and dtype in _DTYPE_BYTES:
            total = size // _DTYPE_BYTES[dtype]
    weight_map: dict[str, Any] = _dig(index, "weight_map") or {}
    lora = sorted(name for name in weight_map if _LORA_TENSOR.search(str(name)))
    return {"total": total, "lora": len(lora)}


def _split_runs(states: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Trainer states grouped by the training run that wrote them.

    Checkpoints of one run share ``max_steps`` and their logs agree wherever both logged
    the same step (each checkpoint's log extends the previous one's, a resumed run's
    too); a state whose ``max_steps`` differs, or whose log disagrees at a common step
    (the step counter restarted), was written by another run in the same folder.
    """
    runs: list[list[str]] = []
    logs = {key: _log_by_step(state) for key, state in states.items()}
    for key in sorted(states, key=lambda k: (states[k]["global_step"], k)):
        state = states[key]
        for run in runs:
            latest = run[-1]
            lengths = {state.get("max_steps"), states[latest].get("max_steps")} - {None, 0}
            common = logs[key].keys() & logs[latest].keys()
            if len(lengths) <= 1 and all(logs[key][s] == logs[latest][s] for s in common):
                run.append(key)
                break
        else:
            runs.append([key])
    return runs


def _online_rl(history: list[dict[str, Any]]) -> dict[str, Any]:
    """What an online RL log says about generation and the KL term (TRL GRPO/PPO/RLOO).

    ``kl_in_use``: a KL metric was logged with a value above zero (TRL logs ``kl`` only
    when beta > 0 in recent versions, and 0.0 with beta = 0 in early ones).
    ``completion_length_steps``: Σ over logged steps of the mean completion length ×
    the steps since the previous entry: × completions per step = generated tokens.
    """
    kl_values: list[float] = []
    for entry in history:
        value = entry.get("kl", entry.get("objective/kl"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            kl_values.append(float(value))
    out: dict[str, Any] = {"kl_in_use": any(abs(v) > 0 for v in kl_values)}
    total, previous, covered = 0.0, 0, 0
    for entry in history:
        length = entry.get("completions/mean_length", entry.get("completion_length"))
        step = entry.get("step")
        if not isinstance(length, (int, float)) or not isinstance(step, int) or step <= previous:
            continue
        total += float(length) * (step - previous)
        covered += step - previous
        previous = step
    if covered:
        out["completion_length_steps"] = total
        out["completion_steps_covered"] = covered
    return out


def _chatglm_prefix(config: dict[str, Any]) -> dict[str, Any]:
    """The prefix of a ChatGLM P-Tuning v2 config as a PEFT-style adapter config.

    ChatGLM's PrefixEncoder is an Embedding(pre_seq_len, num_layers × 2 × kv width),
    the kv width being hidden_size (ChatGLM-6B) or kv_channels × multi_query_group_num
    (ChatGLM2/3 with multi-query attention); with prefix_projection a two-layer MLP of
    hidden_size sits on a pre_seq_len × hidden_size embedding.
    """
    hidden = config.get("hidden_size")
    width = hidden
    if config.get("multi_query_attention") and config.get("kv_channels"):
        width = config["kv_channels"] * (config.get("multi_query_group_num") or 1)
    return {
        "peft_type": "PREFIX_TUNING",
        "num_virtual_tokens": config["pre_seq_len"],
        "num_layers": config.get("num_layers") or config.get("num_hidden_layers"),
        "token_dim": width,
        "prefix_projection": bool(config.get("prefix_projection")),
        "encoder_hidden_size": hidden,
        "source": "config.json pre_seq_len (ChatGLM P-Tuning v2)",
    }


class HfCheckpointParser(Parser):
    """Trainer output folders → one ``training_runs`` row per run."""

    name: ClassVar[str] = "hf_checkpoint"
    # 2: keeps config.json in attributes; 3: the whole adapter config, TRL objectives
    version: ClassVar[int] = 3
    table: ClassVar[str] = "training_runs"
    schema: ClassVar[pa.Schema] = TRAINING_RUNS
    #: The trainer's own state and config: first for steps, tokens and the model.
    priority: ClassVar[Mapping[str, int]] = {
        "identity": 6,
        "hardware": 6,
        "training": 1,
        "model": 1,
        "model_id": 2,
    }

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Group trainer states (and their sidecars) by run output folder.

        A run folder is a folder with a ``trainer_state.json`` (or whose
        ``checkpoint-N`` subfolders have one), or else one that holds what a training
        run writes without a state: ``train_results.json``/``all_results.json``,
        LLaMA-Factory's ``trainer_log.jsonl``, or an ``adapter_config.json``. Its
        members are its own files, those of its ``checkpoint-N`` subfolders (and of an
        ``adapter_model`` folder inside one, as the QLoRA scripts save it).
        """
        by_dir: dict[str, list[ObjectInfo]] = defaultdict(list)
        for info in objects:
            by_dir[posixpath.dirname(info.key)].append(info)
        run_dirs: set[str] = set()
        for folder, infos in by_dir.items():
            if any(_is_state(i.key) for i in infos):
                run_dirs.add(_run_dir(folder))
        adapter_only: set[str] = set()
        for folder, infos in sorted(by_dir.items()):
            names = {posixpath.basename(i.key) for i in infos}
            if not (names & _RESULT_FILES or "adapter_config.json" in names):
                continue
            candidate = _run_dir(folder)
            if posixpath.basename(candidate) == "adapter_model":
                candidate = _run_dir(posixpath.dirname(candidate))
            if not any(_inside(candidate, r) for r in run_dirs | adapter_only):
                if names & _RESULT_FILES:
                    run_dirs.add(candidate)
                else:
                    adapter_only.add(candidate)
        # A folder with an adapter and no training evidence (the final adapter saved
        # apart from the trainer's output folder) belongs to the run beside it when
        # that run is the only one under their common folder; else it is a run of its
        # own, without tokens.
        attached: dict[str, set[str]] = defaultdict(set)
        for folder in sorted(adapter_only):
            if any(_inside(folder, r) for r in run_dirs):
                continue
            near = [r for r in run_dirs if _alone_under(_common(folder, r), run_dirs)]
            if len(near) == 1:
                attached[near[0]].add(folder)
            else:
                run_dirs.add(folder)
        claimed: set[str] = set()
        units = []
        for run_dir in sorted(run_dirs):
            folders = {run_dir, *attached[run_dir]} | {
                f
                for f in by_dir
                if posixpath.dirname(f) == run_dir and _CHECKPOINT_DIR.match(posixpath.basename(f))
            }
            folders |= {
                f
                for f in by_dir
                if posixpath.basename(f) == "adapter_model"
                and posixpath.dirname(posixpath.dirname(f)) == run_dir
                and _CHECKPOINT_DIR.match(posixpath.basename(posixpath.dirname(f)))
            }
            # The folders above a run that hold only this run: the project folder with
            # the training config (a LLaMA-Factory or axolotl YAML) and the model card.
            above = run_dir
            while above and _alone_under(posixpath.dirname(above), run_dirs):
                above = posixpath.dirname(above)
                folders |= (
                    {above}
                    if any(
                        _is_yaml(i.key) or posixpath.basename(i.key) == "README.md"
                        for i in by_dir.get(above, [])
                    )
                    else set()
                )
            members = sorted(
                i
                for folder in folders
                for i in by_dir.get(folder, [])
                if _is_member(i.key)
                and i.key not in claimed
                and (
                    folder in (run_dir, *attached[run_dir])
                    or _CHECKPOINT_DIR.match(posixpath.basename(folder))
                    or posixpath.basename(folder) == "adapter_model"
                    or _is_yaml(i.key)
                    or posixpath.basename(i.key) == "README.md"
                )
            )
            if not members:
                continue
            claimed.update(i.key for i in members)
            units.append(Unit(uri=store.uri(run_dir), key=run_dir, members=tuple(members)))
        states, rest = self.single_units(
            store, [i for i in objects if i.key not in claimed], forced=forced
        )
        return units + states, rest

    def claims_forced(self, key: str) -> bool:
        """With ``--format hf_checkpoint`` the user said these are trainer states: every
        other JSON file (not a known sidecar) is one."""
        return key.endswith(".json") and posixpath.basename(key) not in _SIDECARS

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Parse a run folder (or a single state file) into one row per training run.

        Usually one run: the state with the highest ``global_step`` (the root one on a
        tie). Checkpoints whose ``max_steps`` differ, or whose log restarts, are separate
        runs trained into the same folder (an SFT run, then a GRPO run on it): each is
        a row. A folder without a trainer state is read from its results, LLaMA-Factory
        log and settings; one with evaluation results only holds no training (no row).
        """
        unit = reader.unit
        lfs: list[str] = []
        state_keys = [m.key for m in unit.members if _is_state(m.key)]
        if not state_keys and not any(
            posixpath.basename(m.key) in _SIDECARS or _is_yaml(m.key) for m in unit.members
        ):  # a forced single file under another name
            state_keys = [unit.members[0].key]
        states: dict[str, dict[str, Any]] = {}
        for key in state_keys:
            data = _load_json(reader, key, lfs=lfs)
            if data is not _LFS:
                states[key] = _validate_state(data, reader.uri(key))
        runs = _split_runs(states)
        if not runs:
            pseudo = self._state_from_results(reader, lfs)
            if pseudo is None:
                return conform([], self.schema)  # evaluation or prediction only
            key, state = pseudo
            states[key] = state
            runs = [[key]]
        rows = [
            self._row(reader, states, keys, runs, lfs)
            for keys in sorted(runs, key=lambda ks: ks[-1])
        ]
        for row in rows:
            check_training_ranges(row, row["source_uri"])
        return conform(rows, self.schema)

    def _state_from_results(
        self, reader: UnitReader, lfs: list[str]
    ) -> tuple[str, dict[str, Any]] | None:
        """A trainer-state-like dict from a folder without ``trainer_state.json``.

        Returns None when the folder shows no training (evaluation/prediction results
        only, or a log with no training step).
        """
        unit = reader.unit
        root = min((posixpath.dirname(m.key) for m in unit.members), key=len)

        def find(name: str) -> str | None:
            keys = [m.key for m in unit.members if posixpath.basename(m.key) == name]
            return min(keys, key=len) if keys else None

        results: dict[str, Any] = {}
        for name in ("train_results.json", "all_results.json"):
            found = self._optional_json(reader, find(name), lfs)
            if found:
                results = {**found, **results}
        log: list[dict[str, Any]] = []
        log_key = find("trainer_log.jsonl")
        if log_key:
            data = reader.read(log_key, limit=MAX_SIDECAR_BYTES)
            if is_lfs_pointer(data):
                lfs.append(reader.uri(log_key))
            else:
                log = trainer_log(data.decode("utf-8", errors="replace"), reader.uri(log_key))
        trained = any(k.startswith("train_") for k in results) or any(
            "loss" in e or "epoch" in e for e in log
        )
        has_adapter = find("adapter_config.json") is not None
        if not trained and not has_adapter:
            return None
        steps = max((e["step"] for e in log if "step" in e), default=0)
        history: list[dict[str, Any]] = [
            {k: v for k, v in e.items() if k != "step"} | {"step": e["step"]}
            for e in log
            if "step" in e
        ]
        summary = {
            k: v
            for k, v in results.items()
            if k.startswith("train_")
            or k
            in (
                "total_flos",
                "num_input_tokens_seen",
                "epoch",
            )
        }
        if summary:
            history.append(summary)
        state: dict[str, Any] = {
            "global_step": steps,
            "log_history": history,
            "max_steps": max((e.get("total_steps", 0) for e in log), default=0) or None,
            "from_results": True,
        }
        for key in ("total_flos", "num_input_tokens_seen", "epoch"):
            if key in results:
                state[key] = results[key]
        if "num_input_tokens_seen" not in state:
            seen = [e["num_input_tokens_seen"] for e in log if "num_input_tokens_seen" in e]
            if seen:
                state["num_input_tokens_seen"] = max(seen)
        elapsed = [e["elapsed_seconds"] for e in log if "elapsed_seconds" in e]
        if "train_runtime" not in summary and elapsed:
            state["elapsed_seconds"] = elapsed[-1]  # the last line: a resumed run restarts it
        key = next(
            (k for k in (find("train_results.json"), find("all_results.json"), log_key) if k),
            posixpath.join(root, "adapter_config.json") if root else "adapter_config.json",
        )
        return key, state

    def _row(
        self,
        reader: UnitReader,
        states: dict[str, dict[str, Any]],
        keys: list[str],
        runs: list[list[str]],
        lfs: list[str],
    ) -> dict[str, Any]:
        """One training run of the folder as a ``training_runs`` row."""
        unit = reader.unit
        # Latest checkpoint wins; on a tie the root state (written by save_state) wins.
        chosen_key = max(
            keys,
            key=lambda k: (
                states[k]["global_step"],
                not _CHECKPOINT_DIR.match(posixpath.basename(posixpath.dirname(k))),
            ),
        )
        state = states[chosen_key]
        state_uri = reader.uri(chosen_key)
        chosen_dir = posixpath.dirname(chosen_key)
        run_dir = _run_dir(chosen_dir) if _is_state(chosen_key) else chosen_dir
        own_dirs = [
            posixpath.dirname(k) for k in sorted(keys, key=lambda k: -states[k]["global_step"])
        ]
        if len(runs) == 1:  # every folder of the unit belongs to this run
            own_dirs += sorted({posixpath.dirname(m.key) for m in unit.members}, key=len)

        def sidecar(name: str) -> str | None:
            for folder in (chosen_dir, run_dir, *own_dirs):
                for key in (posixpath.join(folder, name) if folder else name,):
                    if any(m.key == key for m in unit.members):
                        return key
            return None

        config = self._optional_json(reader, sidecar("config.json"), lfs)
        if config is not None:
            problem = model_shape_problem(config)
            if problem:
                raise ParseError(reader.uri(sidecar("config.json") or ""), problem)
        adapter = self._optional_json(reader, sidecar("adapter_config.json"), lfs)
        results = (
            self._optional_json(reader, sidecar("train_results.json"), lfs)
            or self._optional_json(reader, sidecar("all_results.json"), lfs)
            or {}
        )
        if len(runs) > 1 and chosen_dir != run_dir:
            results = {}  # the folder's results belong to whichever run wrote them last
        card_key = sidecar("README.md")
        card: dict[str, Any] = {}
        card_settings: dict[str, Any] = {}
        if card_key:
            raw = reader.read(card_key, limit=MAX_SIDECAR_BYTES)
            text = raw.decode("utf-8", errors="replace")
            if is_lfs_pointer(raw):
                lfs.append(reader.uri(card_key))
            else:
                card = _front_matter(text, reader.uri(card_key))
                card_settings = card_hyperparameters(text)
                named = _CARD_BASE.search(text)
                if named and not card.get("base_model"):
                    # "This model is a fine-tuned version of [org/name](https://...)"
                    card = {**card, "base_model": named[2] or named[1]}
        above = tuple(
            sorted(
                {posixpath.dirname(m.key) for m in unit.members} - {chosen_dir, run_dir, *own_dirs},
                key=len,
                reverse=True,
            )
        )
        settings = self._tool_settings(reader, (chosen_dir, run_dir, *above), lfs)

        history = state["log_history"]
        summary = next((e for e in reversed(history) if "train_runtime" in e), None)
        attributes: dict[str, Any] = {
            "state_file": state_uri,
            "checkpoints": sorted(states[k]["global_step"] for k in keys),
            "state_modified_at": unit.member(chosen_key).modified_at.isoformat()
            if any(m.key == chosen_key for m in unit.members)
            else None,
        }
        if state.get("from_results"):
            attributes["no_trainer_state"] = True
        if lfs:
            attributes["git_lfs_pointers"] = sorted(set(lfs))
        if settings.get("tool"):
            attributes["tool"] = settings["tool"]
        for key in ("packing", "max_steps"):
            if settings.get(key) is not None:
                attributes[key] = settings[key]
        max_len = settings.get("seq_len")
        if max_len:
            attributes["max_seq_len"] = max_len

        tokens, tokens_source = self._tokens(state, history, state_uri)
        if tokens_source:
            attributes["tokens_source"] = tokens_source
        total_flos = _number(state.get("total_flos"), state_uri, "total_flos")
        if not total_flos and summary is not None:
            total_flos = _number(summary.get("total_flos"), state_uri, "log_history total_flos")
        if total_flos is not None and total_flos < 0:
            raise ParseError(state_uri, f"'total_flos' is negative ({total_flos!r})")
        if total_flos == 0.0:
            attributes["total_flos_zero"] = True  # not computed (e.g. TRL DPO), not zero work
        runtime = _number(
            (summary or {}).get("train_runtime", results.get("train_runtime")),
            state_uri,
            "train_runtime",
        )
        if runtime is not None and runtime < 0:
            raise ParseError(state_uri, f"'train_runtime' is negative ({runtime!r})")
        if runtime is None and state.get("elapsed_seconds"):
            runtime = float(state["elapsed_seconds"])

        base_model, basis, candidates = self._base_model(adapter, card, config)
        if settings.get("base_model"):
            candidates.append(settings["base_model"])
            if base_model is None and REPO_ID.match(settings["base_model"]):
                base_model, basis = settings["base_model"], "training_arguments"
        if candidates:
            attributes["base_model_candidates"] = list(dict.fromkeys(candidates))
        method = None
        if adapter is not None:
            method = str(adapter.get("peft_type", "lora")).lower()
            if method == "lora" and adapter.get("use_dora"):
                method = "dora"
            if config and isinstance(config.get("quantization_config"), dict):
                quant = config["quantization_config"]
                if quant.get("load_in_4bit") or quant.get("load_in_8bit"):
                    method = "qlora"
            # The whole adapter config (a few hundred bytes): every PEFT method's size
            # settings are counted centrally (reconcile/adapters.py).
            attributes["adapter"] = adapter
        elif settings.get("method"):
            method = settings["method"]
            if settings.get("adapter"):
                attributes["adapter"] = settings["adapter"]
        elif config is not None and isinstance(config.get("pre_seq_len"), int):
            # ChatGLM's P-Tuning v2 (THUDM/ChatGLM-6B ptuning/): a prefix encoder in the
            # model itself, the backbone frozen; sizes from its PrefixEncoder
            method = "prefix_tuning"
            attributes["adapter"] = _chatglm_prefix(config)
        elif config is not None:
            method = "full"
        if config is not None:
            # The whole config (a few KB) lets parameters be counted centrally.
            attributes["config"] = config
        result_keys = [k.removeprefix("eval_").removeprefix("train_") for k in results]
        objective = self._objective([*history, dict.fromkeys(result_keys)], card) or settings.get(
            "objective"
        )
        if objective == "dpo" and settings.get("objective") in ("orpo", "simpo", "ipo"):
            objective = settings["objective"]
        if objective in ("grpo", "ppo", "rloo", "online_dpo"):
            attributes.update(_online_rl(history))

        params_total, params_trainable, params_basis = self._params(
            reader, chosen_dir, run_dir, adapter is not None
        )
        index = self._optional_json(reader, sidecar("model.safetensors.index.json"), lfs)
        if index is not None:
            found = _index_counts(
                index, config, reader.uri(sidecar("model.safetensors.index.json") or "")
            )
            if found["lora"] and adapter is None:
                params_basis = params_basis or "safetensors_index"
                attributes["lora_tensors_in_checkpoint"] = found["lora"]
                method = "lora" if method in (None, "full") else method
            if params_total is None and found["total"]:
                params_total, params_basis = found["total"], "safetensors_index"
        if params_basis == "safetensors_header_lora":
            attributes["lora_tensors_in_checkpoint"] = True
            method, params_basis = "lora", "safetensors_header"
        if method == "full" and params_trainable is None:
            params_trainable = params_total

        card_tags: list[Any] = card["tags"] if isinstance(card.get("tags"), list) else []
        model_id = card.get("model_name") or self._model_index_name(card)
        precision = None
        if config:
            precision = config.get("torch_dtype") or config.get("dtype")
        precision = precision or settings.get("precision")
        should_stop = _dig(state, "stateful_callbacks", "TrainerControl", "args")
        should_stop = should_stop.get("should_training_stop") if should_stop else None
        run_status = (
            "completed" if summary is not None else ("stopped" if should_stop else "incomplete")
        )
        job = _job_name(run_dir)
        run_uri = unit.uri
        if len(runs) > 1:
            # several runs in one folder: each is named by its last checkpoint
            label = posixpath.basename(chosen_dir) if chosen_dir != run_dir else "final"
            job = f"{job}@{label}" if job else label
            run_uri = f"{unit.uri}#{label}"
        per_device = _count(state.get("train_batch_size"), state_uri, "train_batch_size")
        return {
            "run_id": self._run_id(run_uri, job),
            "platform": None,
            "job_name": job,
            "run_status": run_status,
            "model_id": str(model_id) if model_id else None,
            "base_model": base_model,
            "base_model_basis": basis,
            "method": method,
            "objective": objective,
            "model_type": str(config["model_type"])
            if config and config.get("model_type")
            else None,
            "params_total": params_total,
            "params_trainable": params_trainable,
            "params_basis": params_basis,
            "tokens": tokens,
            "tokens_basis": "logged" if tokens is not None else None,
            "epochs": _number(state.get("epoch"), state_uri, "epoch"),
            "seq_len": max_len if settings.get("packing") else None,
            "per_device_batch": per_device
            or settings.get("per_device_batch")
            or card_settings.get("per_device_batch"),
            "grad_accum_steps": settings.get("grad_accum_steps")
            or card_settings.get("grad_accum_steps"),
            "world_size": card_settings.get("world_size"),
            "global_batch": card_settings.get("global_batch"),
            "steps": state["global_step"] or None,
            "runtime_seconds": runtime,
            "precision": str(precision) if precision else None,
            "reported_flops": total_flos if total_flos else None,
            "reported_flops_basis": "hf_total_flos" if total_flos else None,
            "tags": [(f"card:{t}", "true") for t in card_tags if isinstance(t, str)] or None,
            "attributes": json.dumps(attributes, sort_keys=True, default=str),
            "source_uri": unit.uri,
            "source_format": self.name,
        }

    def _tool_settings(
        self, reader: UnitReader, folders: tuple[str, ...], lfs: list[str]
    ) -> dict[str, Any]:
        """Settings from the training-argument YAML files beside the run (LLaMA-Factory,
        axolotl); the first file that states a setting wins."""
        found: dict[str, Any] = {}
        keys = [
            m.key
            for m in reader.unit.members
            if _is_yaml(m.key) and posixpath.dirname(m.key) in folders and m.size <= _MAX_YAML_BYTES
        ]
        # LLaMA-Factory's own record first, then the web UI's, then the user's files
        keys.sort(
            key=lambda k: (
                posixpath.basename(k) != "training_args.yaml",
                posixpath.basename(k) != "llamaboard_config.yaml",
                k,
            )
        )
        for key in keys:
            data = reader.read(key, limit=_MAX_YAML_BYTES)
            if is_lfs_pointer(data):
                lfs.append(reader.uri(key))
                continue
            try:
                config = load_yaml(data.decode("utf-8", errors="replace"), reader.uri(key))
            except ParseError:
                continue  # not every YAML beside a run is ours to read
            if isinstance(config, dict):
                for name, value in tool_settings(config).items():
                    found.setdefault(name, value)
        return found

    @staticmethod
    def _run_id(uri: str, job_name: str | None) -> str:
        digest = hashlib.sha256(uri.encode()).hexdigest()[:12]
        return f"hf:{job_name or 'run'}:{digest}"

    @staticmethod
    def _optional_json(
        reader: UnitReader, key: str | None, lfs: list[str] | None = None
    ) -> dict[str, Any] | None:
        if key is None:
            return None
        value = _load_json(reader, key, MAX_SIDECAR_BYTES, lfs=lfs)
        if value is _LFS:
            return None
        if not isinstance(value, dict):
            raise ParseError(reader.uri(key), "expected a JSON object")
        return value

    @staticmethod
    def _tokens(
        state: dict[str, Any], history: list[dict[str, Any]], uri: str
    ) -> tuple[int | None, str | None]:
        seen = _count(state.get("num_input_tokens_seen"), uri, "num_input_tokens_seen")
        if seen:
            return seen, "num_input_tokens_seen"
        logged = [
            _count(e.get("num_input_tokens_seen"), uri, "log_history num_input_tokens_seen")
            for e in history
            if e.get("num_input_tokens_seen") is not None
        ]
        if any(logged):
            return max(v for v in logged if v is not None), "log_history.num_input_tokens_seen"
        trl = [
            _number(e.get("num_tokens"), uri, "log_history num_tokens")
            for e in history
            if e.get("num_tokens") is not None
        ]
        if any(trl):
            top = max(v for v in trl if v is not None)
            if not 0 <= top <= INT64_MAX:
                raise ParseError(uri, f"'log_history num_tokens' is out of range ({top!r})")
            return int(top), "log_history.num_tokens (TRL)"
        return None, None

    @staticmethod
    def _base_model(
        adapter: dict[str, Any] | None, card: dict[str, Any], config: dict[str, Any] | None
    ) -> tuple[str | None, str | None, list[str]]:
        candidates: list[tuple[str, str]] = []
        if adapter and isinstance(adapter.get("base_model_name_or_path"), str):
            candidates.append((adapter["base_model_name_or_path"], "adapter_config"))
        card_base = card.get("base_model")
        for value in card_base if isinstance(card_base, list) else [card_base]:
            if isinstance(value, str):
                candidates.append((value, "model_card"))
        if config and isinstance(config.get("_name_or_path"), str):
            candidates.append((config["_name_or_path"], "config_name_or_path"))
        for value, basis in candidates:
            if REPO_ID.match(value.strip()):
                return value.strip(), basis, [c for c, _ in candidates]
        return None, None, [c for c, _ in candidates]

    @staticmethod
    def _objective(history: list[dict[str, Any]], card: dict[str, Any]) -> str | None:
        names = {k for entry in history for k in entry}
        found = objective_from_metrics(names)
        if found and found != "sft":
            return found
        tags = (
            [t.lower() for t in card.get("tags", []) if isinstance(t, str)]
            if isinstance(card.get("tags"), list)
            else []
        )
        for tag in _TRL_OBJECTIVE_TAGS:
            if tag in tags:
                return "reward" if tag == "reward-trainer" else tag
        return found

    @staticmethod
    def _model_index_name(card: dict[str, Any]) -> str | None:
        index = card.get("model-index")
        if isinstance(index, list) and index and isinstance(index[0], dict):
            name = index[0].get("name")
            return str(name) if name else None
        return None

    @staticmethod
    def _params(
        reader: UnitReader, chosen_dir: str, run_dir: str, has_adapter: bool
    ) -> tuple[int | None, int | None, str | None]:
        """Exact counts from safetensors headers in the chosen folder (else the run folder)."""
        for folder in (chosen_dir, run_dir):
            files = [
                m
                for m in reader.unit.members
                if posixpath.dirname(m.key) == folder and m.key.endswith(".safetensors")
            ]
            if not files:
                continue
            adapters = [m for m in files if posixpath.basename(m.key).startswith("adapter_model")]
            weights = [m for m in files if m not in adapters]
            trainable = sum(_safetensors_params(reader, m) for m in adapters) if adapters else None
            counts = [_safetensors_counts(reader, m) for m in weights]
            total = sum(c[0] for c in counts) if weights else None
            lora = sum(c[1] for c in counts)
            if has_adapter:
                return total, trainable, "safetensors_header"
            if lora:
                # LoRA written into a full checkpoint by hand: a frozen backbone
                return total, lora, "safetensors_header_lora"
            return total, total, "safetensors_header"
        return None, None, None
