"""GPU-usage ingest end to end: the CLI with a project file, exactly-once, quarantine, S3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile import warehouse
from reconcile.cli import cli

GPU_FOLDERS = (
    "onprem/hpc1-slurm",
    "onprem/hpc-lustre/slurm-logs",
    "gcp/acme-training-eu/monitoring",
)
CONFIG = r"""
[formats.slurm_sacct]
cluster = "hpc1"
timezone = "Europe/Berlin"
partitions = { h100 = "NVIDIA H100 SXM5-80GB" }

[formats.nvidia_smi]
cluster = "hpc1"
timezone = "Europe/Berlin"
path_pattern = 'slurm-logs/(?P<job>\d+)/nvidia-smi-(?P<host>[^/.]+)\.csv'

[formats.dcgm]
cluster = "train-eu"
"""
# Hand-computed: sacct allocations (ElapsedRaw x GPUs), telemetry windows (samples x step).
SLURM_SECONDS = (
    (488_436 + 467_292 + 506_206) * 64
    + 2417
    + 2391
    + 2452
    + 312 * 8
    + 3611 * 4
    + 95 * 16
    + 14_432 * 2
    + 904 * 8
    + 1203 * 16
    + 1861 * 64
)
DCGM_SECONDS = 8 * 63_300 + 8 * (29_700 + 31_500) + 7260 * 5 / 7 + 3660 / 7
NVSMI_SECONDS = 8 * 1200 + 8 * (435 + 660)


@pytest.fixture
def gpu_copy(tmp_path: Path, sample_data: Path) -> Path:
    """A private copy of the GPU-usage sample folders (same layout)."""
    target = tmp_path / "gpu"
    for folder in GPU_FOLDERS:
        shutil.copytree(sample_data / folder, target / folder)
    return target


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "reconcile.toml"
    path.write_text(CONFIG)
    return path


def ingest(db: Path, config: Path | None, *sources: str) -> tuple[int, dict, str]:
    args = ["--db", str(db)] + (["--config", str(config)] if config else [])
    result = CliRunner().invoke(cli, [*args, "ingest", "--json", *sources])
    summary = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, summary, result.stderr


def by_kind(db: Path) -> dict[str, tuple[int, float]]:
    con = warehouse.open_for_read(db)
    try:
        rows = con.execute(
            "SELECT source_kind, count(*), sum(gpu_seconds) FROM gpu_usage GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    return {kind: (count, seconds) for kind, count, seconds in rows}


def test_sample_gpu_usage_loads_exactly_once(tmp_path, gpu_copy, config):
    db = tmp_path / "w.duckdb"
    code, summary, stderr = ingest(db, config, str(gpu_copy))
    assert code == 0, stderr
    assert summary["objects"]["new"] == 7
    assert summary["rows"]["gpu_usage"] == 72
    totals = by_kind(db)
    assert totals["slurm"] == (13, SLURM_SECONDS)
    assert totals["dcgm"][0] == 24 + 8 + 3
    assert totals["dcgm"][1] == pytest.approx(DCGM_SECONDS)
    assert totals["nvidia-smi"] == (24, NVSMI_SECONDS)

    code, again, _ = ingest(db, config, str(gpu_copy))
    assert code == 0
    assert again["objects"]["unchanged"] == 7
    assert again["bytes_read"] == 0
    assert by_kind(db) == totals


def test_redelivered_dump_replaces_only_its_rows(tmp_path, gpu_copy, config):
    db = tmp_path / "w.duckdb"
    ingest(db, config, str(gpu_copy))
    con = warehouse.open_for_read(db)
    before = dict(con.execute("SELECT usage_id, source_uri FROM gpu_usage").fetchall())
    con.close()
    dump = gpu_copy / "onprem/hpc1-slurm/accounting/sacct-2025-05.txt"
    extra = (
        "42600|42600|late-eval|mlops|acme-ml|h100|normal|COMPLETED|0:0|2025-05-30T10:00:00|"
        "2025-05-30T10:00:05|2025-05-30T10:10:05|00:10:00|600|1|gpu004|16|"
        "billing=16,cpu=16,gres/gpu:h100=2,gres/gpu=2,mem=100G,node=1|hpc1\n"
    )
    dump.write_text(dump.read_text() + extra)
    code, summary, _ = ingest(db, config, str(gpu_copy))
    assert code == 0
    assert (summary["objects"]["replaced"], summary["objects"]["unchanged"]) == (1, 6)
    assert summary["rows_deleted"]["gpu_usage"] == 10
    assert summary["rows"]["gpu_usage"] == 11
    assert by_kind(db)["slurm"] == (14, SLURM_SECONDS + 1200)
    con = warehouse.open_for_read(db)
    after = dict(con.execute("SELECT usage_id, source_uri FROM gpu_usage").fetchall())
    con.close()
    assert set(before) < set(after)  # every earlier id is stable


BROKEN = {
    "onprem/hpc1-slurm/accounting/sacct-2025-06.txt": (
        "JobID|JobName|State|Start|End|ElapsedRaw|AllocTRES\n"
        "43001|x|COMPLETED|2025-06-01T10:00:00|2025-06-01T11:00:00|one hour|gres/gpu=8\n",
        "ElapsedRaw is not a whole number",
    ),
    "gcp/acme-training-eu/monitoring/dcgm/train-eu/dcgm-export-broken.csv": (
        "timestamp,metric,UUID,value\n1744351200,DCGM_FI_DEV_GPU_UTIL,GPU-1,99\n"
        "1744351215,DCGM_FI_DEV_GPU_UTIL,GPU-1\n",
        "line 3: expected 4 columns, found 3",
    ),
    "onprem/hpc-lustre/slurm-logs/41237/nvidia-smi-gpu003.csv": (
        "timestamp, index, uuid, utilization.gpu [%]\n2025/05/02 09:12:45.000, 0, GPU-z\n",
        "line 2: expected 4 comma-separated fields, found 3",
    ),
}


def test_malformed_files_are_quarantined_and_the_rest_loads(tmp_path, gpu_copy, config):
    for key, (text, _) in BROKEN.items():
        (gpu_copy / key).write_text(text)
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "--config", str(config), "ingest", str(gpu_copy)]
    )
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line]
    assert len(lines) == 3
    for key, (_, reason) in BROKEN.items():
        (line,) = [x for x in lines if key in x]
        assert line.startswith("quarantined: file://")
        assert reason in line
    assert by_kind(db)["slurm"] == (13, SLURM_SECONDS)
    # Unchanged bad files are not read again, but still reported (exit 3 again).
    code, summary, _ = ingest(db, config, str(gpu_copy))
    assert code == 3
    assert summary["objects"]["quarantined"] == 3
    assert summary["objects"]["unchanged"] == 7
    assert summary["bytes_read"] == 0
    assert {q["uri"].split("/gpu/", 1)[1] for q in summary["quarantine"]} == set(BROKEN)


def test_invalid_format_options_stop_before_anything_is_read(tmp_path, gpu_copy):
    config = tmp_path / "bad.toml"
    config.write_text('[formats.slurm_sacct]\ntimezone = "Mars/Olympus_Mons"\n')
    db = tmp_path / "w.duckdb"
    code, _, stderr = ingest(db, config, str(gpu_copy))
    assert code == 1
    # named with the file, when the settings are loaded (before any command starts)
    assert stderr.startswith(
        f"Error: {config}: 'formats.slurm_sacct.timezone' is not a known time zone"
    )
    assert stderr.count("\n") == 1
    assert not db.exists()


def test_without_a_project_file_local_times_are_marked(tmp_path, gpu_copy):
    """Local times without a configured zone are loaded, marked, never guessed silently."""
    db = tmp_path / "w.duckdb"
    code, _, stderr = ingest(db, None, str(gpu_copy))
    assert code == 0, stderr
    con = warehouse.open_for_read(db)
    bases = dict(
        con.execute(
            "SELECT source_kind || ' ' || time_basis, count(*) FROM gpu_usage GROUP BY 1"
        ).fetchall()
    )
    con.close()
    assert bases == {
        "slurm unknown_timezone_read_as_utc": 10,  # May dump: local times
        "slurm utc": 3,  # April dump: epoch seconds
        "nvidia-smi unknown_timezone_read_as_utc": 24,
        "dcgm utc": 35,
    }


def test_ingest_from_s3(s3, bucket, moto_endpoint, tmp_path, gpu_copy, config):
    for path in sorted(gpu_copy.rglob("*")):
        if path.is_file():
            key = "exports/" + path.relative_to(gpu_copy).as_posix()
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    db = tmp_path / "w.duckdb"
    code, summary, stderr = ingest(db, config, f"s3://{bucket}/exports/")
    assert code == 0, stderr
    assert summary["rows"]["gpu_usage"] == 72
    totals = by_kind(db)
    assert totals["slurm"] == (13, SLURM_SECONDS)
    assert totals["nvidia-smi"] == (24, NVSMI_SECONDS)
    assert totals["dcgm"][1] == pytest.approx(DCGM_SECONDS)
