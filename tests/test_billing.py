"""Billing end to end: the sample organisation's AWS, GCP and Azure bills (plus a FOCUS copy
of the Azure month) through the CLI, from a folder and from S3; totals checked against
hand-computed figures and unchanged by re-runs and re-deliveries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from connectors.registry import Source
from connectors.stores.s3 import S3Store
from reconcile import ingest, warehouse
from reconcile.cli import cli

BILLING = ["aws/acme-billing", "gcp/acme-billing-export", "azure"]
CUR_PERIOD = "aws/acme-billing/cur2/acme-cur2/data/BILLING_PERIOD=2025-03"
CUR_MANIFEST = (
    "aws/acme-billing/cur2/acme-cur2/metadata/BILLING_PERIOD=2025-03/acme-cur2-Manifest.json"
)
AZURE_PERIOD = "azure/acmecostexports/costexports/acme-daily-actual/20250501-20250531"

# Hand-computed (see the connector tests and bench/make_billing_samples.py):
# AWS 2025-03: SageMaker training of 2 x 20,252 s (SFT) + 5,606 s (DPO) of ml.p4d.24xlarge
#   = 12.8083 instance-hours x 8 A100 = 102.466667 h; billed = on-demand lines 445.03246668
#   (the Savings Plan pair nets to 0), effective adds the plan's 24.4972; other lines: storage
#   0.21577473 + S3 0.9775 - credit 500 + plan fee 24.4972 (amortised 0).
# GCP 2025-04: 2 x a3-highgpu-8g x 17.6 h x 8 = 281.6 H100-hours; GPU 3027.2 + core 252.5952
#   + RAM 303.11424 - 10 % credit on the GPUs 302.72 = 3280.18944; storage 1.492.
# Azure 2025-05: 4 x ND96isr H100 v5 x 72 h x 8 = 2304 H100-hours at 98.32/VM-hour =
#   28316.16; 4 OS disks x 17.441255. The FOCUS copy of the same month is not added again.
EXPECTED = [
    ("aws", "2025-03", "NVIDIA A100 SXM4-40GB", 102.466667, 445.03246668, 469.52966668),
    ("aws", "2025-03", None, 0.0, -474.30952527, -498.80672527),
    ("azure", "2025-05", "NVIDIA H100 SXM5-80GB", 2304.0, 28316.16, 28316.16),
    ("azure", "2025-05", None, 0.0, 69.76502, 69.76502),
    ("gcp", "2025-04", "NVIDIA H100 SXM5-80GB", 281.6, 3280.18944, 3280.18944),
    ("gcp", "2025-04", None, 0.0, 1.492, 1.492),
]


@pytest.fixture
def billing_copy(tmp_path: Path, sample_data: Path) -> Path:
    target = tmp_path / "bills"
    for folder in BILLING:
        shutil.copytree(sample_data / folder, target / folder)
    return target


def run(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def totals(db: Path) -> list[tuple]:
    rows = run(db, "query", "billing_totals", "--format", "json")
    keys = [
        "provider",
        "month",
        "accelerator",
        "accelerator_hours",
        "cost_billed",
        "cost_effective",
        "currency",
    ]
    assert all(list(row) == keys for row in rows)
    return [tuple(row[k] for k in keys[:-1]) for row in rows if row["currency"] == "USD"]


def assert_expected(db: Path) -> None:
    got = totals(db)
    assert [row[:3] for row in got] == [row[:3] for row in EXPECTED]
    for row, want in zip(got, EXPECTED, strict=True):
        assert row[3:] == pytest.approx(want[3:], abs=1e-6), row


def test_billing_totals_of_the_sample_organisation(tmp_path, billing_copy):
    db = tmp_path / "w.duckdb"
    summary = run(db, "ingest", "--json", str(billing_copy))
    # one CUR period, one GCP invoice month, one Azure export range, one FOCUS file
    assert summary["objects"]["new"] == 4
    assert summary["rows"]["billing_lines"] == 14 + 153 + 20 + 20
    assert_expected(db)
    first = run(db, "query", "billing_totals", "--format", "json")
    for _ in range(2):
        again = run(db, "ingest", "--json", str(billing_copy))
        assert again["objects"]["unchanged"] == 4 and again["bytes_read"] == 0
    assert run(db, "query", "billing_totals", "--format", "json") == first


def test_re_deliveries_of_the_same_bills_change_nothing(tmp_path, billing_copy):
    db = tmp_path / "w.duckdb"
    run(db, "ingest", "--json", str(billing_copy))
    before = run(db, "query", "billing_totals", "--format", "json")
    # AWS delivers the month again (a new execution folder, the manifest moved to it) ...
    period = billing_copy / CUR_PERIOD
    newest = "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70"
    shutil.copytree(period / newest, period / "e9f8a7b6-c5d4-4e3f-a2b1-0c9d8e7f6a5b")
    manifest = billing_copy / CUR_MANIFEST
    manifest.write_text(
        manifest.read_text().replace(newest, "e9f8a7b6-c5d4-4e3f-a2b1-0c9d8e7f6a5b")
    )
    # ... Azure runs the export once more ...
    azure = billing_copy / AZURE_PERIOD
    old_run, new_run = (
        "a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d",
        "ffeeddcc-bbaa-4998-8776-655443322110",
    )
    shutil.copytree(azure / old_run, azure / new_run)
    text = (azure / new_run / "manifest.json").read_text().replace(old_run, new_run)
    (azure / new_run / "manifest.json").write_text(text.replace("2025-06-02", "2025-06-03"))
    # ... and someone extracts the GCP month a third time.
    gcp = next((billing_copy / "gcp").rglob("export-20250503-000000000000.json.gz"))
    shutil.copy(gcp, gcp.with_name("export-20250510-000000000000.json.gz"))
    summary = run(db, "ingest", "--json", str(billing_copy))
    assert summary["objects"]["replaced"] == 3
    assert summary["rows"]["billing_lines"] == summary["rows_deleted"]["billing_lines"]
    assert run(db, "query", "billing_totals", "--format", "json") == before
    assert_expected(db)


def test_billing_by_tag_and_the_unknown_accelerator_check(tmp_path, billing_copy):
    db = tmp_path / "w.duckdb"
    run(db, "ingest", "--json", str(billing_copy))
    rows = run(db, "query", "billing_by_tag", "--format", "json")
    project = {
        (r["provider"], r["tag_value"]): r["accelerator_hours"]
        for r in rows
        if r["tag_key"] == "project" and r["accelerator"]
    }
    assert project == pytest.approx(
        {
            ("aws", "support-assistant"): 102.466667,
            ("gcp", "legal-assistant"): 281.6,
            ("azure", "legal-assistant"): 2304.0,
        }
    )
    assert run(db, "query", "checks/billing_unknown_accelerators", "--format", "json") == []
    # A GPU instance type the catalog does not know is listed, not dropped.
    con = warehouse.open_for_write(db)
    con.execute(
        "INSERT INTO billing_lines (line_id, provider, account_id, usage_type, instance_type, "
        "accelerator, usage_quantity, cost_billed, currency, source_uri, source_format) VALUES "
        "('x', 'aws', '041122334455', 'USW2-BoxUsage:p7.48xlarge', 'p7.48xlarge', "
        "'unknown:p7.48xlarge', 2, 220, 'USD', 'file:///x', 'aws_cur')"
    )
    con.close()
    (found,) = run(db, "query", "checks/billing_unknown_accelerators", "--format", "json")
    assert (found["accelerator"], found["usage_quantity"], found["accounts"]) == (
        "unknown:p7.48xlarge",
        2.0,
        ["041122334455"],
    )


def upload(client: Any, bucket: str, folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.put_object(
                Bucket=bucket, Key=path.relative_to(folder).as_posix(), Body=path.read_bytes()
            )


def test_billing_from_s3_is_exactly_once(tmp_path, billing_copy, s3, bucket, moto_endpoint):
    upload(s3, bucket, billing_copy)
    db = tmp_path / "w.duckdb"
    summary = run(db, "ingest", "--json", f"s3://{bucket}/")
    assert summary["objects"]["new"] == 4
    assert_expected(db)
    # A no-op run lists and reads nothing else (no manifest is fetched for an unchanged period).
    calls: dict[str, int] = {}
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.meta.events.register(
        "before-call.s3.*",
        lambda event_name, **_: calls.__setitem__(event_name.split(".")[-1], 1),
    )
    con = warehouse.open_for_write(db)
    second = ingest.ingest(con, [Source(f"s3://{bucket}/", S3Store(bucket, client=client), "")])
    con.close()
    assert second.counts["unchanged"] == 4
    assert set(calls) == {"ListObjectsV2"}
    ledger = warehouse.open_for_read(db)
    uris = [r[0] for r in ledger.execute("SELECT uri FROM ingest_ledger ORDER BY uri").fetchall()]
    ledger.close()
    assert f"s3://{bucket}/{CUR_PERIOD}" in uris
