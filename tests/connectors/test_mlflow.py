"""The MLflow parser: file-store run folders and REST exports, on sample_data/ and edge cases."""

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
from connectors.stores.local import LocalStore
from reconcile.cli import cli
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS

EXP = "418562907314528271"
PARENT = "5e0c1a7f3b9d4e2a8f6c0b1d2e3f4a5b"
CHILDREN = {
    "run1": "a1d4c9e07f3b4b6e9c2d8f1a0b7e5c31",
    "run2": "b7e2f0c95a1d4c8b8e3f6a2d9c0b4e17",
    "run3": "c3f9a6d21b8e4f0a9d7c5e3b1a2f8d64",
}
DPO_EXPORT = "aws/acme-ml-artifacts/mlflow/exports/qwen7b-dpo-20250318-0922.json"
RUN_ID = "0123456789abcdef0123456789abcdef"


def parse(root: Path, forced: bool = False) -> list[dict]:
    """Every row the MLflow parser makes of ``root`` (claimed by name, else by content)."""
    store = LocalStore(root)
    parser = MlflowParser()
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
def store_rows(sample_data: Path) -> dict[str, dict]:
    return {r["external_run_id"]: r for r in parse(sample_data / "onprem" / "mlflow")}


def test_sample_file_store_has_a_parent_and_three_child_runs(store_rows):
    assert set(store_rows) == {PARENT, *CHILDREN.values()}
    parent = store_rows[PARENT]
    assert parent["run_id"] == f"mlflow:{PARENT}"
    assert parent["job_name"] == "mistral-cpt"  # the MLflow run name
    assert parent["parent_run_id"] is None
    assert parent["platform"] == "slurm"
    assert parent["base_model"] == "mistralai/Mistral-7B-v0.1"
    assert parent["steps"] is None and parent["tokens"] is None
    # A parent spans its children and the gaps between them: no runtime of its own.
    assert parent["runtime_seconds"] is None
    assert json.loads(parent["attributes"])["experiment_name"] == "mistral-cpt"
    for name, run_id in CHILDREN.items():
        child = store_rows[run_id]
        assert child["parent_run_id"] == f"mlflow:{PARENT}"
        # output_dir /lustre/hpc1/acme/mistral-cpt/runN, named as its checkpoint folder is
        assert child["job_name"] == f"mistral-cpt/{name}"
        assert child["run_status"] == "completed"


def test_child_runs_agree_with_their_checkpoint_folders(store_rows, sample_data):
    for name, run_id in CHILDREN.items():
        state = json.loads(
            (sample_data / f"onprem/hpc-lustre/mistral-cpt/{name}/trainer_state.json").read_text()
        )
        summary = state["log_history"][-1]
        row = store_rows[run_id]
        assert row["steps"] == state["global_step"]
        assert row["reported_flops"] == state["total_flos"]
        assert row["reported_flops"] == 6 * state["global_step"] * 4_194_304 * 7_110_660_096
        assert row["runtime_seconds"] == summary["train_runtime"]
        assert row["epochs"] == 1.0


def test_run1_values(store_rows, sample_data):
    row = store_rows[CHILDREN["run1"]]
    assert row["started_at"] == datetime(2025, 5, 2, 7, 18, 2, 512000, tzinfo=UTC)
    assert row["ended_at"] == datetime(2025, 5, 7, 22, 45, 27, 459000, tzinfo=UTC)
    # Inside Slurm job 41237 (09:12:40 to 00:53:16 Europe/Berlin, UTC+2 in May).
    assert datetime(2025, 5, 2, 7, 12, 40, tzinfo=UTC) < row["started_at"]
    assert row["ended_at"] < datetime(2025, 5, 7, 22, 53, 16, tzinfo=UTC)
    assert row["time_basis"] == "tracking_run"
    assert row["steps"] == 69_000
    assert row["runtime_seconds"] == 487_633.5628
    assert row["reported_flops_basis"] == "mlflow_total_flos"
    assert row["per_device_batch"] == 4
    assert row["grad_accum_steps"] == 4
    assert row["seq_len"] == 4096  # block_size; the model config's max_length 20 is ignored
    assert row["precision"] == "bf16"
    assert row["gradient_checkpointing"] is True
    assert row["accelerator"] == "NVIDIA H100 SXM5-80GB"
    assert row["accelerator_count"] == 8 * 8  # num_nodes × gpus_per_node tags
    assert row["world_size"] is None and row["global_batch"] is None  # not stated
    assert row["method"] is None  # the MLflow callback never logs a PEFT config
    assert row["base_model"] == "mistralai/Mistral-7B-v0.1"
    assert row["base_model_basis"] == "mlflow_param._name_or_path"
    assert row["model_type"] == "mistral"
    assert dict(row["tags"])["slurm_job_id"] == "41237"
    attributes = json.loads(row["attributes"])
    assert attributes["wall_runtime_seconds"] == pytest.approx(487_644.947)
    assert attributes["max_steps"] == 69_000
    assert attributes["user"] == "mlops"


