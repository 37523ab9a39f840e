"""SIGKILL during ingest never leaves half-loaded units; re-running gives clean totals."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from reconcile import warehouse

UNITS = 500


def make_runs(root: Path, count: int) -> None:
    """``count`` realistic run folders: a final state and a mid-run checkpoint each."""
    rng = random.Random(7)
    for index in range(count):
        steps = rng.randrange(100, 2000)
        history = [
            {
                "epoch": s / steps,
                "learning_rate": 2e-5,
                "loss": 2.0 - s / steps,
                "num_input_tokens_seen": s * 65536,
                "step": s,
            }
            for s in range(10, steps, 10)
        ]
        final = history + [
            {
                "epoch": 1.0,
                "step": steps,
                "total_flos": steps * 4e14,
                "train_loss": 1.5,
                "train_runtime": steps * 1.5,
            }
        ]
        run = root / f"team-{index % 7}" / f"job-{index:04d}"
        (run / "checkpoint-50").mkdir(parents=True)
        (run / "trainer_state.json").write_text(
            json.dumps(
                {
                    "global_step": steps,
                    "epoch": 1.0,
                    "log_history": final,
                    "num_input_tokens_seen": steps * 65536,
                    "total_flos": steps * 4e14,
                    "train_batch_size": 8,
                }
            )
        )
        (run / "checkpoint-50" / "trainer_state.json").write_text(
            json.dumps(
                {
                    "global_step": 50,
                    "epoch": 50 / steps,
                    "log_history": history[:5],
                    "num_input_tokens_seen": 50 * 65536,
                    "total_flos": 50 * 4e14,
                }
            )
        )


def consistent_totals(db: Path) -> tuple[int, int, int]:
    """(ledger entries, runs, tokens), after checking no unit is half-loaded."""
    probe = duckdb.connect(str(db), read_only=True)
    version = warehouse.schema_version(probe)
    probe.close()
    if version == 0:  # killed before the first migration committed: an empty warehouse
        return 0, 0, 0
    con = warehouse.open_for_read(db)
    try:
        mismatched = con.execute(
            "SELECT count(*) FROM ingest_ledger l LEFT JOIN "
            "(SELECT source_uri, count(*) AS n FROM training_runs GROUP BY ALL) r "
            "ON r.source_uri = l.uri WHERE coalesce(r.n, 0) <> l.row_count"
        ).fetchall()[0][0]
        orphans = con.execute(
            "SELECT count(*) FROM training_runs r ANTI JOIN ingest_ledger l ON l.uri = r.source_uri"
        ).fetchall()[0][0]
        ledger, runs, tokens = con.execute(
            "SELECT (SELECT count(*) FROM ingest_ledger), count(*), coalesce(sum(tokens), 0) "
            "FROM training_runs"
        ).fetchall()[0]
    finally:
        con.close()
    assert mismatched == 0
    assert orphans == 0
    return ledger, runs, tokens


def ingest_cmd(db: Path, source: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reconcile",
        "--db",
        str(db),
        "ingest",
        "--workers",
        "2",
        str(source),
    ]


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_gives_clean_totals(tmp_path):
    source = tmp_path / "bucket"
    make_runs(source, UNITS)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    clean_db = tmp_path / "clean.duckdb"
    started = time.monotonic()
    subprocess.run(ingest_cmd(clean_db, source), check=True, env=env, capture_output=True)
    duration = time.monotonic() - started
    clean = consistent_totals(clean_db)
    assert clean[0] == clean[1] == UNITS

    # Kill at random points of a run (startup, listing, parsing, mid-commit, ...), let
    # the next run continue from whatever the killed one left, and check after each kill
    # that no unit is half-loaded.
    db = tmp_path / "killed.duckdb"
    rng = random.Random(1234)
    kills = 0
    deadline = time.monotonic() + 120
    while kills < 6 and time.monotonic() < deadline:
        process = subprocess.Popen(
            ingest_cmd(db, source), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.05, 0.95) * duration)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        else:
            assert process.returncode == 0
            # Finished before the kill: start again from an empty warehouse.
            consistent_totals(db)
            db.unlink()
            db.with_name(db.name + ".wal").unlink(missing_ok=True)
            continue
        if db.exists():
            ledger, runs, _ = consistent_totals(db)
            assert ledger == runs <= UNITS
    assert kills >= 3

    subprocess.run(ingest_cmd(db, source), check=True, env=env, capture_output=True)
    assert consistent_totals(db) == clean


# -- estimate and the batch job ---------------------------------------------------------

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def reconcile_cmd(db: Path, *args: str, config: Path | None = None) -> list[str]:
    base = [sys.executable, "-m", "reconcile", "--db", str(db)]
    return base + (["--config", str(config)] if config else []) + list(args)


def statuses(db: Path) -> set[tuple[object, ...]]:
    """compliance_status and run_estimates as comparable rows (without their times)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        models = con.execute(
            "SELECT 'status', model_id, status, flops_central, threshold_flops, "
            "flags::VARCHAR, explanation FROM compliance_status"
        ).fetchall()
        runs = con.execute(
            "SELECT 'estimate', run_id, method, flops_central, NULL, flags::VARCHAR, "
            "assumptions::VARCHAR FROM run_estimates"
        ).fetchall()
    finally:
        con.close()
    return set(models) | set(runs)


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.monotonic() - started


