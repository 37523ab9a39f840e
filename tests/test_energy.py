"""Energy per run and model: measured from DCGM telemetry, estimated from accelerator time."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile import energy, warehouse
from reconcile.cli import cli
from reconcile.errors import ConfigError

START = datetime(2025, 5, 6, 10, tzinfo=UTC)
H100 = "NVIDIA H100 80GB HBM3"


def _run(job: str, hours: float, gpus: int = 8) -> dict:
    end = START + timedelta(hours=hours)
    return {
        "job_name": job,
        "platform": "kubernetes",
        "base_model": "Qwen/Qwen2.5-7B",
        "model_id": "energy-model",
        "method": "full",
        "objective": "sft",
        "tokens": 10**9,
        "seq_len": 4096,
        "started_at": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ended_at": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runtime_seconds": hours * 3600,
        "accelerator": H100,
        "accelerator_count": gpus,
        "precision": "bf16",
        "tags": {"cluster": "eu-1"},
    }


def _dcgm(path: Path, pod: str, host: str, metric: str, values: list[float], step: int = 60):
    """One DCGM scrape series per GPU of 8 (the same values on each)."""
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if handle.tell() == 0:
            writer.writerow(
                [
                    "timestamp",
                    "metric",
                    "Hostname",
                    "gpu",
                    "UUID",
                    "modelName",
                    "namespace",
                    "pod",
                    "container",
                    "value",
                ]
            )
        for gpu in range(8):
            uuid = f"GPU-{host}-{gpu:04d}-0000-4000-8000-000000000000"
            for i, value in enumerate(values):
                t = int(START.timestamp()) + i * step
                writer.writerow([t, metric, host, gpu, uuid, H100, "train", pod, "trainer", value])


def _estimate(tmp_path: Path, runs: list[dict], extra: str = "") -> Path:
    root = tmp_path / "org"
    (root / "runs").mkdir(parents=True, exist_ok=True)
    with (root / "runs" / "org.runs.jsonl").open("w", encoding="utf-8") as handle:
        for run in runs:
            handle.write(json.dumps(run) + "\n")
    db = tmp_path / "w.duckdb"
    config = tmp_path / "reconcile.toml"
    config.write_text('[formats.dcgm]\ncluster = "eu-1"\n\n' + extra, encoding="utf-8")
    for args in (["ingest", str(root)], ["estimate"]):
        result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), *args])
        assert result.exit_code == 0, result.output
    return db


def _energy(db: Path) -> dict[str, dict]:
    con = warehouse.open_for_read(db)
    try:
        return {
            r["run_id"]: r for r in con.sql("SELECT * FROM run_energy").to_arrow_table().to_pylist()
        }
    finally:
        con.close()


def test_energy_counter_deltas_with_a_reset_and_the_estimate_for_the_rest(tmp_path):
    """Run A (8 GPUs, 1 h) is scraped every 60 s for the whole hour, each GPU's energy
    counter (mJ) rising 30,000,000 mJ (500 W) a minute and reset to 0 once by a driver
    reload: 60 steps, one of them the reset (counted from 0 per Prometheus' rule), so
    8 x 60 x 30,000 J = 14.4 MJ = 4.0 kWh over 8 x 3600 GPU-seconds: measured, coverage 1.
    Run B (4 GPUs, 2 h) has no telemetry: 8 accelerator-hours x 700 W (H100 board limit)
    x 0.5 / 0.76 / 1.0 = 2.8 / 4.256 / 5.6 kWh. Facility: x host overhead x PUE (1.2 and
    1.1 here); emissions at the cluster's 300 g/kWh."""
    org = tmp_path / "org"
    (org / "dcgm").mkdir(parents=True)
    counter, values = 1_000_000_000.0, []
    for i in range(61):
        if i == 30:
            counter = 30_000_000.0  # the driver reloaded: the counter restarts
        values.append(counter)
        counter += 30_000_000.0
    _dcgm(
        org / "dcgm" / "a.csv",
        "job-a-worker-0",
        "node-a",
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        values,
    )
    _dcgm(org / "dcgm" / "a.csv", "job-a-worker-0", "node-a", "DCGM_FI_DEV_GPU_UTIL", [95.0] * 61)
    db = _estimate(
        tmp_path,
        [_run("job-a", 1.0), _run("job-b", 2.0, gpus=4)],
        "[energy]\npue = 1.1\nhost_overhead = 1.2\ngrid_intensity = { eu-1 = 300 }\n",
    )
    rows = _energy(db)
    a, b = rows["job-a"], rows["job-b"]
    assert a["basis"] == "measured" and a["coverage"] == pytest.approx(1.0)
    assert a["measured_kwh"] == pytest.approx(4.0, rel=1e-9)
    assert a["board_kwh_central"] == pytest.approx(4.0, rel=1e-9)
    assert a["facility_kwh_central"] == pytest.approx(4.0 * 1.2 * 1.1, rel=1e-9)
    assert a["tco2e_central"] == pytest.approx(4.0 * 1.2 * 1.1 * 300 / 1e6, rel=1e-9)
    assert b["basis"] == "estimated" and b["coverage"] == 0.0
    assert (b["board_kwh_low"], b["board_kwh_central"], b["board_kwh_high"]) == pytest.approx(
        (8 * 0.7 * 0.5, 8 * 0.7 * 0.76, 8 * 0.7 * 1.0), rel=1e-9
    )
    assert b["facility_kwh_high"] == pytest.approx(5.6 * 1.2 * 1.1, rel=1e-9)

    result = CliRunner().invoke(cli, ["--db", str(db), "query", "energy", "--format", "json"])
    assert result.exit_code == 0, result.output
    model = next(r for r in json.loads(result.stdout) if r["run_id"] is None)
    telemetry = _usage_seconds(db, "job-a")  # the scrape windows: 61 samples x 60 s x 8
    assert telemetry == pytest.approx(8 * 61 * 60, rel=1e-9)
    assert model["basis"] == "partly_measured"
    assert model["board_kwh_central"] == pytest.approx(4.0 + 4.256, rel=1e-9)
    assert model["accelerator_hours"] == pytest.approx((telemetry + 8 * 3600) / 3600, rel=1e-9)
    assert model["coverage"] == pytest.approx(telemetry / (telemetry + 8 * 3600), rel=1e-9)

    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["--db", str(db), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (card,) = json.loads((out / "report.json").read_text(encoding="utf-8"))["models"]
    assert card["energy"]["facility_kwh_central"] == pytest.approx(
        model["facility_kwh_central"], rel=1e-12
    )
    assert card["energy"]["basis"] == "partly_measured"
    html = (out / "report.html").read_text(encoding="utf-8")
    mwh = f"{model['facility_kwh_central'] / 1000:.3g}"
    assert f"<dt>Energy</dt><dd>{mwh} MWh at the facility" in html


def _usage_seconds(db: Path, job: str) -> float:
    con = warehouse.open_for_read(db)
    try:
        (seconds,) = con.execute(
            "SELECT sum(gpu_seconds) FROM gpu_usage WHERE job_name LIKE ?", [f"%{job}%"]
        ).fetchone()
    finally:
        con.close()
    return float(seconds)


def test_a_power_integral_covers_half_a_run(tmp_path):
    """Run C (8 GPUs, 2 h) has DCGM power (400 W) for its first hour only (61 scrapes a
    minute apart: 8 x 3660 GPU-seconds of windows): measured 400 W x those seconds; the
    rest of its 8 x 7200 logged GPU-seconds estimated at 700 W x 0.76: partly measured."""
    org = tmp_path / "org"
    (org / "dcgm").mkdir(parents=True)
    _dcgm(
        org / "dcgm" / "c.csv", "job-c-worker-0", "node-c", "DCGM_FI_DEV_POWER_USAGE", [400.0] * 61
    )
    db = _estimate(tmp_path, [_run("job-c", 2.0)])
    c = _energy(db)["job-c"]
    covered = _usage_seconds(db, "job-c")
    assert covered == pytest.approx(8 * 3660, rel=1e-9)
    measured = 400 * covered / 3.6e6
    estimated = (8 * 7200 - covered) * 700 * 0.76 / 3.6e6
    assert c["basis"] == "partly_measured"
    assert c["coverage"] == pytest.approx(covered / (8 * 7200), rel=1e-9)
    assert c["measured_kwh"] == pytest.approx(measured, rel=1e-9)
    assert c["board_kwh_central"] == pytest.approx(measured + estimated, rel=1e-9)
    assert c["facility_kwh_central"] == pytest.approx(
        (measured + estimated) * energy.DEFAULT_HOST_OVERHEAD * energy.DEFAULT_PUE, rel=1e-9
    )
    assert energy.DEFAULT_PUE == 1.58
    assert energy.DEFAULT_HOST_OVERHEAD == pytest.approx(10_200 / 5_600, rel=1e-12)


def test_energy_options_are_checked():
    assert energy.EnergyOptions.from_config({"pue": 1.2}).pue == 1.2
    with pytest.raises(ConfigError, match=r"unknown key 'energy\.pue_x'"):
        energy.EnergyOptions.from_config({"pue_x": 1})
    with pytest.raises(ConfigError, match=r"'energy\.pue' must be between 1\.0 and 3\.0"):
        energy.EnergyOptions.from_config({"pue": 0.5})
    with pytest.raises(ConfigError, match=r"grid_intensity\.eu"):
        energy.EnergyOptions.from_config({"grid_intensity": {"eu": "low"}})
