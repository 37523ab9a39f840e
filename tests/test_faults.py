"""Nothing is lost under faults.

* An S3 endpoint that throttles (``503 SlowDown``) and fails a listing page part-way:
  a small proxy of our own, in front of moto's server, answers the first requests with
  errors; botocore's standard retry mode rides them out and the ingest loads everything.
  A persistent failure ends in one ``Error:`` line and leaves the warehouse as it was.
* A full disk: the ingest runs in a subprocess whose file-size limit (``RLIMIT_FSIZE``)
  makes DuckDB's writes fail. The command stops with one ``Error:`` line, no unit is
  half-loaded, and a run without the limit ends with exactly the clean totals.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from faultproxy import INTERNAL, SLOW_DOWN, FaultyProxy

from reconcile import warehouse
from reconcile.cli import cli

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"

def is_later_page(method: str, path: str) -> bool:
    return method == "GET" and "list-type=2" in path and "continuation-token" in path


def upload_runs(s3: Any, bucket: str) -> int:
    """The sample's six checkpoint run folders and its Slurm dumps."""
    count = 0
    for folder in ("aws/acme-ml-artifacts/sagemaker", "onprem"):
        for path in sorted((SAMPLE / folder).rglob("*")):
            if path.is_file() and "mlruns" not in path.parts:
                key = path.relative_to(SAMPLE).as_posix()
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
                count += 1
    return count


def totals(db: Path) -> dict[str, Any]:
    con = warehouse.open_for_read(db)
    try:
        row = con.execute(
            "SELECT (SELECT count(*) FROM ingest_ledger), (SELECT count(*) FROM quarantine), "
            "(SELECT count(*) FROM training_runs), (SELECT sum(tokens) FROM training_runs), "
            "(SELECT count(*) FROM gpu_usage), (SELECT sum(gpu_seconds) FROM gpu_usage), "
            "(SELECT count(*) FROM resolved_runs), "
            "(SELECT max(loaded_at) FROM ingest_ledger)"
        ).fetchall()[0]
    finally:
        con.close()
    keys = ("ledger", "quarantine", "runs", "tokens", "gpu_rows", "gpu_seconds", "resolved")
    return {**dict(zip(keys, row[:-1], strict=True)), "last_load": row[-1]}


@pytest.mark.slow
def test_throttling_and_a_failed_listing_page_are_retried(
    s3, bucket, tmp_path, moto_endpoint, monkeypatch
):
    uploaded = upload_runs(s3, bucket)
    clean_db = tmp_path / "clean.duckdb"
    clean = CliRunner().invoke(cli, ["--db", str(clean_db), "ingest", f"s3://{bucket}/"])
    assert clean.exit_code == 0, clean.output

    pages_failed: set[str] = set()

    def plan(method: str, path: str, number: int) -> tuple[int, bytes] | None:
        if number < 2:  # the very first requests are throttled
            return SLOW_DOWN
        if is_later_page(method, path) and path not in pages_failed:
            pages_failed.add(path)  # each later listing page fails once, mid-listing
            return INTERNAL if len(pages_failed) % 2 else SLOW_DOWN
        if method == "GET" and path.endswith("trainer_state.json") and number % 7 == 0:
            return SLOW_DOWN  # and some downloads
        return None

    proxy = FaultyProxy(moto_endpoint, plan, page_size=6)
    with proxy.running():
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        db = tmp_path / "w.duckdb"
        result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", f"s3://{bucket}/"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["objects"]["quarantined"] == 0
    assert summary["objects"]["listed"] == uploaded
    assert len(pages_failed) >= 3  # the listing really was paginated, and pages failed
    assert len(proxy.failed) >= 2 + len(pages_failed)
    got, want = totals(db), totals(clean_db)
    got.pop("last_load"), want.pop("last_load")
    assert got == want
    assert want["runs"] > 0 and want["gpu_rows"] > 0


