"""Exactly once across the ways real deliveries repeat themselves.

One test per pattern met on real exports and dumps: every total equals that of one clean
delivery, whatever was delivered again, copied or renamed, in one ingest or several, and
each overlap is said (ingest summary), recorded (ledger) and listed (`query overlaps`).
Real files from tests/data/real/ (SOURCES.md there) where one exists; expected totals
are the hand sums in tests/data/real/billing/expected.json.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_gpu_usage import CONFIG as GPU_CONFIG

from reconcile import warehouse
from reconcile.cli import cli

REAL = Path(__file__).parent / "data" / "real"
EXPECTED = json.loads((REAL / "billing" / "expected.json").read_text())
FOCUS_SAMPLE = "focus/sample-data-1.0/focus_sample.csv"
AZURE_EA = "azure/finops-toolkit-ea-actual-small/EA_ActualCost_Small.csv"
LEGACY_CUR = "aws_cur/focus-converters-anonymized-cur/sample-anonymous-aws-export-dataset.csv"
USAGE_CONFIG = GPU_CONFIG  # the sample clusters' options (tests/test_gpu_usage.py)


def invoke(db: Path, *args: str, config: Path | None = None) -> Any:
    extra = ["--config", str(config)] if config else []
    result = CliRunner().invoke(cli, ["--db", str(db), *extra, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("{", "[")) else None


def ingest(db: Path, folder: Path, config: Path | None = None) -> dict[str, Any]:
    return invoke(db, "ingest", "--json", str(folder), config=config)


def billing(db: Path) -> list[tuple]:
    rows = invoke(db, "query", "billing_totals", "--format", "json")
    return [
        (
            r["provider"],
            r["month"],
            r["accelerator"],
            r["accelerator_hours"],
            r["cost_billed"],
            r["cost_effective"],
            r["currency"],
        )
        for r in rows
    ]


def sql(db: Path, text: str) -> list[tuple]:
    con = warehouse.open_for_read(db)
    try:
        return con.execute(text).fetchall()
    finally:
        con.close()


def billed(db: Path) -> Decimal:
    (value,) = sql(db, "SELECT sum(cost_billed) FROM billing_lines_counted WHERE counts_billed")[0]
    return Decimal(str(value))


def expected_sum(rel: str, column: str) -> Decimal:
    """The hand sum, to the warehouse's 10 decimals (money is DECIMAL(38,10) per line)."""
    return Decimal(EXPECTED[rel]["cost_sums"][column]["sum"]).quantize(Decimal("1e-10"))


