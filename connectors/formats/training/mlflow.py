"""MLflow runs: the file store (``mlruns/``) and JSON exports of the REST API.

**File store.** ``<root>/<experiment_id>/<run_id>/`` is one unit and one
``training_runs`` row: ``meta.yaml`` (``run_id``, ``run_name``, ``status`` as an int:
1 RUNNING, 2 SCHEDULED, 3 FINISHED, 4 FAILED, 5 KILLED per ``mlflow.entities.RunStatus``,
``start_time``/``end_time`` in epoch milliseconds, ``user_id``, ``lifecycle_stage``,
``artifact_uri``), ``tags/<key>`` and ``params/<key>`` (plain text; a key with ``/``
is a sub-folder) and ``metrics/<key>``, lines ``<timestamp_ms> <value> <step>``.
The experiment's own ``meta.yaml`` (its name) is read too. Folders are recognised by
name: an all-digit experiment id, then a 32-hex-digit run id (``uuid4().hex``), so
the model registry (``models/<name>/version-N``) and dataset folders never match.
``artifacts/`` is not read.

**REST exports.** ``{"run": {"info": {...}, "data": {"metrics": [{key, value,
timestamp, step}], "params": [{key, value}], "tags": [{key, value}]}}}`` as
``GET /api/2.0/mlflow/runs/get`` returns it, ``{"runs": [...]}`` as
``runs/search`` returns it, or a list of either shape. Claimed by the name
``*.mlflow.json`` or by content. Status is a name (``FINISHED``).

**Values.** transformers' ``MLflowCallback`` logs ``TrainingArguments.to_dict()``
merged over the model config as params (strings, cut or dropped when over MLflow's
length limit) and every Trainer log entry as metrics at ``step=global_step``
(``loss``, ``epoch``, ``total_flos``, ``train_runtime``, ``num_input_tokens_seen``).
A metric's value is the one at its **highest step** (then latest timestamp), never
simply the last line: asynchronous logging and resumed runs write lines out of order.
The callback never logs the PEFT config, so a run is ``lora`` only when TRL's
``use_peft``/``lora_r`` params or a ``method`` tag say so, and its method is left
NULL otherwise. ``mlflow.parentRunId`` becomes ``parent_run_id``.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import yaml

from connectors.formats.base import Parser, Sample, Unit, UnitReader
from connectors.formats.training import kit
from connectors.stores.base import ObjectInfo, Store
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS, conform

_RUN_KEY = re.compile(
    r"^(?P<run>(?:(?P<root>.*)/)?(?P<exp>\d+)/(?P<id>[0-9a-f]{32}))"
    r"/(?P<part>meta\.yaml|(?:params|metrics|tags)/.+)$"
)
_STATUS_CODES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_STATUS_NAMES = {
    "RUNNING": "running",
    "SCHEDULED": "scheduled",
    "FINISHED": "completed",
    "FAILED": "failed",
    "KILLED": "killed",
}
#: Metrics the row is built from (the Trainer's names); their highest step is ``steps``.
_METRICS = (
    "total_flos",
    "train_runtime",
    "epoch",
    "num_input_tokens_seen",
    "num_tokens",
    "train_loss",
    "loss",
)
#: Params read from a file store (reading all ~200 would cost a GET each on S3).
_PARAMS = frozenset(
    {
        "output_dir",
        "run_name",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "num_train_epochs",
        "max_steps",
        "learning_rate",
        "bf16",
        "fp16",
        "torch_dtype",
        "dtype",
        "gradient_checkpointing",
        "model_type",
        "_name_or_path",
        "model_name_or_path",
        "use_peft",
        "lora_r",
        "lora_alpha",
        "lora_target_modules",
        "load_in_4bit",
        "load_in_8bit",
        "max_seq_length",
        "max_seq_len",
        "seq_len",
        "seq_length",
        "block_size",
        "max_length",
        "max_prompt_length",
        "packing",
        "dataset_text_field",
        "completion_only_loss",
        *(alias for aliases in kit.HINTS.values() for alias in aliases),
    }
)
#: MLflow's system metrics (mlflow >= 2.8) name each GPU of the logging node.
_SYSTEM_GPU = re.compile(r"^system/gpu_(\d+)_")
_SKIPPED_TAGS = frozenset({"mlflow.log-model.history"})
_SNIFF_INFO = re.compile(r'"info"\s*:\s*\{')
_SNIFF_ID = re.compile(r'"run_(?:id|uuid)"\s*:')
_SNIFF_EXP = re.compile(r'"experiment_id"\s*:')


@dataclass(frozen=True)
class _Point:
    value: float
    timestamp: int
    step: int


def _latest(points: Iterable[_Point]) -> _Point | None:
    """The value at the highest step, then the latest timestamp; later lines win ties."""
    best: _Point | None = None
    for point in points:
        if best is None or (point.step, point.timestamp) >= (best.step, best.timestamp):
            best = point
    return best


def _decode(data: bytes, uri: str, *, allow_empty: bool = False) -> str:
    if not data.strip() and not allow_empty:
        raise ParseError(uri, "empty file")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ParseError(uri, f"not UTF-8 text (byte {exc.start})") from exc


def _small(reader: UnitReader, key: str) -> bytes:
    """A param, tag or meta.yaml file: refused past ``MAX_TRACKER_VALUE_BYTES``."""
    return reader.read(key, limit=kit.MAX_TRACKER_VALUE_BYTES)


def _metric_lines(text: str, uri: str) -> list[_Point]:
    points = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        # MLflow < 1.0 wrote "<timestamp> <value>" without a step.
        if len(fields) not in (2, 3):
            raise ParseError(
                uri, "metric line should be '<timestamp_ms> <value> <step>'", f"line {number}"
            )
        try:
            timestamp = int(fields[0])
            value = float(fields[1])
            step = int(fields[2]) if len(fields) == 3 else 0
        except ValueError:
            raise ParseError(
                uri, f"metric line has a non-numeric field: {line.strip()!r}", f"line {number}"
            ) from None
        points.append(_Point(value, timestamp, step))
    return points


def _millis(value: Any, uri: str, key: str) -> int | None:
    result = kit.count(value, uri, key)
    return result or None  # 0 / null: not ended (or not started) yet


@dataclass
class _Run:
    """One MLflow run, whichever form it came in."""

    info: dict[str, Any]
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, _Point]
    metric_names: list[str]
    uri: str
    experiment_name: str | None = None
    folder_uri: str | None = None

    def where(self, kind: str, key: str | None = None) -> str:
        """The URI to name in an error about a param, tag or metric: its own file in a
        file store (``<run>/params/<key>``), the export file otherwise.
        """
        if self.folder_uri is None:
            return self.uri
        return f"{self.folder_uri}/{kind}/{key}" if key else f"{self.folder_uri}/{kind}"


class MlflowParser(Parser):
    """MLflow file-store run folders and REST exports → one row per run."""

    name: ClassVar[str] = "mlflow"
    version: ClassVar[int] = 1
    table: ClassVar[str] = "training_runs"
    schema: ClassVar[pa.Schema] = TRAINING_RUNS
    patterns: ClassVar[tuple[str, ...]] = ("*.mlflow.json",)
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".json",)
    priority: ClassVar[Mapping[str, int]] = {
        "identity": 4,
        "hardware": 5,
        "training": 3,
        "model": 6,
        "model_id": 4,
    }

    # -- detection -------------------------------------------------------------------

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """One unit per file-store run folder (with its experiment's meta.yaml) and per
        ``*.mlflow.json`` export; with ``forced``, every other JSON file as an export.
        """
        by_key = {info.key: info for info in objects}
        runs: dict[str, list[ObjectInfo]] = defaultdict(list)
        experiment_meta: dict[str, str] = {}
        for info in objects:
            match = _RUN_KEY.match(info.key)
            if match:
                runs[match["run"]].append(info)
                experiment_meta[match["run"]] = posixpath.join(
                    posixpath.dirname(match["run"]), "meta.yaml"
                )
        claimed: set[str] = set()
        units: list[Unit] = []
        for folder, members in sorted(runs.items()):
            exp_meta = by_key.get(experiment_meta[folder])
            if exp_meta is not None:
                members.append(exp_meta)
            members.sort()
            claimed.update(m.key for m in members)
            units.append(Unit(uri=store.uri(folder), key=folder, members=tuple(members)))
        exports, rest = self.single_units(
            store, [info for info in objects if info.key not in claimed], forced=forced
        )
        return units + exports, rest

    def claims_forced(self, key: str) -> bool:
        """With ``--format mlflow``: every JSON file as an export."""
        return key.lower().endswith(".json")

    def sniff(self, sample: Sample) -> bool:
        """A REST export: JSON with an ``info`` object holding ``run_id`` and
        ``experiment_id``.
        """
        head = sample.text().lstrip()
        if not head.startswith(("{", "[")):
            return False
        return all(p.search(head) for p in (_SNIFF_INFO, _SNIFF_ID, _SNIFF_EXP))

    # -- parsing ---------------------------------------------------------------------

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Parse a file-store run folder or an export file."""
        unit = reader.unit
        if _RUN_KEY.match(unit.members[0].key) or len(unit.members) > 1:
            runs = [self._file_store_run(reader)]
        else:
            (info,) = unit.members
            runs = self._export_runs(reader.read(info.key), unit.uri)
        rows = [self._row(run, unit.uri) for run in runs]
        seen: set[str] = set()
        for row in rows:
            if row["run_id"] in seen:
                raise ParseError(unit.uri, f"run {row['external_run_id']} appears twice")
            seen.add(row["run_id"])
        return conform(rows, self.schema)

    def _file_store_run(self, reader: UnitReader) -> _Run:
        unit = reader.unit
        folder = unit.key
        parts: dict[str, dict[str, str]] = {"params": {}, "metrics": {}, "tags": {}}
        meta_key: str | None = None
        exp_meta_key: str | None = None
        for member in unit.members:
            if member.key == f"{folder}/meta.yaml":
                meta_key = member.key
            elif not member.key.startswith(folder + "/"):
                exp_meta_key = member.key
            else:
                kind, _, name = member.key[len(folder) + 1 :].partition("/")
                if kind in parts and name:
                    parts[kind][name] = member.key
        if meta_key is None:
            raise ParseError(unit.uri, "MLflow run folder has no meta.yaml")
        meta = self._yaml(reader, meta_key)
        info = dict(meta)
        experiment_name = None
        if exp_meta_key is not None:
            exp = self._yaml(reader, exp_meta_key)
            experiment_name = kit.text(exp.get("name"))
        tags = {
            name: _decode(_small(reader, key), reader.uri(key), allow_empty=True)
            for name, key in sorted(parts["tags"].items())
            if name not in _SKIPPED_TAGS
        }
        params = {
            name: _decode(_small(reader, key), reader.uri(key), allow_empty=True)
            for name, key in sorted(parts["params"].items())
            if name in _PARAMS
        }
        metrics: dict[str, _Point] = {}
        for name, key in sorted(parts["metrics"].items()):
            if name not in _METRICS:
                continue
            uri = reader.uri(key)
            point = _latest(_metric_lines(_decode(reader.read(key), uri), uri))
            if point is not None:
                metrics[name] = point
        return _Run(
            info=info,
            params=params,
            tags=tags,
            metrics=metrics,
            metric_names=sorted(parts["metrics"]),
            uri=reader.uri(meta_key),
            experiment_name=experiment_name,
            folder_uri=unit.uri,
        )

    @staticmethod
    def _yaml(reader: UnitReader, key: str) -> dict[str, Any]:
        uri = reader.uri(key)
        try:
            value = yaml.safe_load(_decode(_small(reader, key), uri))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ParseError(
                uri, "invalid YAML", f"line {mark.line + 1}" if mark is not None else None
            ) from exc
        except RecursionError:
            raise ParseError(uri, "invalid YAML: nested too deeply") from None
        kit.check_yaml_value(value, uri, "meta.yaml")
        if not isinstance(value, dict):
            raise ParseError(uri, "meta.yaml is not a mapping")
        return value

    def _export_runs(self, data: bytes, uri: str) -> list[_Run]:
        document = kit.load_json(_decode(data, uri), uri)
        if isinstance(document, dict) and isinstance(document.get("runs"), list):
            items: list[Any] = document["runs"]
        elif isinstance(document, list):
            items = document
        else:
            items = [document]
        if not items:
            raise ParseError(uri, "no runs in the export")
        many = len(items) > 1 or not isinstance(document, dict) or "runs" in document
        return [
            self._export_run(item, uri, f"runs[{index}]" if many else None)
            for index, item in enumerate(items)
        ]

    def _export_run(self, item: Any, uri: str, where: str | None) -> _Run:
        def fail(reason: str) -> ParseError:
            return ParseError(uri, reason, where)

        if isinstance(item, dict) and isinstance(item.get("run"), dict):
            item = item["run"]
        if not isinstance(item, dict) or not isinstance(item.get("info"), dict):
            raise fail("not an MLflow run: no 'info' object")
        data = item.get("data") or {}
        if not isinstance(data, dict):
            raise fail("'data' should be an object")

        def pairs(section: str) -> list[dict[str, Any]]:
            entries = data.get(section) or []
            if not isinstance(entries, list):
                raise fail(f"data.{section} should be a list")
            for index, entry in enumerate(entries):
                if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                    raise fail(f"data.{section}[{index}] has no string 'key'")
            return entries

        params = {e["key"]: kit.text(e.get("value")) or "" for e in pairs("params")}
        tags = {
            e["key"]: str(e.get("value", ""))
            for e in pairs("tags")
            if e["key"] not in _SKIPPED_TAGS
        }
        points: dict[str, list[_Point]] = defaultdict(list)
        for index, entry in enumerate(pairs("metrics")):
            key = entry["key"]
            name = f"data.metrics[{index}]"
            value = entry.get("value")
            if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "-inf"):
                value = float(value)
            elif (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or abs(value) > 1e308  # an integer beyond any float
            ):
                raise fail(f"{name}.value should be a number, got {value!r:.40}")
            points[key].append(
                _Point(
                    float(value),
                    kit.count(entry.get("timestamp", 0), uri, f"{name}.timestamp") or 0,
                    kit.count(entry.get("step", 0), uri, f"{name}.step") or 0,
                )
            )
        metrics = {}
        for key, values in points.items():
            latest = _latest(values)
            if latest is not None:
                metrics[key] = latest
        return _Run(
            info=item["info"],
            params=params,
            tags=tags,
            metrics=metrics,
            metric_names=sorted(points),
            uri=uri,
        )

    # -- the row -------------------------------------------------------------------

    def _row(self, run: _Run, source_uri: str) -> dict[str, Any]:
        t = kit
        info, params, tags, uri = run.info, run.params, run.tags, run.uri
        run_id = t.text(info.get("run_id")) or t.text(info.get("run_uuid"))
        if not run_id:
            raise ParseError(uri, "not an MLflow run: missing 'run_id'")
        attributes: dict[str, Any] = {}
        status = info.get("status")
        if isinstance(status, int) and not isinstance(status, bool):
            if status not in _STATUS_CODES:
                raise ParseError(uri, f"unknown run status {status} (expected 1-5)")
            status = _STATUS_CODES[status]
        status_name = t.text(status)
        if status_name and status_name.upper() not in _STATUS_NAMES:
            raise ParseError(uri, f"unknown run status {status_name!r}")
        started_ms = _millis(info.get("start_time"), uri, "start_time")
        ended_ms = _millis(info.get("end_time"), uri, "end_time")

        def metric(name: str) -> float | None:
            point = run.metrics.get(name)
            return t.number(point.value, run.where("metrics", name), name) if point else None

        sources = [tags, params]
        hints_uri = run.folder_uri or uri  # a hint is a tag or a param: name the run
        tracker_name = t.text(info.get("run_name")) or t.text(tags.get("mlflow.runName"))
        job, job_basis = t.job_name(
            params, t.hint(sources, "job_name"), tracker_name, "mlflow_run_name"
        )
        if job_basis:
            attributes["job_name_basis"] = job_basis
        instance_type, _ = t.hint(sources, "instance_type")
        hinted_platform = t.hint(sources, "platform")
        platform: str | None
        platform_basis: str | None
        if not hinted_platform[0] and any(k.startswith("mlflow.databricks.") for k in tags):
            platform, platform_basis = "databricks", "mlflow.databricks.* tags"
        else:
            platform, platform_basis = t.platform_from(
                hinted_platform,
                program=t.text(tags.get("mlflow.source.name")),
                slurm=any(k.lower().startswith("slurm") for k in tags),
                instance_type=instance_type,
            )
        if platform_basis:
            attributes["platform_basis"] = platform_basis

        hinted_method, _ = t.hint(sources, "method")
        method, adapter = t.peft_method(None, params, run.where("params"))
        if adapter:
            attributes["adapter"] = adapter
        if hinted_method:
            method = hinted_method.lower()
        base_model, base_basis = t.base_model(
            [
                (params.get("model_name_or_path"), "mlflow_param.model_name_or_path"),
                (params.get("_name_or_path"), "mlflow_param._name_or_path"),
            ],
            attributes,
        )
        model_id, _ = t.hint(sources, "model_id")
        objective, _ = t.hint(sources, "objective")
        objective = objective or t.objective_from_metrics(run.metric_names)

        tokens, tokens_source = None, None
        for name in ("num_input_tokens_seen", "num_tokens"):
            value = metric(name)
            if value:
                tokens, tokens_source = t.count(value, run.where("metrics", name), name), name
                break
        if tokens_source:
            attributes["tokens_source"] = f"metric {tokens_source}"
        total_flos = metric("total_flos")
        if total_flos == 0.0:
            attributes["total_flos_zero"] = True  # not computed (e.g. TRL DPO), not zero work
        runtime = metric("train_runtime")
        wall = (ended_ms - started_ms) / 1000 if started_ms and ended_ms else None
        if wall is not None:
            attributes["wall_runtime_seconds"] = wall
        if runtime is not None:
            attributes["runtime_source"] = "metric train_runtime"
        elif wall is not None and (run.metrics or "per_device_train_batch_size" in params):
            # Only a training process's own wall clock: a run with neither Trainer
            # metrics nor arguments (a parent grouping child runs) spans their gaps.
            runtime = wall
            attributes["runtime_source"] = "end_time - start_time (tracking run wall clock)"
        steps = max((run.metrics[m].step for m in _METRICS if m in run.metrics), default=None)
        seq_len, seq_key = t.seq_len(params, run.where("params"))
        if seq_key:
            attributes["seq_len_source"] = seq_key
        per_device = t.count(
            params.get("per_device_train_batch_size"),
            run.where("params", "per_device_train_batch_size"),
            "per_device_train_batch_size",
        )
        grad_accum = t.count(
            params.get("gradient_accumulation_steps"),
            run.where("params", "gradient_accumulation_steps"),
            "gradient_accumulation_steps",
        )
        for key in ("num_train_epochs", "max_steps", "learning_rate"):
            setting = t.number(params.get(key), run.where("params", key), key)
            if setting is not None and not (key == "max_steps" and setting <= 0):
                attributes[key] = setting

        system_gpus = {m.group(1) for m in map(_SYSTEM_GPU.match, run.metric_names) if m}
        if system_gpus:
            attributes["system_metrics_gpus"] = len(system_gpus)
        hinted_per_node, _ = t.hint(sources, "gpus_per_node")
        gpu_count = t.count(hinted_per_node, hints_uri, "gpus_per_node") or len(system_gpus) or None
        hinted_nodes, nodes_alias = t.hint(sources, "num_nodes")
        nodes = t.count(hinted_nodes, hints_uri, "num_nodes")
        hinted_world, _ = t.hint(sources, "world_size")
        world_size = t.count(hinted_world, hints_uri, "world_size")
        hinted_count, _ = t.hint(sources, "instance_count")
        instance_count = t.count(hinted_count, hints_uri, "instance_count")
        hinted_accelerator, _ = t.hint(sources, "accelerator")
        accelerator, accelerator_count = t.accelerators(
            gpu_name=hinted_accelerator,
            gpu_count=gpu_count,
            nodes=nodes,
            nodes_basis=nodes_alias,
            world_size=world_size,
            instance_type=instance_type,
            instance_count=instance_count,
            attributes=attributes,
        )
        global_batch = (
            per_device * grad_accum * world_size
            if per_device and grad_accum and world_size
            else None
        )

        for key, extra in (
            ("experiment_id", info.get("experiment_id")),
            ("experiment_name", run.experiment_name),
            ("user", info.get("user_id") or tags.get("mlflow.user")),
            ("lifecycle_stage", info.get("lifecycle_stage")),
            ("artifact_uri", info.get("artifact_uri")),
            ("source_name", tags.get("mlflow.source.name")),
            ("git_commit", tags.get("mlflow.source.git.commit")),
            ("status", status_name),
        ):
            if not t.is_none(extra):
                attributes[key] = str(extra)
        parent = t.text(tags.get("mlflow.parentRunId"))
        row = {
            "run_id": f"mlflow:{run_id}",
            "platform": platform,
            "job_name": job,
            "external_run_id": run_id,
            "run_status": _STATUS_NAMES[status_name.upper()] if status_name else None,
            "started_at": t.from_epoch(started_ms / 1000, uri, "start_time")
            if started_ms
            else None,
            "ended_at": t.from_epoch(ended_ms / 1000, uri, "end_time") if ended_ms else None,
            "time_basis": "tracking_run" if started_ms else None,
            "model_id": model_id,
            "base_model": base_model,
            "base_model_basis": base_basis,
            "parent_run_id": f"mlflow:{parent}" if parent else None,
            "method": method,
            "objective": objective,
            "model_type": t.text(params.get("model_type")),
            "tokens": tokens,
            "tokens_basis": "logged" if tokens is not None else None,
            "epochs": metric("epoch"),
            "seq_len": seq_len,
            "per_device_batch": per_device,
            "grad_accum_steps": grad_accum,
            "world_size": world_size,
            "global_batch": global_batch,
            "steps": steps,
            "runtime_seconds": runtime,
            "precision": t.precision(params, run.where("params")),
            "gradient_checkpointing": t.flag(
                params.get("gradient_checkpointing"),
                run.where("params", "gradient_checkpointing"),
                "gradient_checkpointing",
            ),
            "instance_type": instance_type,
            "instance_count": instance_count,
            "accelerator": accelerator,
            "accelerator_count": accelerator_count,
            "reported_flops": total_flos if total_flos else None,
            "reported_flops_basis": "mlflow_total_flos" if total_flos else None,
            "tags": sorted(tags.items()) or None,
            "attributes": json.dumps(attributes, sort_keys=True, default=str),
            "source_uri": source_uri,
            "source_format": self.name,
        }
        t.check_row(row, uri)
        return row
