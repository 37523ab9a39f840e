"""AWS CUR 1.0 and 2.0: manifest-driven periods, line types, amortised cost, instance types,
re-deliveries (never doubled), schema drift, malformed deliveries (quarantined)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import zipfile
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

CUR2 = "aws/acme-billing/cur2/acme-cur2"
PERIOD = f"{CUR2}/data/BILLING_PERIOD=2025-03"
MANIFEST = f"{CUR2}/metadata/BILLING_PERIOD=2025-03/acme-cur2-Manifest.json"
OLD_EXEC = "0b6f3a52-7c1e-4d8a-9f20-5e4d3c2b1a09"
NEW_EXEC = "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70"
# Hand-computed from the jobs (see bench/make_billing_samples.py): SageMaker training of
# ml.p4d.24xlarge at 37.688 USD/h; instance-hours per hourly line = instances x seconds /
# 3600 (rounded to 10 places), cost rounded to 8 places. SFT: 2 x 20,252 s, DPO: 5,606 s.
SFT_COSTS = ["67.00088889", "75.376", "75.376", "75.376", "75.376", "55.52698667"]
DPO_COSTS = ["20.67605556", "0.32453556"]  # 1,975 s and 31 s; the 3,600 s hour is SP-covered
A100_BILLED = sum(map(Decimal, SFT_COSTS + DPO_COSTS)) + Decimal("37.688") - Decimal("37.688")
A100_EFFECTIVE = sum(map(Decimal, SFT_COSTS + DPO_COSTS)) + Decimal("24.4972")
# ML storage 0.21577473, S3 0.9775, Activate credit -500, SP recurring fee 24.4972 (fully
# used: amortised 0).
OTHER_BILLED = Decimal("0.21577473") + Decimal("0.9775") - 500 + Decimal("24.4972")
OTHER_EFFECTIVE = OTHER_BILLED - Decimal("24.4972")


def parse_all(root: Path, name: str = "aws_cur", **options: object) -> list[pa.Table]:
    """Every unit the parser finds under ``root``, parsed (streams read to the end)."""
    store = LocalStore(root)
    parser = get_parser(name, options or None)
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


def ingest(db: Path, *sources: Path | str, config: Path | None = None) -> tuple[int, dict, str]:
    args = ["--db", str(db)] + (["--config", str(config)] if config else [])
    result = CliRunner().invoke(cli, [*args, "ingest", "--json", *map(str, sources)])
    return result.exit_code, json.loads(result.stdout), result.stderr


def billing_totals(db: Path) -> list[dict]:
    result = CliRunner().invoke(
        cli, ["--db", str(db), "query", "billing_totals", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows(db: Path, sql: str) -> list[tuple]:
    con = warehouse.open_for_read(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def cur_copy(tmp_path: Path, sample_data: Path) -> Path:
    """A private copy of the sample CUR 2.0 export (bucket layout kept)."""
    target = tmp_path / "src"
    shutil.copytree(sample_data / CUR2, target / CUR2)
    return target


def test_sample_cur2_loads_only_the_newest_assembly(sample_data):
    (table,) = parse_all(sample_data / "aws")
    assert table.num_rows == 14  # the final delivery; the early one has 11 other lines
    lines = table.to_pylist()
    assert {line["source_uri"] for line in lines} == {(sample_data / PERIOD).resolve().as_uri()}
    assert all(line["line_id"].startswith("f") for line in lines)  # final execution's ids
    by_type: dict[str, list[dict]] = {}
    for line in lines:
        by_type.setdefault(line["line_type"], []).append(line)
    assert sorted(by_type) == [
        "credit",
        "savings_plan_fee",
        "savings_plan_negation",
        "savings_plan_usage",
        "usage",
    ]
    a100 = [line for line in lines if line["accelerator"] == "NVIDIA A100 SXM4-40GB"]
    assert sum(line["cost_billed"] for line in a100) == A100_BILLED
    assert sum(line["cost_effective"] for line in a100) == A100_EFFECTIVE
    other = [line for line in lines if line["accelerator"] is None]
    assert sum(line["cost_billed"] for line in other) == OTHER_BILLED
    assert sum(line["cost_effective"] for line in other) == OTHER_EFFECTIVE
    hours = sum(line["accelerator_hours"] or 0 for line in lines)
    assert hours == pytest.approx((2 * 20252 + 5606) / 3600 * 8, abs=1e-6)
    # The negation carries the accelerator (its cost nets out per accelerator) but no hours.
    (negation,) = by_type["savings_plan_negation"]
    assert negation["accelerator_hours"] is None
    assert negation["cost_effective"] == 0
    (covered,) = by_type["savings_plan_usage"]
    assert covered["cost_billed"] == Decimal("37.688")
    assert covered["cost_effective"] == Decimal("24.4972")
    assert covered["accelerator_hours"] == 8.0
    sft = next(line for line in lines if line["line_id"].startswith("fsft00/"))
    assert sft["account_id"] == "041122334455"
    assert sft["resource_id"] == (
        "arn:aws:sagemaker:us-east-1:041122334455:training-job/qwen7b-sft-20250304-1301"
    )
    assert sft["instance_type"] == "ml.p4d.24xlarge"
    assert sft["usage_type"] == "USE1-Train:ml.p4d.24xlarge"
    assert dict(sft["tags"]) == {"project": "support-assistant", "team": "ml-platform"}
    assert sft["billing_period"] == "2025-03"
    assert sft["usage_start_at"].isoformat() == "2025-03-04T13:00:00+00:00"
    assert sft["export_kind"] == "cur2"
    (credit,) = by_type["credit"]
    assert credit["cost_billed"] == credit["cost_effective"] == Decimal("-500")
    assert credit["accelerator"] is None


def test_redelivered_period_replaces_the_whole_month(tmp_path, cur_copy):
    db = tmp_path / "w.duckdb"
    code, first, _ = ingest(db, cur_copy)
    assert code == 0
    assert (first["objects"]["new"], first["rows"]["billing_lines"]) == (1, 14)
    totals = billing_totals(db)

    # Re-running changes nothing and reads nothing.
    code, second, _ = ingest(db, cur_copy)
    assert second["objects"]["unchanged"] == 1 and second["bytes_read"] == 0
    assert billing_totals(db) == totals

    # AWS rebuilds the month: a third assembly (credit raised to -600) and a new manifest.
    new_exec = "7f00aa11-2b3c-4d5e-8f90-a1b2c3d4e5f6"
    src = cur_copy / PERIOD / NEW_EXEC / "acme-cur2-00001.snappy.parquet"
    table = pq.read_table(src)
    costs = [
        -600.0 if t == "Credit" else c
        for t, c in zip(
            table["line_item_line_item_type"].to_pylist(),
            table["line_item_unblended_cost"].to_pylist(),
            strict=True,
        )
    ]
    index = table.schema.get_field_index("line_item_unblended_cost")
    table = table.set_column(index, "line_item_unblended_cost", pa.array(costs, pa.float64()))
    (cur_copy / PERIOD / new_exec).mkdir()
    pq.write_table(table, cur_copy / PERIOD / new_exec / "acme-cur2-00001.snappy.parquet")
    manifest_path = cur_copy / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["dataFiles"] = [manifest["dataFiles"][0].replace(NEW_EXEC, new_exec)]
    manifest_path.write_text(json.dumps(manifest))

    code, third, _ = ingest(db, cur_copy)
    assert code == 0
    assert third["objects"]["replaced"] == 1
    assert third["rows_deleted"]["billing_lines"] == 14
    assert third["rows"]["billing_lines"] == 14  # three assemblies on disk, one loaded
    after = billing_totals(db)
    other = next(r for r in after if r["accelerator"] is None)
    assert other["cost_billed"] == pytest.approx(float(OTHER_BILLED) - 100)
    a100 = next(r for r in after if r["accelerator"])
    assert a100 == next(r for r in totals if r["accelerator"])
    assert rows(db, "SELECT count(*) FROM billing_lines") == [(14,)]
    ledger = rows(db, "SELECT members FROM ingest_ledger")
    members = [m["key"] for m in json.loads(ledger[0][0])]
    assert len(members) == 4  # every assembly's file and the manifest; only one was read


def test_a_manifest_naming_a_missing_file_is_quarantined_and_keeps_the_old_rows(tmp_path, cur_copy):
    db = tmp_path / "w.duckdb"
    ingest(db, cur_copy)
    manifest_path = cur_copy / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["dataFiles"].append(manifest["dataFiles"][0].replace("00001.snappy", "00002.snappy"))
    manifest_path.write_text(json.dumps(manifest))
    code, summary, _ = ingest(db, cur_copy)
    assert code == 3
    assert summary["objects"]["quarantined"] == 1
    (error,) = [q["error"] for q in summary["quarantine"]]
    assert "acme-cur2-00002.snappy.parquet" in error
    assert "delivery incomplete" in error
    assert rows(db, "SELECT count(*) FROM billing_lines") == [(14,)]


def test_a_corrupt_data_file_is_quarantined_naming_it(tmp_path, cur_copy):
    bad = cur_copy / PERIOD / NEW_EXEC / "acme-cur2-00001.snappy.parquet"
    bad.write_bytes(b"PAR1" + b"\0" * 100)
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(cur_copy)])
    assert result.exit_code == 3
    (line,) = [x for x in result.stderr.splitlines() if x]
    assert line.startswith("quarantined: file://")
    assert f"{NEW_EXEC}/acme-cur2-00001.snappy.parquet" in line
    assert rows(db, "SELECT count(*) FROM billing_lines") == [(0,)]


def test_streamed_units_load_the_same_rows(tmp_path, cur_copy):
    config = tmp_path / "reconcile.toml"
    config.write_text("[formats.aws_cur]\nstream_threshold_mb = 0\n")
    streamed, materialised = tmp_path / "s.duckdb", tmp_path / "m.duckdb"
    assert ingest(streamed, cur_copy, config=config)[0] == 0
    assert ingest(materialised, cur_copy)[0] == 0
    assert billing_totals(streamed) == billing_totals(materialised)
    query = "SELECT * EXCLUDE (source_uri) FROM billing_lines ORDER BY line_id"
    assert rows(streamed, query) == rows(materialised, query)


# -- legacy CUR (1.0) -------------------------------------------------------------------

LEGACY_HEADER = [
    "identity/LineItemId",
    "identity/TimeInterval",
    "bill/BillingPeriodStartDate",
    "bill/PayerAccountId",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedCost",
    "pricing/publicOnDemandCost",
    "pricing/unit",
    "product/instanceType",
    "product/region",
    "reservation/EffectiveCost",
    "reservation/ReservationARN",
    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedRecurringFee",
    "resourceTags/user:Project",
]
HOUR = "2025-03-10T08:00:00Z/2025-03-10T09:00:00Z"
RI = "arn:aws:ec2:us-east-1:012345678901:reserved-instances/7a8b9c0d"


def legacy_row(line_id: str, line_type: str, usage_type: str, amount: str, cost: str, **extra: str):
    row = {
        "identity/LineItemId": line_id,
        "identity/TimeInterval": HOUR,
        "bill/BillingPeriodStartDate": "2025-03-01T00:00:00Z",
        "bill/PayerAccountId": "012345678901",
        "lineItem/UsageAccountId": "012345678901",
        "lineItem/LineItemType": line_type,
        "lineItem/UsageStartDate": "2025-03-10T08:00:00Z",
        "lineItem/UsageEndDate": "2025-03-10T09:00:00Z",
        "lineItem/ProductCode": "AmazonEC2",
        "lineItem/UsageType": usage_type,
        "lineItem/UsageAmount": amount,
        "lineItem/CurrencyCode": "USD",
        "lineItem/UnblendedCost": cost,
        "pricing/unit": "Hrs",
        "product/region": "us-east-1",
    }
    row.update(extra)
    return row


def legacy_csv(rows_: list[dict], header: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows_)
    return buffer.getvalue().encode()


def write_legacy(root: Path, *, header: list[str] = LEGACY_HEADER) -> Path:
    """A legacy CUR with two assemblies; the period manifest names the second (a .csv.gz
    and a zipped CSV whose header has one more tag column)."""
    period = root / "cur-legacy/acme-hourly/20250301-20250401"
    old, new = period / "11111111-aaaa", period / "22222222-bbbb"
    old.mkdir(parents=True)
    new.mkdir(parents=True)
    stale = [legacy_row("old1", "Usage", "BoxUsage:p4d.24xlarge", "1", "32.7726")]
    (old / "acme-hourly-1.csv.gz").write_bytes(gzip.compress(legacy_csv(stale, header)))
    first = [
        legacy_row(
            "u1",
            "Usage",
            "BoxUsage:p4d.24xlarge",
            "2",
            "43.915284",
            **{
                "product/instanceType": "p4d.24xlarge",
                "lineItem/ResourceId": "i-0a9f3c2e1b7d45f10",
                "resourceTags/user:Project": "support-assistant",
                "pricing/publicOnDemandCost": "43.915284",
            },
        ),
        legacy_row(
            "u2",
            "Usage",
            "USW2-SpotUsage:p5.48xlarge",
            "1.5",
            "24.768",
            **{"lineItem/ResourceId": "i-0c11d2e3f4a5b6c7d"},
        ),
        legacy_row(
            "u3",
            "DiscountedUsage",
            "USE1-BoxUsage:g6e.12xlarge",
            "1",
            "0",
            **{"reservation/EffectiveCost": "6.2956", "reservation/ReservationARN": RI},
        ),
        legacy_row(
            "u4",
            "RIFee",
            "USE1-HeavyUsage:g6e.12xlarge",
            "744",
            "4683.9264",
            **{
                "reservation/ReservationARN": RI,
                "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": "0",
                "reservation/UnusedRecurringFee": "120.5",
            },
        ),
        legacy_row("u5", "Usage", "USW2-BoxUsage:p7.48xlarge", "1", "99.0"),
        legacy_row(
            "u6", "Usage", "USE1-EBS:VolumeUsage.gp3", "0.5", "0.04", **{"pricing/unit": "GB-Mo"}
        ),
    ]
    (new / "acme-hourly-1.csv.gz").write_bytes(gzip.compress(legacy_csv(first, header)))
    wider = [*header, "resourceTags/user:Team"]
    second = [
        legacy_row("c1", "Credit", "", "0", "-250", **{"resourceTags/user:Team": ""}),
        legacy_row("r1", "Refund", "", "0", "-12.5"),
        legacy_row("t1", "Tax", "", "0", "18.75"),
        legacy_row(
            "u7",
            "Usage",
            "USE1-BoxUsage:p5.48xlarge",
            "1",
            "55.04",
            **{
                "resourceTags/user:Project": "legal-assistant",
                "resourceTags/user:Team": "ml-research",
            },
        ),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("acme-hourly-2.csv", legacy_csv(second, wider))
    (new / "acme-hourly-2.csv.zip").write_bytes(buffer.getvalue())
    manifest = {
        "assemblyId": "22222222-bbbb",
        "reportKeys": [
            "cur-legacy/acme-hourly/20250301-20250401/22222222-bbbb/acme-hourly-1.csv.gz",
            "cur-legacy/acme-hourly/20250301-20250401/22222222-bbbb/acme-hourly-2.csv.zip",
        ],
        "billingPeriod": {"start": "20250301T000000.000Z", "end": "20250401T000000.000Z"},
    }
    (period / "acme-hourly-Manifest.json").write_text(json.dumps(manifest))
    old_manifest = dict(manifest, assemblyId="11111111-aaaa")
    old_manifest["reportKeys"] = [
        "cur-legacy/acme-hourly/20250301-20250401/11111111-aaaa/acme-hourly-1.csv.gz"
    ]
    (old / "acme-hourly-Manifest.json").write_text(json.dumps(old_manifest))
    new_manifest = dict(manifest)
    (new / "acme-hourly-Manifest.json").write_text(json.dumps(new_manifest))
    return period


def test_legacy_csv_gz_and_zip_with_schema_drift(tmp_path):
    write_legacy(tmp_path)
    (table,) = parse_all(tmp_path)
    lines = {line["line_id"].split("/")[0]: line for line in table.to_pylist()}
    assert sorted(lines) == ["c1", "r1", "t1", "u1", "u2", "u3", "u4", "u5", "u6", "u7"]
    u1 = lines["u1"]
    assert u1["account_id"] == "012345678901"  # the leading zero survives CSV
    assert (u1["accelerator"], u1["accelerator_hours"]) == ("NVIDIA A100 SXM4-40GB", 16.0)
    assert u1["cost_billed"] == Decimal("43.915284")
    assert u1["cost_list"] == Decimal("43.915284")
    assert u1["export_kind"] == "cur1"
    assert dict(u1["tags"]) == {"project": "support-assistant"}
    u2 = lines["u2"]  # region-prefixed Spot usage
    assert (u2["instance_type"], u2["accelerator"]) == ("p5.48xlarge", "NVIDIA H100 SXM5-80GB")
    assert u2["accelerator_hours"] == 12.0
    u3 = lines["u3"]  # RI-covered: billed 0, amortised at the reservation's effective cost
    assert (u3["line_type"], u3["cost_billed"], u3["cost_effective"]) == (
        "reservation_usage",
        Decimal("0"),
        Decimal("6.2956"),
    )
    assert (u3["accelerator"], u3["accelerator_hours"]) == ("NVIDIA L40S PCIe-48GB", 4.0)
    u4 = lines["u4"]  # RI fee: the unused part is the amortised cost; no hours
    assert (u4["line_type"], u4["cost_effective"], u4["accelerator_hours"]) == (
        "reservation_fee",
        Decimal("120.5"),
        None,
    )
    assert lines["u5"]["accelerator"] == "unknown:p7.48xlarge"
    assert lines["u6"]["accelerator"] is None
    assert [lines[k]["line_type"] for k in ("c1", "r1", "t1")] == ["credit", "refund", "tax"]
    # The column only the zipped file has is kept (union by name).
    assert dict(lines["u7"]["tags"]) == {"project": "legal-assistant", "team": "ml-research"}
    assert lines["c1"]["tags"] is None
    # Nothing of the stale assembly.
    assert "old1" not in lines
    assert sum(line["cost_billed"] for line in lines.values()) == Decimal("43.915284") + Decimal(
        "24.768"
    ) + 0 + Decimal("4683.9264") + 99 + Decimal("0.04") - 250 - Decimal("12.5") + Decimal(
        "18.75"
    ) + Decimal("55.04")


def test_legacy_without_the_period_manifest_uses_the_newest_assembly_manifest(tmp_path):
    period = write_legacy(tmp_path)
    (period / "acme-hourly-Manifest.json").unlink()
    old_manifest = period / "11111111-aaaa/acme-hourly-Manifest.json"
    new_manifest = period / "22222222-bbbb/acme-hourly-Manifest.json"
    import os

    os.utime(old_manifest, (1_700_000_000, 1_700_000_000))
    os.utime(new_manifest, (1_800_000_000, 1_800_000_000))
    (table,) = parse_all(tmp_path)
    assert table.num_rows == 10


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('"43,9O"', "43,9O"),  # a cost that is not a number
        # a row with more fields than the header: the defect, not DuckDB's "dialect"
        ("43,9O", "header has 23 fields, line 2 has 25"),  # (the cost is in two columns)
    ],
)
def test_legacy_malformed_csv_is_quarantined_naming_the_file(tmp_path, bad, reason):
    period = write_legacy(tmp_path)
    path = period / "22222222-bbbb/acme-hourly-1.csv.gz"
    text = gzip.decompress(path.read_bytes()).decode().replace("43.915284", bad)
    path.write_bytes(gzip.compress(text.encode()))
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path)])
    assert result.exit_code == 3
    (line,) = [x for x in result.stderr.splitlines() if x]
    assert line.startswith("quarantined: file://")
    assert "22222222-bbbb/acme-hourly-1.csv.gz" in line
    assert reason in line
    assert "/tmp/reconcile-" not in line  # temporary copies are never named
    assert rows(db, "SELECT count(*) FROM billing_lines") == [(0,)]


def test_athena_parquet_layout(tmp_path):
    folder = tmp_path / "cur/acme-athena/acme-athena/year=2025/month=3"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "identity_line_item_id": ["a1", "a2"],
            "identity_time_interval": [HOUR, HOUR],
            "line_item_usage_account_id": ["012345678901", "012345678901"],
            "line_item_line_item_type": ["Usage", "Usage"],
            "line_item_usage_start_date": pa.array(
                [1741593600000, 1741593600000], pa.timestamp("ms")
            ),
            "line_item_product_code": ["AmazonSageMaker", "AmazonSageMaker"],
            "line_item_usage_type": ["USE1-Cluster:ml.p5.48xlarge", "USE1-Cluster:VolumeUsage.gp2"],
            "line_item_usage_amount": [3.0, 500.0],
            "line_item_unblended_cost": [295.0, 0.5],
            "pricing_unit": ["Hrs", "GB-Mo"],
            "resource_tags_user_project": ["hyperpod", None],
        }
    )
    pq.write_table(table, folder / "acme-athena-00001.snappy.parquet")
    (out,) = parse_all(tmp_path)
    lines = out.to_pylist()
    assert lines[0]["accelerator"] == "NVIDIA H100 SXM5-80GB"
    assert lines[0]["accelerator_hours"] == 24.0  # HyperPod: 3 instance-hours x 8
    assert lines[0]["billing_period"] == "2025-03"
    assert dict(lines[0]["tags"]) == {"project": "hyperpod"}
    assert lines[1]["accelerator"] is None
    assert lines[0]["export_kind"] == "cur1"


def test_a_bad_value_deep_in_a_streamed_unit_quarantines_it_whole(tmp_path):
    period = write_legacy(tmp_path)
    path = period / "22222222-bbbb/acme-hourly-1.csv.gz"
    text = gzip.decompress(path.read_bytes()).decode().replace("24.768", "twenty")
    path.write_bytes(gzip.compress(text.encode()))
    config = tmp_path / "reconcile.toml"
    config.write_text("[formats.aws_cur]\nstream_threshold_mb = 0\n")
    db = tmp_path / "w.duckdb"
    code, summary, _ = ingest(db, tmp_path / "cur-legacy", config=config)
    assert code == 3
    (error,) = [q["error"] for q in summary["quarantine"]]
    assert period.resolve().as_uri() in error  # the unit, or the file inside it
    assert "twenty" in error
    assert rows(db, "SELECT count(*) FROM billing_lines") == [(0,)]
    assert rows(db, "SELECT count(*) FROM ingest_ledger") == [(0,)]


@pytest.mark.slow
def test_a_bad_value_after_the_first_streamed_batch_rolls_the_unit_back(tmp_path):
    """The error surfaces while the engine is already inserting the stream: the whole
    unit is rolled back and quarantined with the reason, nothing half-loaded."""
    import duckdb

    period = write_legacy(tmp_path)
    path = period / "22222222-bbbb/acme-hourly-1.csv.gz"
    values = {
        "identity/LineItemId": "'u' || range",
        "identity/TimeInterval": f"'{HOUR}'",
        "lineItem/UsageAccountId": "'012345678901'",
        "lineItem/LineItemType": "'Usage'",
        "lineItem/UsageType": "'BoxUsage:p4d.24xlarge'",
        "lineItem/UsageAmount": "'1'",
        "lineItem/UnblendedCost": "CASE WHEN range = 699999 THEN 'twenty' ELSE '1.5' END",
    }
    select = ", ".join(f'{values.get(c, chr(39) * 2)} AS "{c}"' for c in LEGACY_HEADER)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT {select} FROM range(700000)) TO '{path}' (HEADER, COMPRESSION gzip)")
    con.close()
    config = tmp_path / "reconcile.toml"
    config.write_text("[formats.aws_cur]\nstream_threshold_mb = 0\n")
    db = tmp_path / "w.duckdb"
    code, summary, _ = ingest(db, tmp_path / "cur-legacy", config=config)
    assert code == 3
    (error,) = [q["error"] for q in summary["quarantine"]]
    assert period.resolve().as_uri() in error
    assert 'Could not convert string "twenty"' in error
    assert "Traceback" not in error
    assert rows(db, "SELECT count(*) FROM billing_lines") == [(0,)]
    assert rows(db, "SELECT count(*) FROM ingest_ledger") == [(0,)]
