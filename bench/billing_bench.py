"""Benchmark: ingesting N billing lines (CUR 2.0 Parquet, FOCUS CSV) with the real CLI,
against DuckDB reading the same files into a table.

Writes an N-line CUR 2.0 export (the full fixed column set, Data Exports layout with a
manifest) and an N-line FOCUS 1.0 CSV, then times, each in a fresh process:

- ours: ``reconcile --db X ingest DIR`` (normalisation, accelerator lookup, decimals,
  tags map, ledger, one transaction), streaming because the files exceed the threshold;
- DuckDB: ``CREATE TABLE t AS SELECT * FROM read_parquet(...)`` / ``read_csv(...)`` of the
  same files into an on-disk database (no normalisation at all);
- dlt (a peer pipeline tool, when its virtualenv exists): ``bench/peers/dlt_load.py``
  run by that virtualenv's Python, dlt's ``filesystem`` source with its ``read_parquet``
  / ``read_csv_duckdb`` readers (Arrow path) into the ``duckdb`` destination.

Prints wall time, CPU time, the ratios (target: ours within 1.25 x DuckDB's) and the
peak resident memory of each process.

    python bench/billing_bench.py [--lines 1000000] [--formats cur2,focus] [--keep DIR]
        [--dlt-python PATH | --no-dlt] [--dlt-lines N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_billing_samples import CUR2_COLUMNS, CUR2_SCHEMA, DOUBLE, MAP, TS

ROW_GROUP = 122_880
BENCH = Path(__file__).resolve().parent
DLT_SCRIPT = BENCH / "peers" / "dlt_load.py"
DEFAULT_DLT_PYTHON = BENCH / "_venv_dlt" / "bin" / "python"
# Usage types in the mix (most lines are not accelerators, as in a real bill).
USAGE_TYPES = np.array(
    [
        "BoxUsage:m5.xlarge",
        "USE1-BoxUsage:c6i.2xlarge",
        "USE1-EBS:VolumeUsage.gp3",
        "USE1-DataTransfer-Out-Bytes",
        "TimedStorage-ByteHrs",
        "BoxUsage:p4d.24xlarge",
        "USW2-SpotUsage:p5.48xlarge",
        "USE1-Train:ml.p4d.24xlarge",
        "USE1-Cluster:ml.p5.48xlarge",
        "USE1-BoxUsage:g6e.12xlarge",
    ]
)
INSTANCE = np.array(
    [
        "m5.xlarge",
        "c6i.2xlarge",
        None,
        None,
        None,
        "p4d.24xlarge",
        "p5.48xlarge",
        "ml.p4d.24xlarge",
        "ml.p5.48xlarge",
        "g6e.12xlarge",
    ],
    dtype=object,
)
PRODUCTS = np.array(
    [
        "AmazonEC2",
        "AmazonEC2",
        "AmazonEC2",
        "AWSDataTransfer",
        "AmazonS3",
        "AmazonEC2",
        "AmazonEC2",
        "AmazonSageMaker",
        "AmazonSageMaker",
        "AmazonEC2",
    ]
)
LINE_TYPES = np.array(["Usage"] * 8 + ["SavingsPlanCoveredUsage", "Credit"])
TAG_SETS = [
    [],
    [("user_project", "support-assistant")],
    [("user_project", "legal-assistant"), ("user_team", "ml-research")],
    [("user_cost_center", "4711"), ("aws_created_by", "AssumedRole:ci")],
]


def cur2_table(start: int, count: int, rng: np.random.Generator) -> pa.Table:
    """``count`` CUR 2.0 lines (ids from ``start``) with every CUR 2.0 column."""
    kind = rng.integers(0, len(USAGE_TYPES), count)
    hour = rng.integers(0, 31 * 24, count)
    base = np.datetime64("2025-03-01T00:00:00", "ms")
    starts = base + hour.astype("timedelta64[h]")
    amount = np.round(rng.random(count) * 2, 6)
    cost = np.round(amount * rng.choice([0.192, 0.34, 21.957642, 55.04, 37.688], count), 8)
    tags = rng.integers(0, len(TAG_SETS), count)
    columns: dict[str, pa.Array] = {}
    for name, typ in CUR2_COLUMNS:
        columns[name] = pa.nulls(count, typ)
    ids = np.char.add("li", np.arange(start, start + count).astype(str))
    columns.update(
        {
            "bill_bill_type": pa.array(np.full(count, "Anniversary")),
            "bill_billing_entity": pa.array(np.full(count, "AWS")),
            "bill_billing_period_start_date": pa.array(np.full(count, base), TS),
            "bill_billing_period_end_date": pa.array(
                np.full(count, np.datetime64("2025-04-01T00:00:00", "ms")), TS
            ),
            "bill_payer_account_id": pa.array(np.full(count, "041122334455")),
            "identity_line_item_id": pa.array(ids),
            "identity_time_interval": pa.array(np.full(count, "2025-03-01T00:00:00Z/…")),
            "line_item_currency_code": pa.array(np.full(count, "USD")),
            "line_item_line_item_type": pa.array(LINE_TYPES[kind]),
            "line_item_product_code": pa.array(PRODUCTS[kind]),
            "line_item_usage_account_id": pa.array(
                np.where(kind % 2 == 0, "041122334455", "009876543210")
            ),
            "line_item_usage_amount": pa.array(amount, DOUBLE),
            "line_item_usage_start_date": pa.array(starts, TS),
            "line_item_usage_end_date": pa.array(starts + np.timedelta64(1, "h"), TS),
            "line_item_usage_type": pa.array(USAGE_TYPES[kind]),
            "line_item_unblended_cost": pa.array(cost, DOUBLE),
            "line_item_blended_cost": pa.array(cost, DOUBLE),
            "line_item_resource_id": pa.array(
                np.char.add("i-0a9f3c2e1b7d", (kind * 7).astype(str))
            ),
            "pricing_public_on_demand_cost": pa.array(cost, DOUBLE),
            "pricing_unit": pa.array(np.full(count, "Hrs")),
            "product_instance_type": pa.array(INSTANCE[kind], pa.string()),
            "product_region_code": pa.array(np.full(count, "us-east-1")),
            "product_sku": pa.array(np.char.add("SKU", kind.astype(str))),
            "savings_plan_savings_plan_effective_cost": pa.array(
                np.where(kind == 8, np.round(cost * 0.65, 8), np.nan), DOUBLE, from_pandas=True
            ),
            "product": pa.array([[("region", "us-east-1")]] * count, MAP),
            "resource_tags": pa.array([TAG_SETS[t] for t in tags], MAP),
        }
    )
    return pa.table(columns, schema=CUR2_SCHEMA)


def write_cur2(root: Path, lines: int) -> Path:
    """An N-line CUR 2.0 export in the Data Exports layout; returns the export folder."""
    export = root / "cur2/bench-cur2"
    data = export / "data/BILLING_PERIOD=2025-03/exec-1"
    data.mkdir(parents=True)
    rng = np.random.default_rng(42)
    per_file = 500_000
    names = []
    for index, start in enumerate(range(0, lines, per_file)):
        name = f"bench-cur2-{index + 1:05d}.snappy.parquet"
        table = cur2_table(start, min(per_file, lines - start), rng)
        pq.write_table(table, data / name, row_group_size=ROW_GROUP, compression="snappy")
        names.append(name)
    meta = export / "metadata/BILLING_PERIOD=2025-03"
    meta.mkdir(parents=True)
    (meta / "bench-cur2-Manifest.json").write_text(
        json.dumps(
            {
                "executionId": "exec-1",
                "billingPeriod": {"start": "2025-03-01T00:00:00.000Z"},
                "dataFiles": [
                    f"s3://bench/cur2/bench-cur2/data/BILLING_PERIOD=2025-03/exec-1/{n}"
                    for n in names
                ],
            }
        )
    )
    return export


FOCUS_TEXT = {
    "ProviderName": ["AWS", "Microsoft", "Google Cloud"],
    "ServiceName": ["Amazon Elastic Compute Cloud", "Virtual Machines", "Compute Engine"],
    "ChargeCategory": ["Usage", "usage", "Usage"],
    "x_UsageType": ["USW2-BoxUsage:p5.48xlarge", "", "USE1-BoxUsage:m5.xlarge"],
    "x_SkuDetails": ['{"ServiceType":"Standard_ND96isr_H100_v5"}', "", "NULL"],
    "ChargeDescription": [
        "$55.04 per On Demand Linux p5.48xlarge Instance Hour",
        "ND96isr H100 v5",
        "Nvidia H100 80GB GPU running in EMEA",
    ],
}
FOCUS_COLUMNS = [
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory",
    "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
    "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
    "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId",
    "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
    "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
    "x_SkuDetails", "x_UsageType",
]  # fmt: skip


def write_focus(root: Path, lines: int) -> Path:
    """An N-line FOCUS 1.0 CSV (three providers mixed); returns its path."""
    folder = root / "focus"
    folder.mkdir(parents=True)
    path = folder / "bench-focus-2025-03.csv"
    rng = np.random.default_rng(7)
    chunk = 250_000
    with pacsv.CSVWriter(path, pa.schema([(c, pa.string()) for c in FOCUS_COLUMNS])) as writer:
        for start in range(0, lines, chunk):
            count = min(chunk, lines - start)
            which = rng.integers(0, 3, count)
            day = rng.integers(1, 29, count)
            hour = rng.integers(0, 24, count)
            period_start = np.char.add(
                np.char.add("2025-03-", np.char.zfill(day.astype(str), 2)),
                np.char.add(np.char.add("T", np.char.zfill(hour.astype(str), 2)), ":00:00Z"),
            )
            cost = np.round(rng.random(count) * 100, 6).astype(str)
            quantity = np.round(rng.random(count), 6).astype(str)
            columns: dict[str, np.ndarray] = {c: np.full(count, "") for c in FOCUS_COLUMNS}
            for name, values in FOCUS_TEXT.items():
                columns[name] = np.array(values, dtype=object)[which]
            columns.update(
                {
                    "AvailabilityZone": np.full(count, "NULL"),
                    "BilledCost": cost,
                    "EffectiveCost": cost,
                    "ListCost": cost,
                    "BillingAccountId": np.full(count, "012345678901"),
                    "BillingCurrency": np.full(count, "USD"),
                    "BillingPeriodStart": np.full(count, "2025-03-01T00:00:00Z"),
                    "BillingPeriodEnd": np.full(count, "2025-04-01T00:00:00Z"),
                    "ChargePeriodStart": period_start,
                    "ChargePeriodEnd": period_start,
                    "ConsumedQuantity": quantity,
                    "ConsumedUnit": np.full(count, "Hours"),
                    "SubAccountId": np.full(count, "009876543210"),
                    "ResourceId": np.char.add("i-0c11d2e3f4a5b6c", (which * 3).astype(str)),
                    "Tags": np.where(
                        which == 1, '{"project": "legal-assistant", " team": "ml"}', "{}"
                    ),
                }
            )
            writer.write_table(
                pa.table({c: pa.array(columns[c], pa.string()) for c in FOCUS_COLUMNS})
            )
    return path


def measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS MiB, stdout) of ``cmd`` in its own process.

    CPU time (user + system) is reported too: on a shared machine it is far steadier
    than wall time.
    """
    wrapper = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(done.stdout)\n"
        "sys.stderr.write(done.stderr)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(r.ru_utime + r.ru_stime, r.ru_maxrss, file=sys.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
    cpu, peak_kib = done.stderr.strip().splitlines()[-1].split()
    return elapsed, float(cpu), int(peak_kib) / 1024, done.stdout


