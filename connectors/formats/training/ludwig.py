"""Ludwig LLM fine-tuning output folders (github.com/ludwig-ai/ludwig).

A Ludwig model folder holds ``training_progress.json`` (the trainer's progress:
``steps``, ``epoch``, ``total_tokens_used`` — the tokens the model was trained on,
counted by Ludwig's trainer, ``batch_size``) and ``model_hyperparameters.json`` (the
resolved config: ``base_model``, ``adapter`` with its ``type``/``r``/``target_modules``,
``quantization`` with ``bits``, ``trainer`` with ``gradient_accumulation_steps`` and
``epochs``, ``preprocessing.global_max_sequence_length``), and for adapters
``model_weights/adapter_config.json`` as PEFT wrote it. The folder is one unit and one
``training_runs`` row.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

import pyarrow as pa

from connectors.formats.base import Parser, Unit, UnitReader
from connectors.formats.training.kit import (
    MAX_SIDECAR_BYTES,
    check_training_ranges,
    count,
    load_json,
    path_job_name,
)
from connectors.stores.base import ObjectInfo, Store
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS, conform

PROGRESS = "training_progress.json"
HYPERPARAMETERS = "model_hyperparameters.json"


class LudwigParser(Parser):
    """Ludwig model folders → one ``training_runs`` row each."""

    name: ClassVar[str] = "ludwig"
    version: ClassVar[int] = 1
    table: ClassVar[str] = "training_runs"
    schema: ClassVar[pa.Schema] = TRAINING_RUNS

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """A folder with ``training_progress.json`` and ``model_hyperparameters.json``,
        with its ``model_weights/`` sidecars (JSON and model card only)."""
        by_dir: dict[str, list[ObjectInfo]] = defaultdict(list)
        for info in objects:
            by_dir[posixpath.dirname(info.key)].append(info)
        units: list[Unit] = []
        claimed: set[str] = set()
        for folder, infos in sorted(by_dir.items()):
            names = {posixpath.basename(i.key) for i in infos}
            if PROGRESS not in names or (HYPERPARAMETERS not in names and not forced):
                continue
            weights = posixpath.join(folder, "model_weights") if folder else "model_weights"
            members = [i for i in infos if i.key.endswith(".json")] + [
                i
                for i in by_dir.get(weights, [])
                if posixpath.basename(i.key) in ("adapter_config.json", "config.json", "README.md")
            ]
            members.sort()
            claimed.update(i.key for i in members)
            units.append(Unit(uri=store.uri(folder), key=folder, members=tuple(members)))
        return units, [i for i in objects if i.key not in claimed]

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Parse one Ludwig model folder."""
        unit = reader.unit

        def load(name: str) -> dict[str, Any] | None:
            key = next(
                (m.key for m in unit.members if m.key.endswith("/" + name) or (m.key == name)), None
            )
            if key is None:
                return None
            data = reader.read(key, limit=MAX_SIDECAR_BYTES)
            value = load_json(data.decode("utf-8", errors="replace"), reader.uri(key))
            if not isinstance(value, dict):
                raise ParseError(reader.uri(key), "expected a JSON object")
            return value

        progress = load(PROGRESS) or {}
        config = load(HYPERPARAMETERS) or {}
        adapter_file = load("model_weights/adapter_config.json")
        uri = reader.uri(next(m.key for m in unit.members if m.key.endswith(PROGRESS)))
        steps = count(progress.get("steps"), uri, "steps")
        tokens = count(progress.get("total_tokens_used"), uri, "total_tokens_used")
        epochs = progress.get("epoch")
        trainer: dict[str, Any] = (
            config["trainer"] if isinstance(config.get("trainer"), dict) else {}
        )
        adapter = config.get("adapter") if isinstance(config.get("adapter"), dict) else None
        quantization = config.get("quantization")
        method = "full"
        attributes: dict[str, Any] = {"tool": "ludwig", "tokens_source": "total_tokens_used"}
        if adapter is not None:
            kind = str(adapter.get("type") or "lora").lower()
            bits = quantization.get("bits") if isinstance(quantization, dict) else None
            method = "qlora" if kind == "lora" and bits in (4, 8) else kind
            attributes["adapter"] = adapter_file or {
                "peft_type": kind.upper(),
                "r": adapter.get("r"),
                "target_modules": adapter.get("target_modules"),
            }
        preprocessing = config.get("preprocessing")
        max_len = (
            preprocessing.get("global_max_sequence_length")
            if isinstance(preprocessing, dict)
            else None
        )
        if isinstance(max_len, int) and max_len > 0:
            attributes["max_seq_len"] = max_len
        base = config.get("base_model")
        job = path_job_name(unit.key) or "ludwig"
        row: dict[str, Any] = {
            "run_id": f"ludwig:{job}:{hashlib.sha256(unit.uri.encode()).hexdigest()[:12]}",
            "job_name": job,
            "run_status": "completed" if steps else "incomplete",
            "base_model": str(base) if isinstance(base, str) and base else None,
            "base_model_basis": "model_hyperparameters" if isinstance(base, str) else None,
            "method": method,
            "objective": "sft",
            "tokens": tokens or None,
            "tokens_basis": "logged" if tokens else None,
            "epochs": float(epochs) if isinstance(epochs, (int, float)) else None,
            "per_device_batch": count(progress.get("batch_size"), uri, "batch_size"),
            "grad_accum_steps": count(
                trainer.get("gradient_accumulation_steps"), uri, "gradient_accumulation_steps"
            ),
            "steps": steps,
            "attributes": json.dumps(attributes, sort_keys=True, default=str),
            "source_uri": unit.uri,
            "source_format": self.name,
        }
        check_training_ranges(row, row["source_uri"])
        return conform([row], self.schema)
