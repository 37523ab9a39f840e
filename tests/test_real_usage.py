"""Real public scheduler and telemetry files (tests/data/real/usage, SOURCES.md) against
the hand counts of expected.py (stdlib only): GPU-seconds per Slurm allocation, samples
and devices of nvidia-smi logs and DCGM scrapes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile import warehouse
from reconcile.cli import cli

ROOT = Path(__file__).parent / "data" / "real" / "usage"
EXPECTED = json.loads((ROOT / "expected.json").read_text())["files"]
SONAR = "sacct/sonar-fox-noheader-typed-gpus/sacct_output.txt"
#: sonar's own sacct field list (src/slurmjobs.rs; expected.py HEADERLESS)
SONAR_COLUMNS = (
    "JobID,JobIDRaw,User,Account,State,Start,End,AveCPU,AveDiskRead,AveDiskWrite,AveRSS,"
    "AveVMSize,ElapsedRaw,ExitCode,Layout,MaxRSS,MaxVMSize,MinCPU,ReqCPUS,ReqMem,ReqNodes,"
    "Reservation,Submit,Suspended,SystemCPU,TimelimitRaw,UserCPU,NodeList,Partition,AllocTRES,"
    "Priority,JobName"
)


def _ingest(tmp_path: Path, rel: str, config: str = "") -> tuple[Path, dict]:
    folder = tmp_path / "src"
    folder.mkdir()
    shutil.copy(ROOT / rel, folder / Path(rel).name)
    path = tmp_path / "reconcile.toml"
    path.write_text(config)
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "--config", str(path), "ingest", "--json", str(folder)]
    )
    assert result.exit_code in (0, 3), result.output
    return db, json.loads(result.stdout)


def _rows(db: Path, sql: str) -> list[tuple]:
    con = warehouse.open_for_read(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_headerless_sacct_dump_with_typed_gpus_matches_the_hand_count(tmp_path):
    """sonar's dump of the Fox cluster (--noheader, both gres/gpu=N and typed forms,
    RUNNING and PENDING jobs, steps): with its field list configured, every allocation's
    GPU-seconds are the hand count's."""
    db, summary = _ingest(
        tmp_path,
        SONAR,
        f'[formats.slurm_sacct]\ncluster = "fox"\ntimezone = "Europe/Oslo"\n'
        f'columns = "{SONAR_COLUMNS}"\n',
    )
    assert summary["quarantine"] == []
    want = {j["job_id"]: j["gpu_seconds"] for j in EXPECTED[SONAR]["jobs"] if j["gpus"]}
    got = dict(_rows(db, "SELECT job_key, gpu_seconds FROM gpu_usage_once"))
    assert got == pytest.approx(want)
    assert len(got) == EXPECTED[SONAR]["allocations_with_gpus"] == 65
    assert sum(got.values()) == EXPECTED[SONAR]["total_gpu_seconds"]
    # typed GRES the catalog knows resolve (l40s, a40); ambiguous or site names stay named
    kinds = {a for (a,) in _rows(db, "SELECT DISTINCT accelerator FROM gpu_usage_once")}
    assert {"NVIDIA L40S PCIe-48GB", "NVIDIA A40 PCIe-48GB", "unknown:rtx30"} <= kinds


def test_without_its_field_list_a_headerless_dump_is_refused_with_the_remedy(tmp_path):
    _, summary = _ingest(tmp_path, SONAR, '[formats.slurm_sacct]\ncluster = "fox"\n')
    [item] = summary["quarantine"]
    assert "no header line" in item["error"] and "columns" in item["error"]


@pytest.mark.parametrize(
    "rel",
    [
        "sacct/slurmio-long-allocgres-running/sacct.txt",
        "sacct/slurm2sql-long-format-no-gpu/test-data1.csv",
    ],
)
def test_sacct_dumps_with_a_header_match_the_hand_count(tmp_path, rel):
    """AllocGRES only (old Slurm, a RUNNING job, Elapsed only); a CPU-only dump."""
    db, summary = _ingest(tmp_path, rel, '[formats.slurm_sacct]\ncluster = "x"\n')
    assert summary["quarantine"] == []
    want = {j["job_id"]: j["gpu_seconds"] for j in EXPECTED[rel]["jobs"] if j["gpus"]}
    assert dict(_rows(db, "SELECT job_key, gpu_seconds FROM gpu_usage_once")) == want


def test_a_dump_without_any_time_column_is_refused_naming_it(tmp_path):
    _, summary = _ingest(tmp_path, "sacct/ood-sacct-psc-bridges-default-fields/sacct.txt")
    [item] = summary["quarantine"]
    assert "no ElapsedRaw, Elapsed or Start+End columns" in item["error"]


def test_an_nvidia_smi_log_keyed_by_index_only(tmp_path):
    rel = "nvidia_smi/miris-v100s-index-only/gpu_log.csv"
    db, summary = _ingest(tmp_path, rel, '[formats.nvidia_smi]\nhost = "node1"\ntimezone = "UTC"\n')
    assert summary["quarantine"] == []
    want = EXPECTED[rel]
    ((devices, samples, accelerators),) = _rows(
        db,
        "SELECT count(DISTINCT tags['gpu_index']), sum(samples), list_distinct(list(accelerator)) "
        "FROM gpu_usage_once",
    )
    assert (devices, samples) == (want["distinct_devices"], want["samples"])
    assert accelerators == ["NVIDIA V100S PCIe-32GB"]


def test_an_nvidia_smi_snapshot_without_timestamps_is_not_taken_for_a_log(tmp_path):
    _, summary = _ingest(
        tmp_path, "nvidia_smi/netdata-tesla-p100-nounits-no-timestamp/tesla-p100.csv"
    )
    assert summary["objects"]["ignored"] == 1 and summary["rows"]["gpu_usage"] == 0


@pytest.mark.parametrize(
    "rel",
    [
        "dcgm/datadog-integrations-core-t4-fixture/metrics.txt",
        "dcgm/issue-dcgm-exporter-250-v100-fragment/metrics.txt",
        "dcgm/issue-dcgm-exporter-512-h100-mig-fragment/metrics.txt",
    ],
)
def test_dcgm_scrapes_find_every_gpu_and_mig_instance(tmp_path, rel):
    db, summary = _ingest(tmp_path, rel, "[formats.dcgm]\nscrape_interval_seconds = 30\n")
    assert summary["quarantine"] == []
    want = EXPECTED[rel]
    ((gpus, instances),) = _rows(
        db,
        "SELECT count(DISTINCT gpu_uuid), "
        "count(DISTINCT (gpu_uuid, coalesce(tags['mig_instance'], ''))) FROM gpu_usage_once",
    )
    assert (gpus, instances) == (want["distinct_gpus"], want["gpu_instances"])