def test_a_persistent_listing_failure_is_one_error_line_and_changes_nothing(
    s3, bucket, tmp_path, moto_endpoint, monkeypatch
):
    upload_runs(s3, bucket)
    db = tmp_path / "w.duckdb"
    first = CliRunner().invoke(cli, ["--db", str(db), "ingest", f"s3://{bucket}/"])
    assert first.exit_code == 0, first.output
    before = totals(db)
    # A new run arrives, but the store keeps failing part-way through the listing.
    state = SAMPLE / "onprem/hpc-lustre/mistral-cpt/run1/trainer_state.json"
    s3.put_object(Bucket=bucket, Key="zz-new/run9/trainer_state.json", Body=state.read_bytes())
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's own setting: fail fast

    def plan(method: str, path: str, number: int) -> tuple[int, bytes] | None:
        return SLOW_DOWN if is_later_page(method, path) else None

    proxy = FaultyProxy(moto_endpoint, plan, page_size=10)
    with proxy.running():
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = CliRunner().invoke(cli, ["--db", str(db), "ingest", f"s3://{bucket}/"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: s3://{bucket}: SlowDown: ")
    assert result.stderr.count("\n") == 1
    assert len(proxy.failed) == 2  # one listing page, tried twice
    assert totals(db) == before  # nothing written, not even a ledger timestamp


# ---------------------------------------------------------------------------
# A full disk


def make_runs(root: Path, first: int, count: int) -> None:
    """``count`` run folders with a final trainer state each (about 10 KB)."""
    for index in range(first, first + count):
        steps = 100 + index
        history = [
            {"step": s, "loss": 2.0 - s / steps, "num_input_tokens_seen": s * 4096}
            for s in range(1, steps, 5)
        ]
        history.append({"step": steps, "train_runtime": 3.5 * steps, "total_flos": 1e15})
        state = {
            "global_step": steps,
            "epoch": 1.0,
            "log_history": history,
            "num_input_tokens_seen": steps * 4096,
            "total_flos": steps * 1e13,
        }
        run = root / f"team-{index % 3}" / f"job-{index:04d}"
        run.mkdir(parents=True)
        (run / "trainer_state.json").write_text(json.dumps(state))


def reconcile_cmd(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "reconcile", "--db", str(db), *args]


def consistent(db: Path) -> dict[str, Any]:
    """Totals, after checking that every ledger entry has exactly its rows."""
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
    finally:
        con.close()
    assert (mismatched, orphans) == (0, 0)
    result = totals(db)
    result.pop("last_load")
    return result


@pytest.mark.slow
@pytest.mark.parametrize("limit_kib", [256, 512])
def test_a_full_disk_fails_cleanly_and_a_rerun_gives_clean_totals(tmp_path, limit_kib):
    """With DuckDB 2.0, 256 KiB lets the first batch of units commit and refuses the
    second; 512 KiB lets every unit commit, then refuses resolving them into logical
    runs (which the next run must notice and redo)."""
    source = tmp_path / "bucket"
    make_runs(source, 0, 3)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    clean_db, db = tmp_path / "clean.duckdb", tmp_path / "w.duckdb"
    for target in (clean_db, db):
        subprocess.run(
            reconcile_cmd(target, "ingest", str(source)), check=True, env=env, capture_output=True
        )
    make_runs(source, 3, 400)
    subprocess.run(
        reconcile_cmd(clean_db, "ingest", str(source)), check=True, env=env, capture_output=True
    )

    def limit_file_size() -> None:  # Python ignores SIGXFSZ: writes fail with EFBIG
        size = limit_kib * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    failed = subprocess.run(
        reconcile_cmd(db, "ingest", "--workers", "2", str(source)),
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        timeout=120,
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stderr.startswith(f"Error: {db}: a write was refused: "), failed.stderr
    assert "File too large" in failed.stderr and failed.stderr.count("\n") == 1
    assert "Traceback" not in failed.stderr
    consistent(db)  # whatever was committed is whole

    rerun = subprocess.run(
        reconcile_cmd(db, "ingest", str(source)), env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert consistent(db) == consistent(clean_db)


def test_a_refused_write_is_recognised_through_the_clean_up_error_it_caused():
    import duckdb

    refused = duckdb.IOException('IO Error: Could not write file "/x/w.duckdb": File too large')
    try:
        try:
            raise refused
        except duckdb.IOException:
            # What an unregister in the aborted transaction then raises.
            raise duckdb.TransactionException("Current transaction is aborted") from None
    except duckdb.TransactionException as masking:
        masking.__context__ = refused
        assert warehouse.write_failure(masking) == str(refused)
    constraint = duckdb.TransactionException("Failed to commit: PRIMARY KEY constraint violated")
    assert warehouse.write_failure(constraint) is None

    con = duckdb.connect(":memory:")
    warehouse.rollback(con)  # no open transaction (a failed COMMIT ends it): nothing to do
    con.execute("BEGIN TRANSACTION")
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    warehouse.rollback(con)
    assert con.execute("SELECT count(*) FROM information_schema.tables").fetchall() == [(0,)]
