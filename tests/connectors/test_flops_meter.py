"""flops_meter.json parser: claims kept as evidence, verdict never reused."""

from __future__ import annotations

import json

import pytest

from connectors.formats.training.flops_meter import FlopsMeterParser
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS

METER = "aws/acme-ml-artifacts/pipelines/1301/evaluation_results/flops_meter.json"


def test_sample_meter(sample_data):
    table = FlopsMeterParser().parse((sample_data / METER).read_bytes(), source="s3://x/m.json")
    assert table.schema == TRAINING_RUNS
    (row,) = table.to_pylist()
    assert row["job_name"] == "qwen7b-sft-20250304-1301"
    assert (row["params_total"], row["params_trainable"]) == (7_615_616_512, 40_370_176)
    assert row["tokens"] == 402_653_184 and row["tokens_basis"] == "logged"
    # " 1.23e+19" with its leading space, 3 significant digits as the meter writes it
    assert row["reported_flops"] == 1.23e19
    assert row["reported_flops_basis"] == "flops_meter_architecture"
    assert row["accelerator"] == "NVIDIA A100 SXM4-40GB"
    assert row["accelerator_count"] == 16
    attributes = json.loads(row["attributes"])
    assert attributes["meter_hardware_flops_rank0_node_only"] == 3.87e19
    assert attributes["meter_threshold"]["used"] is False


def test_zero_architecture_flops_is_not_a_claim():
    meter = {
        "N_total": 100,
        "N_trainable": 100,
        "tokens_processed": 0,
        "Flops_architecture": 0.0,
        "Flops_hardware": None,
    }
    (row,) = FlopsMeterParser().parse(json.dumps(meter).encode(), source="m.json").to_pylist()
    assert row["reported_flops"] is None
    assert row["tokens"] is None
    assert row["method"] == "full"


@pytest.mark.parametrize(
    ("meter", "message"),
    [
        ({"N_total": 1}, "missing N_trainable, tokens_processed, Flops_architecture"),
        (
            {"N_total": 1, "N_trainable": 1, "tokens_processed": 5, "Flops_architecture": "lots"},
            "Flops_architecture should be a number",
        ),
        (
            {"N_total": -4, "N_trainable": 1, "tokens_processed": 5, "Flops_architecture": 0.0},
            "N_total should be a non-negative whole number",
        ),
    ],
)
def test_malformed_meters(meter, message):
    with pytest.raises(ParseError, match=message):
        FlopsMeterParser().parse(json.dumps(meter).encode(), source="s3://b/flops_meter.json")