def restate_cur(lines: list[str], row: int, extra: str) -> str:
    """Line ``row`` (0 = first data line) of a legacy CUR CSV with ``extra`` added to its
    unblended cost."""
    header = next(csv.reader([lines[0]]))
    cells = next(csv.reader([lines[1 + row]]))
    column = header.index("lineItem/UnblendedCost")
    cells[column] = str(Decimal(cells[column]) + Decimal(extra))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def age(path: Path, seconds: float) -> None:
    """Give ``path`` a modification time ``seconds`` in the past."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def put(source: Path, target: Path, *, seconds_ago: float) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    age(target, seconds_ago)
    return target


# -- billing -------------------------------------------------------------------------


def test_a_focus_export_saved_again_under_a_new_name_counts_once(tmp_path):
    """The FOCUS 1.0 sample data (400 real AWS lines, NULL written as NULL) delivered a
    second time into the same folder as ``focus_sample (1).csv``: one ingest after the
    other, and both in one ingest."""
    folder = tmp_path / "focus"
    first = put(REAL / "billing" / FOCUS_SAMPLE, folder / "focus_sample.csv", seconds_ago=7200)
    db = tmp_path / "w.duckdb"
    ingest(db, folder)
    clean = billing(db)
    assert billed(db) == expected_sum(FOCUS_SAMPLE, "BilledCost")

    again = put(first, folder / "focus_sample (1).csv", seconds_ago=60)
    summary = ingest(db, folder)
    assert summary["objects"]["new"] == 1 and summary["rows"]["billing_lines"] == 400
    assert billing(db) == clean
    [overlap] = summary["overlaps"]
    assert overlap == {
        "table": "billing_lines",
        "uri": first.as_uri(),
        "counted_in": again.as_uri(),
        "overlap_kind": "re-delivered",
        "rows": 400,
        "text": f"400 billing lines of {first.as_uri()} are re-delivered by the newer "
        f"{again.as_uri()}; the newer delivery counts",
    }
    # the ledger records it with the unit, and a query lists it
    assert sql(
        db,
        "SELECT uri, rows_not_counted, overlaps_with->>'$[0].counted_in' FROM ingest_ledger"
        " ORDER BY uri",
    ) == [(again.as_uri(), 0, None), (first.as_uri(), 400, again.as_uri())]
    listed = invoke(db, "query", "overlaps", "--format", "json")
    assert [(r["uri"], r["counted_in"], r["overlap_kind"], r["rows"]) for r in listed] == [
        (first.as_uri(), again.as_uri(), "re-delivered", 400)
    ]
    assert Decimal(str(listed[0]["cost_billed"])) == expected_sum(FOCUS_SAMPLE, "BilledCost")

    # the report's evidence list says it too
    out = tmp_path / "report"
    invoke(db, "report", "--out", str(out), "--format", "json")
    evidence = json.loads((out / "report.json").read_text())["evidence"]
    by_uri = {e["uri"]: e for e in evidence}
    assert (by_uri[first.as_uri()]["rows_not_counted"], by_uri[first.as_uri()]["counted_in"]) == (
        400,
        [by_uri[again.as_uri()]["id"]],
    )
    assert by_uri[again.as_uri()]["rows_not_counted"] == 0

    # the same two files met by one ingest of a fresh warehouse
    fresh = tmp_path / "fresh.duckdb"
    assert len(ingest(fresh, folder)["overlaps"]) == 1
    assert billing(fresh) == clean


def test_the_text_summary_says_what_counted_once(tmp_path):
    folder = tmp_path / "focus"
    first = put(REAL / "billing" / FOCUS_SAMPLE, folder / "export.csv", seconds_ago=3600)
    put(first, folder / "copy" / "export.csv", seconds_ago=10)
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"overlap: 400 billing lines of {first.as_uri()} are re-delivered by the newer" in (
        result.output
    )


def test_a_cur2_period_without_manifest_reads_a_second_copy_of_a_file_once(tmp_path, sample_data):
    """CUR 2.0, overwrite mode, no manifest: the period folder holds the part and the
    same part uploaded again under another name."""
    period = "aws/acme-billing/cur2/acme-cur2/data/BILLING_PERIOD=2025-03"
    clean_root = tmp_path / "clean"
    shutil.copytree(sample_data / "aws/acme-billing", clean_root / "aws/acme-billing")
    db_clean = tmp_path / "clean.duckdb"
    ingest(db_clean, clean_root)

    root = tmp_path / "bills"
    newest = sample_data / period / "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70"
    part = newest / "acme-cur2-00001.snappy.parquet"
    put(part, root / period / "acme-cur2-00001.snappy.parquet", seconds_ago=600)
    put(part, root / period / "acme-cur2-00001 (1).snappy.parquet", seconds_ago=60)
    db = tmp_path / "w.duckdb"
    summary = ingest(db, root)
    assert summary["objects"]["new"] == 1  # one period, one unit
    assert summary["rows"]["billing_lines"] == 14
    assert billing(db) == billing(db_clean)


def _legacy_cur(root: Path, assembly: str, lines: list[str], *, seconds_ago: float) -> Path:
    path = root / "cur/acme-legacy/20231101-20231201" / assembly / "acme-legacy-1.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(lines).encode()))
    age(path, seconds_ago)
    return path


def test_a_legacy_cur_period_without_manifest_counts_its_newest_assembly(tmp_path):
    """Legacy CUR (the real anonymised export of focus_converters), two assemblies of
    November 2023 and no manifest: the not-final delivery held 200 lines, one restated
    later; the final one holds all 350. The final assembly alone counts."""
    text = (REAL / "billing" / LEGACY_CUR).read_text().splitlines(keepends=True)
    header, rows = text[0], text[1:]
    restated = restate_cur(text, 5, "1000")
    early = [header, *rows[:5], restated, *rows[6:200]]
    root = tmp_path / "bills"
    _legacy_cur(root, "0b6f3a52-7c1e-4d8a-9f20-5e4d3c2b1a09", early, seconds_ago=86400)
    _legacy_cur(root, "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70", text, seconds_ago=600)
    db = tmp_path / "w.duckdb"
    summary = ingest(db, root)
    assert summary["objects"]["new"] == 1 and summary["objects"]["ignored"] == 0
    assert summary["rows"]["billing_lines"] == 350
    assert billed(db) == expected_sum(LEGACY_CUR, "lineItem/UnblendedCost")


def test_the_same_legacy_cur_assemblies_read_one_file_each_still_count_once(tmp_path):
    """Named with --format (each file its own unit): the newer delivery of the period
    replaces the older one as a whole, the restated line included."""
    text = (REAL / "billing" / LEGACY_CUR).read_text().splitlines(keepends=True)
    header, rows = text[0], text[1:]
    early = [header, *rows[:5], restate_cur(text, 5, "1000"), *rows[6:200]]
    root = tmp_path / "flat"
    (root).mkdir()
    old = root / "cur-2023-11-not-final.csv"
    old.write_text("".join(early))
    age(old, 86400)
    new = put(REAL / "billing" / LEGACY_CUR, root / "cur-2023-11-final.csv", seconds_ago=60)
    db = tmp_path / "w.duckdb"
    summary = invoke(db, "ingest", "--json", "--format", "aws_cur", str(root))
    assert summary["objects"]["new"] == 2
    assert billed(db) == expected_sum(LEGACY_CUR, "lineItem/UnblendedCost")
    [overlap] = summary["overlaps"]
    assert (overlap["uri"], overlap["counted_in"], overlap["overlap_kind"], overlap["rows"]) == (
        old.as_uri(),
        new.as_uri(),
        "re-delivered",
        200,
    )


def test_an_azure_export_saved_twice_in_a_flat_folder_counts_once(tmp_path):
    """The real EA actual-cost export (finops-toolkit), downloaded twice: ``(1).csv``."""
    folder = tmp_path / "downloads"
    put(REAL / "billing" / AZURE_EA, folder / "EA_ActualCost_Small.csv", seconds_ago=3600)
    put(REAL / "billing" / AZURE_EA, folder / "EA_ActualCost_Small (1).csv", seconds_ago=5)
    db = tmp_path / "w.duckdb"
    summary = ingest(db, folder)
    assert summary["rows"]["billing_lines"] == 22
    assert billed(db) == expected_sum(AZURE_EA, "Cost")
    assert [o["rows"] for o in summary["overlaps"]] == [11]


def _focus_rows(days: range, *, restate: int | None = None) -> list[str]:
    """A month-to-date FOCUS export of one VM, a line per day at 10.00."""
    header = (
        "BilledCost,BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,"
        "ChargeCategory,ChargePeriodStart,ChargePeriodEnd,EffectiveCost,ListCost,"
        "ProviderName,ResourceId,ServiceName,SubAccountId\n"
    )
    lines = [header]
    for day in days:
        cost = "12.50" if day == restate else "10.00"
        lines.append(
            f"{cost},ba-1,USD,2025-05-01T00:00:00Z,2025-06-01T00:00:00Z,Usage,"
            f"2025-05-{day:02d}T00:00:00Z,2025-05-{day + 1:02d}T00:00:00Z,{cost},{cost},"
            "Microsoft,vm-1,Virtual Machines,sub-1\n"
        )
    return lines


def test_a_month_to_date_export_run_again_counts_its_newest_run(tmp_path):
    """Days 1-15, then days 1-20 with day 3 restated: the newer run wins for the whole
    period it covers; nothing of the older run is added."""
    folder = tmp_path / "focus"
    folder.mkdir()
    (folder / "focus-mtd-0515.csv").write_text("".join(_focus_rows(range(1, 16))))
    age(folder / "focus-mtd-0515.csv", 7200)
    (folder / "focus-mtd-0520.csv").write_text("".join(_focus_rows(range(1, 21), restate=3)))
    db = tmp_path / "w.duckdb"
    summary = ingest(db, folder)
    assert billed(db) == Decimal("202.50")
    assert [(o["overlap_kind"], o["rows"]) for o in summary["overlaps"]] == [("re-delivered", 15)]


def test_overlapping_date_ranges_count_each_day_once(tmp_path):
    """Days 1-15 exported, then days 10-20 by another export: the shared days once."""
    folder = tmp_path / "focus"
    folder.mkdir()
    (folder / "focus-a.csv").write_text("".join(_focus_rows(range(1, 16))))
    age(folder / "focus-a.csv", 7200)
    (folder / "focus-b.csv").write_text("".join(_focus_rows(range(10, 21))))
    db = tmp_path / "w.duckdb"
    summary = ingest(db, folder)
    assert billed(db) == Decimal("200.00")
    assert [(o["overlap_kind"], o["rows"]) for o in summary["overlaps"]] == [("duplicate", 6)]


def test_complementary_parts_and_identical_lines_inside_one_file_all_count(tmp_path):
    """Two parts of one month share no line: both count, no overlap is reported. A line
    that appears twice inside one file is two real charges."""
    folder = tmp_path / "focus"
    folder.mkdir()
    rows = _focus_rows(range(1, 21))
    (folder / "focus-part-1.csv").write_text("".join(rows[:11] + [rows[10]]))
    (folder / "focus-part-2.csv").write_text("".join([rows[0], *rows[11:]]))
    db = tmp_path / "w.duckdb"
    summary = ingest(db, folder)
    assert summary["overlaps"] == []
    assert billed(db) == Decimal("210.00")


def test_a_period_delivered_again_loads_nothing_twice_in_any_order(tmp_path):
    """The older delivery arriving after the newer one changes nothing."""
    folder = tmp_path / "focus"
    folder.mkdir()
    (folder / "focus-mtd-0520.csv").write_text("".join(_focus_rows(range(1, 21), restate=3)))
    db = tmp_path / "w.duckdb"
    ingest(db, folder)
    (folder / "focus-mtd-0515.csv").write_text("".join(_focus_rows(range(1, 16))))
    age(folder / "focus-mtd-0515.csv", 7200)
    summary = ingest(db, folder)
    assert billed(db) == Decimal("202.50")
    assert summary["overlaps"][0]["uri"] == (folder / "focus-mtd-0515.csv").as_uri()


# -- scheduler and telemetry -----------------------------------------------------------


@pytest.fixture
def usage_config(tmp_path: Path) -> Path:
    path = tmp_path / "reconcile.toml"
    path.write_text(USAGE_CONFIG)
    return path


def usage(db: Path) -> dict[str, tuple[int, float]]:
    rows = sql(db, "SELECT source_kind, count(*), sum(gpu_seconds) FROM gpu_usage_once GROUP BY 1")
    return {kind: (n, seconds) for kind, n, seconds in rows}


def hours_by_platform(db: Path, config: Path) -> list[tuple]:
    invoke(db, "estimate", config=config)
    rows = invoke(db, "query", "accelerator_hours_by_platform", "--format", "json")
    return sorted(
        (r["source"], r["platform"], r["accelerator"], r["month"], round(r["accelerator_hours"], 6))
        for r in rows
    )


def test_two_sacct_dumps_covering_the_same_jobs_count_each_job_once(
    tmp_path, sample_data, usage_config
):
    """May's dump, and a dump of the same cluster taken for an audit that repeats ten of
    its jobs (one of them still running then): GPU-hours by platform and unattributed
    compute are those of May's dump alone."""
    accounting = sample_data / "onprem/hpc1-slurm/accounting"
    clean_root = tmp_path / "clean"
    put(accounting / "sacct-2025-05.txt", clean_root / "sacct-2025-05.txt", seconds_ago=600)
    db_clean = tmp_path / "clean.duckdb"
    ingest(db_clean, clean_root, usage_config)

    root = tmp_path / "dumps"
    put(accounting / "sacct-2025-05.txt", root / "sacct-2025-05.txt", seconds_ago=600)
    lines = (accounting / "sacct-2025-05.txt").read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split("|")
    allocations = [line for line in lines[1:] if "." not in line.split("|", 1)[0]]
    audit = [lines[0], *allocations[:10]]
    cells = audit[1].rstrip("\n").split("|")
    # taken while the first job still ran: RUNNING, no End, elapsed so far
    cells[header.index("State")] = "RUNNING"
    cells[header.index("End")] = "Unknown"
    cells[header.index("ElapsedRaw")] = str(int(cells[header.index("ElapsedRaw")]) // 2)
    audit[1] = "|".join(cells) + "\n"
    (root / "audit").mkdir()
    (root / "audit" / "sacct-audit.txt").write_text("".join(audit))
    db = tmp_path / "w.duckdb"
    summary = ingest(db, root, usage_config)
    assert usage(db) == usage(db_clean)
    [(audit_rows,)] = sql(db, "SELECT count(*) FROM gpu_usage WHERE source_uri LIKE '%audit%'")
    assert audit_rows == 8  # two of the ten jobs held no GPU
    assert sum(o["rows"] for o in summary["overlaps"]) == audit_rows
    assert hours_by_platform(db, usage_config) == hours_by_platform(db_clean, usage_config)
    unattributed = invoke(db, "query", "unattributed_compute", "--format", "json")
    clean_unattributed = invoke(db_clean, "query", "unattributed_compute", "--format", "json")
    assert unattributed == clean_unattributed


def test_a_copied_nvidia_smi_log_counts_once(tmp_path, sample_data, usage_config):
    logs = sample_data / "onprem/hpc-lustre/slurm-logs/41237"
    root = tmp_path / "logs"
    for name in ("nvidia-smi-gpu001.csv", "nvidia-smi-gpu002.csv"):
        put(logs / name, root / "slurm-logs/41237" / name, seconds_ago=3600)
    db_clean = tmp_path / "clean.duckdb"
    ingest(db_clean, root, usage_config)
    # an archive copy of one node's log, and a truncated copy taken while the job ran
    put(
        logs / "nvidia-smi-gpu001.csv",
        root / "archive/slurm-logs/41237/nvidia-smi-gpu001.csv",
        seconds_ago=60,
    )
    text = (logs / "nvidia-smi-gpu002.csv").read_text().splitlines(keepends=True)
    partial = root / "partial/slurm-logs/41237/nvidia-smi-gpu002.csv"
    partial.parent.mkdir(parents=True)
    partial.write_text("".join(text[: len(text) // 2]))
    db = tmp_path / "w.duckdb"
    summary = ingest(db, root, usage_config)
    assert usage(db) == usage(db_clean)
    # each copy overlaps only its original (a window both hold whole counts once, in
    # the newer file; the part only the whole log has counts from it)
    pairs = {frozenset((o["uri"], o["counted_in"])) for o in summary["overlaps"]}
    assert pairs == {
        frozenset(
            (
                (root / "slurm-logs/41237/nvidia-smi-gpu001.csv").as_uri(),
                (root / "archive/slurm-logs/41237/nvidia-smi-gpu001.csv").as_uri(),
            )
        ),
        frozenset(((root / "slurm-logs/41237/nvidia-smi-gpu002.csv").as_uri(), partial.as_uri())),
    }


def test_a_dcgm_scrape_saved_again_counts_once(tmp_path, usage_config):
    """A scrape without timestamps (the real DataDog fixture of two T4 hosts) takes the
    file's time; saved again later it is still the same scrape."""
    scrape = REAL / "usage/dcgm/datadog-integrations-core-t4-fixture/metrics.txt"
    root = tmp_path / "scrapes"
    put(scrape, root / "node-a-metrics.prom", seconds_ago=3600)
    config = tmp_path / "scrape.toml"
    config.write_text('[formats.dcgm]\ncluster = "t4"\nscrape_interval_seconds = 30\n')
    db_clean = tmp_path / "clean.duckdb"
    invoke(db_clean, "ingest", "--json", "--format", "dcgm", str(root), config=config)
    put(scrape, root / "saved-again/node-a-metrics.prom", seconds_ago=10)
    db = tmp_path / "w.duckdb"
    invoke(db, "ingest", "--json", "--format", "dcgm", str(root), config=config)
    clean = usage(db_clean)
    assert clean["dcgm"][0] > 0
    assert usage(db) == clean


# -- the report ------------------------------------------------------------------------


def _report_per_run(db: Path, out: Path) -> dict[str, tuple]:
    invoke(db, "report", "--out", str(out), "--format", "json")
    runs = json.loads((out / "report.json").read_text())["runs"]
    return {
        r["run_id"]: (
            sum(b["lines"] for b in r["billing"]),
            round(sum(b["accelerator_hours"] for b in r["billing"]), 6),
            round(sum(u["gpu_hours"] for u in r["usage"]), 6),
        )
        for r in runs
        if r["billing"] or r["usage"]
    }


def _rollup_per_run(db: Path) -> dict[str, tuple]:
    billing = dict(
        (run, (int(lines), round(float(hours), 6)))
        for run, lines, hours in sql(
            db,
            # lines linked one by one, and the run's allocated shares of windows
            "SELECT run_id, sum(lines), sum(hours) FROM ("
            "SELECT m.run_id, b.line_count AS lines, b.accelerator_hours AS hours "
            "FROM run_matches m JOIN billing_rollup b ON b.rollup_id = m.target_id "
            "WHERE m.target_table = 'billing_rollup' UNION ALL "
            "SELECT run_id, allocated_lines, allocated_hours FROM run_matches "
            "WHERE target_table = 'billing_window') GROUP BY 1",
        )
    )
    usage = dict(
        (run, round(float(seconds) / 3600, 6))
        for run, seconds in sql(
            db,
            "SELECT m.run_id, sum(u.gpu_seconds) FROM run_matches m "
            "JOIN usage_rollup u ON u.rollup_id = m.target_id "
            "WHERE m.target_table = 'usage_rollup' GROUP BY 1",
        )
    )
    return {
        run: (*billing.get(run, (0, 0.0)), usage.get(run, 0.0)) for run in set(billing) | set(usage)
    }


def test_the_reports_per_run_figures_are_the_rollups_whatever_was_delivered_twice(
    tmp_path, sample_data
):
    """The sample organisation, then its Azure export and a Slurm dump delivered again
    under other names: each run's billing lines, hours and GPU-hours in the report equal
    the stage rollups', and do not move."""
    root = tmp_path / "org"
    shutil.copytree(sample_data, root)
    config = root / "reconcile.toml"
    db = tmp_path / "w.duckdb"
    invoke(db, "ingest", "--json", str(root), config=config)
    invoke(db, "estimate", config=config)
    before = _report_per_run(db, tmp_path / "r1")
    assert before and any(v[0] for v in before.values()) and any(v[2] for v in before.values())
    assert before == _rollup_per_run(db)

    exports = root / "azure/acmecostexports/costexports"
    shutil.copytree(exports / "acme-daily-actual", exports / "acme-daily-actual-copy")
    accounting = root / "onprem/hpc1-slurm/accounting"
    put(accounting / "sacct-2025-05.txt", root / "onprem/archive/sacct-2025-05.txt", seconds_ago=1)
    summary = invoke(db, "ingest", "--json", str(root), config=config)
    assert summary["overlaps"]
    invoke(db, "estimate", config=config)
    assert _report_per_run(db, tmp_path / "r2") == before == _rollup_per_run(db)


def test_each_evidence_file_has_the_sha256_sha256sum_prints(tmp_path, sample_data):
    """An auditor checks the files themselves: every object read has its plain sha256
    in the report, an object the unit lists but never read says so."""
    root = tmp_path / "org"
    shutil.copytree(sample_data / "aws/acme-billing", root)
    db = tmp_path / "w.duckdb"
    invoke(db, "ingest", "--json", str(root))
    out = tmp_path / "report"
    invoke(db, "report", "--out", str(out), "--format", "json,md")
    (unit,) = json.loads((out / "report.json").read_text())["evidence"]
    files = {f["key"]: f["sha256"] for f in unit["files"]}
    assert len(files) == 3  # the manifest, the listed assembly's part, an older assembly's
    read = {k: v for k, v in files.items() if v is not None}
    for key, digest in read.items():
        assert digest == hashlib.sha256((root / key).read_bytes()).hexdigest()
    assert any(k.endswith("Manifest.json") for k in read)
    assert [k for k, v in files.items() if v is None] == [
        "cur2/acme-cur2/data/BILLING_PERIOD=2025-03/0b6f3a52-7c1e-4d8a-9f20-5e4d3c2b1a09/"
        "acme-cur2-00001.snappy.parquet"
    ]
    markdown = (out / "report.md").read_text()
    assert all(digest in markdown for digest in read.values())
