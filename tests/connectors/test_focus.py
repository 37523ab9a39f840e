"""FinOps FOCUS 1.0/1.1/1.2 exports from any provider, with the quirks of real files."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from connectors.formats.base import UnitReader
from connectors.registry import get_parser
from connectors.stores.local import LocalStore
from reconcile.cli import cli

SAMPLE = "azure/focus-downloads/acme-focus-1.0-2025-05.csv"
SUBSCRIPTION = "7c1f5e2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b"


def parse_all(root: Path, name: str = "focus", forced: bool = False) -> list[pa.Table]:
    store = LocalStore(root)
    parser = get_parser(name)
    units, _ = parser.units(store, list(store.list_objects()), forced=forced)
    tables = []
    for unit in units:
        reader = UnitReader(store, unit)
        try:
            out = parser.parse_unit(reader)
            tables.append(out.read_all() if isinstance(out, pa.RecordBatchReader) else out)
        finally:
            reader.close()
    return tables


def test_sample_focus_file(sample_data):
    (table,) = parse_all(sample_data / "azure/focus-downloads")
    lines = table.to_pylist()
    assert len(lines) == 20
    assert {line["provider"] for line in lines} == {"azure"}
    assert {line["account_id"] for line in lines} == {SUBSCRIPTION}  # ARM path stripped
    assert {line["export_kind"] for line in lines} == {"focus"}
    vms = [line for line in lines if line["accelerator"]]
    assert {line["accelerator"] for line in vms} == {"NVIDIA H100 SXM5-80GB"}
    assert {line["instance_type"] for line in vms} == {"Standard_ND96isr_H100_v5"}
    # 4 VMs x (16 + 24 + 24 + 8) h x 8 GPUs, at 98.32 USD per VM-hour
    assert sum(line["accelerator_hours"] for line in vms) == 4 * 72 * 8
    assert sum(line["cost_billed"] for line in vms) == Decimal("98.32") * 4 * 72
    disks = [line for line in lines if not line["accelerator"]]
    assert sum(line["cost_effective"] for line in disks) == Decimal("17.441255") * 4
    # "usage"/"Usage" mixed casing, literal NULLs, a tag key with a stray space
    assert {line["line_type"] for line in lines} == {"usage"}
    assert all(
        dict(line["tags"]) == {"project": "legal-assistant", "team": "ml-research"}
        for line in lines
    )
    assert {line["region"] for line in lines} == {"westeurope"}
    first = min(lines, key=lambda line: line["usage_start_at"])
    assert first["usage_start_at"].isoformat() == "2025-05-12T00:00:00+00:00"
    assert first["usage_end_at"].isoformat() == "2025-05-13T00:00:00+00:00"


FOCUS_12 = {
    "ProviderName": ["AWS", "AWS", "Google Cloud", "Google Cloud", "Microsoft", "AWS", "aws"],
    "ServiceProviderName": [None] * 7,
    "BillingAccountId": ["012345678901"] * 2
    + ["01A2B3-C4D5E6-F7A8B9"] * 2
    + ["81234567", "012345678901", "012345678901"],
    "SubAccountId": [
        "012345678901",
        "012345678901",
        "acme-training-eu",
        "acme-training-eu",
        f"/subscriptions/{SUBSCRIPTION}",
        "012345678901",
        "012345678901",
    ],
    "BillingPeriodStart": ["2025-03-01T00:00:00Z"] * 7,
    "ChargePeriodStart": [
        "2025-03-04T13:00:00Z",
        "2025-03-04T14:00:00Z",
        "2025-03-04T00:00:00Z",
        "2025-03-04T00:00:00Z",
        "2025-03-04T00:00:00Z",
        "2025-03-01T00:00:00Z",
        "2025-03-05T00:00:00Z",
    ],
    "ChargePeriodEnd": [
        "2025-03-04T14:00:00Z",
        "2025-03-04T15:00:00Z",
        "2025-03-05T00:00:00Z",
        "2025-03-05T00:00:00Z",
        "2025-03-05T00:00:00Z",
        "2025-04-01T00:00:00Z",
        "2025-03-06T00:00:00Z",
    ],
    "ChargeCategory": ["Usage", "usage", "Usage", "Credit", "Usage", "Usage", "Usage"],
    "ChargeClass": [None, None, None, None, None, None, "Correction"],
    "CommitmentDiscountStatus": ["Used", None, None, None, None, "Unused", None],
    "ChargeDescription": [
        "$55.04 per On Demand Linux p5.48xlarge Instance Hour",
        "$55.04 per On Demand Linux p5.48xlarge Instance Hour",
        "Nvidia H100 80GB GPU running in EMEA",
        "Nvidia H100 80GB GPU running in EMEA",
        "ND96isr H100 v5",
        "Savings Plan unused commitment",
        "$55.04 per On Demand Linux p5.48xlarge Instance Hour",
    ],
    "ServiceName": ["Amazon Elastic Compute Cloud"] * 2
    + ["Compute Engine"] * 2
    + [
        "Azure Machine Learning",
        "Savings Plans for AWS Compute usage",
        "Amazon Elastic Compute Cloud",
    ],
    "ConsumedQuantity": [1.0, 0.5, 28800.0, None, 24.0, None, -1.0],
    "ConsumedUnit": ["Hours", "Hours", "Seconds", None, "Hours", None, "Hours"],
    "BilledCost": [0.0, 27.52, 86.0, -8.6, 2359.68, 12.0, -55.04],
    "EffectiveCost": [31.12, 27.52, 86.0, -8.6, 2359.68, 12.0, -55.04],
    "ListCost": [55.04, 27.52, 86.0, None, 2359.68, None, -55.04],
    "BillingCurrency": ["USD"] * 7,
    "ResourceId": [
        "i-0c11d2e3f4a5b6c7d",
        "i-0c11d2e3f4a5b6c7d",
        "//compute/…/instances/1",
        "//compute/…/instances/1",
        f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg/providers/"
        "microsoft.machinelearningservices/workspaces/ws",
        None,
        "i-0c11d2e3f4a5b6c7d",
    ],
    "SkuId": ["K8AJ7", "K8AJ7", "F1E2-7A4B-3C9D", "F1E2-7A4B-3C9D", "DZH318Z0BQ5W", None, "K8AJ7"],
    "Tags": [
        '{"user:Project": "pretrain"}',
        "{}",
        '{"project": "legal"}',
        None,
        '{"ComputeType": "AmlCompute", " project": "ml"}',
        None,
        None,
    ],
    "x_UsageType": [
        "USW2-BoxUsage:p5.48xlarge",
        "USW2-BoxUsage:p5.48xlarge",
        None,
        None,
        None,
        "ComputeSP:1yrNoUpfront",
        "USW2-BoxUsage:p5.48xlarge",
    ],
    "x_SkuMeterName": [None, None, None, None, "ND96isr H100 v5", None, None],
    "InvoiceId": ["INV-1"] * 7,  # a 1.2 column
    "PricingCurrency": ["USD"] * 7,
}


def test_focus_12_parquet_with_several_providers(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    pq.write_table(pa.table(FOCUS_12), folder / "focus-1.2-2025-03.parquet")
    (table,) = parse_all(tmp_path)
    lines = table.to_pylist()
    aws_used, aws_half, gpu, credit, aml, unused, correction = lines
    # AWS: instance type from x_UsageType, hours x 8 GPUs; BilledCost 0 with EffectiveCost
    # (a used commitment) is kept as it is.
    assert (aws_used["provider"], aws_used["instance_type"]) == ("aws", "p5.48xlarge")
    assert (aws_used["accelerator"], aws_used["accelerator_hours"]) == (
        "NVIDIA H100 SXM5-80GB",
        8.0,
    )
    assert (aws_used["cost_billed"], aws_used["cost_effective"]) == (Decimal(0), Decimal("31.12"))
    assert dict(aws_used["tags"]) == {"Project": "pretrain"}  # AWS user: prefix removed
    assert aws_half["accelerator_hours"] == 4.0
    assert aws_half["tags"] is None
    # GCP: the GPU SKU in seconds
    assert (gpu["provider"], gpu["accelerator"], gpu["accelerator_hours"]) == (
        "gcp",
        "NVIDIA H100 SXM5-80GB",
        8.0,
    )
    assert (credit["line_type"], credit["cost_billed"], credit["accelerator_hours"]) == (
        "credit",
        Decimal("-8.6"),
        None,
    )
    # Azure ML: the VM size only in the meter; the workspace as resource
    assert (aml["provider"], aml["instance_type"]) == ("azure", "Standard_ND96isr_H100_v5")
    assert aml["accelerator_hours"] == 24 * 8
    assert aml["account_id"] == SUBSCRIPTION
    assert dict(aml["tags"]) == {"ComputeType": "AmlCompute", "project": "ml"}
    # Unused commitment: money, no hours
    assert (unused["line_type"], unused["accelerator"]) == ("unused_commitment", None)
    # A negative correction stays negative (hours too: it corrects earlier usage)
    assert correction["cost_billed"] == Decimal("-55.04")
    assert correction["accelerator_hours"] == -8.0
    assert {line["export_kind"] for line in lines} == {"focus"}
    assert all(line["billing_period"] == "2025-03" for line in lines)


def test_focus_in_the_data_exports_layout_is_read_by_aws_cur(tmp_path):
    export = tmp_path / "focus/acme-focus"
    data = export / "data/BILLING_PERIOD=2025-03"
    data.mkdir(parents=True)
    aws_only = {k: v[:2] for k, v in FOCUS_12.items()}
    pq.write_table(pa.table(aws_only), data / "acme-focus-00001.snappy.parquet")
    meta = export / "metadata/BILLING_PERIOD=2025-03"
    meta.mkdir(parents=True)
    (meta / "acme-focus-Manifest.json").write_text(
        json.dumps(
            {
                "dataFiles": [
                    "s3://b/focus/acme-focus/data/BILLING_PERIOD=2025-03/"
                    "acme-focus-00001.snappy.parquet"
                ]
            }
        )
    )
    (table,) = parse_all(tmp_path, "aws_cur")
    assert table.num_rows == 2
    assert set(table.column("export_kind").to_pylist()) == {"focus"}
    assert set(table.column("source_format").to_pylist()) == {"aws_cur"}


def test_a_file_without_focus_columns_is_quarantined(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "focus-broken.csv").write_text("BilledCost,Whatever\n1.0,x\n")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", str(folder)])
    assert result.exit_code == 3
    assert "not a FOCUS export: missing column(s) ChargePeriodStart, ChargeCategory" in (
        result.stderr
    )


def test_focus_files_are_recognised_by_content(tmp_path, sample_data):
    folder = tmp_path / "downloads"
    folder.mkdir()
    shutil.copy(sample_data / SAMPLE, folder / "cost-export-may.csv")  # no "focus" in the name
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(folder)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"]["billing_lines"] == 20


def test_tags_that_are_not_json_quarantine_the_file(tmp_path, sample_data):
    folder = tmp_path / "exports"
    folder.mkdir()
    text = (sample_data / SAMPLE).read_text()
    broken = text.replace(
        '"{""project"": ""legal-assistant"", "" team"": ""ml-research""}"',
        '"{""project"": ""legal-assistant"", "" team"" ml-research}"',
        1,
    )
    assert broken != text
    (folder / "focus-may.csv").write_text(broken)
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", str(folder)])
    assert result.exit_code == 3
    assert "focus-may.csv: tags are not JSON" in result.stderr
