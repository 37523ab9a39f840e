"""Writes the billing files of the sample organisation (Acme Assist) into sample_data/.

The files are committed; this script documents how every number in them was made and
re-creates them byte for byte (for a given pyarrow version). Run from the repository
root:

    python bench/make_billing_samples.py [--out sample_data]

What it writes (see sample_data/README.md):

- AWS CUR 2.0 (Data Exports, Parquet) for 2025-03, delivered twice ("create new
  report"): an early execution (2025-03-20) and the final one (2025-04-03); the period's
  manifest lists only the final one. SageMaker training lines of the two jobs (hourly,
  instance-hours that match the jobs' billable seconds), a Savings Plans covered-usage /
  negation pair and its recurring fee, training storage, S3, and an Activate credit.
- GCP billing export (detailed, JSON lines, gzipped) for invoice month 2025-04, extracted
  twice (2025-04-12 and 2025-05-03; the second a superset of the first): the legal
  model's two a3-highgpu-8g VMs (GPU, core and RAM SKUs, 17.6 h each) with a promotional
  credit on the GPU lines, and a Cloud Storage line.
- Azure cost details (EA, improved export with manifest.json, actual cost, CSV) for May
  2025, two runs of a daily month-to-date export (2025-05-14 and 2025-06-02): 4 x
  Standard_ND96isr_H100_v5 for 72 h on 2025-05-12..15 and their OS disks.
- A FOCUS 1.0 file of the same Azure month, as downloaded from the portal (with the
  quirks of real exports: literal NULLs, mixed enum casing, a tag key with a space).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ACCOUNT = "041122334455"
REGION = "us-east-1"
SP_ARN = "arn:aws:savingsplans::041122334455:savingsplan/6c1d2f3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"
TRAIN_RATE = Decimal("37.688")  # ml.p4d.24xlarge training, on demand, USD/h
SP_RATE = Decimal("24.4972")  # the same under the SageMaker Savings Plan (35 % off)
JOB_ARN = "arn:aws:sagemaker:us-east-1:041122334455:training-job/{}"
TAGS = {"user_project": "support-assistant", "user_team": "ml-platform"}

STRING, DOUBLE = pa.string(), pa.float64()
TS = pa.timestamp("ms")  # CUR 2.0 Parquet writes naive UTC timestamps
MAP = pa.map_(pa.string(), pa.string())

#: The fixed CUR 2.0 column set (AWS CUR 2.0 table dictionary), in delivery order.
CUR2_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("bill_bill_type", STRING),
    ("bill_billing_entity", STRING),
    ("bill_billing_period_end_date", TS),
    ("bill_billing_period_start_date", TS),
    ("bill_invoice_id", STRING),
    ("bill_invoicing_entity", STRING),
    ("bill_payer_account_id", STRING),
    ("bill_payer_account_name", STRING),
    ("cost_category", MAP),
    ("discount", MAP),
    ("discount_bundled_discount", DOUBLE),
    ("discount_total_discount", DOUBLE),
    ("identity_line_item_id", STRING),
    ("identity_time_interval", STRING),
    ("line_item_availability_zone", STRING),
    ("line_item_blended_cost", DOUBLE),
    ("line_item_blended_rate", STRING),
    ("line_item_currency_code", STRING),
    ("line_item_legal_entity", STRING),
    ("line_item_line_item_description", STRING),
    ("line_item_line_item_type", STRING),
    ("line_item_net_unblended_cost", DOUBLE),
    ("line_item_net_unblended_rate", STRING),
    ("line_item_normalization_factor", DOUBLE),
    ("line_item_normalized_usage_amount", DOUBLE),
    ("line_item_operation", STRING),
    ("line_item_product_code", STRING),
    ("line_item_resource_id", STRING),
    ("line_item_tax_type", STRING),
    ("line_item_unblended_cost", DOUBLE),
    ("line_item_unblended_rate", STRING),
    ("line_item_usage_account_id", STRING),
    ("line_item_usage_account_name", STRING),
    ("line_item_usage_amount", DOUBLE),
    ("line_item_usage_end_date", TS),
    ("line_item_usage_start_date", TS),
    ("line_item_usage_type", STRING),
    ("pricing_currency", STRING),
    ("pricing_lease_contract_length", STRING),
    ("pricing_offering_class", STRING),
    ("pricing_public_on_demand_cost", DOUBLE),
    ("pricing_public_on_demand_rate", STRING),
    ("pricing_purchase_option", STRING),
    ("pricing_rate_code", STRING),
    ("pricing_rate_id", STRING),
    ("pricing_term", STRING),
    ("pricing_unit", STRING),
    ("product", MAP),
    ("product_comment", STRING),
    ("product_fee_code", STRING),
    ("product_fee_description", STRING),
    ("product_from_location", STRING),
    ("product_from_location_type", STRING),
    ("product_from_region_code", STRING),
    ("product_instance_family", STRING),
    ("product_instance_type", STRING),
    ("product_instancesku", STRING),
    ("product_location", STRING),
    ("product_location_type", STRING),
    ("product_operation", STRING),
    ("product_pricing_unit", STRING),
    ("product_product_family", STRING),
    ("product_region_code", STRING),
    ("product_servicecode", STRING),
    ("product_sku", STRING),
    ("product_to_location", STRING),
    ("product_to_location_type", STRING),
    ("product_to_region_code", STRING),
    ("product_usagetype", STRING),
    ("reservation_amortized_upfront_cost_for_usage", DOUBLE),
    ("reservation_amortized_upfront_fee_for_billing_period", DOUBLE),
    ("reservation_availability_zone", STRING),
    ("reservation_effective_cost", DOUBLE),
    ("reservation_end_time", STRING),
    ("reservation_modification_status", STRING),
    ("reservation_net_amortized_upfront_cost_for_usage", DOUBLE),
    ("reservation_net_amortized_upfront_fee_for_billing_period", DOUBLE),
    ("reservation_net_effective_cost", DOUBLE),
    ("reservation_net_recurring_fee_for_usage", DOUBLE),
    ("reservation_net_unused_amortized_upfront_fee_for_billing_period", DOUBLE),
    ("reservation_net_unused_recurring_fee", DOUBLE),
    ("reservation_net_upfront_value", DOUBLE),
    ("reservation_normalized_units_per_reservation", STRING),
    ("reservation_number_of_reservations", STRING),
    ("reservation_recurring_fee_for_usage", DOUBLE),
    ("reservation_reservation_a_r_n", STRING),
    ("reservation_start_time", STRING),
    ("reservation_subscription_id", STRING),
    ("reservation_total_reserved_normalized_units", STRING),
    ("reservation_total_reserved_units", STRING),
    ("reservation_units_per_reservation", STRING),
    ("reservation_unused_amortized_upfront_fee_for_billing_period", DOUBLE),
    ("reservation_unused_normalized_unit_quantity", DOUBLE),
    ("reservation_unused_quantity", DOUBLE),
    ("reservation_unused_recurring_fee", DOUBLE),
    ("reservation_upfront_value", DOUBLE),
    ("resource_tags", MAP),
    ("savings_plan_amortized_upfront_commitment_for_billing_period", DOUBLE),
    ("savings_plan_end_time", STRING),
    ("savings_plan_instance_type_family", STRING),
    ("savings_plan_net_amortized_upfront_commitment_for_billing_period", DOUBLE),
    ("savings_plan_net_recurring_commitment_for_billing_period", DOUBLE),
    ("savings_plan_net_savings_plan_effective_cost", DOUBLE),
    ("savings_plan_offering_type", STRING),
    ("savings_plan_payment_option", STRING),
    ("savings_plan_purchase_term", STRING),
    ("savings_plan_recurring_commitment_for_billing_period", DOUBLE),
    ("savings_plan_region", STRING),
    ("savings_plan_savings_plan_a_r_n", STRING),
    ("savings_plan_savings_plan_effective_cost", DOUBLE),
    ("savings_plan_savings_plan_rate", DOUBLE),
    ("savings_plan_start_time", STRING),
    ("savings_plan_total_commitment_to_date", DOUBLE),
    ("savings_plan_used_commitment", DOUBLE),
]
CUR2_SCHEMA = pa.schema(CUR2_COLUMNS)


def money(value: Decimal, places: int = 8) -> Decimal:
    """``value`` rounded the way CUR rounds costs (8 decimals here)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def utc(text: str) -> datetime:
    """A naive UTC datetime (Parquet TIMESTAMP without zone) from ISO text."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def cur2_table(rows: list[dict[str, Any]]) -> pa.Table:
    """A CUR 2.0 table: every column, unset ones null."""
    columns = {}
    for name, typ in CUR2_COLUMNS:
        values = [row.get(name) for row in rows]
        if typ == DOUBLE:
            values = [float(v) if v is not None else None for v in values]
        if typ == MAP:
            values = [list(v.items()) if v is not None else None for v in values]
        columns[name] = pa.array(values, typ)
    return pa.table(columns, schema=CUR2_SCHEMA)


def _line(
    line_id: str,
    start: str,
    end: str,
    line_type: str,
    product_code: str,
    usage_type: str,
    amount: Decimal,
    cost: Decimal,
    **extra: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "bill_bill_type": "Anniversary",
        "bill_billing_entity": "AWS",
        "bill_billing_period_start_date": utc("2025-03-01T00:00:00Z"),
        "bill_billing_period_end_date": utc("2025-04-01T00:00:00Z"),
        "bill_invoicing_entity": "Amazon Web Services, Inc.",
        "bill_payer_account_id": ACCOUNT,
        "bill_payer_account_name": "acme-assist-payer",
        "cost_category": {},
        "discount": {},
        "identity_line_item_id": line_id,
        "identity_time_interval": f"{start}/{end}",
        "line_item_currency_code": "USD",
        "line_item_legal_entity": "Amazon Web Services, Inc.",
        "line_item_line_item_type": line_type,
        "line_item_product_code": product_code,
        "line_item_usage_account_id": ACCOUNT,
        "line_item_usage_account_name": "acme-assist-ml",
        "line_item_usage_amount": amount,
        "line_item_usage_start_date": utc(start),
        "line_item_usage_end_date": utc(end),
        "line_item_usage_type": usage_type,
        "line_item_unblended_cost": cost,
        "line_item_blended_cost": cost,
        "line_item_net_unblended_cost": cost,
        "pricing_currency": "USD",
        "product_region_code": REGION if usage_type else None,
        "product": {"region": REGION} if usage_type else {},
        "resource_tags": {},
    }
    row.update(extra)
    return row


def _training_line(
    line_id: str, job: str, hour: datetime, seconds: int, instances: int, line_type: str = "Usage"
) -> dict[str, Any]:
    """One hourly SageMaker training line: ``instances`` × ``seconds`` of ml.p4d.24xlarge."""
    amount = Decimal(instances * seconds) / Decimal(3600)
    amount = amount.quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN)
    cost = money(amount * TRAIN_RATE)
    start = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (hour + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra: dict[str, Any] = {
        "line_item_operation": "RunInstance",
        "line_item_resource_id": JOB_ARN.format(job),
        "line_item_unblended_rate": str(TRAIN_RATE),
        "line_item_line_item_description": (
            f"${TRAIN_RATE} per Training ml.p4d.24xlarge instance-hour in US East (N. Virginia)"
        ),
        "pricing_public_on_demand_cost": cost,
        "pricing_public_on_demand_rate": str(TRAIN_RATE),
        "pricing_unit": "Hrs",
        "pricing_term": "OnDemand",
        "product_instance_type": "ml.p4d.24xlarge",
        "product_instance_family": "p4d",
        "product_product_family": "ML Instance",
        "product_servicecode": "AmazonSageMaker",
        "product_sku": "8D2QPSMAR5ZRW3GH",
        "product_usagetype": "USE1-Train:ml.p4d.24xlarge",
        "product": {"region": REGION, "product_name": "Amazon SageMaker", "component": "Training"},
        "resource_tags": dict(TAGS),
    }
    if line_type == "SavingsPlanCoveredUsage":
        extra.update(
            {
                "savings_plan_savings_plan_a_r_n": SP_ARN,
                "savings_plan_savings_plan_rate": SP_RATE,
                "savings_plan_savings_plan_effective_cost": money(amount * SP_RATE),
                "savings_plan_net_savings_plan_effective_cost": money(amount * SP_RATE),
                "line_item_line_item_description": (
                    f"SageMaker Savings Plan covered usage: ${SP_RATE} per hour"
                ),
            }
        )
    return _line(
        line_id,
        start,
        end,
        line_type,
        "AmazonSageMaker",
        "USE1-Train:ml.p4d.24xlarge",
        amount,
        cost,
        **extra,
    )


def _hours(start: str, end: str) -> list[tuple[datetime, int]]:
    """(hour, seconds used in that hour) from ``start`` to ``end``."""
    begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
    stop = datetime.fromisoformat(end.replace("Z", "+00:00"))
    out = []
    hour = begin.replace(minute=0, second=0)
    while hour < stop:
        nxt = hour + timedelta(hours=1)
        used = (min(nxt, stop) - max(hour, begin)).total_seconds()
        out.append((hour, int(used)))
        hour = nxt
    return out


def aws_lines(final: bool) -> list[dict[str, Any]]:
    """The CUR 2.0 lines of 2025-03, as of the early (20 March) or final delivery.

    Line item ids differ between deliveries (they are not stable), like AWS's.
    """
    tag = "f" if final else "e"
    rows = []
    sft = _hours("2025-03-04T13:06:40Z", "2025-03-04T18:44:12Z")  # 20,252 s per instance
    for index, (hour, seconds) in enumerate(sft):
        rows.append(
            _training_line(f"{tag}sft{index:02d}", "qwen7b-sft-20250304-1301", hour, seconds, 2)
        )
    dpo = _hours("2025-03-18T09:27:05Z", "2025-03-18T11:00:31Z")  # 5,606 s
    for index, (hour, seconds) in enumerate(dpo):
        if hour.hour == 10:
            # The full hour is covered by the SageMaker Savings Plan: covered usage at the
            # on-demand price, its negation, and the plan's fee for that hour.
            covered = _training_line(
                f"{tag}dpo{index:02d}",
                "qwen7b-dpo-20250318-0922",
                hour,
                seconds,
                1,
                "SavingsPlanCoveredUsage",
            )
            rows.append(covered)
            negation = dict(covered)
            negation.update(
                {
                    "identity_line_item_id": f"{tag}dpo{index:02d}neg",
                    "line_item_line_item_type": "SavingsPlanNegation",
                    "line_item_unblended_cost": -covered["line_item_unblended_cost"],
                    "line_item_blended_cost": -covered["line_item_blended_cost"],
                    "line_item_net_unblended_cost": -covered["line_item_net_unblended_cost"],
                    "line_item_line_item_description": (
                        "SavingsPlanNegation used by AccountId : 041122334455 and UsageSku : "
                        "8D2QPSMAR5ZRW3GH"
                    ),
                    "pricing_public_on_demand_cost": None,
                    "savings_plan_savings_plan_effective_cost": None,
                    "savings_plan_net_savings_plan_effective_cost": None,
                }
            )
            rows.append(negation)
            start = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
            end = (hour + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append(
                _line(
                    f"{tag}spfee{index:02d}",
                    start,
                    end,
                    "SavingsPlanRecurringFee",
                    "MachineLearningSavingsPlans",
                    "MachineLearningSP:1yrNoUpfront",
                    Decimal(1),
                    SP_RATE,
                    line_item_resource_id=SP_ARN,
                    line_item_line_item_description="1 year No Upfront SageMaker Savings Plan",
                    savings_plan_savings_plan_a_r_n=SP_ARN,
                    savings_plan_total_commitment_to_date=SP_RATE,
                    savings_plan_used_commitment=SP_RATE,
                    savings_plan_recurring_commitment_for_billing_period=SP_RATE,
                    savings_plan_offering_type="SageMakerSavingsPlans",
                    savings_plan_payment_option="No Upfront",
                    savings_plan_purchase_term="1yr",
                    pricing_unit="Hrs",
                )
            )
        else:
            rows.append(
                _training_line(f"{tag}dpo{index:02d}", "qwen7b-dpo-20250318-0922", hour, seconds, 1)
            )
    # ML storage of the SFT job: 2 instances x 100 GB for 20,252 s, in GB-months (730 h).
    storage = (Decimal(2 * 100 * 20252) / Decimal(3600 * 730)).quantize(Decimal("1e-10"))
    rows.append(
        _line(
            f"{tag}vol00",
            "2025-03-04T13:00:00Z",
            "2025-03-04T19:00:00Z",
            "Usage",
            "AmazonSageMaker",
            "USE1-Train:VolumeUsage.gp2",
            storage,
            money(storage * Decimal("0.14")),
            line_item_resource_id=JOB_ARN.format("qwen7b-sft-20250304-1301"),
            line_item_line_item_description="$0.14 per GB-month of ML storage (Training)",
            pricing_unit="GB-Mo",
            resource_tags=dict(TAGS),
        )
    )
    if final:
        rows.append(
            _line(
                f"{tag}s3",
                "2025-03-01T00:00:00Z",
                "2025-04-01T00:00:00Z",
                "Usage",
                "AmazonS3",
                "TimedStorage-ByteHrs",
                Decimal("42.5"),
                money(Decimal("42.5") * Decimal("0.023")),
                line_item_resource_id="acme-ml-artifacts",
                line_item_line_item_description=(
                    "$0.023 per GB - first 50 TB / month of storage used"
                ),
                pricing_unit="GB-Mo",
            )
        )
        rows.append(
            _line(
                f"{tag}credit",
                "2025-03-01T00:00:00Z",
                "2025-04-01T00:00:00Z",
                "Credit",
                "AmazonSageMaker",
                "",
                Decimal(0),
                Decimal("-500.00"),
                line_item_line_item_description="AWS Activate Credits",
            )
        )
    return rows


def write_aws(out: Path) -> None:
    """The CUR 2.0 export ``acme-cur2`` in bucket ``acme-billing``, prefix ``cur2``."""
    root = out / "aws/acme-billing/cur2/acme-cur2"
    executions = {
        "0b6f3a52-7c1e-4d8a-9f20-5e4d3c2b1a09": aws_lines(final=False),
        "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70": aws_lines(final=True),
    }
    last = ""
    for execution, rows in executions.items():
        folder = root / "data/BILLING_PERIOD=2025-03" / execution
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(cur2_table(rows), folder / "acme-cur2-00001.snappy.parquet")
        last = execution
    manifest = {
        "version": "2024-06-01",
        "executionId": last,
        "exportArn": "arn:aws:bcm-data-exports:us-east-1:041122334455:export/acme-cur2-8c3f0d2e",
        "billingPeriod": {"start": "2025-03-01T00:00:00.000Z", "end": "2025-04-01T00:00:00.000Z"},
        "bucket": "acme-billing",
        "dataFiles": [
            f"s3://acme-billing/cur2/acme-cur2/data/BILLING_PERIOD=2025-03/{last}/"
            "acme-cur2-00001.snappy.parquet"
        ],
        "columns": [
            {
                "name": name,
                "type": "map"
                if typ == MAP
                else "timestamp"
                if typ == TS
                else "double"
                if typ == DOUBLE
                else "string",
            }
            for name, typ in CUR2_COLUMNS
        ],
        "additionalOutputFiles": [],
    }
    meta = root / "metadata/BILLING_PERIOD=2025-03"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "acme-cur2-Manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


# -- GCP --------------------------------------------------------------------------

GCP_PROJECT = "acme-training-eu"
GCP_BILLING = "01A2B3-C4D5E6-F7A8B9"
GPU_PRICE = Decimal("10.75")  # per GPU-hour, Nvidia H100 80GB in EMEA
CORE_PRICE = Decimal("0.0345")  # per vCPU-hour, A3 core in EMEA
RAM_PRICE = Decimal("0.0046")  # per GiB-hour, A3 RAM in EMEA
# The GKE nodes of the legal run's two pods (the names the DCGM sample uses).
VMS = ["gke-train-eu-a3-highgpu-pool-5c7e2b1a-x8q2", "gke-train-eu-a3-highgpu-pool-5c7e2b1a-m4tz"]


def _bq_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def gcp_rows() -> list[dict[str, Any]]:
    """Every billing-export row of invoice month 202504 (final extract)."""
    rows = []
    # Up from 05:48 to 23:24 (17.6 h): training 06:00:00-23:10:40 plus start-up/teardown.
    slots = _hours("2025-04-11T05:48:00Z", "2025-04-11T23:24:00Z")
    labels = [
        {"key": "project", "value": "legal-assistant"},
        {"key": "goog-k8s-cluster-name", "value": "train-eu"},
        {"key": "goog-k8s-node-pool-name", "value": "a3-highgpu-pool"},
    ]
    for name in VMS:
        global_name = (
            f"//compute.googleapis.com/projects/{GCP_PROJECT}/zones/europe-west4-b/instances/{name}"
        )
        for hour, seconds in slots:
            hours = Decimal(seconds) / Decimal(3600)
            base = {
                "billing_account_id": GCP_BILLING,
                "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
                "usage_start_time": _bq_time(hour),
                "usage_end_time": _bq_time(hour + timedelta(hours=1)),
                "project": {
                    "id": GCP_PROJECT,
                    "number": "318405527716",
                    "name": "acme-training-eu",
                    "ancestry_numbers": "/523617408810/",
                },
                "labels": labels,
                "system_labels": [
                    {"key": "compute.googleapis.com/machine_spec", "value": "a3-highgpu-8g"},
                    {"key": "compute.googleapis.com/cores", "value": "208"},
                    {"key": "compute.googleapis.com/memory", "value": "1916928"},
                ],
                "location": {
                    "location": "europe-west4-b",
                    "country": "NL",
                    "region": "europe-west4",
                    "zone": "europe-west4-b",
                },
                "resource": {"name": name, "global_name": global_name},
                "export_time": _bq_time(hour + timedelta(hours=4, minutes=17)),
                "currency": "USD",
                "currency_conversion_rate": 1.0,
                "invoice": {"month": "202504"},
                "cost_type": "regular",
                "tags": [],
            }
            gpu_cost = money(hours * 8 * GPU_PRICE, 6)
            credit = -money(gpu_cost / 10, 6)
            skus = [
                (
                    "F1E2-7A4B-3C9D",
                    "Nvidia H100 80GB GPU running in EMEA",
                    8 * seconds,
                    "seconds",
                    hours * 8,
                    gpu_cost,
                    [
                        {
                            "name": "Google for Startups Cloud Program",
                            "amount": float(credit),
                            "full_name": "Google for Startups Cloud Program",
                            "id": "3e9f7d21-promotion",
                            "type": "PROMOTION",
                        }
                    ],
                ),
                (
                    "7C2D-91AE-5B04",
                    "A3 Instance Core running in EMEA",
                    208 * seconds,
                    "seconds",
                    hours * 208,
                    money(hours * 208 * CORE_PRICE, 6),
                    [],
                ),
                (
                    "A0B7-4E19-C6D3",
                    "A3 Instance Ram running in EMEA",
                    1872 * 1073741824 * seconds,
                    "byte-seconds",
                    hours * 1872,
                    money(hours * 1872 * RAM_PRICE, 6),
                    [],
                ),
            ]
            for sku_id, description, amount, unit, pricing, cost, credits in skus:
                row = dict(base)
                row["sku"] = {"id": sku_id, "description": description}
                row["usage"] = {
                    "amount": float(amount),
                    "unit": unit,
                    "amount_in_pricing_units": float(pricing),
                    "pricing_unit": "hour" if unit == "seconds" else "gibibyte hour",
                }
                row["cost"] = float(cost)
                row["cost_at_list"] = float(cost)
                row["credits"] = credits
                rows.append(row)
    rows.append(
        {
            "billing_account_id": GCP_BILLING,
            "service": {"id": "95FF-2EF5-5EA1", "description": "Cloud Storage"},
            "sku": {"id": "E5F0-6A5D-7BAD", "description": "Standard Storage Netherlands"},
            "usage_start_time": "2025-04-11 00:00:00 UTC",
            "usage_end_time": "2025-05-01 00:00:00 UTC",
            "project": {"id": GCP_PROJECT, "number": "318405527716", "name": "acme-training-eu"},
            "labels": [{"key": "project", "value": "legal-assistant"}],
            "system_labels": [],
            "location": {"location": "europe-west4", "country": "NL", "region": "europe-west4"},
            "resource": {
                "name": "projects/_/buckets/acme-legal-checkpoints",
                "global_name": "//storage.googleapis.com/projects/_/buckets/acme-legal-checkpoints",
            },
            "export_time": "2025-05-01 07:02:11 UTC",
            "cost": 1.492,
            "cost_at_list": 1.492,
            "currency": "USD",
            "currency_conversion_rate": 1.0,
            "usage": {
                "amount": 74.6 * 1073741824 * 2592000,
                "unit": "byte-seconds",
                "amount_in_pricing_units": 74.6,
                "pricing_unit": "gibibyte month",
            },
            "credits": [],
            "invoice": {"month": "202504"},
            "cost_type": "regular",
            "tags": [],
        }
    )
    return rows


def _gzip_lines(rows: list[dict[str, Any]]) -> bytes:
    text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(text.encode())
    return buffer.getvalue()


def write_gcp(out: Path) -> None:
    """Two extracts of invoice month 202504 (the first a subset of the second)."""
    folder = (
        out
        / "gcp/acme-billing-export/gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
        / "invoice_month=202504"
    )
    folder.mkdir(parents=True, exist_ok=True)
    rows = gcp_rows()
    early = [r for r in rows if r["export_time"] < "2025-04-12 03:00:00 UTC"]
    (folder / "export-20250412-000000000000.json.gz").write_bytes(_gzip_lines(early))
    (folder / "export-20250503-000000000000.json.gz").write_bytes(_gzip_lines(rows))


# -- Azure ----------------------------------------------------------------------------

SUBSCRIPTION = "7c1f5e2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
VM_PRICE = Decimal("98.32")
DISK_PRICE = Decimal("135.17")  # P30 LRS managed disk per month
AZURE_COLUMNS = [
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "BillingProfileId",
    "BillingProfileName",
    "AccountOwnerId",
    "AccountName",
    "SubscriptionId",
    "SubscriptionName",
    "Date",
    "Product",
    "PartNumber",
    "MeterId",
    "ProductId",
    "MeterName",
    "MeterCategory",
    "MeterSubCategory",
    "MeterRegion",
    "Quantity",
    "EffectivePrice",
    "CostInBillingCurrency",
    "CostCenter",
    "ConsumedService",
    "ResourceId",
    "Tags",
    "OfferId",
    "AdditionalInfo",
    "ServiceInfo1",
    "ServiceInfo2",
    "ResourceName",
    "ReservationId",
    "ReservationName",
    "UnitPrice",
    "ProductOrderId",
    "ProductOrderName",
    "Term",
    "PublisherType",
    "PublisherName",
    "ChargeType",
    "Frequency",
    "PricingModel",
    "AvailabilityZone",
    "BillingCurrencyCode",
    "InvoiceSectionId",
    "InvoiceSectionName",
    "ResourceLocation",
    "ResourceGroup",
    "UnitOfMeasure",
    "PayGPrice",
    "benefitId",
    "benefitName",
]
VM_DAYS = [("05/12/2025", 16), ("05/13/2025", 24), ("05/14/2025", 24), ("05/15/2025", 8)]


def azure_rows(until: str | None = None) -> list[dict[str, str]]:
    """Cost-details rows of May 2025 (``until``: the last complete day of an early run)."""
    rows = []
    for vm in range(1, 5):
        name = f"nd-h100-{vm:02d}"
        rid = (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-ml-westeurope/providers/"
            f"Microsoft.Compute/virtualMachines/{name}"
        )
        common = {
            "BillingAccountId": "81234567",
            "BillingAccountName": "Acme Assist GmbH",
            "BillingPeriodStartDate": "05/01/2025",
            "BillingPeriodEndDate": "05/31/2025",
            "AccountOwnerId": "ml-platform@acme-assist.example",
            "AccountName": "ML Platform",
            "SubscriptionId": SUBSCRIPTION,
            "SubscriptionName": "acme-ml-prod",
            "CostCenter": "ML-4711",
            "ResourceName": name,
            "Tags": '"project": "legal-assistant","team": "ml-research"',
            "OfferId": "MS-AZR-0017P",
            "PublisherType": "Azure",
            "PublisherName": "Microsoft",
            "ChargeType": "Usage",
            "Frequency": "UsageBased",
            "PricingModel": "OnDemand",
            "BillingCurrencyCode": "USD",
            "ResourceLocation": "westeurope",
            "ResourceGroup": "rg-ml-westeurope",
        }
        for day, hours in VM_DAYS:
            if until and day > until:
                continue
            row = dict(common)
            row.update(
                {
                    "Date": day,
                    "Product": "Virtual Machines NDsr H100 v5 Series - ND96isr H100 v5 - EU West",
                    "PartNumber": "AAH-71538",
                    "MeterId": "2f8c1a9e-5b47-4d03-9e61-7a3c0b5d8e24",
                    "MeterName": "ND96isr H100 v5",
                    "MeterCategory": "Virtual Machines",
                    "MeterSubCategory": "NDsr H100 v5 Series",
                    "MeterRegion": "EU West",
                    "Quantity": str(hours),
                    "EffectivePrice": str(VM_PRICE),
                    "UnitPrice": str(VM_PRICE),
                    "PayGPrice": str(VM_PRICE),
                    "CostInBillingCurrency": str(VM_PRICE * hours),
                    "ConsumedService": "Microsoft.Compute",
                    "ResourceId": rid,
                    "AdditionalInfo": json.dumps(
                        {
                            "UsageType": "ComputeHR",
                            "ImageType": "Canonical",
                            "ServiceType": "Standard_ND96isr_H100_v5",
                            "VMName": None,
                            "VMProperties": None,
                            "VCPUs": "96",
                        },
                        separators=(",", ":"),
                    ),
                    "UnitOfMeasure": "1 Hour",
                    "AvailabilityZone": "",
                }
            )
            rows.append(row)
        if until is None:
            quantity = Decimal("0.129032")  # 4 of 31 days
            row = dict(common)
            row.update(
                {
                    "Date": "05/15/2025",
                    "Product": "Premium SSD Managed Disks - P30 LRS - EU West",
                    "PartNumber": "AAD-34176",
                    "MeterId": "9d2b3f4e-1a6c-4e58-b7d0-c3e2f1a09b87",
                    "MeterName": "P30 LRS Disk",
                    "MeterCategory": "Storage",
                    "MeterSubCategory": "Premium SSD Managed Disks",
                    "MeterRegion": "EU West",
                    "Quantity": str(quantity),
                    "EffectivePrice": str(DISK_PRICE),
                    "UnitPrice": str(DISK_PRICE),
                    "PayGPrice": str(DISK_PRICE),
                    "CostInBillingCurrency": str(money(quantity * DISK_PRICE, 6)),
                    "ConsumedService": "Microsoft.Compute",
                    "ResourceId": rid.replace("virtualMachines", "disks") + "_osdisk",
                    "AdditionalInfo": "",
                    "UnitOfMeasure": "1/Month",
                }
            )
            rows.append(row)
    return rows


def _csv(rows: list[dict[str, str]], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return buffer.getvalue().encode("utf-8-sig")


def write_azure(out: Path) -> None:
    """Two runs of the daily month-to-date actual-cost export for May 2025."""
    export = "acme-daily-actual"
    root_path = "costexports"
    period = out / "azure/acmecostexports" / root_path / export / "20250501-20250531"
    runs = [
        ("5e0d1c2b-3a49-4f87-a6b5-c4d3e2f1a0b9", "2025-05-14T06:12:44.5103321Z", "05/13/2025"),
        ("a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d", "2025-06-02T06:14:02.1187450Z", None),
    ]
    for run_id, submitted, until in runs:
        folder = period / run_id
        folder.mkdir(parents=True, exist_ok=True)
        rows = azure_rows(until)
        data = _csv(rows, AZURE_COLUMNS)
        (folder / "part_0_0001.csv").write_bytes(data)
        blob = f"{root_path}/{export}/20250501-20250531/{run_id}/part_0_0001.csv"
        manifest = {
            "manifestVersion": "2024-04-01",
            "byteCount": len(data),
            "blobCount": 1,
            "dataRowCount": len(rows),
            "exportConfig": {
                "exportName": export,
                "resourceId": (
                    f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/"
                    f"exports/{export}"
                ),
                "dataVersion": "2023-12-01-preview",
                "apiVersion": "2023-07-01-preview",
                "type": "ActualCost",
                "timeFrame": "MonthToDate",
                "granularity": "Daily",
            },
            "deliveryConfig": {
                "partitionData": True,
                "dataOverwriteBehavior": "CreateNewReport",
                "fileFormat": "Csv",
                "compressionMode": "None",
                "containerUri": (
                    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-finops/providers/"
                    "Microsoft.Storage/storageAccounts/acmecostexports"
                ),
                "rootFolderPath": root_path,
            },
            "runInfo": {
                "executionType": "Scheduled",
                "submittedTime": submitted,
                "runId": run_id,
                "startDate": "2025-05-01T00:00:00",
                "endDate": "2025-05-31T00:00:00",
            },
            "blobs": [{"blobName": blob, "byteCount": len(data), "dataRowCount": len(rows)}],
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


FOCUS_COLUMNS = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_SkuDetails",
    "x_SkuMeterCategory",
    "x_SkuMeterName",
]


def write_focus(out: Path) -> None:
    """The Azure month as a FOCUS 1.0 file downloaded from the portal."""
    rows = []
    for index, native in enumerate(azure_rows()):
        day = datetime.strptime(native["Date"], "%m/%d/%Y")
        is_vm = native["MeterCategory"] == "Virtual Machines"
        cost = native["CostInBillingCurrency"]
        tags = {"project": "legal-assistant", " team": "ml-research"}  # the stray space is real
        rows.append(
            {
                "AvailabilityZone": "NULL",
                "BilledCost": cost,
                "BillingAccountId": "/providers/Microsoft.Billing/billingAccounts/81234567",
                "BillingAccountName": "Acme Assist GmbH",
                "BillingCurrency": "USD",
                "BillingPeriodStart": "2025-05-01T00:00:00Z",
                "BillingPeriodEnd": "2025-06-01T00:00:00Z",
                "ChargeCategory": "usage" if index % 3 == 0 else "Usage",
                "ChargeClass": "NULL",
                "ChargeDescription": native["Product"],
                "ChargeFrequency": "Usage-based" if index % 2 else "Usage-Based",
                "ChargePeriodStart": day.strftime("%Y-%m-%dT00:00:00Z"),
                "ChargePeriodEnd": (day + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z"),
                "CommitmentDiscountCategory": "NULL",
                "CommitmentDiscountId": "NULL",
                "CommitmentDiscountName": "NULL",
                "CommitmentDiscountStatus": "NULL",
                "CommitmentDiscountType": "NULL",
                "ConsumedQuantity": native["Quantity"],
                "ConsumedUnit": "Hours" if is_vm else "Months",
                "ContractedCost": cost,
                "ContractedUnitPrice": native["UnitPrice"],
                "EffectiveCost": cost,
                "InvoiceIssuerName": "Microsoft",
                "ListCost": cost,
                "ListUnitPrice": native["PayGPrice"],
                "PricingCategory": "Standard",
                "PricingQuantity": native["Quantity"],
                "PricingUnit": native["UnitOfMeasure"],
                "ProviderName": "Microsoft",
                "PublisherName": "Microsoft",
                "RegionId": "westeurope",
                "RegionName": "West Europe",
                "ResourceId": native["ResourceId"].lower(),
                "ResourceName": native["ResourceName"],
                "ResourceType": "Virtual machine" if is_vm else "Disk",
                "ServiceCategory": "Compute" if is_vm else "Storage",
                "ServiceName": "Virtual Machines" if is_vm else "Storage",
                "SkuId": native["PartNumber"],
                "SkuPriceId": native["PartNumber"] + "_" + native["MeterId"][:8],
                "SubAccountId": f"/subscriptions/{SUBSCRIPTION}",
                "SubAccountName": "acme-ml-prod",
                "Tags": json.dumps(tags),
                "x_SkuDetails": native["AdditionalInfo"] or "NULL",
                "x_SkuMeterCategory": native["MeterCategory"],
                "x_SkuMeterName": native["MeterName"],
            }
        )
    folder = out / "azure/focus-downloads"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "acme-focus-1.0-2025-05.csv").write_bytes(
        _csv(rows, FOCUS_COLUMNS).removeprefix(b"\xef\xbb\xbf")
    )


def main() -> None:
    """Write every billing sample file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("sample_data"))
    args = parser.parse_args()
    write_aws(args.out)
    write_gcp(args.out)
    write_azure(args.out)
    write_focus(args.out)
    print(f"wrote the billing samples under {args.out}")


if __name__ == "__main__":
    main()
