"""Readers never keep the scheduled writer out for long: they answer from the published
snapshot when it is current, and the writer waits for another process's connection up to
--lock-timeout, with a message that names it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from reconcile import warehouse
from reconcile.cli import cli

REAL = Path(__file__).resolve().parent / "data" / "real" / "training"


def _setup(tmp_path: Path) -> tuple[Path, list[str]]:
    source = tmp_path / "src"
    (source / "run").mkdir(parents=True)
    for name in ("trainer_state.json", "config.json"):
        (source / "run" / name).write_bytes(
            (REAL / "hf-rinna-japanese-gpt2-medium-full-clm" / name).read_bytes()
        )
    config = tmp_path / "reconcile.toml"
    config.write_text(f'[[sources]]\nuri = "{source.as_posix()}"\n')
    db = tmp_path / "w.duckdb"
    return db, ["--config", str(config), "--db", str(db)]


def _file(con) -> str:
    """The file a connection reads."""
    return con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]


def _hold(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process with a read-only connection on ``path`` for ``seconds``."""
    script = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r}, read_only=True)\n"
        "print('open', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == b"open"
    return process


def test_readers_answer_from_a_current_snapshot(tmp_path):
    db, base = _setup(tmp_path)
    assert CliRunner().invoke(cli, [*base, "run"]).exit_code == 0
    snapshot = warehouse.snapshot_path(db)
    assert snapshot.exists()
    con, note = warehouse.open_for_reading(db)
    try:
        assert note is None
        assert _file(con) == str(snapshot)
    finally:
        con.close()
    # a later write makes the snapshot stale: readers go to the warehouse again
    time.sleep(0.01)
    assert CliRunner().invoke(cli, ["--db", str(db), "estimate"]).exit_code == 0
    con, _ = warehouse.open_for_reading(db)
    try:
        assert _file(con) == str(db)
    finally:
        con.close()


def test_the_writer_waits_for_a_reader_up_to_the_lock_timeout(tmp_path):
    db, base = _setup(tmp_path)
    assert (
        CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "src")]).exit_code == 0
    )
    reader = _hold(db, 2.0)
    try:
        result = CliRunner().invoke(cli, [*base, "run", "--lock-timeout", "30"])
    finally:
        reader.wait()
    assert result.exit_code == 0, result.output


def test_a_reader_that_stays_is_named(tmp_path):
    db, base = _setup(tmp_path)
    assert (
        CliRunner().invoke(cli, ["--db", str(db), "ingest", str(tmp_path / "src")]).exit_code == 0
    )
    reader = _hold(db, 10.0)
    try:
        result = CliRunner().invoke(cli, [*base, "run", "--lock-timeout", "1"])
    finally:
        reader.kill()
        reader.wait()
    assert result.exit_code == 1
    assert f"the database is in use by process {reader.pid}" in result.stderr
    assert "ingest" not in result.stderr.split("Error:")[-1]  # nothing ingests