def baseline(kind: str, files: list[Path], db: Path) -> list[str]:
    """The DuckDB command reading ``files`` into a table of ``db``."""
    paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
    reader = (
        f"read_parquet([{paths}], union_by_name = true)"
        if kind == "cur2"
        else f"read_csv([{paths}], header = true)"
    )
    code = (
        "import duckdb, sys\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "con.execute('SET enable_progress_bar = false')\n"
        f"con.execute({f'CREATE TABLE t AS SELECT * FROM {reader}'!r})\n"
        "print(con.execute('SELECT count(*) FROM t').fetchall()[0][0])\n"
        "con.close()\n"
    )
    return [sys.executable, "-c", code]


def dlt_command(python: Path, kind: str, files: list[Path], work: Path) -> list[str]:
    """The dlt peer loading ``files`` (one folder's Parquet parts, or one CSV)."""
    if kind == "cur2":
        folder, glob = files[0].parent, "*.parquet"
        assert all(f.parent == folder for f in files)
    else:
        folder, glob = files[0].parent, files[0].name
    return [
        str(python), str(DLT_SCRIPT),
        "--kind", "parquet" if kind == "cur2" else "csv",
        "--folder", str(folder), "--glob", glob,
        "--db", str(work / "dlt.duckdb"), "--work", str(work),
    ]  # fmt: skip


