"""Benchmark: ingest of DCGM exporter CSV dumps (N GPUs × D days at a 15 s scrape).

Generates long-format dumps (one row per sample: timestamp, metric, Hostname, gpu, UUID,
modelName, namespace, pod, container, value; five metrics; one file per node and day,
8 GPUs per node; one 10-minute scrape gap per node and day), then times

  1. the real CLI, ``reconcile ingest DIR`` (fresh interpreter, new database), and
  2. DuckDB alone reading the same files and aggregating them per GPU and pod
     (count, first/last sample, metric averages): the floor any reader pays,

and prints both, their ratio and each process's peak memory (maxrss), and checks the
GPU-seconds the ingest found against the generated truth.

    python bench/gpu_usage_bench.py [--gpus 64] [--days 1] [--interval 15] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

GPUS_PER_NODE = 8
METRICS = (
    ("DCGM_FI_DEV_GPU_UTIL", "round(90 + 10 * random())"),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "round(0.3 + 0.1 * random(), 3)"),
    ("DCGM_FI_PROF_SM_ACTIVE", "round(0.7 + 0.1 * random(), 3)"),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "round(0.3 + 0.1 * random(), 3)"),
    ("DCGM_FI_DEV_POWER_USAGE", "round(600 + 80 * random(), 2)"),
)
START = 1_746_057_600  # 2025-05-01T00:00:00Z
GAP_SECONDS = 600


def generate(root: Path, gpus: int, days: int, interval: int) -> tuple[int, int, float]:
    """Write the dumps with DuckDB; return (files, rows, expected GPU-seconds)."""
    nodes = (gpus + GPUS_PER_NODE - 1) // GPUS_PER_NODE
    steps = 86_400 // interval
    gap_steps = GAP_SECONDS // interval
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    metrics = " UNION ALL ".join(
        f"SELECT '{m}' AS metric, {i} AS k" for i, (m, _) in enumerate(METRICS)
    )
    values = " ".join(f"WHEN {i} THEN {expr}" for i, (_, expr) in enumerate(METRICS))
    files = rows = 0
    expected = 0.0
    for day in range(days):
        for node in range(nodes):
            per_node = min(GPUS_PER_NODE, gpus - node * GPUS_PER_NODE)
            gap_at = (node * 97 + day * 13) % (steps - gap_steps - 2) + 1
            path = root / f"day-{day:02d}" / f"dcgm-node{node:04d}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"""
                COPY (
                    SELECT {START + day * 86_400} + s * {interval} AS timestamp, m.metric,
                        'node{node:04d}' AS Hostname, g::VARCHAR AS gpu,
                        'GPU-' || md5('node{node:04d}-' || g::VARCHAR)[:8] || '-0000-4000-8000-'
                            || md5('node{node:04d}-' || g::VARCHAR)[9:20] AS UUID,
                        'NVIDIA H100 80GB HBM3' AS modelName, 'train' AS namespace,
                        'job-' || ({day} * 1000 + {node} // 4)::VARCHAR || '-worker-'
                            || ({node} % 4)::VARCHAR AS pod,
                        'trainer' AS container, CASE m.k {values} END AS value
                    FROM range({steps}) r(s), range({per_node}) q(g), ({metrics}) m
                    WHERE s < {gap_at} OR s >= {gap_at + gap_steps}
                    ORDER BY g, s, m.k
                ) TO '{path}' (HEADER, DELIMITER ',')
                """
            )
            kept = steps - gap_steps
            rows += kept * per_node * len(METRICS)
            # Two windows per GPU (before/after the gap); each sample covers one interval.
            expected += kept * interval * per_node
            files += 1
    con.close()
    return files, rows, expected


#: Runs ``code`` and reports the process's own peak RSS (VmHWM) on stderr at exit. The
#: kernel's ru_maxrss would include the memory of the forking parent (this script, which
#: holds the generator's DuckDB), so it is not used where /proc is available.
WRAPPER = """
import atexit, resource, sys
def _peak():
    try:
        for line in open('/proc/self/status'):
            if line.startswith('VmHWM:'):
                sys.stderr.write('PEAK_KIB=' + line.split()[1] + '\\n')
                return
    except OSError:
        pass
    sys.stderr.write('PEAK_KIB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
atexit.register(_peak)
"""


def run(code: str, args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run Python ``code`` with ``args`` in a fresh interpreter: wall seconds, peak MiB, stdout."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER + code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peaks = [int(line[9:]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB=")]
    return seconds, (peaks[-1] // 1024) if peaks else -1, proc.stdout


CLI = """
from reconcile.cli import main
sys.argv = ['reconcile', *sys.argv[1:]]
main()
"""


BASELINE = """
import duckdb
con = duckdb.connect()
rows = con.sql(f'''
    SELECT Hostname, UUID, pod, count(*) AS samples, min(timestamp), max(timestamp),
        avg(value) FILTER (metric = 'DCGM_FI_DEV_GPU_UTIL'),
        avg(value) FILTER (metric = 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE'),
        avg(value) FILTER (metric = 'DCGM_FI_PROF_SM_ACTIVE'),
        avg(value) FILTER (metric = 'DCGM_FI_PROF_DRAM_ACTIVE'),
        avg(value) FILTER (metric = 'DCGM_FI_DEV_POWER_USAGE')
    FROM read_csv('{sys.argv[1]}/**/*.csv', header = true)
    GROUP BY ALL
''').fetchall()
print(len(rows))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--interval", type=int, default=15, help="scrape interval, seconds")
    parser.add_argument("--keep", type=Path, help="generate into (and keep) this folder")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each side; the fastest is reported"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gpu-usage-bench-"))
    data = args.keep or work / "dcgm"
    try:
        started = time.perf_counter()
        files, rows, expected = generate(data, args.gpus, args.days, args.interval)
        size = sum(p.stat().st_size for p in data.rglob("*.csv"))
        print(
            f"generated {files} files, {rows:,} samples, {size / 2**20:,.0f} MiB "
            f"({args.gpus} GPUs x {args.days} days @ {args.interval} s) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILE_")}
        ingest_runs, base_runs = [], []
        for attempt in range(max(1, args.repeat)):
            db = work / f"bench-{attempt}.duckdb"
            ingest_runs.append(run(CLI, ["--db", str(db), "ingest", "--json", str(data)], env))
            base_runs.append(run(BASELINE, [str(data)], env))
        ingest_s, ingest_mb, out = min(ingest_runs)
        base_s, base_mb, _ = min(base_runs)
        summary = json.loads(out)
        con = duckdb.connect(str(db), read_only=True)
        windows, gpu_seconds = con.execute(
            "SELECT count(*), sum(gpu_seconds) FROM gpu_usage"
        ).fetchall()[0]
        con.close()
        machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
        print(f"machine: {machine}, Python {platform.python_version()}, best of {args.repeat}")
        print(
            f"reconcile ingest : {ingest_s:7.2f} s  peak {ingest_mb:6,} MiB  "
            f"({summary['rows']['gpu_usage']:,} windows, {rows / ingest_s / 1e6:.2f} M samples/s)"
        )
        print(f"duckdb read+agg  : {base_s:7.2f} s  peak {base_mb:6,} MiB")
        print(f"ratio ingest/duckdb: {ingest_s / base_s:.2f}x")
        status = "ok" if abs(gpu_seconds - expected) < 1e-6 * expected else "MISMATCH"
        print(
            f"gpu-seconds: {gpu_seconds:,.0f} found, {expected:,.0f} generated ({status}); "
            f"{windows:,} windows"
        )
        if status != "ok":
            raise SystemExit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
