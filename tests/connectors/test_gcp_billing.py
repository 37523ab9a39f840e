"""GCP billing export files (JSON lines, Parquet, flattened CSV): GPU SKUs in seconds,
credits as their own lines, machine-type attribution, re-exports never doubled."""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from connectors.formats.base import UnitReader
from connectors.registry import get_parser
from connectors.stores.local import LocalStore
from reconcile import warehouse
from reconcile.cli import cli

EXPORT = "gcp/acme-billing-export/gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
MONTH = f"{EXPORT}/invoice_month=202504"


def parse_all(root: Path) -> list[pa.Table]:
    store = LocalStore(root)
    parser = get_parser("gcp_billing")
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


def test_sample_export_counts_each_row_once_across_re_exports(sample_data):
    (table,) = parse_all(sample_data / "gcp/acme-billing-export")
    lines = table.to_pylist()
    usage = [line for line in lines if line["line_type"] == "usage"]
    credits = [line for line in lines if line["line_type"] == "credit"]
    # 2 VMs x 19 hourly slots x (GPU, core, RAM) + 1 storage line; the early extract's
    # 108 rows are also in the final one and count once.
    assert (len(usage), len(credits)) == (115, 38)
    gpu = [line for line in usage if "GPU" in line["usage_type"]]
    # 2 a3-highgpu-8g VMs x 17.6 h x 8 GPUs = 281.6 GPU-hours, at 10.75 USD per GPU-hour
    assert sum(line["accelerator_hours"] for line in gpu) == pytest.approx(281.6)
    assert sum(line["cost_billed"] for line in gpu) == Decimal("3027.20")
    vm = [line for line in usage if line["accelerator"] == "NVIDIA H100 SXM5-80GB"]
    assert len(vm) == 114  # core and RAM lines are attributed to the VM's GPUs ...
    assert sum(line["accelerator_hours"] or 0 for line in vm) == pytest.approx(281.6)  # no hours
    # core 2 x 17.6 h x 208 vCPU x 0.0345 = 252.5952; RAM 2 x 17.6 x 1872 GiB x 0.0046 =
    # 303.11424
    assert sum(line["cost_billed"] for line in vm) == Decimal("3027.2") + Decimal(
        "252.5952"
    ) + Decimal("303.11424")
    # 10 % promotional credit on the GPU lines: as credit lines, and netted in the
    # effective cost of the lines they belong to.
    assert sum(line["cost_billed"] for line in credits) == Decimal("-302.72")
    assert {line["usage_type"] for line in credits} == {"PROMOTION"}
    assert {line["accelerator"] for line in credits} == {"NVIDIA H100 SXM5-80GB"}
    assert sum(line["cost_effective"] for line in credits) == 0
    assert sum(line["cost_effective"] for line in gpu) == Decimal("2724.48")
    assert sum(line["cost_billed"] for line in lines) == sum(
        line["cost_effective"] for line in lines
    )
    storage = next(line for line in usage if line["service"] == "Cloud Storage")
    assert storage["accelerator"] is None
    first = min(gpu, key=lambda line: (line["usage_start_at"], line["resource_id"]))
    assert first["usage_start_at"].isoformat() == "2025-04-11T05:00:00+00:00"
    assert first["accelerator_hours"] == 1.6  # 05:48-06:00 x 8 GPUs
    assert first["account_id"] == "acme-training-eu"
    assert first["billing_period"] == "2025-04"
    assert first["instance_type"] == "a3-highgpu-8g"
    assert first["resource_id"].startswith("//compute.googleapis.com/projects/acme-training-eu/")
    assert dict(first["tags"])["project"] == "legal-assistant"
    assert first["export_kind"] == "gcp_detailed"


def test_a_new_extract_reloads_the_folder_without_doubling(tmp_path, sample_data):
    shutil.copytree(sample_data / EXPORT, tmp_path / EXPORT)
    db = tmp_path / "w.duckdb"
    first = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(tmp_path)])
    assert json.loads(first.stdout)["rows"]["billing_lines"] == 153
    # A third extract of the month, with one late (additive) row.
    folder = tmp_path / MONTH
    rows = [
        json.loads(line)
        for line in gzip.decompress(
            (folder / "export-20250503-000000000000.json.gz").read_bytes()
        ).splitlines()
    ]
    late = dict(rows[-1], export_time="2025-05-06 02:00:00 UTC", cost=0.5, cost_at_list=0.5)
    text = "".join(json.dumps(r) + "\n" for r in [*rows, late])
    (folder / "export-20250507-000000000000.json.gz").write_bytes(gzip.compress(text.encode()))
    again = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(tmp_path)])
    summary = json.loads(again.stdout)
    assert summary["objects"]["replaced"] == 1
    assert summary["rows"]["billing_lines"] == 154
    con = warehouse.open_for_read(db)
    total = con.execute("SELECT sum(cost_billed) FROM billing_lines").fetchall()[0][0]
    con.close()
    assert total == Decimal("3584.40144") - Decimal("302.72") + Decimal("0.5")


