"""Linking runs to billing: each billing line's hours count once across runs.

Small organisations written as files (runs JSONL, FOCUS 1.0 CSV as Azure writes it, the
generator's line shape), ingested and estimated through the CLI; the expected links and
hours are worked out by hand in each test's docstring.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orggen
import pytest
from click.testing import CliRunner

from reconcile import warehouse
from reconcile.cli import cli

DAY = datetime(2025, 5, 6, tzinfo=UTC)
H100 = "NVIDIA H100 80GB HBM3"
SUB = orggen.SUBSCRIPTIONS[0]


def _run(job: str, start: int, end: int, gpus: int = 8, **extra: Any) -> dict[str, Any]:
    started, ended = DAY + timedelta(hours=start), DAY + timedelta(hours=end)
    return {
        "job_name": job,
        "platform": "azure",
        "base_model": "Qwen/Qwen2.5-7B",
        "model_id": f"model-{job}",
        "method": "full",
        "objective": "sft",
        "seq_len": 4096,
        "started_at": orggen._iso(started),
        "ended_at": orggen._iso(ended),
        "runtime_seconds": (ended - started).total_seconds(),
        "accelerator": H100,
        "accelerator_count": gpus,
        "instance_count": 1,
        "precision": "bf16",
        **extra,
    }


def _lines(vm: str, start: int, end: int, tags: dict[str, str] | None = None) -> list[dict]:
    """One FOCUS line per hour of an ND96isr H100 v5 VM (8 accelerator-hours each)."""
    return [
        orggen._focus_line(vm, DAY + timedelta(hours=h), SUB, tags or {}) for h in range(start, end)
    ]


def _organisation(root: Path, runs: list[dict], lines: list[dict]) -> Path:
    (root / "runs").mkdir(parents=True)
    (root / "billing").mkdir()
    with (root / "runs" / "org.runs.jsonl").open("w", encoding="utf-8") as handle:
        for run in runs:
            handle.write(json.dumps(run) + "\n")
    with (root / "billing" / "focus-2025-05.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=orggen.FOCUS_COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
    return root


def _estimate(tmp_path: Path, runs: list[dict], lines: list[dict]) -> Path:
    return _ingest_and_estimate(tmp_path, _organisation(tmp_path / "org", runs, lines))


def _ingest_and_estimate(tmp_path: Path, root: Path) -> Path:
    db = tmp_path / "w.duckdb"
    config = tmp_path / "reconcile.toml"
    config.write_text('[estimate]\ntag_keys = ["project"]\n', encoding="utf-8")
    for args in (["ingest", str(root)], ["estimate"]):
        result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), *args])
        assert result.exit_code == 0, result.output
    return db


def _sql(db: Path, text: str) -> list[tuple]:
    con = warehouse.open_for_read(db)
    try:
        return con.execute(text).fetchall()
    finally:
        con.close()


def _billed_hours(db: Path) -> dict[str, float]:
    """Each run's billed accelerator-hours as the billing method used them."""
    rows = _sql(
        db,
        "SELECT run_id, CAST(assumptions->>'accelerator_seconds' AS DOUBLE) / 3600 "
        "FROM run_estimates WHERE method = 'billing'",
    )
    return {run: hours for run, hours in rows}


def _links(db: Path) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for run, table, method, hours, lines in _sql(
        db,
        "SELECT m.run_id, m.target_table, m.match_method, "
        "coalesce(m.allocated_hours, CAST(b.accelerator_hours AS DOUBLE)), "
        "coalesce(m.allocated_lines, b.line_count) FROM run_matches m "
        "LEFT JOIN billing_rollup b ON b.rollup_id = m.target_id "
        "WHERE m.target_table <> 'usage_rollup' ORDER BY 1, 2, 3",
    ):
        out.setdefault(run, []).append((table, method, round(hours, 6), lines))
    return out