@pytest.mark.slow
def test_sigkill_during_estimate_leaves_the_old_or_the_new_statuses(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    config = SAMPLE / "reconcile.toml"
    pending = tmp_path / "pending.duckdb"
    # The old statuses: from part of the evidence only.
    subprocess.run(
        reconcile_cmd(
            pending,
            "ingest",
            str(SAMPLE / "aws/acme-ml-artifacts/sagemaker"),
            str(SAMPLE / "onprem/hpc-lustre/mistral-cpt"),
            config=config,
        ),
        check=True,
        env=env,
        capture_output=True,
    )
    subprocess.run(
        reconcile_cmd(pending, "estimate", config=config), check=True, env=env, capture_output=True
    )
    old = statuses(pending)
    # All the evidence is in; the new statuses are what a complete estimate gives.
    subprocess.run(
        reconcile_cmd(pending, "ingest", str(SAMPLE), config=config), env=env, capture_output=True
    )
    clean = tmp_path / "clean.duckdb"
    shutil.copyfile(pending, clean)
    duration = timed(reconcile_cmd(clean, "estimate", config=config), env)
    new = statuses(clean)
    assert old and new and old != new

    rng = random.Random(99)
    kills = completed = attempt = 0
    while kills < 3 and attempt < 8:
        attempt += 1
        db = tmp_path / f"killed-{attempt}.duckdb"
        shutil.copyfile(pending, db)
        process = subprocess.Popen(
            reconcile_cmd(db, "estimate", config=config),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.15, 0.85) * duration)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        found = statuses(db)
        assert found in (old, new), f"attempt {attempt}: a partial set of statuses"
        if found == old and not completed:  # the next estimate completes the work
            subprocess.run(
                reconcile_cmd(db, "estimate", config=config),
                check=True,
                env=env,
                capture_output=True,
            )
            assert statuses(db) == new
            completed += 1
    assert kills >= 3


@pytest.mark.slow
def test_sigkill_during_run_then_rerun_gives_the_clean_result(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    config = tmp_path / "reconcile.toml"
    config.write_text(
        (SAMPLE / "reconcile.toml").read_text() + f'\n[[sources]]\nuri = "{SAMPLE.as_posix()}"\n'
    )
    clean = tmp_path / "clean.duckdb"
    duration = timed(reconcile_cmd(clean, "run", config=config), env)
    expected = statuses(clean)
    assert expected

    db = tmp_path / "killed.duckdb"
    rng = random.Random(5)
    kills = attempts = 0
    while kills < 3 and attempts < 10:
        attempts += 1
        process = subprocess.Popen(
            reconcile_cmd(db, "run", "--lock-timeout", "30", config=config),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Later runs skip what earlier ones loaded: kill early enough to catch them.
        time.sleep(rng.uniform(0.05, 0.7) * duration)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        if not db.exists():
            continue
        probe = duckdb.connect(str(db), read_only=True)
        version = warehouse.schema_version(probe)
        probe.close()
        if version == 0:
            continue
        found = statuses(db)
        assert found in (set(), expected), "a partial set of statuses"
        con = warehouse.open_for_read(db)
        try:
            for table in ("training_runs", "billing_lines", "gpu_usage"):
                half = con.execute(
                    f"SELECT count(*) FROM ingest_ledger l LEFT JOIN (SELECT source_uri, "
                    f"count(*) AS n FROM {table} GROUP BY ALL) r ON r.source_uri = l.uri "
                    f"WHERE l.target_table = '{table}' AND coalesce(r.n, 0) <> l.row_count"
                ).fetchall()[0][0]
                assert half == 0, f"a half-loaded unit in {table}"
        finally:
            con.close()
        snapshot = warehouse.snapshot_path(db)
        if snapshot.exists():  # published only when a run completes: always whole
            assert statuses(snapshot) == expected
        if process.returncode == 0:  # finished before the kill: start again from nothing
            for leftover in tmp_path.glob("killed*"):
                leftover.unlink()
    assert kills >= 3

    # A run after the kills takes over the lock the killed one left and finishes the job.
    result = subprocess.run(
        reconcile_cmd(db, "run", "--json", config=config), env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert statuses(db) == expected
    assert statuses(warehouse.snapshot_path(db)) == expected