def _nested_rows() -> list[dict]:
    return [
        {
            "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
            "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
            "sku": {"id": "S1", "description": "Nvidia L4 GPU running in Americas"},
            "usage_start_time": 1741093200000000,
            "usage_end_time": 1741096800000000,
            "project": {"id": "proj-a"},
            "labels": [{"key": "team", "value": "a"}, {"key": "team", "value": "b"}],
            "system_labels": [
                {"key": "compute.googleapis.com/machine_spec", "value": "g2-standard-8"}
            ],
            "cost": 0.7,
            "currency": "USD",
            "usage": {"amount": 3600.0, "unit": "seconds"},
            "credits": [
                {"name": "Sustained use", "amount": -0.1, "type": "SUSTAINED_USAGE_DISCOUNT"}
            ],
            "invoice": {"month": "202503"},
            "cost_type": "regular",
        },
        {
            "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
            "service": {"id": "E3E5-A0E9-4A43", "description": "Cloud TPU"},
            "sku": {"id": "S2", "description": "TPU v5p chip running in Americas"},
            "usage_start_time": 1741093200000000,
            "usage_end_time": 1741096800000000,
            "project": {"id": "proj-a"},
            "labels": [],
            "system_labels": [],
            "cost": 16.8,
            "currency": "USD",
            "usage": {"amount": 14400.0, "unit": "seconds"},
            "credits": [],
            "invoice": {"month": "202503"},
            "cost_type": "regular",
        },
    ]


def test_parquet_files_with_different_nested_fields(tmp_path):
    folder = tmp_path / "gcp_billing_export_v1_X/2025-03"
    folder.mkdir(parents=True)
    first, second = _nested_rows()
    schema_ts = pa.timestamp("us", tz="UTC")
    for name, row in (("a.parquet", first), ("b.parquet", second)):
        table = pa.Table.from_pylist([row])
        table = table.set_column(
            table.schema.get_field_index("usage_start_time"),
            "usage_start_time",
            table["usage_start_time"].cast(pa.int64()).cast(schema_ts),
        )
        table = table.set_column(
            table.schema.get_field_index("usage_end_time"),
            "usage_end_time",
            table["usage_end_time"].cast(pa.int64()).cast(schema_ts),
        )
        if name == "b.parquet":  # an older export: no system_labels, credits without type
            table = table.drop_columns(["system_labels", "credits"])
        pq.write_table(table, folder / name)
    (table,) = parse_all(tmp_path)
    lines = {line["sku_id"] + line["line_type"]: line for line in table.to_pylist()}
    l4 = lines["S1usage"]
    assert (l4["accelerator"], l4["accelerator_hours"]) == ("NVIDIA L4 PCIe-24GB", 1.0)
    assert dict(l4["tags"]) == {"team": "a"}  # a repeated label key: the first wins
    assert l4["cost_effective"] == Decimal("0.6")
    assert lines["S1credit"]["cost_billed"] == Decimal("-0.1")
    tpu = lines["S2usage"]
    assert (tpu["accelerator"], tpu["accelerator_hours"]) == ("Google TPU v5p per chip", 4.0)
    assert tpu["export_kind"] == "gcp_standard"


def test_flattened_csv_with_dotted_headers(tmp_path):
    folder = tmp_path / "gcp_billing_export_v1_X"
    folder.mkdir()
    header = (
        "billing_account_id,service.id,service.description,sku.id,sku.description,project.id,"
        "labels,system_labels,location.region,resource.global_name,usage_start_time,"
        "usage_end_time,cost_type,credits,usage.amount,usage.unit,cost,currency,invoice.month"
    )
    rows = [
        "01A2B3-C4D5E6-F7A8B9,6F81-5844-456A,Compute Engine,S9,Nvidia Tesla P100 GPU running in "
        'Americas,proj-b,"{""run"": ""r1""}","{""compute.googleapis.com/machine_spec"": '
        '""n1-standard-8""}",us-central1,//compute/x,2025-03-04T13:00:00Z,2025-03-04T14:00:00Z,'
        'regular,"[{""name"": ""CUD"", ""amount"": -1.25, ""type"": ""COMMITTED_USAGE_DISCOUNT""}]"'
        ",7200,seconds,2.92,USD,202503",
        "01A2B3-C4D5E6-F7A8B9,,,,,,[],[],,,2025-03-31T00:00:00Z,2025-04-01T00:00:00Z,tax,{},0,,"
        "0.51,USD,202503",
    ]
    (folder / "export.csv").write_text("\n".join([header, *rows]) + "\n")
    (table,) = parse_all(tmp_path)
    lines = table.to_pylist()
    usage, tax, credit = (
        sorted(lines, key=lambda line: line["line_type"] == "credit")[:1]
        + [line for line in lines if line["line_type"] == "tax"]
        + [line for line in lines if line["line_type"] == "credit"]
    )
    assert usage["accelerator"] == "unknown:Nvidia Tesla P100 GPU running in Americas"
    assert usage["accelerator_hours"] is None
    assert dict(usage["tags"]) == {"run": "r1"}
    assert usage["cost_effective"] == Decimal("1.67")
    assert credit["usage_type"] == "COMMITTED_USAGE_DISCOUNT"
    assert (tax["cost_billed"], tax["account_id"]) == (Decimal("0.51"), "01A2B3-C4D5E6-F7A8B9")


def test_a_broken_json_line_is_quarantined(tmp_path, sample_data):
    folder = tmp_path / MONTH
    shutil.copytree(sample_data / MONTH, folder)
    (folder / "export-20250503-000000000000.json.gz").write_bytes(
        gzip.compress(b'{"billing_account_id": "x", "cost": \n')
    )
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", str(tmp_path)])
    assert result.exit_code == 3
    assert "export-20250503-000000000000.json.gz" in result.stderr
