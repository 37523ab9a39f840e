"""Azure cost details (EA/MCA, improved exports with manifest.json, older exports, the
pay-as-you-go schema): newest run only, units of measure, actual vs amortized."""

from __future__ import annotations

import csv
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from connectors.formats.base import UnitReader
from connectors.registry import get_parser
from connectors.stores.local import LocalStore
from reconcile.cli import cli

EXPORT = "azure/acmecostexports/costexports/acme-daily-actual"
PERIOD = f"{EXPORT}/20250501-20250531"
SUBSCRIPTION = "7c1f5e2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b"


def parse_all(root: Path, **options: object) -> list[pa.Table]:
    store = LocalStore(root)
    parser = get_parser("azure_cost", options or None)
    units, _ = parser.units(store, list(store.list_objects()), forced=False)
    tables = []
    for unit in units:
        reader = UnitReader(store, unit)
        try:
            out = parser.parse_unit(reader)
            tables.append(out.read_all() if isinstance(out, pa.RecordBatchReader) else out)
        finally:
            reader.close()
    return tables


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_export_run(root: Path, kind: str, rows: list[dict]) -> None:
    """One run of an improved export of dataset ``kind`` (``ActualCost``, ...) for May
    2025 under ``root/exports``: its part file and its manifest."""
    run = "1d2c3b4a-0000-4000-8000-00000000000" + ("1" if kind == "ActualCost" else "2")
    name = "acme-" + kind.lower()
    folder = root / f"exports/{name}/20250501-20250531/{run}"
    folder.mkdir(parents=True)
    (folder / "part_0_0001.csv").write_text(to_csv(rows))
    blob = f"exports/{name}/20250501-20250531/{run}/part_0_0001.csv"
    (folder / "manifest.json").write_text(
        json.dumps({"exportConfig": {"type": kind}, "blobs": [{"blobName": blob}]})
    )


def test_sample_loads_only_the_newest_run(sample_data):
    (table,) = parse_all(sample_data / "azure")
    lines = table.to_pylist()
    assert len(lines) == 20  # the 2025-06-02 run; the 2025-05-14 run's 8 rows are not read
    vms = [line for line in lines if line["accelerator"]]
    assert len(vms) == 16
    assert {line["accelerator"] for line in vms} == {"NVIDIA H100 SXM5-80GB"}
    # 4 VMs x 72 h on 2025-05-12..15 (16 + 24 + 24 + 8 h a day) x 8 GPUs
    assert sum(line["accelerator_hours"] for line in vms) == 2304
    assert sum(line["usage_quantity"] for line in vms) == 288
    assert sum(line["cost_billed"] for line in vms) == Decimal("98.32") * 288
    first = min(vms, key=lambda line: (line["usage_start_at"], line["resource_id"]))
    assert first["usage_start_at"].isoformat() == "2025-05-12T00:00:00+00:00"  # 05/12/2025
    assert first["usage_end_at"].isoformat() == "2025-05-13T00:00:00+00:00"
    assert first["usage_quantity"] == 16
    assert first["usage_unit"] == "Hour"
    assert first["account_id"] == SUBSCRIPTION
    assert first["instance_type"] == "Standard_ND96isr_H100_v5"
    assert first["resource_id"].endswith("/virtualMachines/nd-h100-01")
    assert dict(first["tags"]) == {"project": "legal-assistant", "team": "ml-research"}
    assert (first["export_kind"], first["billing_period"]) == ("azure_actual", "2025-05")
    assert first["cost_effective"] == first["cost_billed"]  # pay-as-you-go usage
    disks = [line for line in lines if not line["accelerator"]]
    assert {line["usage_unit"] for line in disks} == {"Month"}  # "1/Month"
    assert sum(line["cost_billed"] for line in disks) == Decimal("17.441255") * 4


ROW = {
    "Date": "05/12/2025",
    "BillingPeriodStartDate": "05/01/2025",
    "SubscriptionId": SUBSCRIPTION,
    "MeterCategory": "Virtual Machines",
    "MeterName": "ND96isr H100 v5",
    "Quantity": "2.4",
    "UnitOfMeasure": "10 Hours",
    "CostInBillingCurrency": "2359.68",
    "BillingCurrency": "USD",
    "ResourceId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/vm/a",
    "AdditionalInfo": '{"ServiceType":"Standard_ND96isr_H100_v5","VCPUs":"96"}',
    "Tags": '"project": "p"',
    "ChargeType": "Usage",
    "PricingModel": "OnDemand",
    "ConsumedService": "Microsoft.Compute",
}


