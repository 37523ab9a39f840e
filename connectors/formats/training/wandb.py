"""Weights & Biases runs: local run folders and JSON exports of the public API.

**Run folders.** ``wandb/run-<YYYYMMDD_HHMMSS>-<id>/files/`` (``offline-run-...`` for
offline runs) is one unit and one ``training_runs`` row, read from:

- ``config.yaml``: every key stored as ``{value, desc}`` (newer clients drop ``desc``),
  plus a ``_wandb`` block (client versions, ``start_time``) and ``wandb_version: 1``.
  transformers' ``WandbCallback`` puts ``TrainingArguments.to_dict()`` merged over the
  model config in it, ``peft_config`` for PEFT models and ``model/num_parameters``.
- ``wandb-summary.json``: the last value of every logged metric. The callback logs the
  Trainer's entries as ``train/*`` and ``eval/*`` (``train/global_step``,
  ``train/num_input_tokens_seen``, ``train/total_flos``, ``train/train_runtime``);
  W&B adds ``_runtime`` (process wall clock in seconds, restarting on resume),
  ``_timestamp`` (epoch seconds of the last record) and ``_step``.
- ``wandb-metadata.json``: ``startedAt`` (UTC), ``host``, ``os``, ``program``, ``gpu``,
  ``gpu_count`` and ``gpu_nvidia[]`` of the node that ran ``wandb.init`` (rank 0 only:
  a multi-node run shows one node's GPUs), ``slurm`` (SLURM_* variables) under Slurm.
- ``output.log`` (optional, first MiB only): the Trainer's start banner, whose
  "Total train batch size (w. parallel, distributed & accumulation)" gives the global
  batch and, divided by per-device batch × accumulation, the number of ranks.

The folder name's timestamp is the machine's local time, so it is kept as an
attribute only. Entity and project are not in the folder: its run id is
``wandb:<id>``.

**API exports.** A JSON object per run, a list of them, or ``{"runs": [...]}``, as
written from ``wandb.Api().runs(...)``: ``id``, ``name``, ``state``, ``created_at``
(UTC), ``config`` (plain or ``{value, desc}``), ``summary``, and optionally
``entity``/``project``/``path``, ``tags``, ``group``, ``job_type`` and ``metadata``
(the same object as ``wandb-metadata.json``). Claimed by the name ``*.wandb.json`` or
by content (an object with ``id``, ``config`` and ``summary``). Run id:
``wandb:<entity>/<project>/<id>`` when known.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import pyarrow as pa
import yaml

from connectors.formats.base import Parser, Sample, Unit, UnitReader
from connectors.formats.training import kit
from connectors.stores.base import ObjectInfo, Store
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS, conform

_RUN_DIR = re.compile(r"^(?:offline-)?run-(\d{8}_\d{6})-([^/]+)$")
_RUN_FILES = ("config.yaml", "wandb-summary.json", "wandb-metadata.json")
#: Bytes of output.log searched for the Trainer's start banner.
_BANNER_BYTES = 1 << 20
# transformers' Trainer._inner_training_loop logs these lines at INFO when training starts.
_BANNER = {
    "global_batch": re.compile(
        r"Total train batch size \(w\. parallel, distributed & accumulation\) = ([\d,]+)"
    ),
    "per_device_batch": re.compile(r"Instantaneous batch size per device = ([\d,]+)"),
    "grad_accum_steps": re.compile(r"Gradient Accumulation steps = ([\d,]+)"),
    "optimization_steps": re.compile(r"Total optimization steps = ([\d,]+)"),
    "num_examples": re.compile(r"Num examples = ([\d,]+)"),
    "trainable_parameters": re.compile(r"Number of trainable parameters = ([\d,]+)"),
}
_STATES = {"finished": "completed"}
_SNIFF_KEYS = (re.compile(r'"id"\s*:'), re.compile(r'"config"\s*:'), re.compile(r'"summary"\s*:'))
_SNIFF_RUN = re.compile(r'"(?:created_at|createdAt|state)"\s*:')


def run_folder(key: str) -> str | None:
    """The run folder of a file directly under ``run-*/files/``, else None."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[-2] == "files" and _RUN_DIR.match(parts[-3]):
        return "/".join(parts[:-2])
    return None


def _holds_run_files(folder: str, members: Sequence[ObjectInfo]) -> bool:
    """Whether a ``files/`` folder holds what a run writes (config, summary, metadata)."""
    return any(posixpath.basename(m.key) in _RUN_FILES for m in members)


