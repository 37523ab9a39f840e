"""SageMaker DescribeTrainingJob parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.formats.base import UnitReader
from connectors.formats.training.sagemaker import SageMakerJobParser
from connectors.stores.local import LocalStore
from reconcile import warehouse
from reconcile.cli import cli
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS

JOBS = "aws/acme-ml-artifacts/sagemaker-jobs"


def parse_all(root: Path) -> dict[str, dict]:
    store = LocalStore(root)
    parser = SageMakerJobParser()
    units, _ = parser.units(store, list(store.list_objects()), forced=False)
    rows = {}
    for unit in units:
        table = parser.parse_unit(UnitReader(store, unit))
        assert table.schema == TRAINING_RUNS
        for row in table.to_pylist():
            rows[row["job_name"]] = row
    return rows


def test_sample_jobs(sample_data):
    rows = parse_all(sample_data / JOBS)
    sft = rows["qwen7b-sft-20250304-1301"]
    assert sft["platform"] == "aws-sagemaker"
    assert sft["external_run_id"].endswith(":training-job/qwen7b-sft-20250304-1301")
    assert sft["run_status"] == "completed"
    assert sft["started_at"].isoformat() == "2025-03-04T13:06:40.207000+00:00"
    assert sft["instance_type"] == "ml.p4d.24xlarge"
    assert sft["instance_count"] == 2
    assert sft["accelerator"] == "NVIDIA A100 SXM4-40GB"
    assert sft["accelerator_count"] == 16
    assert sft["base_model"] == "Qwen/Qwen2.5-7B"  # JSON-quoted hyperparameter unquoted
    assert (sft["per_device_batch"], sft["grad_accum_steps"], sft["world_size"]) == (4, 4, 16)
    assert sft["global_batch"] == 256
    assert sft["seq_len"] == 1024
    assert sft["method"] == "lora"
    assert sft["epochs"] == 3.0
    assert dict(sft["tags"]) == {
        "cost-center": "CC-4410",
        "project": "support-assistant",
        "team": "ml-platform",
    }
    attributes = json.loads(sft["attributes"])
    assert attributes["billable_instance_seconds"] == 2 * 20252  # per instance x count
    # Saved with epoch-float timestamps by the CLI:
    dpo = rows["qwen7b-dpo-20250318-0922"]
    assert dpo["started_at"].isoformat() == "2025-03-18T09:27:05.318000+00:00"
    assert dpo["accelerator_count"] == 8
    assert dpo["seq_len"] == 2048


def test_heterogeneous_cluster_spot_and_warm_pool(tmp_path):
    job = {
        "TrainingJobName": "hetero-1",
        "TrainingJobArn": "arn:aws:sagemaker:eu-west-1:1:training-job/hetero-1",
        "TrainingJobStatus": "Stopped",
        "ResourceConfig": {
            "InstanceGroups": [
                {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 2, "InstanceGroupName": "gpu"},
                {"InstanceType": "ml.c5.18xlarge", "InstanceCount": 1, "InstanceGroupName": "data"},
            ]
        },
        "EnableManagedSpotTraining": True,
        "TrainingTimeInSeconds": 1000,
        "BillableTimeInSeconds": 400,
        "WarmPoolStatus": {"Status": "Available", "ResourceRetainedBillableTimeInSeconds": 600},
        "HyperParameters": {"model_name_or_path": '"/opt/ml/input/data/model"'},
    }
    (tmp_path / "hetero-1.training-job.json").write_text(json.dumps(job))
    row = parse_all(tmp_path)["hetero-1"]
    assert row["instance_type"] == "mixed"
    assert row["instance_count"] == 3
    assert row["accelerator"] == "NVIDIA H100 SXM5-80GB"
    assert row["accelerator_count"] == 16
    assert row["run_status"] == "stopped"
    assert row["base_model"] is None
    attributes = json.loads(row["attributes"])
    assert attributes["base_model_raw"] == "/opt/ml/input/data/model"
    assert attributes["spot_savings"] == pytest.approx(0.6)
    assert attributes["warm_pool_retained_billable_seconds"] == 600
    assert attributes["unknown_instance_types"] == ["ml.c5.18xlarge"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b'{"TrainingJobName": ', "invalid JSON"),
        (b'{"JobName": "x"}', "no TrainingJobName"),
        (b'{"TrainingJobName": "x", "TrainingStartTime": "yesterday"}', "not a timestamp"),
    ],
)
def test_malformed_descriptions(tmp_path, content, message):
    (tmp_path / "describe-training-job.json").write_bytes(content)
    with pytest.raises(ParseError, match=message) as caught:
        parse_all(tmp_path)
    assert "describe-training-job.json" in str(caught.value)


def test_recognised_by_content_under_any_name_and_not_sampled_again(tmp_path, sample_data):
    source = tmp_path / "exports"
    source.mkdir()
    (source / "job-41.json").write_bytes(
        (
            sample_data / JOBS / "qwen7b-sft-20250304-1301" / "describe-training-job.json"
        ).read_bytes()
    )
    (source / "unrelated.json").write_text('{"hello": "world"}')
    db = tmp_path / "w.duckdb"
    first = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(source)])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["objects"]["new"] == 1 and summary["objects"]["ignored"] == 1
    second = json.loads(
        CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(source)]).stdout
    )
    assert second["objects"]["unchanged"] == 1
    assert second["bytes_read"] == 0
    con = warehouse.open_for_read(db)
    assert con.execute("SELECT source_format FROM training_runs").fetchall() == [("sagemaker_job",)]
    con.close()
