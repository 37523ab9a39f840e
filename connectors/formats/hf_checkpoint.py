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

from connectors.formats.base import MAX_OBJECT_BYTES, Unit, UnitReader, reject_options
from connectors.formats.tracking import (
    INT64_MAX,
    MAX_SIDECAR_BYTES,
    REPO_ID,
    load_json,
    load_yaml,
    path_job_name,
)
from connectors.stores.base import ObjectInfo, Store
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS, conform

STATE_FILE = "trainer_state.json"
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
_SIDECARS = frozenset(
    {"config.json", "adapter_config.json", "README.md", "train_results.json", "all_results.json"}
)
# A Hub repository id ("org/name"); local paths and bare names are not resolvable ids.
_TRL_OBJECTIVE_TAGS = ("dpo", "orpo", "kto", "cpo", "ppo", "grpo", "rloo", "sft", "reward-trainer")
# safetensors: 8-byte little-endian header length, then a JSON header.
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


def _is_state(key: str) -> bool:
    return posixpath.basename(key) == STATE_FILE


def _is_member(key: str) -> bool:
    name = posixpath.basename(key)
    return name == STATE_FILE or name in _SIDECARS or name.endswith(".safetensors")


def _run_dir(state_dir: str) -> str:
    """The run's output folder for a folder holding a trainer_state.json."""
    if _CHECKPOINT_DIR.match(posixpath.basename(state_dir)):
        return posixpath.dirname(state_dir)
    return state_dir


def _job_name(run_dir: str) -> str | None:
    """The job's name from its run folder (the rule shared with the tracker parsers)."""
    return path_job_name(run_dir)


def _load_json(reader: UnitReader, key: str, limit: int = MAX_OBJECT_BYTES) -> Any:
    data = reader.read(key, limit=limit)
    uri = reader.uri(key)
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


