"""The Weights & Biases parser: run folders and API exports, on sample_data/ and edge cases."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from connectors.formats.base import Sample, UnitReader
from connectors.formats.training.mlflow import MlflowParser
from connectors.formats.training.wandb import WandbParser
from connectors.stores.local import LocalStore
from reconcile.cli import cli
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS

LEGAL = "gcp/acme-training-eu/legal-llama"
RUN_DIR = f"{LEGAL}/wandb/run-20250411_060312-k3v9x2ab"
JOB = "llama31-8b-legal-fullft-20250411"


def parse(root: Path, forced: bool = False) -> list[dict]:
    """Every row the W&B parser makes of ``root`` (claimed by name, else by content)."""
    store = LocalStore(root)
    parser = WandbParser()
    units, rest = parser.units(store, list(store.list_objects()), forced=forced)
    units += [
        parser.unit_for(store, info)
        for info in rest
        if info.key.endswith(".json") and parser.sniff(Sample(store, info))
    ]
    rows = []
    for unit in units:
        table = parser.parse_unit(UnitReader(store, unit))
        assert table.schema == TRAINING_RUNS
        rows += table.to_pylist()
    return rows


@pytest.fixture(scope="module")
def legal_row(sample_data: Path) -> dict:
    (row,) = parse(sample_data / LEGAL / "wandb")
    return row


def test_sample_run_folder_gives_the_legal_run(legal_row, sample_data):
    row = legal_row
    assert row["run_id"] == "wandb:k3v9x2ab"
    assert row["external_run_id"] == "k3v9x2ab"
    # output_dir /mnt/gcs/acme-training-eu/legal-llama/<job>: the checkpoint folder's name.
    assert row["job_name"] == JOB
    assert row["platform"] == "gcp"  # Ubuntu GKE kernel "...-gke" in wandb-metadata os
    assert row["run_status"] == "completed"
    assert row["started_at"] == datetime(2025, 4, 11, 6, 3, 12, 481920, tzinfo=UTC)
    assert row["ended_at"] == datetime(2025, 4, 11, 23, 19, 10, 939600, tzinfo=UTC)
    assert row["time_basis"] == "process"
    assert row["steps"] == 2300
    assert row["epochs"] == 2.0
    assert row["tokens"] == 2300 * 256 * 4096 == 2_411_724_800
    assert row["tokens_basis"] == "logged"
    assert row["reported_flops"] == 6 * 2_411_724_800 * 7_504_924_672
    assert row["reported_flops_basis"] == "wandb_train/total_flos"
    assert row["runtime_seconds"] == 61840.2
    assert row["per_device_batch"] == 2
    assert row["grad_accum_steps"] == 8
    assert row["world_size"] == 256 // (2 * 8) == 16  # output.log banner: total batch 256
    assert row["global_batch"] == 256
    assert row["seq_len"] == 4096  # block_size, not the model config's max_length 20
    assert row["accelerator"] == "NVIDIA H100 SXM5-80GB"
    assert row["accelerator_count"] == 16  # 8 GPUs on node 0, two nodes
    assert row["precision"] == "bf16"
    assert row["gradient_checkpointing"] is True
    assert row["method"] == "full"
    assert row["model_type"] == "llama"
    assert row["base_model"] == "meta-llama/Llama-3.1-8B"
    assert row["base_model_basis"] == "wandb_config._name_or_path"
    assert row["params_total"] == 8_030_261_248
    assert row["params_trainable"] is None
    assert row["parent_run_id"] is None
    assert row["source_format"] == "wandb"
    assert row["source_uri"] == (sample_data / RUN_DIR).resolve().as_uri()
    attributes = json.loads(row["attributes"])
    assert attributes["wall_runtime_seconds"] == 62158.5
    assert attributes["runtime_source"] == "train/train_runtime"
    assert attributes["nodes"] == 2
    assert attributes["gpu_count_per_node"] == 8
    assert attributes["job_name_basis"] == "output_dir"
    assert attributes["folder_started_local"] == "20250411_060312"
    # FSDP prints each rank's shard in the banner: 8,030,261,248 / 16.
    assert attributes["output_log_banner"]["trainable_parameters"] == 8_030_261_248 // 16


def test_sample_agrees_with_the_runs_checkpoint_folder(legal_row, sample_data):
    state = json.loads((sample_data / LEGAL / JOB / "trainer_state.json").read_text())
    summary = state["log_history"][-1]
    assert legal_row["steps"] == state["global_step"]
    assert legal_row["tokens"] == state["num_input_tokens_seen"]
    assert legal_row["reported_flops"] == state["total_flos"]
    assert legal_row["runtime_seconds"] == summary["train_runtime"]
    assert legal_row["per_device_batch"] == state["train_batch_size"]


def _folder(
    root: Path, files: dict[str, object], name: str = "run-20250101_000000-abc12345"
) -> Path:
    """A W&B run folder with ``files`` (dicts and lists written as JSON)."""
    target = root / "wandb" / name / "files"
    target.mkdir(parents=True)
    for filename, content in files.items():
        (target / filename).write_text(content if isinstance(content, str) else json.dumps(content))
    return target


def _config(**values: object) -> str:
    return yaml.safe_dump(
        {
            "wandb_version": 1,
            "_wandb": {"value": {"cli_version": "0.19.8"}},
            **{k: {"value": v} for k, v in values.items()},
        }
    )


def test_peft_runs_and_slurm_nodes(tmp_path):
    _folder(
        tmp_path,
        {
            "config.yaml": _config(
                peft_config={
                    "default": {
                        "peft_type": "LORA",
                        "r": 8,
                        "lora_alpha": 16,
                        "base_model_name_or_path": "Qwen/Qwen2.5-0.5B",
                    }
                },
                _name_or_path="/scratch/models/qwen-0.5b",
                quantization_config={"load_in_4bit": True},
                model_type="qwen2",
                per_device_train_batch_size=8,
                gradient_accumulation_steps=1,
                output_dir="/scratch/out/checkpoints",
                run_name="/scratch/out/checkpoints",
            ),
            "wandb-summary.json": {"train/global_step": 10, "train/num_tokens": 40960.0},
            "wandb-metadata.json": {
                "gpu": "NVIDIA A100-SXM4-80GB",
                "gpu_count": 4,
                "slurm": {"job_id": "777", "nnodes": "2", "job_name": "qlora-test"},
            },
        },
    )
    (row,) = parse(tmp_path)
    assert row["method"] == "qlora"
    assert row["base_model"] == "Qwen/Qwen2.5-0.5B"
    assert row["base_model_basis"] == "wandb_config.peft_config"
    assert row["platform"] == "slurm"
    assert row["accelerator"] == "NVIDIA A100 SXM4-80GB"
    assert row["accelerator_count"] == 8  # SLURM_NNODES 2 × 4 GPUs
    assert row["tokens"] == 40960  # TRL's num_tokens
    assert row["objective"] == "sft"
    assert row["job_name"] == "out"  # every other folder of output_dir is generic
    assert row["run_status"] is None  # no final Trainer summary, no W&B state
    attributes = json.loads(row["attributes"])
    assert attributes["adapter"] == {"r": 8, "lora_alpha": 16}
    assert attributes["base_model_candidates"] == [
        "Qwen/Qwen2.5-0.5B",
        "/scratch/models/qwen-0.5b",
    ]
    assert attributes["slurm"]["job_id"] == "777"


def test_without_output_log_the_node_count_is_a_lower_bound(tmp_path):
    _folder(
        tmp_path,
        {
            "config.yaml": _config(
                _name_or_path="/data/base", model_type="llama", per_device_train_batch_size=1
            ),
            "wandb-summary.json": {"train/total_flos": 0.0, "_runtime": 100.5, "_timestamp": 1.7e9},
            "wandb-metadata.json": {"gpu_nvidia": [{"name": "NVIDIA H100 80GB HBM3"}] * 8},
        },
    )
    (row,) = parse(tmp_path)
    assert row["accelerator_count"] == 8
    attributes = json.loads(row["attributes"])
    assert "lower bound" in attributes["accelerator_count_basis"]
    assert row["reported_flops"] is None and attributes["total_flos_zero"] is True
    assert row["runtime_seconds"] == 100.5
    assert attributes["runtime_source"] == "_runtime (process wall clock)"
    assert row["base_model"] is None and attributes["base_model_raw"] == "/data/base"
    assert row["job_name"] is None  # no output_dir, run_name or W&B name in a folder
    assert row["world_size"] is None and row["global_batch"] is None


def test_api_exports_single_list_and_runs_wrapper(tmp_path):
    run = {
        "id": "zz9y8x7w",
        "name": "legal-sweep-3",
        "state": "crashed",
        "created_at": "2025-04-14T08:00:00",
        "path": ["acme", "legal-llama", "zz9y8x7w"],
        "tags": ["sweep", "legal"],
        "group": "sweep-lr",
        "config": {"learning_rate": 2e-5, "model_type": "llama", "max_steps": 50},
        "summary": {"train/global_step": 50, "_runtime": 812.0, "_timestamp": 1744618412.0},
        "metadata": {"gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 8, "os": "Linux-6.8.0-1015-aws"},
    }
    finished = dict(run, id="aa1b2c3d", state="finished", path="acme/legal-llama/aa1b2c3d")
    (tmp_path / "one.wandb.json").write_text(json.dumps(run))
    (tmp_path / "list-export.json").write_text(json.dumps([finished]))
    (tmp_path / "wrapped.json").write_text(json.dumps({"runs": [dict(run, id="bb2c3d4e")]}))
    rows = {r["external_run_id"]: r for r in parse(tmp_path)}
    assert set(rows) == {"zz9y8x7w", "aa1b2c3d", "bb2c3d4e"}
    row = rows["zz9y8x7w"]
    assert row["run_id"] == "wandb:acme/legal-llama/zz9y8x7w"
    assert row["job_name"] == "legal-sweep-3"  # the W&B run name: no output_dir or run_name
    assert row["run_status"] == "crashed"
    assert rows["aa1b2c3d"]["run_status"] == "completed"
    assert row["started_at"] == datetime(2025, 4, 14, 8, 0, tzinfo=UTC)
    assert row["platform"] == "aws"
    assert row["steps"] == 50
    assert dict(row["tags"]) == {"wandb:sweep": "true", "wandb:legal": "true"}
    assert json.loads(row["attributes"])["group"] == "sweep-lr"
    assert rows["bb2c3d4e"]["run_id"] == "wandb:acme/legal-llama/bb2c3d4e"


def test_export_sniffing_is_specific(tmp_path):
    (tmp_path / "export.json").write_text(
        json.dumps({"id": "a", "state": "finished", "config": {}, "summary": {"_step": 1}})
    )
    (tmp_path / "mlflow.json").write_text(
        json.dumps({"run": {"info": {"run_id": "x", "experiment_id": "1"}, "data": {}}})
    )
    (tmp_path / "trainer_state.json").write_text(json.dumps({"global_step": 1, "log_history": []}))
    store = LocalStore(tmp_path)
    sniffed = {
        info.key: (
            WandbParser().sniff(Sample(store, info)),
            MlflowParser().sniff(Sample(store, info)),
        )
        for info in store.list_objects()
    }
    assert sniffed == {
        "export.json": (True, False),
        "mlflow.json": (False, True),
        "trainer_state.json": (False, False),
    }


def test_only_files_directly_under_a_run_folder_are_claimed(tmp_path):
    files = _folder(
        tmp_path,
        {"wandb-summary.json": {"train/global_step": 3}},
        name="offline-run-20250101_000000-off11111",
    )
    (files / "media").mkdir()
    (files / "media" / "table.json").write_text("{}")
    (
        tmp_path / "wandb" / "offline-run-20250101_000000-off11111" / "run-off11111.wandb"
    ).write_bytes(b"\x00binary")
    (tmp_path / "wandb" / "debug.log").write_text("log")
    store = LocalStore(tmp_path)
    units, rest = WandbParser().units(store, list(store.list_objects()), forced=False)
    assert [u.key for u in units] == ["wandb/offline-run-20250101_000000-off11111"]
    assert [m.key.rsplit("/", 1)[1] for m in units[0].members] == ["wandb-summary.json"]
    assert sorted(i.key.rsplit("/", 1)[1] for i in rest) == [
        "debug.log",
        "run-off11111.wandb",
        "table.json",
    ]


@pytest.mark.parametrize(
    ("files", "bad_file", "message"),
    [
        ({"config.yaml": "a: [unclosed\n"}, "config.yaml", "invalid YAML"),
        ({"config.yaml": "learning_rate: 0.1\n"}, "config.yaml", "is not a {value, desc} entry"),
        ({"wandb-summary.json": '{"_step": 1,'}, "wandb-summary.json", "invalid JSON"),
        ({"wandb-summary.json": "[1, 2]"}, "wandb-summary.json", "summary is not a JSON object"),
        (
            {"wandb-summary.json": '{"train/global_step": "many"}'},
            "wandb-summary.json",
            "'train/global_step' should be a number",
        ),
        (
            {"wandb-summary.json": "{}", "wandb-metadata.json": '{"startedAt": "yesterday"}'},
            "wandb-metadata.json",
            "'startedAt' is not an ISO-8601 timestamp",
        ),
        ({"wandb-summary.json": ""}, "wandb-summary.json", "empty file"),
    ],
)
def test_bad_run_folders_raise_parse_error_naming_the_file(tmp_path, files, bad_file, message):
    folder = tmp_path / "wandb" / "run-20250101_000000-bad00000" / "files"
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_text(content)
    with pytest.raises(ParseError, match=message) as caught:
        parse(tmp_path)
    assert f"run-20250101_000000-bad00000/files/{bad_file}" in str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{"name": "x", "config": {}, "summary": {}}], "missing string 'id'"),
        ({"id": "a", "config": {}, "summary": [1]}, "'summary' should be an object"),
        ({"id": "a", "config": {}, "summary": {}, "created_at": "soon"}, "not an ISO-8601"),
        ([], "no runs in the export"),
    ],
)
def test_bad_exports_raise_parse_error(tmp_path, document, message):
    (tmp_path / "bad.wandb.json").write_text(json.dumps(document))
    with pytest.raises(ParseError, match=message) as caught:
        parse(tmp_path)
    assert "bad.wandb.json" in str(caught.value)


def _ingest(db: Path, source: Path, *flags: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", *flags, str(source)])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def test_cli_quarantines_a_bad_folder_and_loads_the_rest(tmp_path, sample_data):
    source = tmp_path / "src"
    shutil.copytree(sample_data / LEGAL / "wandb", source / "wandb")
    bad = source / "wandb" / "run-20250412_000000-bad00000" / "files"
    bad.mkdir(parents=True)
    (bad / "wandb-summary.json").write_text('{"train/global_step": ')
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(source)])
    assert result.exit_code == 3, result.output
    (line,) = [x for x in result.stderr.splitlines() if x]
    assert line.startswith("quarantined: file://")
    assert "run-20250412_000000-bad00000/files/wandb-summary.json" in line
    assert "invalid JSON" in line
    assert "1 new" in result.stdout


def test_reingest_is_a_no_op_and_redelivery_replaces(tmp_path, sample_data):
    source = tmp_path / "src"
    shutil.copytree(sample_data / LEGAL / "wandb", source / "wandb")
    db = tmp_path / "w.duckdb"
    code, first = _ingest(db, source)
    assert code == 0
    assert first["objects"]["new"] == 1 and first["rows"]["training_runs"] == 1
    code, second = _ingest(db, source)
    assert code == 0
    assert second["objects"]["unchanged"] == 1
    assert second["objects"]["new"] == second["objects"]["replaced"] == 0
    assert second["bytes_read"] == 0
    summary = source / RUN_DIR.removeprefix(f"{LEGAL}/") / "files" / "wandb-summary.json"
    values = json.loads(summary.read_text())
    values["train/global_step"] = 2301
    summary.write_text(json.dumps(values))
    code, third = _ingest(db, source)
    assert code == 0
    assert third["objects"]["replaced"] == 1
    assert third["rows_deleted"]["training_runs"] == 1
    assert third["rows"]["training_runs"] == 1
