"""Devices the catalog does not know stay visible in usage data as ``unknown:<name>`` (as
billing lines do), are listed by ``checks/usage_unknown_accelerators`` with their time, and
are resolved by the estimate once the catalog learns them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.methods.base import peak as _reference_peak

CONFIG = r"""
[formats.slurm_sacct]
cluster = "hpc9"
timezone = "UTC"

[formats.nvidia_smi]
cluster = "hpc9"
timezone = "UTC"
path_pattern = 'slurm-logs/(?P<job>\d+)/nvidia-smi-(?P<host>[^/.]+)\.csv'
"""
SACCT = (
    "JobID|JobIDRaw|JobName|User|Account|Partition|State|Start|End|ElapsedRaw|NNodes|"
    "NodeList|AllocTRES|Cluster\n"
    "7001|7001|lora-k80|ana|ml|legacy|COMPLETED|1745309103|1745312703|3600|1|old01|"
    "billing=8,cpu=8,gres/gpu:titanrtx=2,gres/gpu=2,mem=64G,node=1|hpc9\n"
    "7002|7002|lora-h100|ana|ml|h100|COMPLETED|1745309103|1745312703|3600|1|gpu01|"
    "billing=8,cpu=8,gres/gpu:h100=4,gres/gpu=4,mem=64G,node=1|hpc9\n"
)


def _ingest(tmp_path: Path, name: str, folder: Path) -> Path:
    config = tmp_path / "reconcile.toml"
    config.write_text(CONFIG)
    db = tmp_path / f"{name}.duckdb"
    result = CliRunner().invoke(
        cli,
        ["--db", str(db), "--config", str(config), "ingest", str(folder)],
    )
    assert result.exit_code == 0, result.output
    return db


def _query(db: Path, name: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["--db", str(db), "query", name, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _usage(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT source_kind, host, accelerator, sum(gpu_seconds) FROM gpu_usage "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()


def test_unknown_devices_are_kept_named_and_listed(tmp_path: Path, sample_data: Path):
    smi = sample_data / "onprem/hpc-lustre/slurm-logs/41237/nvidia-smi-gpu001.csv"
    known = tmp_path / "known" / "slurm-logs" / "41237"
    unknown = tmp_path / "unknown" / "slurm-logs" / "41237"
    known.mkdir(parents=True)
    unknown.mkdir(parents=True)
    shutil.copy(smi, known / "nvidia-smi-gpu001.csv")
    # The same samples on a device the catalog lacks (nvidia-smi's name for a K80).
    (unknown / "nvidia-smi-gpu001.csv").write_text(
        smi.read_text().replace("NVIDIA H100 80GB HBM3", "Tesla K80")
    )
    (tmp_path / "unknown" / "sacct.txt").write_text(SACCT)

    known_db = _ingest(tmp_path, "known", tmp_path / "known")
    unknown_db = _ingest(tmp_path, "unknown", tmp_path / "unknown")
    ((_, _, accelerator, seconds),) = _usage(known_db)
    assert accelerator == "NVIDIA H100 SXM5-80GB"
    rows = _usage(unknown_db)
    telemetry = [r for r in rows if r[0] == "nvidia-smi"]
    # every sample is still counted, under the device's own name
    assert telemetry == [("nvidia-smi", "gpu001", "unknown:Tesla K80", pytest.approx(seconds))]
    # a GRES type the catalog lacks, and one that fits several rows (H100 SXM, PCIe, NVL)
    # with no partition or node mapping to say which
    sacct = {r[2]: r[3] for r in rows if r[0] == "slurm"}
    assert sacct == {"unknown:titanrtx": 2 * 3600.0, "unknown:h100": 4 * 3600.0}

    listed = {r["accelerator"]: r for r in _query(unknown_db, "checks/usage_unknown_accelerators")}
    assert set(listed) == {"unknown:Tesla K80", "unknown:titanrtx", "unknown:h100"}
    assert listed["unknown:titanrtx"]["gpu_hours"] == pytest.approx(2.0)
    assert listed["unknown:titanrtx"]["hosts"] == ["old01"]
    assert listed["unknown:Tesla K80"]["gpu_hours"] == pytest.approx(seconds / 3600)
    assert _query(known_db, "checks/usage_unknown_accelerators") == []


def test_the_estimate_resolves_an_unknown_device_once_the_catalog_knows_it():
    def _peak(name: str) -> tuple[Any, str | None]:
        return _reference_peak(name, None, "bf16")  # the default [estimate] precision

    peak, problem = _peak("unknown:Tesla K80")
    assert peak is None and problem == "accelerator 'Tesla K80' not in the catalog"
    # loaded before the catalog learnt the name: resolved now, like a plain name
    learnt, problem = _peak("unknown:NVIDIA H100 80GB HBM3")
    plain, _ = _peak("NVIDIA H100 SXM5-80GB")
    assert problem is None and learnt is not None and plain is not None
    assert learnt.central == plain.central == pytest.approx(989.4e12, rel=1e-3)
    # a name that fits several rows: the band over them (H100 PCIe 756 … SXM 989 TFLOP/s)
    band, problem = _peak("unknown:h100")
    assert problem is None and band is not None and len(band.candidates) >= 3
    assert band.low == pytest.approx(756e12, rel=1e-2)
    assert band.high == pytest.approx(989.4e12, rel=1e-3)