def test_value_at_the_highest_step_not_the_last_line(store_rows, sample_data):
    folder = sample_data / "onprem/mlflow/mlruns" / EXP / CHILDREN["run1"]
    last_line = (folder / "metrics" / "epoch").read_text().splitlines()[-1]
    assert last_line.split()[1:] == ["0.99", "68500"]  # async logging wrote it last
    assert store_rows[CHILDREN["run1"]]["epochs"] == 1.0


def test_rest_export_of_the_dpo_run(sample_data):
    (row,) = parse(sample_data / "aws/acme-ml-artifacts/mlflow")
    assert row["run_id"] == "mlflow:d8a3f1c6e9b24a7d8c5e2f0b1a4d7c93"
    assert row["job_name"] == "qwen7b-dpo-20250318-0922"  # run_name; output_dir is generic
    assert row["platform"] == "aws-sagemaker"  # /opt/ml/code/train_dpo.py
    assert row["method"] == "lora"  # TRL's use_peft / lora_r params
    assert row["objective"] == "dpo"  # rewards/* metrics
    assert row["base_model"] == "Qwen/Qwen2.5-7B"
    assert row["steps"] == 200
    assert row["epochs"] == 2.0
    assert row["runtime_seconds"] == 5420.8
    assert row["reported_flops"] is None  # total_flos 0.0: not computed by DPO
    assert row["seq_len"] == 2048  # TRL's max_length, next to max_prompt_length
    assert row["per_device_batch"] == 2 and row["grad_accum_steps"] == 8
    assert row["instance_type"] == "ml.p4d.24xlarge" and row["instance_count"] == 1
    assert row["accelerator"] == "NVIDIA A100 SXM4-40GB"
    assert row["accelerator_count"] == 8
    # Inside the SageMaker job's TrainingStartTime .. TrainingEndTime.
    assert datetime(2025, 3, 18, 9, 27, 5, 318000, tzinfo=UTC) < row["started_at"]
    assert row["ended_at"] < datetime(2025, 3, 18, 11, 0, 31, 104000, tzinfo=UTC)
    attributes = json.loads(row["attributes"])
    assert attributes["total_flos_zero"] is True
    assert attributes["adapter"] == {"r": 16, "alpha": 32, "target_modules": "all-linear"}
    assert row["source_uri"] == (sample_data / DPO_EXPORT).resolve().as_uri()


def _run(root: Path, run_id: str = RUN_ID, exp: str = "7", **parts: dict[str, str]) -> Path:
    """A file-store run folder: meta.yaml plus ``params``/``metrics``/``tags`` files."""
    folder = root / "mlruns" / exp / run_id
    folder.mkdir(parents=True)
    meta = {"run_id": run_id, "experiment_id": exp, "status": 3, "start_time": 1_700_000_000_000}
    (folder / "meta.yaml").write_text(yaml.safe_dump(meta))
    for kind, files in parts.items():
        for key, content in files.items():
            path = folder / kind / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    return folder


def test_max_step_rule_with_ties_and_old_two_field_lines(tmp_path):
    _run(
        tmp_path,
        metrics={
            "total_flos": "1 5e18 100\n5 9e18 300\n9 7e18 200\n",
            "train_runtime": "1 10.0 50\n2 12.5 50\n",  # same step: the later timestamp
            "epoch": "3 0.5\n",  # MLflow < 1.0: no step column
            "train/loss": "1 2.0 999\n",  # a key with '/' is a sub-folder; not read
        },
    )
    (row,) = parse(tmp_path)
    assert row["reported_flops"] == 9e18
    assert row["runtime_seconds"] == 12.5
    assert row["epochs"] == 0.5
    assert row["steps"] == 300


