"""Property: however a generated organisation's exports are delivered again, copied,
renamed or re-cut into parts, and whenever ingests run in between, the totals are exactly
those of one clean delivery.

The organisation (tests/orggen.py) bills hourly per VM in monthly FOCUS files and measures
pods with DCGM; the Slurm cluster's May dump (sample_data) is added. Hypothesis draws a
sequence of operations on the current files and ingests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orggen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.registry import open_source
from reconcile import ingest, warehouse

CONFIG = {
    "slurm_sacct": {
        "cluster": "hpc1",
        "timezone": "Europe/Berlin",
        "partitions": {"h100": "NVIDIA H100 SXM5-80GB"},
    },
    "dcgm": {"cluster": "gen"},
}
BASE_TIME = 1_700_000_000


def _organisation(root: Path, sample_data: Path) -> None:
    orggen.generate(root, runs=6, idle_lines=40, seed=11)
    shutil.rmtree(root / "runs")
    shutil.copy(
        sample_data / "onprem/hpc1-slurm/accounting/sacct-2025-05.txt", root / "sacct-2025-05.txt"
    )
    for n, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
        os.utime(path, (BASE_TIME + n, BASE_TIME + n))


def _load(db: Path, root: Path) -> None:
    con = warehouse.open_for_write(db)
    try:
        summary = ingest.ingest(con, [open_source(str(root))], format_options=CONFIG)
        assert not summary.quarantined, summary.quarantined
    finally:
        con.close()


def _totals(db: Path) -> tuple:
    con = warehouse.open_for_read(db)
    try:
        billing = con.execute(
            "SELECT provider, account_id, month, sum(accelerator_hours), sum(cost_billed), "
            "sum(cost_effective), count(*) FROM billing_lines_counted "
            "WHERE counts_billed GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        usage = con.execute(
            "SELECT source_kind, count(*), round(sum(gpu_seconds), 6) FROM gpu_usage_once "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    return billing, usage


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["copy_here", "copy_elsewhere", "rename", "recut", "ingest"]),
        st.integers(min_value=0, max_value=50),
    ),
    min_size=1,
    max_size=7,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_any_interleaving_of_redeliveries_totals_one_clean_delivery(
    tmp_path_factory, sample_data, operations
):
    clean_root = tmp_path_factory.mktemp("clean")
    _organisation(clean_root, sample_data)
    clean_db = clean_root.parent / f"{clean_root.name}.duckdb"
    _load(clean_db, clean_root)
    want = _totals(clean_db)
    assert want[0] and want[1]

    root = tmp_path_factory.mktemp("org")
    _organisation(root, sample_data)
    db = root.parent / f"{root.name}.duckdb"
    clock = BASE_TIME + 1000
    for n, (operation, pick) in enumerate(operations):
        files = sorted(p for p in root.rglob("*") if p.is_file())
        source = files[pick % len(files)]
        clock += 10
        if operation == "ingest":
            _load(db, root)
            continue
        if operation == "copy_here":
            target = source.with_name(f"{source.stem} ({n}){source.suffix}")
        elif operation == "copy_elsewhere":
            target = root / f"redelivered-{n}" / source.relative_to(root)
        elif operation == "rename":
            target = source.with_name(f"renamed-{n}-{source.name}")
        else:  # recut: the same delivery again, as two part files
            if "focus" not in source.name:
                continue
            lines = source.read_text().splitlines(keepends=True)
            half = 1 + (len(lines) - 1) // 2
            for part, body in enumerate((lines[1:half], lines[half:])):
                path = source.with_name(f"{source.stem}-part{part}-{n}.csv")
                path.write_text(lines[0] + "".join(body))
                os.utime(path, (clock, clock))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if operation == "rename":
            source.rename(target)
        else:
            shutil.copyfile(source, target)
        os.utime(target, (clock, clock))
    _load(db, root)
    assert _totals(db) == want
