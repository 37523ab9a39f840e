"""Benchmark: first ingest and no-op re-ingest of N checkpoint folders, local and S3.

Times the real CLI end to end (subprocess, fresh interpreter each time) and compares
the first load with DuckDB's own ``read_json`` reading the same trainer_state.json
files into a table. S3 runs against moto's server on 127.0.0.1 (no network).

    python bench/noop_reingest.py [--runs 1000] [--no-s3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_runs(root: Path, count: int) -> int:
    """``count`` run folders (final state + one mid-run checkpoint + adapter config)."""
    rng = random.Random(42)
    files = 0
    for index in range(count):
        steps = rng.randrange(200, 3000)
        history = [
            {
                "epoch": s / steps,
                "grad_norm": 0.9,
                "learning_rate": 2e-5,
                "loss": 2.0 - s / steps,
                "num_input_tokens_seen": s * 131072,
                "step": s,
            }
            for s in range(10, steps, 10)
        ]
        summary = {
            "epoch": 1.0,
            "step": steps,
            "total_flos": steps * 8e14,
            "train_loss": 1.4,
            "train_runtime": steps * 2.0,
        }
        run = root / f"team-{index % 13}" / f"job-{index:05d}" / "output"
        (run / "checkpoint-100").mkdir(parents=True)
        (run / "trainer_state.json").write_text(
            json.dumps(
                {
                    "global_step": steps,
                    "epoch": 1.0,
                    "log_history": history + [summary],
                    "num_input_tokens_seen": steps * 131072,
                    "total_flos": steps * 8e14,
                    "train_batch_size": 4,
                }
            )
        )
        (run / "checkpoint-100" / "trainer_state.json").write_text(
            json.dumps(
                {
                    "global_step": 100,
                    "epoch": 100 / steps,
                    "log_history": history[:10],
                    "total_flos": 100 * 8e14,
                }
            )
        )
        (run / "adapter_config.json").write_text(
            json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-7B", "peft_type": "LORA", "r": 16})
        )
        files += 3
    return files


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"{cmd} failed: {done.stderr}")
    return elapsed, done.stdout


def duckdb_baseline(root: Path, db: Path) -> float:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE states AS SELECT * FROM read_json_auto($glob, union_by_name=true)",
        {"glob": str(root / "**" / "trainer_state.json")},
    )
    con.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args()
    env = {**os.environ}
    cli = [sys.executable, "-m", "reconcile"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        root = tmp_path / "bucket"
        files = make_runs(root, args.runs)
        base = duckdb_baseline(root, tmp_path / "baseline.duckdb")
        db = tmp_path / "local.duckdb"
        first, _ = timed(cli + ["--db", str(db), "ingest", "--json", str(root)], env)
        noop, out = timed(cli + ["--db", str(db), "ingest", "--json", str(root)], env)
        assert json.loads(out)["objects"]["unchanged"] == args.runs
        results.append(("local", first, noop, base))
        if not args.no_s3:
            import logging

            import boto3
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            env.update(
                {
                    "AWS_ENDPOINT_URL": endpoint,
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1",
                }
            )
            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
            client.create_bucket(Bucket="bench")
            for path in root.rglob("*.json"):
                client.put_object(
                    Bucket="bench", Key=path.relative_to(root).as_posix(), Body=path.read_bytes()
                )
            db = tmp_path / "s3.duckdb"
            first, _ = timed(cli + ["--db", str(db), "ingest", "--json", "s3://bench/"], env)
            noop, out = timed(cli + ["--db", str(db), "ingest", "--json", "s3://bench/"], env)
            assert json.loads(out)["objects"]["unchanged"] == args.runs
            results.append(("s3 (moto, loopback)", first, noop, base))
            server.stop()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{args.runs} runs = {files} objects (trainer states + adapter configs)")
    print(
        f"{'store':22} {'first ingest s':>15} {'no-op re-ingest s':>18} "
        f"{'duckdb read_json s':>19} {'ratio':>6}"
    )
    for store, first, noop, base in results:
        print(f"{store:22} {first:15.2f} {noop:18.2f} {base:19.2f} {first / base:6.2f}")


if __name__ == "__main__":
    main()
