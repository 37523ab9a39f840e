"""SageMaker ``DescribeTrainingJob`` responses, as saved by the AWS CLI or boto3.

One job description is one ``training_runs`` row. Tags are not part of the response
(AWS keeps them behind ``ListTags``); when a ``ListTags`` output is saved beside the
description (``tags.json`` or ``<stem>.tags.json`` in the same folder), it becomes part of
the unit and its tags are recorded.

Field meanings follow the SageMaker API reference for DescribeTrainingJob:
``BillableTimeInSeconds`` is per instance (billed instance-seconds = it ×
InstanceCount), managed spot saves ``1 - billable / training`` time, warm pools add
``WarmPoolStatus.ResourceRetainedBillableTimeInSeconds``, and heterogeneous clusters
describe their instances in ``ResourceConfig.InstanceGroups``. Timestamps are ISO 8601
strings or epoch seconds depending on how the response was saved. Hyperparameters are
strings, often JSON-quoted (``"\\"Qwen/Qwen2.5-7B\\""``).
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pyarrow as pa

from connectors.formats.base import Parser, Sample, Unit, UnitReader
from connectors.formats.training.kit import MAX_SIDECAR_BYTES, check_training_ranges
from connectors.formats.values import INT64_MAX
from connectors.stores.base import ObjectInfo, Store
from reconcile.catalog import load_catalog
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS, conform

_STATUS = {
    "Completed": "completed",
    "Failed": "failed",
    "Stopped": "stopped",
    "Stopping": "stopped",
    "InProgress": "running",
}
# Hyperparameter names used by common training scripts, by what they mean.
_HP_MODEL = (
    "model_id",
    "model_name_or_path",
    "base_model",
    "model_name",
    "pretrained_model",
    "model",
)
_HP_EPOCHS = ("num_train_epochs", "epochs", "epoch", "n_epochs")
_HP_BATCH = (
    "per_device_train_batch_size",
    "train_batch_size",
    "batch_size",
    "per_device_batch_size",
)
_HP_ACCUM = ("gradient_accumulation_steps", "grad_accum", "gradient_accumulation")
_HP_SEQ = (
    "max_seq_length",
    "max_seq_len",
    "seq_len",
    "max_length",
    "block_size",
    "sequence_len",
    "cutoff_len",
)
_HP_LORA_R = ("lora_r", "lora_rank", "r")
_TAG_FILES = ("tags.json", "list-tags.json")


def _timestamp(value: Any, uri: str, key: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (ValueError, OverflowError, OSError):  # NaN, or beyond year 9999
            raise ParseError(uri, f"{key} is not a timestamp: {value!r:.40}") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParseError(uri, f"{key} is not a timestamp: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ParseError(uri, f"{key} is not a timestamp: {value!r}")


def _hyperparameter(value: str) -> Any:
    """A hyperparameter string, unquoted when it is JSON (``"\\"x\\""`` -> ``x``)."""
    text = value.strip()
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text


def _pick(hps: dict[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        if name in hps and hps[name] not in (None, ""):
            return hps[name]
    return None


def _int(value: Any, uri: str, key: str) -> int | None:
    if value is None:
        return None
    number = _float(value, uri, key)
    assert number is not None
    if number != int(number) or number < 0:
        raise ParseError(uri, f"{key} should be a non-negative whole number, got {value!r}")
    if number > INT64_MAX:
        raise ParseError(uri, f"{key} is too large ({value!r})")
    return int(number)


def _float(value: Any, uri: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ParseError(uri, f"{key} should be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ParseError(uri, f"{key} should be a number, got {value!r:.40}") from None
    if not math.isfinite(number):
        raise ParseError(uri, f"{key} is not finite ({value!r})")
    return number


def _object(value: Any, uri: str, key: str) -> dict[str, Any]:
    """A nested object of the response ({} when absent)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(uri, f"{key} should be an object, got {type(value).__name__}")
    return value


