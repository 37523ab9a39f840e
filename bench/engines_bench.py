"""The heavy stages on both engines: DuckDB in process vs Spark local[N], 1 M to 50 M lines.

For each size, a warehouse is filled with N synthetic billing lines (CUR-like: 20 accounts,
2,000 resources, 5 % accelerator lines... see ``FILL``) and N/10 GPU-usage rows, then each
engine runs the stages in a fresh process:

* ``duckdb``: ``DuckDBEngine.run_stages`` (the default engine);
* ``spark``: ``SparkEngine.run_stages`` = lake export (DuckDB COPY, partitioned Parquet) +
  Spark session start + both transpiled stages over the lake; reported with the export,
  the session start and the stages separately.

Results are checked equal (row counts and DECIMAL totals of both stages). Peak memory is
the worker's VmHWM and, for Spark, the JVM's VmHWM read before the session stops.

    python bench/engines_bench.py --lines 1000000 5000000 --spark-master 'local[2]'
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

#: N synthetic billing lines: 5 % on GPU instances (hourly, per resource), the rest other
#: services; accounts zero-padded; tags on most lines; two export kinds in one account.
FILL = """
INSERT INTO billing_lines BY NAME
SELECT 'L' || i AS line_id, 'aws' AS provider,
       lpad(CAST(i % 20 AS VARCHAR), 12, '0') AS account_id,
       '2025-0' || CAST(1 + i % 6 AS VARCHAR) AS billing_period,
       TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_hours(CAST((i // 20) % 4300 AS BIGINT))
           AS usage_start_at,
       TIMESTAMPTZ '2025-01-01 01:00:00+00' + to_hours(CAST((i // 20) % 4300 AS BIGINT))
           AS usage_end_at,
       CASE WHEN i % 20 = 0 THEN 'AmazonSageMaker' ELSE 'AmazonEC2' END AS service,
       CASE WHEN i % 20 = 0 THEN 'USE1-ml.p5.48xlarge' ELSE 'USE1-BoxUsage:m5.xlarge' END
           AS usage_type,
       CASE WHEN i % 97 = 0 THEN 'Credit' ELSE 'Usage' END AS line_type,
       'us-east-1' AS region,
       CASE WHEN i % 20 = 0 THEN 'ml.p5.48xlarge' ELSE 'm5.xlarge' END AS instance_type,
       'arn:aws:sagemaker:us-east-1:123:training-job/run-' || CAST(i % 2000 AS VARCHAR)
           AS resource_id,
       1.0 AS usage_quantity, 'Hrs' AS usage_unit,
       CASE WHEN i % 20 = 0 THEN 'NVIDIA H100 SXM5-80GB' END AS accelerator,
       CASE WHEN i % 20 = 0 THEN 8.0 ELSE 0.0 END AS accelerator_hours,
       CAST((i % 1000) * 0.0137 AS DECIMAL(38, 10)) AS cost_billed,
       CAST((i % 1000) * 0.0121 AS DECIMAL(38, 10)) AS cost_effective,
       NULL AS cost_list, 'USD' AS currency,
       CASE WHEN i % 20 = 0 AND i % 3 = 0 THEN 'focus' ELSE 'cur2' END AS export_kind,
       CASE WHEN i % 10 < 8
            THEN MAP {'user:project': 'p' || CAST(i % 50 AS VARCHAR), 'user:team': 'ml'}
            ELSE NULL END AS tags,
       md5(CAST(i AS VARCHAR)) AS raw_hash,
       's3://bills/cur2/part-' || CAST(i % 64 AS VARCHAR) || '.parquet' AS source_uri,
       'aws_cur' AS source_format
FROM range({lines}) r(i);
INSERT INTO gpu_usage BY NAME
SELECT 'U' || i AS usage_id, 'dcgm' AS source_kind, 'k8s-' || CAST(i % 3 AS VARCHAR) AS cluster,
       'job-' || CAST(i % 500 AS VARCHAR) AS job_key,
       'job-' || CAST(i % 500 AS VARCHAR) || '-worker-' || CAST(i % 4 AS VARCHAR) AS job_name,
       'node' || CAST(i % 256 AS VARCHAR) AS host,
       'GPU-' || CAST(i % 2048 AS VARCHAR) AS gpu_uuid, 'NVIDIA H100 SXM5-80GB' AS accelerator,
       1 AS gpu_count, 1.0 AS gpu_fraction,
       TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_minutes(CAST((i // 8) % 200000 AS BIGINT))
           AS started_at,
       TIMESTAMPTZ '2025-01-01 00:05:00+00' + to_minutes(CAST((i // 8) % 200000 AS BIGINT))
           AS ended_at,
       'utc' AS time_basis, 300.0 AS elapsed_seconds, 300.0 AS gpu_seconds, 30 AS samples,
       (i % 100) / 100.0 AS tensor_active_avg,
       'file:///dcgm/part-' || CAST(i % 16 AS VARCHAR) || '.csv' AS source_uri,
       'dcgm' AS source_format
FROM range({usage}) r(i);
"""

WORKER = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, '.')
from reconcile import warehouse
from reconcile.engines import DuckDBEngine, SparkEngine, SparkSettings
db, engine, master, lake_dir = sys.argv[1:5]

def hwm(pid='self'):
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) // 1024
    return -1

con = warehouse.open_for_write(Path(db))
out = {}
started = time.perf_counter()
if engine == 'duckdb':
    results = DuckDBEngine().run_stages(con)
else:
    from reconcile import lake
    spark = SparkEngine(SparkSettings(master=master), lake_dir, export=False)
    t = time.perf_counter()
    lake.export_lake(con, lake_dir)
    out['export_s'] = time.perf_counter() - t
    t = time.perf_counter()
    session = spark.session()
    session.sparkContext.setLogLevel('ERROR')
    session.sql('SELECT 1').collect()
    out['session_s'] = time.perf_counter() - t
    t = time.perf_counter()
    results = spark.run_stages(con)
    out['stages_s'] = time.perf_counter() - t
    out['jvm_peak_mib'] = hwm(session.sparkContext._gateway.proc.pid)
out['total_s'] = time.perf_counter() - started
out['rows'] = {k: v.table.num_rows for k, v in results.items()}
def total(stage, column):
    return str(sum(results[stage].table.column(column).to_pylist()))
out['billing_hours'] = total('billing_rollup', 'accelerator_hours')
out['usage_seconds'] = total('usage_rollup', 'gpu_seconds')
out['python_peak_mib'] = hwm()
print(json.dumps(out))
"""


def fill(db: Path, lines: int) -> None:
    from reconcile import warehouse

    con = warehouse.open_for_write(db)
    con.execute(FILL.replace("{lines}", str(lines)).replace("{usage}", str(max(lines // 10, 1))))
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--data", type=Path, default=Path("bench/_data/engines"))
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[1]
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"DuckDB {duckdb.__version__}, Spark master {args.spark_master}")
    print("| lines | engine | total s | export s | session s | stages s | peak MiB (py / JVM) "
          "| billing groups | usage groups |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lines in args.lines:
        with tempfile.TemporaryDirectory(dir=args.data) as tmp:
            db = Path(tmp) / "w.duckdb"
            t = time.perf_counter()
            fill(db, lines)
            sys.stderr.write(f"filled {lines:,} lines in {time.perf_counter() - t:.1f} s\n")
            answers = {}
            for engine in ("duckdb", "spark"):
                proc = subprocess.run(
                    [sys.executable, "-c", WORKER, str(db), engine, args.spark_master,
                     str(Path(tmp) / "lake")],
                    cwd=root, capture_output=True, text=True, check=False,
                    env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
                )
                if proc.returncode != 0:
                    raise SystemExit(f"{engine} failed: {proc.stderr[-3000:]}")
                out = json.loads(proc.stdout.strip().splitlines()[-1])
                answers[engine] = (out["rows"], out["billing_hours"], out["usage_seconds"])
                print(
                    f"| {lines:,} | {engine} | {out['total_s']:.1f} | "
                    f"{out.get('export_s', 0):.1f} | {out.get('session_s', 0):.1f} | "
                    f"{out.get('stages_s', out['total_s']):.1f} | {out['python_peak_mib']}"
                    + (f" / {out['jvm_peak_mib']}" if "jvm_peak_mib" in out else "")
                    + f" | {out['rows']['billing_rollup']:,} | {out['rows']['usage_rollup']:,} |",
                    flush=True,
                )
            if answers["duckdb"] != answers["spark"]:
                raise SystemExit(f"engines disagree at {lines:,} lines: {answers}")


if __name__ == "__main__":
    main()