def _decode(data: bytes, uri: str) -> str:
    if not data.strip():
        raise ParseError(uri, "empty file")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ParseError(uri, f"not UTF-8 text (byte {exc.start})") from exc


def _load_json(data: bytes, uri: str) -> Any:
    return kit.load_json(_decode(data, uri), uri)


def _object(value: Any, uri: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(uri, f"{what} is not a JSON object")
    return value


def unwrap_config(config: Mapping[str, Any], uri: str, *, strict: bool) -> dict[str, Any]:
    """A W&B config as plain values: ``{value, desc}`` entries unwrapped.

    ``strict`` (config.yaml): every entry but ``wandb_version`` must be wrapped.
    Otherwise (API exports) the config is unwrapped only when every entry is.
    """

    def wrapped(entry: Any) -> bool:
        return isinstance(entry, dict) and "value" in entry and set(entry) <= {"value", "desc"}

    entries = {k: v for k, v in config.items() if k != "wandb_version"}
    if strict:
        for key, entry in entries.items():
            if not wrapped(entry):
                raise ParseError(uri, f"config key {key!r} is not a {{value, desc}} entry")
    elif not entries or not all(wrapped(v) for v in entries.values()):
        return dict(entries)
    return {k: v["value"] for k, v in entries.items()}


def _peft_config(value: Any) -> dict[str, Any] | None:
    """The (first) adapter of a logged ``peft_config``: ``{name: {...}}`` or flat."""
    if not isinstance(value, dict) or not value:
        return None
    if "peft_type" in value:
        return value
    first = next(iter(value.values()))
    return first if isinstance(first, dict) and "peft_type" in first else None


def _banner(text: str, uri: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, pattern in _BANNER.items():
        match = pattern.search(text)
        if match:
            digits = match.group(1).replace(",", "")
            if not digits or len(digits) > 18:  # beyond INT64, or just commas
                raise ParseError(uri, f"implausible {name} in the Trainer banner: {digits:.30}")
            found[name] = int(digits)
    return found


def _command_line_args(args: Any) -> dict[str, Any]:
    """``--key value`` and ``--key=value`` pairs of a script's argument list (a flag with
    no value is True)."""
    if not isinstance(args, list):
        return {}
    found: dict[str, Any] = {}
    items = [a for a in args if isinstance(a, str)]
    index = 0
    while index < len(items):
        item = items[index]
        index += 1
        if not item.startswith("--") or len(item) <= 2:
            continue
        key, eq, value = item[2:].partition("=")
        if eq:
            found[key] = value
        elif index < len(items) and not items[index].startswith("--"):
            found[key] = items[index]
            index += 1
        else:
            found[key] = True
    return found


class WandbParser(Parser):
    """W&B run folders and API exports → one ``training_runs`` row per run."""

    name: ClassVar[str] = "wandb"
    version: ClassVar[int] = 2  # 2: the script's command line, output_dir from its folder
    table: ClassVar[str] = "training_runs"
    schema: ClassVar[pa.Schema] = TRAINING_RUNS
    patterns: ClassVar[tuple[str, ...]] = ("*.wandb.json",)
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".json",)
    priority: ClassVar[Mapping[str, int]] = {
        "identity": 3,
        "hardware": 3,
        "training": 2,
        "model": 5,
        "model_id": 3,
    }

    # -- detection -------------------------------------------------------------------

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Run folders (files directly under ``run-*/files/``) and ``*.wandb.json``
        exports; with ``forced``, every other JSON file as an export.
        """
        return self.group_units(store, objects, run_folder, forced=forced, keep=_holds_run_files)

    def claims_forced(self, key: str) -> bool:
        """With ``--format wandb``: every JSON file as an export."""
        return key.lower().endswith(".json")

    def sniff(self, sample: Sample) -> bool:
        """An API export: JSON whose first object has ``id``, ``config``, ``summary``
        and ``created_at`` or ``state``.
        """
        head = sample.text().lstrip()
        if not head.startswith(("{", "[")):
            return False
        return all(p.search(head) for p in _SNIFF_KEYS) and bool(_SNIFF_RUN.search(head))

    # -- parsing ---------------------------------------------------------------------

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Parse a run folder or an export file."""
        unit = reader.unit
        if run_folder(unit.members[0].key) is not None:
            return conform([self._folder_row(reader)], self.schema)
        (info,) = unit.members
        return conform(self._export_rows(reader.read(info.key), unit.uri), self.schema)

    def _folder_row(self, reader: UnitReader) -> dict[str, Any]:
        unit = reader.unit
        files = {posixpath.basename(m.key): m for m in unit.members}
        if "config.yaml" not in files and "wandb-summary.json" not in files:
            raise ParseError(unit.uri, "W&B run folder has neither config.yaml nor summary")
        config: dict[str, Any] = {}
        if "config.yaml" in files:
            key = files["config.yaml"].key
            uri = reader.uri(key)
            text = _decode(reader.read(key, limit=kit.MAX_SIDECAR_BYTES), uri)
            try:
                raw = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"line {mark.line + 1}" if mark is not None else None
                raise ParseError(uri, "invalid YAML", where) from exc
            except RecursionError:
                raise ParseError(uri, "invalid YAML: nested too deeply") from None
            kit.check_yaml_value(raw, uri, "config.yaml")
            if not isinstance(raw, dict):
                raise ParseError(uri, "config.yaml is not a mapping of keys")
            config = unwrap_config(raw, uri, strict=True)
        summary: dict[str, Any] = {}
        summary_uri = unit.uri
        if "wandb-summary.json" in files:
            key = files["wandb-summary.json"].key
            summary_uri = reader.uri(key)
            data = reader.read(key, limit=kit.MAX_SIDECAR_BYTES)
            summary = _object(_load_json(data, summary_uri), summary_uri, "summary")
        metadata: dict[str, Any] = {}
        metadata_uri = unit.uri
        if "wandb-metadata.json" in files:
            key = files["wandb-metadata.json"].key
            metadata_uri = reader.uri(key)
            data = reader.read(key, limit=kit.MAX_SIDECAR_BYTES)
            metadata = _object(_load_json(data, metadata_uri), metadata_uri, "metadata")
        banner: dict[str, int] = {}
        if "output.log" in files:
            info = files["output.log"]
            head = reader.read_range(info.key, 0, min(info.size, _BANNER_BYTES))
            banner = _banner(head.decode("utf-8", errors="replace"), reader.uri(info.key))
        match = _RUN_DIR.match(posixpath.basename(unit.key))
        assert match is not None  # units() only groups folders with that name
        stamp, run_id = match.groups()
        attributes: dict[str, Any] = {"folder_started_local": stamp}
        # The script's command line (wandb-metadata.json "args"), below what the run
        # logged in its config; a relative output_dir is relative to the folder the
        # script ran in, the one holding wandb/ — the same folder the checkpoints name.
        command_line = _command_line_args(metadata.get("args"))
        if command_line:
            attributes["command_line_args"] = sorted(command_line)
            config = {**command_line, **config}
        output_dir = config.get("output_dir")
        cwd, sep, _ = unit.key.rpartition("wandb/")
        if (
            isinstance(output_dir, str)
            and sep
            and not output_dir.startswith(("/", "~"))
            and ("://" not in output_dir)
        ):
            config = {**config, "output_dir": posixpath.normpath(posixpath.join(cwd, output_dir))}
        return self._row(
            run_id=f"wandb:{run_id}",
            external_run_id=run_id,
            config=config,
            summary=summary,
            metadata=metadata,
            banner=banner,
            uris=(
                reader.uri(files["config.yaml"].key) if "config.yaml" in files else unit.uri,
                summary_uri,
                metadata_uri,
            ),
            source_uri=unit.uri,
            attributes=attributes,
        )

    def _export_rows(self, data: bytes, uri: str) -> list[dict[str, Any]]:
        document = _load_json(data, uri)
        if isinstance(document, dict) and isinstance(document.get("runs"), list):
            runs: list[Any] = document["runs"]
        elif isinstance(document, list):
            runs = document
        else:
            runs = [document]
        if not runs:
            raise ParseError(uri, "no runs in the export")
        rows = []
        seen: set[str] = set()
        for index, run in enumerate(runs):
            where = f"runs[{index}]" if len(runs) > 1 or isinstance(document, list) else None
            rows.append(self._export_row(run, uri, where))
            if rows[-1]["run_id"] in seen:
                raise ParseError(uri, f"run {rows[-1]['run_id']} appears twice", where)
            seen.add(rows[-1]["run_id"])
        return rows

    def _export_row(self, run: Any, uri: str, where: str | None) -> dict[str, Any]:
        def fail(reason: str) -> ParseError:
            return ParseError(uri, reason, where)

        if not isinstance(run, dict):
            raise fail("not a W&B run object")
        run_id = run.get("id")
        if not isinstance(run_id, str) or not run_id.strip():
            raise fail("not a W&B run export: missing string 'id'")
        sections: dict[str, dict[str, Any]] = {}
        for key, alias in (("config", "json_config"), ("summary", "summaryMetrics")):
            value = run.get(key, run.get(alias))
            if isinstance(value, str):  # GraphQL returns these as JSON text
                try:
                    value = json.loads(value)
                except (json.JSONDecodeError, RecursionError):
                    raise fail(f"{key!r} is a string that is not JSON") from None
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise fail(f"{key!r} should be an object, got {type(value).__name__}")
            sections[key] = value
        if "config" not in run and "summary" not in run and not any(sections.values()):
            raise fail("not a W&B run export: no 'config' or 'summary'")
        metadata = run.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise fail("'metadata' should be an object")
        entity, project = self._path(run, run_id)
        full_id = f"{entity}/{project}/{run_id}" if entity and project else run_id
        attributes: dict[str, Any] = {}
        for key in ("group", "job_type", "url", "entity", "project"):
            if kit.text(run.get(key)):
                attributes[key] = run[key]
        if entity and project:
            attributes.update(entity=entity, project=project)
        tags_list = run.get("tags") or []
        if not isinstance(tags_list, list):
            raise fail("'tags' should be a list")
        state = kit.text(run.get("state"))
        name = kit.text(run.get("name") or run.get("display_name") or run.get("displayName"))
        started = kit.parse_iso(run.get("created_at", run.get("createdAt")), uri, "created_at")
        config = unwrap_config(sections["config"], uri, strict=False)
        return self._row(
            run_id=f"wandb:{full_id}",
            external_run_id=run_id,
            config=config,
            summary=sections["summary"],
            metadata=metadata,
            banner={},
            uris=(uri, uri, uri),
            source_uri=uri,
            attributes=attributes,
            state=state.lower() if state else None,
            tracker_name=name,
            started_override=started,
            tags={f"wandb:{t}": "true" for t in tags_list if isinstance(t, str)},
        )

    @staticmethod
    def _path(run: dict[str, Any], run_id: str) -> tuple[str | None, str | None]:
        path = run.get("path")
        if isinstance(path, str):
            path = path.split("/")
        if isinstance(path, list) and len(path) == 3 and all(isinstance(p, str) for p in path):
            return path[0], path[1]
        entity, project = kit.text(run.get("entity")), kit.text(run.get("project"))
        if entity and project:
            return entity, project
        url = kit.text(run.get("url"))
        match = re.search(r"/([^/]+)/([^/]+)/runs/" + re.escape(run_id), url or "")
        return (match.group(1), match.group(2)) if match else (None, None)

    # -- the row -------------------------------------------------------------------

    def _row(
        self,
        *,
        run_id: str,
        external_run_id: str,
        config: dict[str, Any],
        summary: dict[str, Any],
        metadata: dict[str, Any],
        banner: dict[str, int],
        uris: tuple[str, str, str],
        source_uri: str,
        attributes: dict[str, Any],
        state: str | None = None,
        tracker_name: str | None = None,
        started_override: datetime | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        config_uri, summary_uri, metadata_uri = uris
        t = kit
        sources = [config]

        def metric(name: str) -> float | None:
            return t.number(summary.get(name), summary_uri, name)

        # Job, platform, model.
        job, job_basis = t.job_name(
            config, t.hint(sources, "job_name"), tracker_name, "wandb_run_name"
        )
        if job_basis:
            attributes["job_name_basis"] = job_basis
        sharding = t.parameter_sharding(config)
        if sharding:
            attributes["parameter_sharding"] = sharding
        slurm = metadata.get("slurm") if isinstance(metadata.get("slurm"), dict) else None
        instance_type, _ = t.hint(sources, "instance_type")
        platform, platform_basis = t.platform_from(
            t.hint(sources, "platform"),
            program=t.text(metadata.get("program")),
            os_name=t.text(metadata.get("os")),
            slurm=slurm is not None,
            instance_type=instance_type,
        )
        if platform_basis:
            attributes["platform_basis"] = platform_basis
        peft = _peft_config(config.get("peft_config"))
        hinted_method, _ = t.hint(sources, "method")
        method, adapter = t.peft_method(peft, config, config_uri)
        if adapter:
            attributes["adapter"] = adapter
        if hinted_method:
            method = hinted_method.lower()
        elif method is None and "model_type" in config and "per_device_train_batch_size" in config:
            # WandbCallback logs peft_config whenever the model has one: none means full.
            method = "full"
        candidates: list[tuple[Any, str]] = []
        if peft:
            candidates.append((peft.get("base_model_name_or_path"), "wandb_config.peft_config"))
        candidates += [
            (config.get("model_name_or_path"), "wandb_config.model_name_or_path"),
            (config.get("_name_or_path"), "wandb_config._name_or_path"),
        ]
        base_model, base_basis = t.base_model(candidates, attributes)
        model_id, _ = t.hint(sources, "model_id")
        objective, _ = t.hint(sources, "objective")
        objective = objective or t.objective_from_metrics(list(summary))

        # Amounts of work.
        tokens, tokens_source = None, None
        for key in ("train/num_input_tokens_seen", "train/num_tokens"):
            value = t.count(summary.get(key), summary_uri, key)
            if value:
                tokens, tokens_source = value, key
                break
        if tokens_source:
            attributes["tokens_source"] = tokens_source
        total_flos = metric("train/total_flos")
        if total_flos == 0.0:
            attributes["total_flos_zero"] = True  # not computed (e.g. TRL DPO), not zero work
        runtime = metric("train/train_runtime")
        wall = metric("_runtime")
        if wall is not None:
            attributes["wall_runtime_seconds"] = wall
        if runtime is not None:
            attributes["runtime_source"] = "train/train_runtime"
        elif wall is not None:
            runtime = wall
            attributes["runtime_source"] = "_runtime (process wall clock)"
        seq_len, seq_key = t.seq_len(config, config_uri)
        if seq_key:
            attributes["seq_len_source"] = seq_key
        per_device = t.count(
            config.get("per_device_train_batch_size"), config_uri, "per_device_train_batch_size"
        )
        grad_accum = t.count(
            config.get("gradient_accumulation_steps"), config_uri, "gradient_accumulation_steps"
        )
        for key in ("num_train_epochs", "max_steps", "learning_rate"):
            setting = t.number(config.get(key), config_uri, key)
            if setting is not None and not (key == "max_steps" and setting <= 0):
                attributes[key] = setting
        if banner:
            attributes["output_log_banner"] = banner
            per_device = per_device or banner.get("per_device_batch")
            grad_accum = grad_accum or banner.get("grad_accum_steps")

        # Hardware.
        gpu_names = [
            g["name"]
            for g in metadata.get("gpu_nvidia") or []
            if isinstance(g, dict) and isinstance(g.get("name"), str)
        ]
        if len(set(gpu_names)) > 1:
            attributes["gpu_names"] = sorted(set(gpu_names))
        gpu_count = t.count(metadata.get("gpu_count"), metadata_uri, "gpu_count")
        if gpu_count is None and gpu_names:
            gpu_count = len(gpu_names)
        if gpu_count is not None:
            attributes["gpu_count_per_node"] = gpu_count
        hinted_per_node, _ = t.hint(sources, "gpus_per_node")
        gpu_count = t.count(hinted_per_node, config_uri, "gpus_per_node") or gpu_count
        hinted_nodes, _ = t.hint(sources, "num_nodes")
        nodes = t.count(hinted_nodes, config_uri, "num_nodes")
        nodes_basis = "num_nodes" if nodes else None
        if nodes is None and slurm is not None:
            for key in ("nnodes", "job_num_nodes", "SLURM_NNODES", "SLURM_JOB_NUM_NODES"):
                nodes = t.count(slurm.get(key), metadata_uri, f"slurm.{key}")
                if nodes:
                    nodes_basis = f"slurm {key}"
                    break
        hinted_world, _ = t.hint(sources, "world_size")
        world_size = t.count(hinted_world, config_uri, "world_size")
        global_batch = banner.get("global_batch")
        if world_size:
            attributes["world_size_basis"] = "world_size"
        elif (
            global_batch
            and per_device
            and grad_accum
            and not global_batch % (per_device * grad_accum)
        ):
            world_size = global_batch // (per_device * grad_accum)
            attributes["world_size_basis"] = (
                "output.log total train batch size ÷ (per-device batch × accumulation)"
            )
        if global_batch is None and per_device and grad_accum and world_size:
            global_batch = per_device * grad_accum * world_size
        hinted_count, _ = t.hint(sources, "instance_count")
        instance_count = t.count(hinted_count, config_uri, "instance_count")
        hinted_accelerator, _ = t.hint(sources, "accelerator")
        accelerator, accelerator_count = t.accelerators(
            gpu_name=hinted_accelerator
            or t.text(metadata.get("gpu"))
            or (gpu_names[0] if gpu_names else None),
            gpu_count=gpu_count,
            nodes=nodes,
            nodes_basis=nodes_basis,
            world_size=world_size,
            instance_type=instance_type,
            instance_count=instance_count,
            attributes=attributes,
        )

        # Times.
        started = started_override or t.parse_iso(
            metadata.get("startedAt"), metadata_uri, "startedAt"
        )
        wandb_block: dict[str, Any] = (
            config["_wandb"] if isinstance(config.get("_wandb"), dict) else {}
        )
        if started is None:
            start_time = t.number(wandb_block.get("start_time"), config_uri, "_wandb.start_time")
            started = (
                t.from_epoch(start_time, config_uri, "_wandb.start_time") if start_time else None
            )
        last = metric("_timestamp")
        ended = t.from_epoch(last, summary_uri, "_timestamp") if last else None
        if state is not None:
            run_status: str | None = _STATES.get(state, state)
        else:  # a folder has no state: the Trainer's final summary says training ended
            run_status = "completed" if "train/train_runtime" in summary else None

        for key, value in (
            ("host", metadata.get("host")),
            ("os", metadata.get("os")),
            ("program", metadata.get("program")),
            (
                "git_commit",
                (metadata.get("git") or {}).get("commit")
                if isinstance(metadata.get("git"), dict)
                else None,
            ),
            ("cuda_version", metadata.get("cudaVersion")),
            ("wandb_version", wandb_block.get("cli_version")),
            ("transformers_version", wandb_block.get("huggingface_version")),
            ("summary_step", summary.get("_step")),
        ):
            if not t.is_none(value):
                attributes[key] = value
        if slurm is not None:
            attributes["slurm"] = {
                k: v
                for k, v in slurm.items()
                if k.lower().removeprefix("slurm_")
                in (
                    "job_id",
                    "job_name",
                    "cluster_name",
                    "nnodes",
                    "job_num_nodes",
                    "job_partition",
                )
            }
        num_parameters = t.count(
            config.get("model/num_parameters"), config_uri, "model/num_parameters"
        )
        params_total = num_parameters or None
        steps = t.count(summary.get("train/global_step"), summary_uri, "train/global_step")
        row = {
            "run_id": run_id,
            "platform": platform,
            "job_name": job,
            "external_run_id": external_run_id,
            "run_status": run_status,
            "started_at": started,
            "ended_at": ended,
            "time_basis": "process" if started or ended else None,
            "model_id": model_id,
            "base_model": base_model,
            "base_model_basis": base_basis,
            "method": method,
            "objective": objective,
            "model_type": t.text(config.get("model_type")),
            "params_total": params_total,
            "params_basis": "wandb_config.model/num_parameters" if params_total else None,
            "tokens": tokens,
            "tokens_basis": "logged" if tokens is not None else None,
            "epochs": metric("train/epoch"),
            "seq_len": seq_len,
            "per_device_batch": per_device,
            "grad_accum_steps": grad_accum,
            "world_size": world_size,
            "global_batch": global_batch,
            "steps": steps,
            "runtime_seconds": runtime,
            "precision": t.precision(config, config_uri),
            "gradient_checkpointing": t.flag(
                config.get("gradient_checkpointing"), config_uri, "gradient_checkpointing"
            ),
            "instance_type": instance_type,
            "instance_count": instance_count,
            "accelerator": accelerator,
            "accelerator_count": accelerator_count,
            "reported_flops": total_flos if total_flos else None,
            "reported_flops_basis": "wandb_train/total_flos" if total_flos else None,
            "tags": sorted(tags.items()) if tags else None,
            "attributes": json.dumps(attributes, sort_keys=True, default=str),
            "source_uri": source_uri,
            "source_format": self.name,
        }
        t.check_row(row, source_uri)
        return row