def _text(value: Any, uri: str, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(uri, f"{key} should be a string, got {type(value).__name__}")
    return value


class SageMakerJobParser(Parser):
    """DescribeTrainingJob JSON → one ``training_runs`` row per job."""

    name: ClassVar[str] = "sagemaker_job"
    version: ClassVar[int] = 1
    table: ClassVar[str] = "training_runs"
    schema: ClassVar[pa.Schema] = TRAINING_RUNS
    patterns: ClassVar[tuple[str, ...]] = (
        "describe-training-job*.json",
        "*.training-job.json",
        "training-job.json",
    )
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".json",)
    #: The job description is the cloud's own record of the job and its instances.
    priority: ClassVar[Mapping[str, int]] = {
        "identity": 1,
        "hardware": 1,
        "training": 5,
        "model": 3,
        "model_id": 6,
    }

    def sniff(self, sample: Sample) -> bool:
        """A JSON object that names a training job."""
        head = sample.text()[:4096]
        return (
            head.lstrip().startswith("{")
            and '"TrainingJobName"' in head
            and (
                '"TrainingJobArn"' in head
                or '"ResourceConfig"' in head
                or '"AlgorithmSpecification"' in head
            )
        )

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Job descriptions by name, each with a ListTags output saved beside it."""
        units, rest = super().units(store, objects, forced=forced)
        by_key = {o.key: o for o in objects}
        claimed_tags: set[str] = set()
        grouped = []
        for unit in units:
            (info,) = unit.members
            folder, name = posixpath.split(info.key)
            stem = name.removesuffix(".json").removesuffix(".training-job")
            candidates = [posixpath.join(folder, f"{stem}.tags.json")] + [
                posixpath.join(folder, t) for t in _TAG_FILES
            ]
            tags = next((by_key[k] for k in candidates if k in by_key), None)
            if tags is not None:
                claimed_tags.add(tags.key)
                grouped.append(Unit(uri=unit.uri, key=unit.key, members=(info, tags)))
            else:
                grouped.append(unit)
        return grouped, [o for o in rest if o.key not in claimed_tags]

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Parse the description (and its tags) into one row."""
        job_info = reader.unit.members[0]
        tags: dict[str, str] = {}
        if len(reader.unit.members) > 1:
            tags = self._tags(reader, reader.unit.members[1])
        data = reader.read(job_info.key, limit=MAX_SIDECAR_BYTES)
        return self.parse(data, source=reader.uri(job_info.key), tags=tags)

    @staticmethod
    def _tags(reader: UnitReader, info: ObjectInfo) -> dict[str, str]:
        uri = reader.uri(info.key)
        try:
            data = json.loads(reader.read(info.key, limit=MAX_SIDECAR_BYTES))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ParseError(uri, f"tags file is not valid JSON: {exc}") from exc
        except RecursionError:
            raise ParseError(uri, "tags file is not valid JSON: nested too deeply") from None
        items = data.get("Tags") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(
            isinstance(t, dict) and "Key" in t and "Value" in t for t in items
        ):
            raise ParseError(uri, "tags file is not a ListTags output ({'Tags': [{Key, Value}]})")
        return {str(t["Key"]).strip(): str(t["Value"]) for t in items}

    def parse(self, data: bytes, *, source: str, tags: dict[str, str] | None = None) -> pa.Table:
        """Parse one DescribeTrainingJob response."""
        if not data.strip():
            raise ParseError(source, "empty file")
        try:
            job = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ParseError(source, f"invalid JSON: {exc}") from exc
        except RecursionError:
            raise ParseError(source, "invalid JSON: nested too deeply") from None
        if not isinstance(job, dict) or not isinstance(job.get("TrainingJobName"), str):
            raise ParseError(source, "not a DescribeTrainingJob response: no TrainingJobName")
        name = job["TrainingJobName"]
        resources = job.get("ResourceConfig") or {}
        if not isinstance(resources, dict):
            raise ParseError(source, "ResourceConfig is not an object")
        catalog = load_catalog()
        groups = resources.get("InstanceGroups") or []
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise ParseError(source, "ResourceConfig.InstanceGroups is not a list of objects")
        if groups:
            pairs = [
                (
                    str(g.get("InstanceType")),
                    _int(g.get("InstanceCount"), source, "InstanceGroups.InstanceCount") or 0,
                )
                for g in groups
            ]
        else:
            pairs = [
                (
                    str(resources.get("InstanceType")),
                    _int(resources.get("InstanceCount", 1), source, "InstanceCount") or 0,
                )
            ]
        instance_count = sum(count for _, count in pairs)
        if instance_count > INT64_MAX:
            raise ParseError(source, f"InstanceCount is too large ({instance_count})")
        accelerators: set[str] = set()
        accelerator_count = 0.0
        unknown_types = []
        for instance_type, count in pairs:
            instance = catalog.instance(instance_type, "aws-sagemaker")
            if instance is None:
                unknown_types.append(instance_type)
                continue
            accelerators.add(instance.accelerator_key)
            accelerator_count += instance.accelerators_per_instance * count
        types = {t for t, _ in pairs}
        hps = {
            k: _hyperparameter(v) if isinstance(v, str) else v
            for k, v in _object(job.get("HyperParameters"), source, "HyperParameters").items()
        }
        training_s = _float(job.get("TrainingTimeInSeconds"), source, "TrainingTimeInSeconds")
        billable_s = _float(job.get("BillableTimeInSeconds"), source, "BillableTimeInSeconds")
        warm = _object(job.get("WarmPoolStatus"), source, "WarmPoolStatus")
        retained_s = _float(
            warm.get("ResourceRetainedBillableTimeInSeconds"),
            source,
            "WarmPoolStatus.ResourceRetainedBillableTimeInSeconds",
        )
        spot = bool(job.get("EnableManagedSpotTraining"))
        model = _pick(hps, _HP_MODEL)
        lora_r = _pick(hps, _HP_LORA_R)
        use_peft = _pick(hps, ("use_peft", "peft", "use_lora", "lora"))
        method = None
        if lora_r is not None or str(use_peft).lower() in ("true", "1", "lora"):
            method = (
                "qlora"
                if str(_pick(hps, ("load_in_4bit", "use_4bit", "qlora"))).lower() in ("true", "1")
                else "lora"
            )
        attributes: dict[str, Any] = {
            "arn": job.get("TrainingJobArn"),
            "secondary_status": job.get("SecondaryStatus"),
            "hyperparameters": hps,
            "training_time_seconds": training_s,
            "billable_time_seconds_per_instance": billable_s,
            "billable_instance_seconds": (
                billable_s * instance_count if billable_s is not None else None
            ),
            "warm_pool_retained_billable_seconds": retained_s,
            "managed_spot": spot,
            "spot_savings": (1 - billable_s / training_s)
            if spot and billable_s is not None and training_s
            else None,
            "instance_groups": [{"type": t, "count": c} for t, c in pairs] if groups else None,
            "unknown_instance_types": unknown_types or None,
            "model_artifacts": _object(job.get("ModelArtifacts"), source, "ModelArtifacts").get(
                "S3ModelArtifacts"
            ),
            "checkpoint_s3_uri": _object(
                job.get("CheckpointConfig"), source, "CheckpointConfig"
            ).get("S3Uri"),
            "failure_reason": job.get("FailureReason"),
        }
        if isinstance(model, str) and model and not model.startswith(("/", ".")):
            base_model, basis = model, "sagemaker_hyperparameters"
        else:
            base_model, basis = None, None
            if model:
                attributes["base_model_raw"] = model
        if isinstance(model, str) and model.startswith(("/", ".")):
            attributes["base_model_raw"] = model
        per_device = _int(_pick(hps, _HP_BATCH), source, "batch size hyperparameter")
        accum = _int(_pick(hps, _HP_ACCUM), source, "gradient_accumulation_steps")
        world = int(accelerator_count) if accelerator_count else None
        global_batch = per_device * accum * world if per_device and accum and world else None
        if max(world or 0, global_batch or 0) > INT64_MAX:
            raise ParseError(source, "InstanceCount or batch size hyperparameters are too large")
        row = {
            "run_id": "sagemaker:" + name,
            "platform": "aws-sagemaker",
            "job_name": name,
            "external_run_id": _text(job.get("TrainingJobArn"), source, "TrainingJobArn"),
            "run_status": _STATUS.get(str(job.get("TrainingJobStatus")), None),
            "started_at": _timestamp(job.get("TrainingStartTime"), source, "TrainingStartTime"),
            "ended_at": _timestamp(job.get("TrainingEndTime"), source, "TrainingEndTime"),
            "time_basis": "job_description",
            "base_model": base_model,
            "base_model_basis": basis,
            "method": method,
            "epochs": _float(_pick(hps, _HP_EPOCHS), source, "epochs hyperparameter"),
            "seq_len": _int(_pick(hps, _HP_SEQ), source, "sequence length hyperparameter"),
            "per_device_batch": per_device,
            "grad_accum_steps": accum,
            # One training process per accelerator (torchrun/accelerate default); the
            # estimator states this assumption when it derives the global batch.
            "world_size": world,
            "global_batch": global_batch,
            "runtime_seconds": training_s,
            "instance_type": types.pop() if len(types) == 1 else "mixed",
            "instance_count": instance_count,
            "accelerator": accelerators.pop()
            if len(accelerators) == 1
            else ("mixed" if accelerators else None),
            "accelerator_count": world,
            "tags": sorted((tags or {}).items()) or None,
            "attributes": json.dumps(
                {k: v for k, v in attributes.items() if v is not None}, sort_keys=True, default=str
            ),
            "source_uri": source,
            "source_format": self.name,
        }
        check_training_ranges(row, row["source_uri"])
        return conform([row], self.schema)