def test_concurrent_runs_share_a_time_window_by_logged_accelerator_time(tmp_path):
    """Runs A (8 GPUs, 10:00-14:00) and B (4 GPUs, 12:00-16:00) on Azure H100, with no id
    or tag on the billing; C (14:00-16:00) is billed by its own VM, named after its job.
    A pool VM is billed 10:00-16:00, 8 accelerator-hours a line.

    With one hour of slack around each run: [10,11) only A claims; [15,16) only B; the
    lines [11,12) .. [14,15) both. Shares by logged accelerator-time inside each line:
    [11,12) A 8x1h, B 0 -> A all 8 h; [12,13) and [13,14) A 8, B 4 -> A 16/3 h, B 8/3 h
    each; [14,15) A 0, B 4 -> B all. A = 8 (its own line) + 8 + 32/3 = 26.667 h;
    B = 8 + 16/3 + 8 = 21.333 h; together the pool's 48 h, counted once. C is identified
    by its VM: its 2 lines (16 h) only, no share of the pool."""
    runs = [_run("job-a", 10, 14), _run("job-b", 12, 16, gpus=4), _run("job-c", 14, 16)]
    db = _estimate(tmp_path, runs, [*_lines("pool-vm", 10, 16), *_lines("job-c", 14, 16)])

    links = _links(db)  # time-window claims: one link per run and window, shared or not
    assert links["job-a"] == [("billing_window", "time_window", round(8 + 8 + 32 / 3, 6), 5)]
    assert links["job-b"] == [("billing_window", "time_window", round(8 + 16 / 3 + 8, 6), 5)]
    assert links["job-c"] == [("billing_rollup", "resource_id", 8.0, 1)] * 2
    hours = _billed_hours(db)
    assert hours["job-a"] == pytest.approx(26 + 2 / 3, rel=1e-12)
    assert hours["job-b"] == pytest.approx(21 + 1 / 3, rel=1e-12)
    assert hours["job-c"] == pytest.approx(16.0, rel=1e-12)
    assert sum(hours.values()) == pytest.approx(64.0, rel=1e-12)  # every line once
    members = _sql(
        db,
        "SELECT window_id, count(*), min(claimants), max(claimants) "
        "FROM billing_window_members GROUP BY 1",
    )
    assert members == [(f"time_window:azure:{_accelerator(db)}:2025-05", 6, 1, 2)]

    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["--db", str(db), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    billed = {
        r["run_id"]: (
            sum(b["accelerator_hours"] for b in r["billing"]),
            sorted((b["window_id"] is not None, b["lines"]) for b in r["billing"]),
        )
        for r in report["runs"]
    }
    assert billed["job-a"][0] == pytest.approx(26 + 2 / 3, rel=1e-12)
    assert billed["job-a"][1] == [(True, 5)]
    assert billed["job-b"][0] == pytest.approx(21 + 1 / 3, rel=1e-12)
    assert billed["job-c"] == (16.0, [(False, 2)])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "its share of 5 lines (40.0 h) no id or tag ties to it alone" in html


def _accelerator(db: Path) -> str:
    ((name,),) = _sql(db, "SELECT DISTINCT accelerator FROM billing_rollup")
    return name


def test_a_project_tag_shared_by_concurrent_runs_is_allocated_and_an_id_beats_a_tag(tmp_path):
    """Two runs of project p1 overlap on a pool VM tagged p1: A 10:00-12:00 and B
    11:00-13:00, 8 GPUs each; the pool is billed 10:00-12:00. D (12:00-13:00, no
    project) is billed by its own VM `job-d`, whose line also carries the tag p1: the id
    beats the tag, so neither A's nor B's tag claim on that line counts.

    [10,11): A and B claim it (B's slack starts at 10:00), B logged no time in it -> A
    8 h; [11,12): 8 GPUs x 1 h each -> 4 h each. A = 12 h, B = 4 h, D = 8 h."""
    runs = [
        _run("job-a", 10, 12, tags={"project": "p1"}),
        _run("job-b", 11, 13, tags={"project": "p1"}),
        _run("job-d", 12, 13),
    ]
    lines = [
        *_lines("pool-p1", 10, 12, {"project": "p1"}),
        *_lines("job-d", 12, 13, {"project": "p1"}),
    ]
    db = _estimate(tmp_path, runs, lines)

    links = _links(db)
    assert links["job-a"] == [("billing_window", "tag", 12.0, 2)]
    assert links["job-b"] == [("billing_window", "tag", 4.0, 2)]
    assert links["job-d"] == [("billing_rollup", "resource_id", 8.0, 1)]
    hours = _billed_hours(db)
    assert (hours["job-a"], hours["job-b"], hours["job-d"]) == pytest.approx((12.0, 4.0, 8.0))


def test_links_grow_with_runs_not_runs_times_lines_and_count_each_line_once(tmp_path):
    """The generated organisation (every run on Azure H100, idle pool VMs nobody's run
    names): every claimed line's hours are counted once across runs (per-line links plus
    allocated shares equal the claimed lines' hours), no billing group links to two runs,
    and the links number at most one per line plus one per run and window."""
    root = tmp_path / "org"
    orggen.generate(root, runs=60, idle_lines=3000, slurm=True)
    db = _ingest_and_estimate(tmp_path, root)
    ((per_line, allocated, claimed, windows, lines, twice, links),) = _sql(
        db,
        """
        SELECT
          (SELECT sum(b.accelerator_hours) FROM run_matches m
             JOIN billing_rollup b ON b.rollup_id = m.target_id
            WHERE m.target_table = 'billing_rollup'),
          (SELECT sum(allocated_hours) FROM run_matches WHERE target_table = 'billing_window'),
          (SELECT sum(b.accelerator_hours) FROM billing_rollup b
            WHERE b.rollup_id IN (SELECT target_id FROM run_matches)
               OR b.rollup_id IN (SELECT rollup_id FROM billing_window_members)),
          (SELECT count(DISTINCT target_id) FROM run_matches
            WHERE target_table = 'billing_window'),
          (SELECT count(*) FROM billing_rollup),
          (SELECT count(*) FROM (SELECT target_id FROM run_matches
            WHERE target_table = 'billing_rollup' GROUP BY 1 HAVING count(*) > 1)),
          (SELECT count(*) FROM run_matches WHERE target_table <> 'usage_rollup')
        """,
    )
    assert float(per_line) + allocated == pytest.approx(float(claimed), rel=1e-12)
    assert twice == 0
    assert links <= lines + 60 * windows
    methods = {m for (m,) in _sql(db, "SELECT DISTINCT match_method FROM run_matches")}
    assert methods == {
        "resource_id",
        "tag",
        "time_window",
        "pod_name",
        "job_id",
        "host_time_window",
    }
