"""A generated organisation: training runs, FOCUS billing and DCGM telemetry as files.

Used by the engine tests (the same `reconcile run` on DuckDB and on Spark must agree) and
by bench/engines_bench.py (``lines`` scales the billing). Deterministic for a seed.

Every third run is billed by its own VM (matched by resource id), every third by a
shared pool VM carrying its project tag (matched by tag), every third measured by DCGM
on a Kubernetes pod named after its job (matched by pod name); pool VMs nobody used stay
unattributed. Billing lines are hourly, per VM, in FOCUS 1.0 CSV as Azure writes them.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

FOCUS_COLUMNS = (
    "AvailabilityZone,BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,"
    "BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,"
    "ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,CommitmentDiscountCategory,"
    "CommitmentDiscountId,CommitmentDiscountName,CommitmentDiscountStatus,"
    "CommitmentDiscountType,ConsumedQuantity,ConsumedUnit,ContractedCost,ContractedUnitPrice,"
    "EffectiveCost,InvoiceIssuerName,ListCost,ListUnitPrice,PricingCategory,PricingQuantity,"
    "PricingUnit,ProviderName,PublisherName,RegionId,RegionName,ResourceId,ResourceName,"
    "ResourceType,ServiceCategory,ServiceName,SkuId,SkuPriceId,SubAccountId,SubAccountName,"
    "Tags,x_SkuDetails,x_SkuMeterCategory,x_SkuMeterName"
).split(",")
RATE = Decimal("98.32")  # USD per ND96isr H100 v5 hour (the sample organisation's price)
BASES = ("Qwen/Qwen2.5-7B", "mistralai/Mistral-7B-v0.1", "meta-llama/Llama-3.1-8B")
START = datetime(2025, 5, 1, tzinfo=UTC)
SUBSCRIPTIONS = ("0a1b2c3d-0000-4000-8000-000000000001", "0a1b2c3d-0000-4000-8000-000000000002")


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _focus_line(
    vm: str, hour: datetime, subscription: str, tags: dict[str, str], quantity: int = 1
) -> dict[str, str]:
    cost = str((RATE * quantity).quantize(Decimal("0.01")))
    month = hour.replace(day=1, hour=0)
    next_month = (month + timedelta(days=32)).replace(day=1)
    sub = f"/subscriptions/{subscription}"
    row = dict.fromkeys(FOCUS_COLUMNS, "NULL")
    row.update(
        {
            "BilledCost": cost,
            "BillingAccountId": "/providers/Microsoft.Billing/billingAccounts/80000001",
            "BillingAccountName": "Generated Org",
            "BillingCurrency": "USD",
            "BillingPeriodEnd": _iso(next_month),
            "BillingPeriodStart": _iso(month),
            "ChargeCategory": "Usage",
            "ChargeDescription": "Virtual Machines NDsr H100 v5 Series - ND96isr H100 v5",
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": _iso(hour + timedelta(hours=1)),
            "ChargePeriodStart": _iso(hour),
            "ConsumedQuantity": str(quantity),
            "ConsumedUnit": "Hours",
            "ContractedCost": cost,
            "ContractedUnitPrice": str(RATE),
            "EffectiveCost": cost,
            "InvoiceIssuerName": "Microsoft",
            "ListCost": cost,
            "ListUnitPrice": str(RATE),
            "PricingCategory": "Standard",
            "PricingQuantity": str(quantity),
            "PricingUnit": "1 Hour",
            "ProviderName": "Microsoft",
            "PublisherName": "Microsoft",
            "RegionId": "westeurope",
            "RegionName": "West Europe",
            "ResourceId": f"{sub}/resourcegroups/rg-ml/providers/microsoft.compute/"
            f"virtualmachines/{vm}",
            "ResourceName": vm,
            "ResourceType": "Virtual machine",
            "ServiceCategory": "Compute",
            "ServiceName": "Virtual Machines",
            "SkuId": "AAH-71538",
            "SkuPriceId": "AAH-71538_2f8c1a9e",
            "SubAccountId": sub,
            "SubAccountName": "ml-" + subscription[-1],
            "Tags": json.dumps(tags),
            "x_SkuDetails": '{"ServiceType":"Standard_ND96isr_H100_v5","VCPUs":"96"}',
            "x_SkuMeterCategory": "Virtual Machines",
            "x_SkuMeterName": "ND96isr H100 v5",
        }
    )
    return row


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    out = []
    while hour < end:
        out.append(hour)
        hour += timedelta(hours=1)
    return out


def generate(
    root: Path,
    *,
    runs: int = 30,
    idle_lines: int = 200,
    seed: int = 7,
    slurm: bool = False,
    dcgm_interval: int = 300,
) -> dict[str, int]:
    """Write the organisation under ``root``; returns counts of what was written.

    ``idle_lines`` adds billing lines of pool VMs nobody's run used (unattributed) and
    scales the billing for benchmarks: one line per VM and hour, never the same VM hour
    twice (a VM is billed once an hour), on more VMs as the count grows. ``slurm`` turns
    every other measured run into a Slurm job (an ``sacct`` dump row, the run tagged with
    its job id, DCGM on its node without a pod name); ``dcgm_interval`` is the scrape
    interval in seconds.
    """
    rng = random.Random(seed)
    (root / "runs").mkdir(parents=True, exist_ok=True)
    (root / "billing").mkdir(parents=True, exist_ok=True)
    (root / "dcgm").mkdir(parents=True, exist_ok=True)
    run_rows, lines, samples = [], [], 0
    sacct_rows: list[tuple[object, ...]] = []
    pool_hours: set[tuple[str, datetime]] = set()
    dcgm_rows: list[tuple[object, ...]] = []
    for i in range(runs):
        job = f"gen-ft-{i:04d}"
        start = START + timedelta(hours=rng.randrange(0, 24 * 50), minutes=rng.randrange(60))
        hours = rng.randrange(2, 20)
        end = start + timedelta(hours=hours, minutes=rng.randrange(60))
        method = "lora" if i % 4 == 1 else "full"
        project = f"proj-{i % 5}"
        run_rows.append(
            {
                "job_name": job,
                "platform": "azure",
                "base_model": BASES[i % len(BASES)],
                "model_id": f"gen-model-{i % 9}",
                "method": method,
                "objective": "sft",
                "params_trainable": 41_943_040 if method == "lora" else None,
                # gen-model-4 (Mistral-7B, no published compute: the 3.3e22 default) gets
                # continued pre-training sized runs that cross the threshold together.
                "tokens": rng.randrange(3 * 10**11, 5 * 10**11)
                if i % 9 == 4
                else rng.randrange(10**8, 4 * 10**9),
                "seq_len": 4096,
                "started_at": _iso(start),
                "ended_at": _iso(end),
                "runtime_seconds": (end - start).total_seconds(),
                "accelerator": "NVIDIA H100 80GB HBM3",
                "accelerator_count": 8,
                "instance_count": 1,
                "precision": "bf16",
                "tags": {"project": project, "team": "ml"},
            }
        )
        subscription = SUBSCRIPTIONS[i % 2]
        if i % 3 == 0:  # its own VM, named after the job
            for hour in _hours(start, end):
                lines.append(_focus_line(job, hour, subscription, {"team": "ml"}))
        elif i % 3 == 1:  # a pool VM, tagged with the project; billed once an hour
            vm = f"pool-{i % max(7, runs // 20):02d}"
            for hour in _hours(start, end):
                if (vm, hour) not in pool_hours:
                    pool_hours.add((vm, hour))
                    lines.append(_focus_line(vm, hour, subscription, {"project": project}))
        else:  # a Kubernetes pod (or a Slurm job) on an on-prem node, measured by DCGM
            host = f"gen-node-{i:03d}"
            pod = f"{job}-worker-0"
            if slurm and (i // 3) % 2:
                job_id = 500_000 + i
                run_rows[-1]["platform"] = "slurm"
                run_rows[-1]["tags"]["slurm_job_id"] = str(job_id)
                pod = ""
                sacct_rows.append(
                    (job_id, job_id, job, "ml", "acme-ml", "h100", "COMPLETED",
                     int(start.timestamp()), int(end.timestamp()),
                     int((end - start).total_seconds()), 1, host,
                     "billing=128,cpu=128,gres/gpu=8,mem=1000G,node=1", "gen")
                )
            t = int(start.timestamp())
            while t < int(end.timestamp()):
                for gpu in range(8):
                    uuid = f"GPU-{i:04d}{gpu:04d}-0000-4000-8000-{i:06d}{gpu:06d}"
                    for metric, value in (
                        ("DCGM_FI_DEV_GPU_UTIL", rng.randrange(80, 100)),
                        ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", round(rng.uniform(0.2, 0.5), 3)),
                    ):
                        dcgm_rows.append(
                            (t, metric, host, gpu, uuid, "NVIDIA H100 80GB HBM3", "train",
                             pod, "trainer", value)
                        )
                samples += 8
                t += dcgm_interval
    hours_span = 24 * 58
    vms = max(11, -(-idle_lines // (hours_span // 2)))
    slots = rng.sample(range(vms * hours_span), idle_lines)
    for slot in slots:
        hour = START + timedelta(hours=slot % hours_span)
        vm = f"idle-{slot // hours_span:02d}"
        index = slot // hours_span
        tags = {"project": "sandbox"} if index % 2 else {}
        lines.append(
            _focus_line(vm, hour, SUBSCRIPTIONS[index % 2], tags, quantity=rng.choice((1, 1, 2)))
        )
    with (root / "runs" / "generated.runs.jsonl").open("w", encoding="utf-8") as handle:
        for row in run_rows:
            handle.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")
    by_month: dict[str, list[dict[str, str]]] = {}
    for line in lines:
        by_month.setdefault(line["BillingPeriodStart"][:7], []).append(line)
    for month, rows in sorted(by_month.items()):
        with (root / "billing" / f"generated-focus-{month}.csv").open(
            "w", newline="", encoding="utf-8"
        ) as handle:
            writer = csv.DictWriter(handle, fieldnames=FOCUS_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    with (root / "dcgm" / "dcgm-generated.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["timestamp", "metric", "Hostname", "gpu", "UUID", "modelName", "namespace",
             "pod", "container", "value"]
        )
        writer.writerows(dcgm_rows)
    if sacct_rows:
        (root / "slurm").mkdir(exist_ok=True)
        with (root / "slurm" / "sacct-generated.txt").open("w", encoding="utf-8") as handle:
            handle.write(
                "JobID|JobIDRaw|JobName|User|Account|Partition|State|Start|End|ElapsedRaw|"
                "NNodes|NodeList|AllocTRES|Cluster\n"
            )
            for row in sacct_rows:
                handle.write("|".join(str(v) for v in row) + "\n")
    return {
        "runs": len(run_rows),
        "billing_lines": len(lines),
        "dcgm_samples": samples,
        "slurm_jobs": len(sacct_rows),
    }
