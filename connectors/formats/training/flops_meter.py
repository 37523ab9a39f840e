"""``flops_meter.json`` written by AWS's Fine-Tuning FLOPs Meter callback.

Source of the format: aws-samples/amazon-sagemaker-generativeai,
``0_model_customization_recipes/supervised_finetuning/sagemaker_code/utils/flops_meter.py``.
Rank 0 writes it; FLOP values are strings made with the format spec ``" .2e"`` (a
leading space: ``" 1.45e+13"``) or the float ``0.0``.

Its claims are kept as reported evidence only:

* ``Flops_architecture`` = (4·N_total + 2·N_trainable) × tokens_processed becomes
  ``reported_flops`` (basis ``flops_meter_architecture``);
* ``Flops_hardware`` covers only rank 0's node (it sums the GPUs it can see), so it is
  stored in ``attributes`` and never used as a run total;
* its threshold verdict (``threshold_type``, ``exceeds_30pct``) applies 30 % instead of one
  third and substitutes the 3.3e22 default even when the original compute is known: it is
  recorded, marked as not used, and never reused as a status.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from connectors.formats.base import Parser, Sample, UnitReader
from connectors.formats.training.kit import MAX_SIDECAR_BYTES, check_training_ranges
from connectors.formats.values import INT64_MAX
from reconcile.catalog import load_catalog
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS, conform

_REQUIRED = ("N_total", "N_trainable", "tokens_processed", "Flops_architecture")


def _flops(value: Any, source: str, key: str) -> float | None:
    """A FLOP figure as the meter writes it: ``" 1.45e+13"``, ``0.0`` or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ParseError(source, f"{key} should be a number, got {value!r}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ParseError(source, f"{key} should be a number, got {value!r:.40}") from None
    if not math.isfinite(number) or number < 0:
        raise ParseError(source, f"{key} is not a finite non-negative number: {value!r}")
    return number


def _count(value: Any, source: str, key: str) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= INT64_MAX  # also false for NaN
        or (value != int(value))
    ):
        raise ParseError(source, f"{key} should be a non-negative whole number, got {value!r:.40}")
    return int(value)


class FlopsMeterParser(Parser):
    """flops_meter.json → one ``training_runs`` row with the meter's claims as evidence."""

    name: ClassVar[str] = "flops_meter"
    version: ClassVar[int] = 1
    table: ClassVar[str] = "training_runs"
    schema: ClassVar[pa.Schema] = TRAINING_RUNS
    patterns: ClassVar[tuple[str, ...]] = ("flops_meter.json", "*flops_meter*.json")
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".json",)
    priority: ClassVar[Mapping[str, int]] = {
        "identity": 5,
        "hardware": 4,
        "training": 6,
        "model": 4,
        "model_id": 5,
    }

    def sniff(self, sample: Sample) -> bool:
        """A JSON object with the meter's keys."""
        head = sample.text()[:4096]
        return '"Flops_architecture"' in head and '"tokens_processed"' in head

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Read the meter file (refused past ``MAX_SIDECAR_BYTES``: real ones are ~1 KB)."""
        (info,) = reader.unit.members
        return self.parse(reader.read(info.key, limit=MAX_SIDECAR_BYTES), source=reader.unit.uri)

    def parse(self, data: bytes, *, source: str) -> pa.Table:
        """Parse one meter file."""
        if not data.strip():
            raise ParseError(source, "empty file")
        try:
            meter = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ParseError(source, f"invalid JSON: {exc}") from exc
        except RecursionError:
            raise ParseError(source, "invalid JSON: nested too deeply") from None
        if not isinstance(meter, dict):
            raise ParseError(source, "not a flops_meter.json: top level is not an object")
        missing = [k for k in _REQUIRED if k not in meter]
        if missing:
            raise ParseError(source, f"not a flops_meter.json: missing {', '.join(missing)}")
        n_total = _count(meter["N_total"], source, "N_total")
        n_trainable = _count(meter["N_trainable"], source, "N_trainable")
        tokens = _count(meter["tokens_processed"], source, "tokens_processed")
        architecture = _flops(meter["Flops_architecture"], source, "Flops_architecture")
        hardware = _flops(meter.get("Flops_hardware"), source, "Flops_hardware")
        gpus = _count(meter.get("gpu_size"), source, "gpu_size")
        job = meter.get("training_job_name")
        job = job if isinstance(job, str) and job else None
        for key in ("gpu_name", "model_name", "model_package_group_name", "instance_type"):
            if not isinstance(meter.get(key), (str, type(None))):
                raise ParseError(
                    source, f"{key} should be a string, got {type(meter[key]).__name__}"
                )
        accelerator = load_catalog().match_accelerator(meter.get("gpu_name"))
        model = meter.get("model_name")
        attributes = {
            "meter_hardware_flops_rank0_node_only": hardware,
            "meter_original_flops": _flops(meter.get("Flops_original"), source, "Flops_original"),
            "meter_threshold": {
                "type": meter.get("threshold_type"),
                "value": _flops(meter.get("threshold_value"), source, "threshold_value"),
                "pct_of_pretrain": meter.get("pct_of_pretrain"),
                "exceeds_30pct": meter.get("exceeds_30pct"),
                "used": False,
                "why": "the meter tests 30 % (not one third) and substitutes the 3.3e22 "
                "default even when the original compute is known",
            },
            "gpu_name": meter.get("gpu_name"),
            "gpu_rank": meter.get("gpu_rank"),
            "training_id": meter.get("training_id"),
            "recipe_config": meter.get("recipe_config"),
            "model_package_group_name": meter.get("model_package_group_name"),
            "tokens_source": "flops_meter tokens_processed (padding counted: the meter's "
            "token counter falls back to pad id -100)",
        }
        if isinstance(model, str) and model.startswith(("/", ".")):
            attributes["base_model_raw"] = model
            model = None
        digest = hashlib.sha256(source.encode()).hexdigest()[:12]
        instance_type = meter.get("instance_type")
        row = {
            "run_id": f"flops_meter:{job or 'run'}:{digest}",
            "platform": "aws-sagemaker" if str(instance_type or "").startswith("ml.") else None,
            "job_name": job,
            "model_id": meter.get("model_package_group_name") or None,
            "base_model": model if isinstance(model, str) and model else None,
            "base_model_basis": "flops_meter" if isinstance(model, str) and model else None,
            "method": (
                "lora"
                if n_total and n_trainable and n_trainable < n_total
                else "full"
                if n_total and n_trainable == n_total
                else None
            ),
            "params_total": n_total,
            "params_trainable": n_trainable,
            "params_basis": "flops_meter (reported)",
            "tokens": tokens or None,
            "tokens_basis": "logged" if tokens else None,
            "epochs": _flops(meter.get("num_epochs"), source, "num_epochs"),
            "runtime_seconds": _flops(
                meter.get("training_duration_seconds"), source, "training_duration_seconds"
            ),
            "instance_type": instance_type if isinstance(instance_type, str) else None,
            "accelerator": accelerator.key if accelerator else None,
            "accelerator_count": gpus,
            "world_size": gpus,
            "reported_flops": architecture or None,
            "reported_flops_basis": "flops_meter_architecture" if architecture else None,
            "attributes": json.dumps(attributes, sort_keys=True, default=str),
            "source_uri": source,
            "source_format": self.name,
        }
        check_training_ranges(row, str(row["source_uri"]))
        return conform([row], self.schema)