def test_params_tags_and_hints(tmp_path):
    _run(
        tmp_path,
        params={
            "output_dir": "/data/out/checkpoint-500",
            "_name_or_path": "/models/llama-local",
            "use_peft": "True",
            "load_in_4bit": "True",
            "lora_r": "64",
            "per_device_train_batch_size": "8",
            "gradient_accumulation_steps": "2",
            "fp16": "True",
            "bf16": "False",
            "max_seq_length": "None",
        },
        tags={
            "mlflow.runName": "ignored-when-output_dir-names-the-job",
            "job_name": "explicit-job",
            "world_size": "4",
            "accelerator": "NVIDIA L4",
            "mlflow.databricks.cluster.id": "0101-abc",
            "mlflow.parentRunId": "f" * 32,
        },
        metrics={
            "num_input_tokens_seen": "1 123456 10\n",
            "system/gpu_0_utilization_percentage": "",
        },
    )
    (row,) = parse(tmp_path)
    assert row["job_name"] == "explicit-job"
    assert row["platform"] == "databricks"
    assert row["method"] == "qlora"
    assert row["base_model"] is None
    assert row["precision"] == "fp16"
    assert row["seq_len"] is None
    assert row["world_size"] == 4 and row["global_batch"] == 8 * 2 * 4
    assert row["accelerator"] == "NVIDIA L4 PCIe-24GB"
    assert row["accelerator_count"] == 4  # world_size, one system-metrics GPU per node
    assert row["tokens"] == 123456 and row["tokens_basis"] == "logged"
    assert row["parent_run_id"] == "mlflow:" + "f" * 32
    attributes = json.loads(row["attributes"])
    assert attributes["base_model_raw"] == "/models/llama-local"
    assert attributes["job_name_basis"] == "hint:job_name"
    assert attributes["system_metrics_gpus"] == 1


def test_rest_exports_list_runs_wrapper_and_metric_history(tmp_path):
    def run(run_id: str, **info: object) -> dict:
        return {
            "info": {"run_id": run_id, "experiment_id": "3", "status": "FAILED", **info},
            "data": {
                "metrics": [
                    {"key": "total_flos", "value": 3.0e15, "timestamp": 5, "step": 40},
                    {"key": "total_flos", "value": 2.0e15, "timestamp": 9, "step": 20},
                ],
                "params": [{"key": "run_name", "value": "/jobs/sweep/trial-7"}],
                "tags": [{"key": "mlflow.user", "value": "ana"}],
            },
        }

    (tmp_path / "search.json").write_text(
        json.dumps({"runs": [run("a" * 32, start_time="1700000000000", end_time="0")]})
    )
    (tmp_path / "two.mlflow.json").write_text(json.dumps([{"run": run("b" * 32)}, run("c" * 32)]))
    rows = {r["external_run_id"]: r for r in parse(tmp_path)}
    assert set(rows) == {"a" * 32, "b" * 32, "c" * 32}
    row = rows["a" * 32]
    assert row["reported_flops"] == 3.0e15  # step 40 beats the later-listed step 20
    assert row["steps"] == 40
    assert row["run_status"] == "failed"
    assert row["started_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert row["ended_at"] is None  # end_time 0: not ended
    assert row["job_name"] == "sweep/trial-7"  # numbered folder keeps its parent


def test_model_registry_and_artifacts_are_not_runs(tmp_path):
    folder = _run(tmp_path, metrics={"loss": "1 0.5 1\n"})
    (folder / "artifacts" / "checkpoint").mkdir(parents=True)
    (folder / "artifacts" / "checkpoint" / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "mlruns" / "7" / "meta.yaml").write_text("name: exp7\nexperiment_id: '7'\n")
    version = tmp_path / "mlruns" / "models" / "acme-model" / "version-1"
    version.mkdir(parents=True)
    (version / "meta.yaml").write_text("version: 1\n")
    store = LocalStore(tmp_path)
    units, rest = MlflowParser().units(store, list(store.list_objects()), forced=False)
    assert [u.key for u in units] == [f"mlruns/7/{RUN_ID}"]
    assert [m.key for m in units[0].members] == [
        f"mlruns/7/{RUN_ID}/meta.yaml",
        f"mlruns/7/{RUN_ID}/metrics/loss",
        "mlruns/7/meta.yaml",
    ]
    assert sorted(i.key for i in rest) == [
        f"mlruns/7/{RUN_ID}/artifacts/checkpoint/model.safetensors",
        "mlruns/models/acme-model/version-1/meta.yaml",
    ]
    (row,) = parse(tmp_path)
    assert json.loads(row["attributes"])["experiment_name"] == "exp7"


@pytest.mark.parametrize(
    ("part", "content", "message"),
    [
        ("metrics/total_flos", "1700000000000 1e15\nnot a line at all\n", "line 2"),
        ("metrics/total_flos", "170 abc 3\n", "non-numeric field"),
        ("meta.yaml", "run_id: [unclosed\n", "invalid YAML"),
        ("meta.yaml", "experiment_id: '7'\n", "missing 'run_id'"),
        ("meta.yaml", f"run_id: {RUN_ID}\nstatus: 9\n", "unknown run status 9"),
        ("params/per_device_train_batch_size", "four", "should be a number"),
        ("meta.yaml", "", "empty file"),
    ],
)
def test_bad_run_folders_raise_parse_error_naming_the_file(tmp_path, part, content, message):
    folder = _run(tmp_path)
    (folder / part).parent.mkdir(parents=True, exist_ok=True)
    (folder / part).write_text(content)
    with pytest.raises(ParseError, match=message) as caught:
        parse(tmp_path)
    assert f"{RUN_ID}/{part}" in str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"run": {"data": {}}}, "no 'info' object"),
        ({"run": {"info": {"experiment_id": "1"}, "data": {}}}, "missing 'run_id'"),
        (
            {
                "run": {
                    "info": {"run_id": "x"},
                    "data": {"metrics": [{"key": "loss", "value": "a"}]},
                }
            },
            "value should be a number",
        ),
        ({"run": {"info": {"run_id": "x"}, "data": {"params": {"a": 1}}}}, "should be a list"),
        ({"runs": []}, "no runs in the export"),
    ],
)
def test_bad_exports_raise_parse_error(tmp_path, document, message):
    (tmp_path / "bad.mlflow.json").write_text(json.dumps(document))
    with pytest.raises(ParseError, match=message) as caught:
        parse(tmp_path)
    assert "bad.mlflow.json" in str(caught.value)