def test_units_of_measure_spot_and_azure_ml_rows(tmp_path):
    rows = [
        dict(ROW),
        dict(
            ROW,
            MeterName="ND96isr H100 v5 Spot",
            Quantity="0.06",
            UnitOfMeasure="100 Hours",
            CostInBillingCurrency="117.98",
            PricingModel="Spot",
        ),
        # Azure ML compute: the workspace as resource, the size only in the meter
        dict(
            ROW,
            MeterName="NC24ads A100 v4",
            Quantity="3",
            UnitOfMeasure="1 Hour",
            CostInBillingCurrency="11.019",
            AdditionalInfo="",
            ConsumedService="Microsoft.MachineLearningServices",
            ResourceId="/subscriptions/x/resourceGroups/rg/providers/"
            "Microsoft.MachineLearningServices/workspaces/ws",
            Tags='{"ComputeType": "AmlCompute"}',
        ),
        dict(
            ROW,
            MeterCategory="Bandwidth",
            MeterName="Standard Data Transfer Out",
            Quantity="1.5",
            UnitOfMeasure="10 GB",
            CostInBillingCurrency="1.305",
            AdditionalInfo="",
            Tags="",
        ),
        dict(
            ROW,
            ChargeType="Purchase",
            MeterName="ND96isr H100 v5",
            Quantity="1",
            UnitOfMeasure="1 Hour",
            CostInBillingCurrency="500",
            Tags="",
        ),
    ]
    folder = tmp_path / "exports/adhoc/20250501-20250531/0f9e8d7c-6b5a-4321-9fed-cba987654321"
    folder.mkdir(parents=True)
    (folder / "part_0_0001.csv").write_text(to_csv(rows))
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "exportConfig": {"type": "ActualCost"},
                "runInfo": {"submittedTime": "2025-05-13T06:00:00Z"},
                "blobs": [
                    {
                        "blobName": "exports/adhoc/20250501-20250531/"
                        "0f9e8d7c-6b5a-4321-9fed-cba987654321/part_0_0001.csv"
                    }
                ],
            }
        )
    )
    (table,) = parse_all(tmp_path)
    on_demand, spot, aml, bandwidth, purchase = table.to_pylist()
    assert (on_demand["usage_quantity"], on_demand["usage_unit"]) == (24, "Hours")
    assert on_demand["accelerator_hours"] == 24 * 8
    assert (spot["usage_quantity"], spot["accelerator_hours"]) == (6, 48)
    assert spot["instance_type"] == "Standard_ND96isr_H100_v5"
    assert (aml["instance_type"], aml["accelerator"], aml["accelerator_hours"]) == (
        "Standard_NC24ads_A100_v4",
        "NVIDIA A100 PCIe-80GB",
        3,
    )
    assert (bandwidth["usage_quantity"], bandwidth["usage_unit"]) == (15, "GB")
    assert bandwidth["accelerator"] is None
    # A purchase in the actual dataset: billed, with no effective cost (spread elsewhere)
    assert (purchase["line_type"], purchase["cost_billed"], purchase["cost_effective"]) == (
        "purchase",
        Decimal(500),
        None,
    )
    assert purchase["accelerator_hours"] is None


def test_actual_and_amortized_are_never_added_up(tmp_path):
    reserved = dict(ROW, Quantity="2.4", PricingModel="Reservation", CostInBillingCurrency="0")
    purchase = dict(
        ROW,
        ChargeType="Purchase",
        Quantity="1",
        UnitOfMeasure="1 Hour",
        CostInBillingCurrency="10000",
        Date="05/01/2025",
    )
    unused = dict(
        ROW,
        ChargeType="UnusedReservation",
        Quantity="1",
        UnitOfMeasure="1 Hour",
        CostInBillingCurrency="100",
        PricingModel="Reservation",
        Date="05/13/2025",
    )
    for kind, rows in (
        ("ActualCost", [reserved, purchase]),
        ("AmortizedCost", [dict(reserved, CostInBillingCurrency="1500"), unused]),
    ):
        write_export_run(tmp_path, kind, rows)
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "exports")])
    assert result.exit_code == 0, result.output
    totals = json.loads(
        CliRunner()
        .invoke(cli, ["--db", str(db), "query", "billing_totals", "--format", "json"])
        .stdout
    )
    (row,) = totals
    # hours and billed cost from the actual dataset, effective cost from the amortized one
    assert row["accelerator"] == "NVIDIA H100 SXM5-80GB"
    assert row["accelerator_hours"] == 24 * 8
    assert row["cost_billed"] == 10000
    assert row["cost_effective"] == 1600