def find_dlt_python(given: Path | None, disabled: bool) -> Path | None:
    """The Python of the dlt virtualenv, or None (with a message) when dlt is skipped."""
    if disabled:
        return None
    python = given or DEFAULT_DLT_PYTHON
    if not python.exists():
        print(
            f"dlt skipped: no {python} (create it as bench/README.md says, or pass "
            "--dlt-python PATH)",
            file=sys.stderr,
        )
        return None
    return python


def main() -> None:
    """Generate, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--formats", default="cur2,focus")
    parser.add_argument("--keep", type=Path, help="write the data here and keep it")
    parser.add_argument(
        "--dlt-python",
        type=Path,
        help=f"Python of a virtualenv with dlt (default: {DEFAULT_DLT_PYTHON}, if present)",
    )
    parser.add_argument("--no-dlt", action="store_true", help="leave the dlt peer out")
    parser.add_argument(
        "--dlt-lines",
        type=int,
        help="run dlt only when --lines is at most this (it is slow at large sizes)",
    )
    args = parser.parse_args()
    dlt_python = find_dlt_python(args.dlt_python, args.no_dlt)
    if dlt_python is not None and args.dlt_lines is not None and args.lines > args.dlt_lines:
        print(f"dlt skipped: --lines {args.lines} > --dlt-lines {args.dlt_lines}", file=sys.stderr)
        dlt_python = None
    tmp = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    root = args.keep or tmp
    env = {**os.environ}
    dlt_env = {**env, "RUNTIME__DLTHUB_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "ERROR"}
    cli = [sys.executable, "-m", "reconcile"]
    results = []
    try:
        for kind in args.formats.split(","):
            if kind == "cur2":
                source = write_cur2(root / "cur", args.lines)
                files = sorted(source.rglob("*.parquet"))
            else:
                source = write_focus(root / "focus", args.lines)
                files = [source]
            size = sum(f.stat().st_size for f in files)
            ours_db, base_db = tmp / f"{kind}.duckdb", tmp / f"{kind}-baseline.duckdb"
            base = measured(baseline(kind, files, base_db), env)
            base_db.unlink()  # the disk holds one copy of the data at a time
            ours = measured(cli + ["--db", str(ours_db), "ingest", "--json", str(source)], env)
            ours_db.unlink()
            summary = json.loads(ours[3])
            loaded = summary["rows"]["billing_lines"]
            assert loaded == args.lines == int(base[3]), (loaded, base[3])
            dlt = None
            if dlt_python is not None:
                work = tmp / f"{kind}-dlt"
                dlt = measured(dlt_command(dlt_python, kind, files, work), dlt_env)
                shutil.rmtree(work, ignore_errors=True)
                assert int(dlt[3].strip().splitlines()[-1]) == args.lines, dlt[3]
            results.append((kind, size, ours, base, dlt))
            if args.keep is None:
                shutil.rmtree(root / ("cur" if kind == "cur2" else "focus"), ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, resource limit "
        f"{resource.getrlimit(resource.RLIMIT_AS)[0]}"
    )
    print(f"{args.lines:,} lines per format")
    print(f"load average before: {os.getloadavg()[0]:.2f} (wall times suffer on a busy host)")
    print("ratios are to DuckDB's plain read into a table (wall / CPU)")
    print(
        f"{'format':7} {'file MiB':>9} {'contender':>9} {'wall s':>8} {'cpu s':>8} "
        f"{'peak MiB':>8} {'wall ratio':>10} {'cpu ratio':>9}"
    )
    for kind, size, ours, base, dlt in results:
        rows = [("ours", ours), ("duckdb", base)] + ([("dlt", dlt)] if dlt else [])
        for name, (wall, cpu, mib, _) in rows:
            print(
                f"{kind:7} {size / 2**20:9.1f} {name:>9} {wall:8.2f} {cpu:8.2f} {mib:8.0f} "
                f"{wall / base[0]:10.2f} {cpu / base[1]:9.2f}"
            )


if __name__ == "__main__":
    main()