def test_cli_quarantines_a_bad_run_and_loads_the_rest(tmp_path, sample_data):
    source = tmp_path / "src"
    shutil.copytree(sample_data / "onprem" / "mlflow", source)
    (source / "mlruns" / EXP / CHILDREN["run2"] / "metrics" / "epoch").write_text("garbage\n")
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(source)])
    assert result.exit_code == 3, result.output
    (line,) = [x for x in result.stderr.splitlines() if x]
    assert line.startswith("quarantined: file://")
    assert f"{CHILDREN['run2']}/metrics/epoch:line 1" in line
    assert "3 new" in result.stdout


def _ingest(db: Path, source: Path) -> dict:
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(source)])
    assert result.exit_code == 0, result.output
    summary: dict = json.loads(result.stdout)
    return summary


def test_reingest_is_a_no_op_and_a_new_metric_line_replaces_the_run(tmp_path, sample_data):
    source = tmp_path / "src"
    shutil.copytree(sample_data / "onprem" / "mlflow", source / "mlflow")
    shutil.copytree(sample_data / "aws/acme-ml-artifacts/mlflow", source / "exports")
    db = tmp_path / "w.duckdb"
    first = _ingest(db, source)
    assert first["objects"]["new"] == 5
    assert first["rows"]["training_runs"] == 5
    assert first["objects"]["ignored"] == 1  # mlruns/0/meta.yaml: the empty Default experiment
    second = _ingest(db, source)
    assert second["objects"]["unchanged"] == 5
    assert second["objects"]["new"] == second["objects"]["replaced"] == 0
    assert second["bytes_read"] == 0
    metric = source / "mlflow/mlruns" / EXP / CHILDREN["run3"] / "metrics" / "total_flos"
    metric.write_text(metric.read_text() + "1747900000000 1.3e+22 71500\n")
    third = _ingest(db, source)
    assert (third["objects"]["replaced"], third["objects"]["unchanged"]) == (1, 4)
    assert third["rows_deleted"]["training_runs"] == 1