def test_a_subscription_seen_only_in_amortized_data_has_no_billed_cost(tmp_path):
    """Actual cost covers one subscription, amortized cost another: the second's hours
    and effective cost count, its amortized cost is never billed."""
    other = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"
    for kind, subscription, cost in (
        ("ActualCost", SUBSCRIPTION, "98.32"),
        ("AmortizedCost", other, "60.00"),
    ):
        row = dict(ROW, SubscriptionId=subscription, CostInBillingCurrency=cost)
        write_export_run(tmp_path, kind, [row])
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "exports")])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT account_id, export_kind, sum(accelerator_hours) FILTER (counts_billed), "
            "sum(cost_billed) FILTER (counts_billed), "
            "sum(cost_effective) FILTER (counts_effective) "
            "FROM billing_lines_counted GROUP BY ALL ORDER BY export_kind"
        ).fetchall()
    finally:
        con.close()
    hours = 24.0 * 8  # 2.4 x '10 Hours' of an 8-GPU VM
    assert rows == [
        (SUBSCRIPTION, "azure_actual", hours, Decimal("98.32"), Decimal("98.32")),
        (other, "azure_amortized", hours, None, Decimal("60.00")),
    ]


def test_older_exports_without_manifest_and_the_payg_schema(tmp_path):
    folder = tmp_path / "legacy/payg-usage/20190301-20190331"
    folder.mkdir(parents=True)
    header = {
        "SubscriptionGuid": SUBSCRIPTION,
        "UsageDateTime": "2019-03-04",
        "MeterCategory": "Virtual Machines",
        "MeterName": "NC6s v3",
        "UsageQuantity": "24",
        "PreTaxCost": "73.44",
        "Currency": "USD",
        "InstanceId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/"
        "virtualMachines/v100",
        "AdditionalInfo": '{"ServiceType": "Standard_NC6s_v3"}',
        "Tags": "",
        "UnitOfMeasure": "1 Hour",
    }
    old = folder / "payg-usage_0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9.csv"
    new = folder / "payg-usage_9a8b7c6d-5e4f-4321-8765-43210fedcba9.csv"
    old.write_text(to_csv([dict(header, UsageQuantity="12", PreTaxCost="36.72")]))
    new.write_text(to_csv([header, dict(header, UsageDateTime="2019-03-05")]))
    import os

    os.utime(old, (1_600_000_000, 1_600_000_000))
    os.utime(new, (1_700_000_000, 1_700_000_000))
    (table,) = parse_all(tmp_path)
    lines = table.to_pylist()
    assert len(lines) == 2  # every older export file is a full snapshot: the newest only
    assert {line["export_kind"] for line in lines} == {"azure_usage"}
    assert sum(line["accelerator_hours"] for line in lines) == 48  # NC6s v3: 1 V100
    assert sum(line["cost_billed"] for line in lines) == Decimal("146.88")
    assert lines[0]["account_id"] == SUBSCRIPTION
    assert lines[0]["usage_start_at"].isoformat() == "2019-03-04T00:00:00+00:00"


def test_parquet_cost_details_and_a_bad_date(tmp_path):
    folder = tmp_path / "exports/pq/20250501-20250531/3c2b1a09-8f7e-4d6c-b5a4-39281706f5e4"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist([dict(ROW, Date="2025-05-12")]), folder / "part_0_0001.snappy.parquet"
    )
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "blobs": [
                    {
                        "blobName": "x/20250501-20250531/3c2b1a09-8f7e-4d6c-b5a4-39281706f5e4/"
                        "part_0_0001.snappy.parquet"
                    }
                ]
            }
        )
    )
    (table,) = parse_all(tmp_path)
    assert table.column("accelerator_hours").to_pylist() == [192]
    pq.write_table(
        pa.Table.from_pylist([dict(ROW, Date="12.05.2025")]), folder / "part_0_0001.snappy.parquet"
    )
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", str(tmp_path)])
    assert result.exit_code == 3
    assert "unrecognised date 12.05.2025" in result.stderr


def test_a_focus_cost_export_in_the_azure_layout(tmp_path, sample_data):
    folder = tmp_path / "exports/acme-focus/20250501-20250531/5d4c3b2a-1908-4a7b-8c6d-5e4f3a2b1c0d"
    folder.mkdir(parents=True)
    shutil.copy(
        sample_data / "azure/focus-downloads/acme-focus-1.0-2025-05.csv", folder / "part_0_0001.csv"
    )
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "exportConfig": {"type": "FocusCost"},
                "blobs": [{"blobName": "part_0_0001.csv"}],
            }
        )
    )
    (table,) = parse_all(tmp_path)
    assert table.num_rows == 20
    assert set(table.column("export_kind").to_pylist()) == {"focus"}
    assert sum(table.column("accelerator_hours").to_pylist()[i] or 0 for i in range(20)) == 2304