def _safetensors_params(reader: UnitReader, info: ObjectInfo) -> int:
    """Number of parameters in a safetensors file, from its JSON header alone."""
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
    total = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        shape = tensor.get("shape") if isinstance(tensor, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ParseError(uri, f"tensor {name!r} has no valid shape")
        total += math.prod(shape)
        if total > INT64_MAX:
            raise ParseError(uri, f"tensor {name!r} makes the parameter count impossibly large")
    return total


class HfCheckpointParser:
    """Trainer output folders → one ``training_runs`` row per run."""

    name: ClassVar[str] = "hf_checkpoint"
    version: ClassVar[int] = 2  # 2: keeps config.json in attributes
    table: ClassVar[str] = "training_runs"
    schema: ClassVar[pa.Schema] = TRAINING_RUNS

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        reject_options(self.name, options or {}, known=())

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Group trainer states (and their sidecars) by run output folder."""
        by_dir: dict[str, list[ObjectInfo]] = defaultdict(list)
        for info in objects:
            by_dir[posixpath.dirname(info.key)].append(info)
        run_dirs: dict[str, set[str]] = defaultdict(set)  # run dir -> folders with a state
        for folder, infos in by_dir.items():
            if any(_is_state(i.key) for i in infos):
                run_dirs[_run_dir(folder)].add(folder)
        claimed: set[str] = set()
        units = []
        for run_dir, state_dirs in sorted(run_dirs.items()):
            members = [
                i
                for folder in sorted(state_dirs | {run_dir})
                for i in by_dir.get(folder, [])
                if _is_member(i.key)
            ]
            members.sort()
            claimed.update(i.key for i in members)
            units.append(Unit(uri=store.uri(run_dir), key=run_dir, members=tuple(members)))
        rest = [i for i in objects if i.key not in claimed]
        if forced:
            # The user said these are trainer states: every other JSON file is one.
            extra = [
                i
                for i in rest
                if i.key.endswith(".json") and posixpath.basename(i.key) not in _SIDECARS
            ]
            units += [Unit(uri=store.uri(i.key), key=i.key, members=(i,)) for i in extra]
            rest = [i for i in rest if i not in extra]
        return units, rest

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Parse a run folder (or a single state file) into one row."""
        unit = reader.unit
        state_keys = [m.key for m in unit.members if _is_state(m.key)]
        if not state_keys:  # a forced single file under another name
            state_keys = [unit.members[0].key]
        states = {
            key: _validate_state(_load_json(reader, key), reader.uri(key)) for key in state_keys
        }
        # Latest checkpoint wins; on a tie the root state (written by save_state) wins.
        chosen_key = max(
            states,
            key=lambda k: (
                states[k]["global_step"],
                not _CHECKPOINT_DIR.match(posixpath.basename(posixpath.dirname(k))),
            ),
        )
        state = states[chosen_key]
        state_uri = reader.uri(chosen_key)
        chosen_dir = posixpath.dirname(chosen_key)
        run_dir = _run_dir(chosen_dir) if _is_state(chosen_key) else chosen_dir

        def sidecar(name: str) -> str | None:
            for folder in (chosen_dir, run_dir):
                key = posixpath.join(folder, name) if folder else name
                if any(m.key == key for m in unit.members):
                    return key
            return None

        config = self._optional_json(reader, sidecar("config.json"))
        adapter = self._optional_json(reader, sidecar("adapter_config.json"))
        results = (
            self._optional_json(reader, sidecar("train_results.json"))
            or self._optional_json(reader, sidecar("all_results.json"))
            or {}
        )
        card_key = sidecar("README.md")
        card: dict[str, Any] = {}
        if card_key:
            raw = reader.read(card_key, limit=MAX_SIDECAR_BYTES)
            card = _front_matter(raw.decode("utf-8", errors="replace"), reader.uri(card_key))

        history = state["log_history"]
        summary = next((e for e in reversed(history) if "train_runtime" in e), None)
        attributes: dict[str, Any] = {
            "state_file": state_uri,
            "checkpoints": sorted(s["global_step"] for s in states.values()),
            "state_modified_at": unit.member(chosen_key).modified_at.isoformat(),
        }

        tokens, tokens_source = self._tokens(state, history, state_uri)
        if tokens_source:
            attributes["tokens_source"] = tokens_source
        total_flos = _number(state.get("total_flos"), state_uri, "total_flos")
        if not total_flos and summary is not None:
            total_flos = _number(summary.get("total_flos"), state_uri, "log_history total_flos")
        if total_flos == 0.0:
            attributes["total_flos_zero"] = True  # not computed (e.g. TRL DPO), not zero work
        runtime = _number(
            (summary or {}).get("train_runtime", results.get("train_runtime")),
            state_uri,
            "train_runtime",
        )

        base_model, basis, candidates = self._base_model(adapter, card, config)
        if candidates:
            attributes["base_model_candidates"] = candidates
        method = None
        if adapter is not None:
            method = str(adapter.get("peft_type", "lora")).lower()
            if config and isinstance(config.get("quantization_config"), dict):
                quant = config["quantization_config"]
                if quant.get("load_in_4bit") or quant.get("load_in_8bit"):
                    method = "qlora"
            attributes["adapter"] = {
                k: adapter[k]
                for k in (
                    "r",
                    "lora_alpha",
                    "target_modules",
                    "use_dora",
                    "use_rslora",
                    "modules_to_save",
                )
                if k in adapter
            }
        elif config is not None:
            method = "full"
        if config is not None:
            # The whole config (a few KB) lets parameters be counted centrally.
            attributes["config"] = config
        objective = self._objective(history, card)

        params_total, params_trainable, params_basis = self._params(
            reader, chosen_dir, run_dir, adapter is not None
        )
        if method == "full" and params_trainable is None:
            params_trainable = params_total

        card_tags: list[Any] = card["tags"] if isinstance(card.get("tags"), list) else []
        model_id = card.get("model_name") or self._model_index_name(card)
        precision = None
        if config:
            precision = config.get("torch_dtype") or config.get("dtype")
        should_stop = _dig(state, "stateful_callbacks", "TrainerControl", "args")
        should_stop = should_stop.get("should_training_stop") if should_stop else None
        run_status = (
            "completed" if summary is not None else ("stopped" if should_stop else "incomplete")
        )

        row = {
            "run_id": self._run_id(unit.uri, _job_name(run_dir)),
            "platform": None,
            "job_name": _job_name(run_dir),
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
            "per_device_batch": _count(
                state.get("train_batch_size"), state_uri, "train_batch_size"
            ),
            "steps": state["global_step"],
            "runtime_seconds": runtime,
            "precision": str(precision) if precision else None,
            "reported_flops": total_flos if total_flos else None,
            "reported_flops_basis": "hf_total_flos" if total_flos else None,
            "tags": [(f"card:{t}", "true") for t in card_tags if isinstance(t, str)] or None,
            "attributes": json.dumps(attributes, sort_keys=True, default=str),
            "source_uri": unit.uri,
            "source_format": self.name,
        }
        return conform([row], self.schema)

    @staticmethod
    def _run_id(uri: str, job_name: str | None) -> str:
        digest = hashlib.sha256(uri.encode()).hexdigest()[:12]
        return f"hf:{job_name or 'run'}:{digest}"

    @staticmethod
    def _optional_json(reader: UnitReader, key: str | None) -> dict[str, Any] | None:
        if key is None:
            return None
        value = _load_json(reader, key, MAX_SIDECAR_BYTES)
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
        if any(any(k.startswith("rewards/") for k in e) for e in history):
            return "dpo"
        tags = (
            [t.lower() for t in card.get("tags", []) if isinstance(t, str)]
            if isinstance(card.get("tags"), list)
            else []
        )
        for tag in _TRL_OBJECTIVE_TAGS:
            if tag in tags:
                return "reward" if tag == "reward-trainer" else tag
        if any("num_tokens" in e for e in history):
            return "sft"
        return None

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
            total = sum(_safetensors_params(reader, m) for m in weights) if weights else None
            if has_adapter:
                return total, trainable, "safetensors_header"
            return total, total, "safetensors_header"
        return None, None, None
