"""The DCGM exporter parser: GKE samples of the llama31 legal run, MIG notebooks, the
integration rules (irregular scrapes, gaps, counter resets, time zones) and bad files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.formats.base import Sample, UnitReader
from connectors.formats.usage.dcgm import DcgmParser
from connectors.stores.local import LocalStore
from reconcile.errors import ConfigError, ParseError
from reconcile.schemas import GPU_USAGE

DCGM = "gcp/acme-training-eu/monitoring/dcgm/train-eu"
PARQUET = f"{DCGM}/dcgm-legal-llama31-20250411-step300s.parquet"
WORKER = "llama31-8b-legal-fullft-20250411-worker-{}"
H100 = "NVIDIA H100 SXM5-80GB"


def parse_file(path: Path, options: dict | None = None) -> list[dict]:
    store = LocalStore(path.parent)
    parser = DcgmParser(options)
    (info,) = [i for i in store.list_objects() if i.key == path.name]
    table = parser.parse_unit(UnitReader(store, parser.unit_for(store, info)))
    assert table.schema == GPU_USAGE
    return table.to_pylist()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def legal(sample_data: Path) -> list[dict]:
    return parse_file(sample_data / PARQUET, {"cluster": "train-eu"})


def test_llama31_pods_one_window_per_gpu_and_stretch(legal):
    worker0 = [r for r in legal if r["job_name"] == WORKER.format(0)]
    worker1 = [r for r in legal if r["job_name"] == WORKER.format(1)]
    assert len(worker0) == 8  # 8 GPUs, one unbroken stretch each
    assert len(worker1) == 16  # 8 GPUs, split by a 35-minute scrape gap
    row = worker0[0]
    assert row["job_key"] == "legal/" + WORKER.format(0)
    assert row["cluster"] == "train-eu"
    assert row["host"] == "gke-train-eu-a3-highgpu-pool-5c7e2b1a-x8q2"
    assert row["accelerator"] == H100
    assert (row["gpu_count"], row["gpu_fraction"]) == (1, 1.0)
    assert row["confidence"] == "measured"
    assert row["time_basis"] == "utc"
    # 211 samples every 300 s from 05:50 to 23:20; the last one covers one more step.
    assert row["samples"] == 211
    assert row["started_at"] == utc(2025, 4, 11, 5, 50)
    assert row["ended_at"] == utc(2025, 4, 11, 23, 25)
    assert row["gpu_seconds"] == 63_300
    # The gap (14:05-14:35 missing; 14:00 -> 14:40 is longer than 5 x 300 s) is not integrated.
    before = sorted(worker1, key=lambda r: r["started_at"])[0]
    assert before["ended_at"] == utc(2025, 4, 11, 14, 5)
    assert sorted({r["gpu_seconds"] for r in worker1}) == [29_700, 31_500]
    assert sum(r["gpu_seconds"] for r in legal) == 8 * 63_300 + 8 * (29_700 + 31_500)


def test_averages_are_time_weighted_and_in_ratios(sample_data, legal):
    # Equal 300 s steps: each window's time-weighted mean is the mean of its samples.
    table = pq.read_table(sample_data / PARQUET).to_pylist()
    uuid = next(r["gpu_uuid"] for r in legal if r["job_name"] == WORKER.format(0))
    row = next(r for r in legal if r["gpu_uuid"] == uuid)

    def mean(metric: str) -> float:
        values = [s["value"] for s in table if s["UUID"] == uuid and s["metric"] == metric]
        return sum(values) / len(values)

    assert row["tensor_active_avg"] == pytest.approx(mean("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"))
    assert row["sm_active_avg"] == pytest.approx(mean("DCGM_FI_PROF_SM_ACTIVE"))
    assert row["dram_active_avg"] == pytest.approx(mean("DCGM_FI_PROF_DRAM_ACTIVE"))
    assert row["gpu_util_avg"] == pytest.approx(mean("DCGM_FI_DEV_GPU_UTIL") / 100)
    assert row["power_avg_watts"] == pytest.approx(mean("DCGM_FI_DEV_POWER_USAGE"))
    assert row["energy_joules"] == pytest.approx(mean("DCGM_FI_DEV_POWER_USAGE") * 63_300)
    assert 0.14 < row["tensor_active_avg"] < 0.17
    assert dict(row["tags"])["energy_basis"] == "power_integral"


def test_federate_snapshot_is_one_instant(sample_data):
    path = (
        sample_data
        / DCGM
        / "federate-gke-train-eu-a3-highgpu-pool-5c7e2b1a-x8q2-20250411T120000Z.prom"
    )
    rows = parse_file(path)
    assert len(rows) == 8
    for row in rows:
        assert row["started_at"] == row["ended_at"] == datetime(2025, 4, 11, 12, 0, 0, 417000, UTC)
        assert (row["samples"], row["gpu_seconds"]) == (1, 0.0)
        assert row["gpu_util_avg"] in (0.99, 1.0)
        assert row["job_name"] == WORKER.format(0)
        assert row["host"] == "gke-train-eu-a3-highgpu-pool-5c7e2b1a-x8q2"
    assert parse_file(path, {"scrape_interval_seconds": 15})[0]["gpu_seconds"] == 15


def test_mig_slices_count_as_fractions_of_a_gpu(sample_data):
    rows = {
        r["job_name"]: r
        for r in parse_file(sample_data / DCGM / "query_range-research-mig-20250414.json")
    }
    alice, bob, carol = rows["jupyter-alice-0"], rows["jupyter-bob-0"], rows["jupyter-carol-0"]
    assert alice["accelerator"] == "NVIDIA A100 SXM4-40GB"
    assert (alice["mig_profile"], bob["mig_profile"], carol["mig_profile"]) == (
        "3g.20gb",
        "2g.10gb",
        "1g.5gb",
    )
    assert alice["gpu_uuid"] == bob["gpu_uuid"] == carol["gpu_uuid"]
    assert alice["elapsed_seconds"] == 7260  # 121 samples, 60 s apart
    assert alice["gpu_seconds"] == pytest.approx(7260 * 3 / 7)
    assert bob["gpu_seconds"] == pytest.approx(7260 * 2 / 7)
    assert carol["gpu_seconds"] == pytest.approx(3660 / 7)
    assert alice["gpu_util_avg"] is None  # DCGM has no GPU_UTIL per MIG instance
    assert dict(alice["tags"])["mig_instance"] == "1"


def _csv(
    rows: list[tuple], header: str = "timestamp,metric,Hostname,gpu,UUID,modelName,pod,value"
) -> str:
    return header + "\n" + "\n".join(",".join(str(c) for c in row) for row in rows) + "\n"


def _series(times, metric="DCGM_FI_DEV_GPU_UTIL", values=None, uuid="GPU-1", pod="p"):
    values = values or [100] * len(times)
    return [
        (t, metric, "n1", 0, uuid, "NVIDIA H100 80GB HBM3", pod, v)
        for t, v in zip(times, values, strict=True)
    ]


T0 = 1_744_351_200  # 2025-04-11T06:00:00Z


def test_irregular_scrapes_weight_each_sample_until_the_next(tmp_path):
    times = [T0, T0 + 10, T0 + 30, T0 + 35, T0 + 50]
    path = write(tmp_path, "irregular.csv", _csv(_series(times, values=[100, 50, 0, 100, 80])))
    (row,) = parse_file(path)
    # steps 10, 20, 5, 15; median 12.5 covers the last sample.
    assert row["elapsed_seconds"] == 62.5
    assert row["gpu_util_avg"] == pytest.approx(
        (1.0 * 10 + 0.5 * 20 + 0 * 5 + 1.0 * 15 + 0.8 * 12.5) / 62.5
    )
    assert row["ended_at"] == datetime.fromtimestamp(T0 + 62.5, UTC)


def test_gaps_split_windows_unless_max_gap_allows_them(tmp_path):
    times = [T0, T0 + 15, T0 + 30, T0 + 300, T0 + 315]
    path = write(tmp_path, "gap.csv", _csv(_series(times)))
    rows = parse_file(path)
    assert [r["elapsed_seconds"] for r in rows] == [45, 30]
    assert len({r["usage_id"] for r in rows}) == 2
    assert dict(rows[0]["tags"])["max_gap_seconds"] == "75.0"
    (joined,) = parse_file(path, {"max_gap_seconds": 300})
    assert joined["elapsed_seconds"] == 330
    assert len(parse_file(path, {"gap_factor": 20})) == 1  # 20 x 15 s = 300 s


def test_energy_counter_resets_are_not_negative_energy(tmp_path):
    times = [T0 + 15 * i for i in range(5)]
    counter = _series(times, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", [1000, 2000, 3000, 500, 1500])
    path = write(
        tmp_path, "energy.csv", _csv(counter + _series(times, "DCGM_FI_DEV_POWER_USAGE", [400] * 5))
    )
    (row,) = parse_file(path)
    # +1000 +1000, reset (the counter restarted: +500), +1000 = 3500 mJ
    assert row["energy_joules"] == pytest.approx(3.5)
    tags = dict(row["tags"])
    assert (tags["energy_basis"], tags["counter_resets"]) == ("energy_counter", "1")
    assert row["power_avg_watts"] == 400


def test_pods_on_one_gpu_are_separate_windows(tmp_path):
    rows = _series([T0, T0 + 15, T0 + 30], pod="a") + _series([T0 + 45, T0 + 60], pod="b")
    path = write(tmp_path, "pods.csv", _csv(rows))
    parsed = {r["job_name"]: r for r in parse_file(path)}
    assert parsed["a"]["elapsed_seconds"] == 45
    assert parsed["b"]["elapsed_seconds"] == 30


def test_old_lowercase_exporter_and_renamed_k8s_labels(tmp_path):
    text = "\n".join(
        [
            "# HELP dcgm_gpu_utilization GPU utilization (in %).",
            "# TYPE dcgm_gpu_utilization gauge",
            *(
                f'dcgm_gpu_utilization{{gpu="0",uuid="GPU-old",pod_name="legacy-0",'
                f'pod_namespace="ml",container_name="c"}} {u} {(T0 + 15 * i) * 1000}'
                for i, u in enumerate([90, 80, 70])
            ),
            *(
                'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{gpu="1",UUID="GPU-new",'
                'modelName="NVIDIA H100 80GB HBM3",Hostname="dcgm-exporter-x1",node="gke-n2",'
                'pod="dcgm-exporter-x1",namespace="gpu-operator",exported_pod="trainer-0",'
                f'exported_namespace="ml",instance="10.0.0.7:9400"}} 0.5 {(T0 + 15 * i) * 1000}'
                for i in range(2)
            ),
        ]
    )
    rows = {r["gpu_uuid"]: r for r in parse_file(write(tmp_path, "mixed.prom", text))}
    old = rows["GPU-old"]
    assert old["gpu_util_avg"] == pytest.approx(0.8)
    assert (old["job_key"], old["job_name"]) == ("ml/legacy-0", "legacy-0")
    new = rows["GPU-new"]
    assert new["job_key"] == "ml/trainer-0"  # the workload, not the exporter pod
    assert new["host"] == "gke-n2"
    assert new["tensor_active_avg"] == 0.5


def test_wide_csv_with_hpc_job_label(tmp_path):
    text = (
        "timestamp,Hostname,gpu,UUID,hpc_job,DCGM_FI_DEV_GPU_UTIL,DCGM_FI_PROF_PIPE_TENSOR_ACTIVE\n"
    )
    text += "".join(f"{T0 + 30 * i},gpu003,2,GPU-w,41237,100,0.4\n" for i in range(4))
    (row,) = parse_file(write(tmp_path, "wide.csv", text))
    assert row["job_key"] == "41237"
    assert row["elapsed_seconds"] == 120
    assert row["tensor_active_avg"] == pytest.approx(0.4)


def test_prometheus_api_vector_and_arrays_of_responses(tmp_path):
    def response(kind: str, result: list) -> dict:
        return {"status": "success", "data": {"resultType": kind, "result": result}}

    metric = {"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": "GPU-j", "Hostname": "h"}
    docs = [
        response(
            "matrix",
            [{"metric": metric, "values": [[T0, "100"], [T0 + 15, "NaN"], [T0 + 30, "50"]]}],
        ),
        response("vector", [{"metric": {**metric, "UUID": "GPU-k"}, "value": [T0, "20"]}]),
    ]
    rows = {r["gpu_uuid"]: r for r in parse_file(write(tmp_path, "api.json", json.dumps(docs)))}
    assert rows["GPU-j"]["elapsed_seconds"] == 45
    assert rows["GPU-j"]["gpu_util_avg"] == pytest.approx((1.0 * 15 + 0.5 * 15) / 30)  # NaN skipped
    assert rows["GPU-k"]["samples"] == 1
    lines = "\n".join(json.dumps(d) for d in docs)  # one response per line works too
    assert len(parse_file(write(tmp_path, "api.jsonl", lines))) == 2


def test_local_timestamps_use_the_configured_zone_across_dst(tmp_path):
    # Berlin, 2025-10-26: 02:45 CEST is followed by 02:00 CET; samples every 15 minutes.
    local = [
        "01:45",
        "02:00",
        "02:15",
        "02:30",
        "02:45",
        "02:00",
        "02:15",
        "02:30",
        "02:45",
        "03:00",
    ]
    rows = [
        (f"2025-10-26 {t}:00", "DCGM_FI_DEV_GPU_UTIL", "n1", 0, "GPU-d", "H100", "p", 100)
        for t in local
    ]
    path = write(tmp_path, "grafana.csv", _csv(rows))
    (row,) = parse_file(path, {"timezone": "Europe/Berlin"})
    assert row["started_at"] == utc(2025, 10, 25, 23, 45)
    assert row["elapsed_seconds"] == 10 * 900  # one unbroken window, no negative steps
    assert row["time_basis"] == "configured_timezone"
    unzoned = parse_file(path)
    assert {r["time_basis"] for r in unzoned} == {"unknown_timezone_read_as_utc"}
    assert unzoned[0]["started_at"] == utc(2025, 10, 26, 1, 45)


def test_iso_timestamps_with_offsets_and_milliseconds(tmp_path):
    rows = [
        ("2025-04-11T08:00:00+02:00", "DCGM_FI_DEV_GPU_UTIL", "n", 0, "GPU-i", "H100", "p", 1),
        ("2025-04-11T06:00:15Z", "DCGM_FI_DEV_GPU_UTIL", "n", 0, "GPU-i", "H100", "p", 1),
    ]
    (row,) = parse_file(write(tmp_path, "iso.csv", _csv(rows)))
    assert row["started_at"] == utc(2025, 4, 11, 6, 0)
    assert row["elapsed_seconds"] == 30
    ms = _series([T0 * 1000, T0 * 1000 + 15_000])
    (row,) = parse_file(write(tmp_path, "ms.csv", _csv(ms)))
    assert row["started_at"] == utc(2025, 4, 11, 6, 0)


def test_parquet_with_timestamp_column_and_reingest_is_stable(tmp_path):
    table = pa.table(
        {
            "time": pa.array([T0 * 1_000_000, (T0 + 15) * 1_000_000], pa.timestamp("us", tz="UTC")),
            "metric": ["DCGM_FI_PROF_SM_ACTIVE"] * 2,
            "UUID": ["GPU-pq"] * 2,
            "modelName": ["NVIDIA H100 80GB HBM3"] * 2,
            "value": [0.5, 0.7],
        }
    )
    pq.write_table(table, tmp_path / "dump.parquet")
    first = parse_file(tmp_path / "dump.parquet")
    assert first[0]["sm_active_avg"] == pytest.approx(0.6)
    assert first == parse_file(tmp_path / "dump.parquet")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("no-values.csv", "timestamp,UUID,foo\n1,GPU-1,2\n", "neither a long dump"),
        ("no-time.csv", "metric,value\nDCGM_FI_DEV_GPU_UTIL,1\n", "no time column"),
        ("bad-value.csv", _csv(_series([T0, T0 + 15], values=[1, "abc"])), "line 3"),
        (
            "short-row.csv",
            _csv(_series([T0])) + f"{T0},DCGM_FI_DEV_GPU_UTIL,n1\n",
            "expected 8 columns",
        ),
        (
            "bad-time.csv",
            _csv([("yesterday", "DCGM_FI_DEV_GPU_UTIL", "n", 0, "u", "m", "p", 1)]),
            "unreadable timestamp 'yesterday'",
        ),
        (
            "node.csv",
            _csv([(T0, "node_cpu_seconds_total", "n", 0, "u", "m", "p", 1)]),
            "no DCGM metric samples",
        ),
        (
            "garbage.prom",
            'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 1 1744351200000\nthis is not { a metric\n',
            "line 2",
        ),
        (
            "error.json",
            '{"status": "error", "errorType": "timeout", "error": "query timed out"}',
            "query timed out",
        ),
        ("other.json", '{"hello": "world"}', "not a Prometheus query API response"),
        (
            "mig.json",
            json.dumps(
                {
                    "status": "success",
                    "data": {
                        "resultType": "matrix",
                        "result": [
                            {
                                "metric": {
                                    "__name__": "DCGM_FI_PROF_SM_ACTIVE",
                                    "UUID": "G",
                                    "GPU_I_PROFILE": "weird",
                                },
                                "values": [[T0, "1"]],
                            }
                        ],
                    },
                }
            ),
            "unknown MIG profile 'weird'",
        ),
        ("empty.prom", "", "empty file"),
    ],
)
def test_malformed_files_raise_parse_error_naming_the_file(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(ParseError, match=message) as caught:
        parse_file(path)
    assert caught.value.source == path.as_uri()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gap_factor": 0.5}, "'formats.dcgm.gap_factor' must be >= 1"),
        ({"max_gap_seconds": -1}, "'formats.dcgm.max_gap_seconds' must be > 0"),
        ({"max_gap_seconds": "60"}, "'formats.dcgm.max_gap_seconds' must be a number"),
        ({"timezone": "CEST"}, "'formats.dcgm.timezone'"),
        ({"namespace": "x"}, "unknown key 'formats.dcgm.namespace'"),
    ],
)
def test_invalid_options_name_the_key(options, message):
    with pytest.raises(ConfigError, match=message):
        DcgmParser(options)


def test_sniffing(sample_data, tmp_path):
    for name, text in {
        "metrics.txt": '# TYPE DCGM_FI_DEV_GPU_UTIL gauge\nDCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\n',
        "export.csv": "timestamp,metric,UUID,value\n1,DCGM_FI_DEV_GPU_UTIL,u,1\n",
        "counters.csv": (
            "# DCGM FIELD, Prometheus metric type, help\nDCGM_FI_DEV_SM_CLOCK, gauge, SM clock\n"
        ),
        "notes.txt": "we looked at DCGM_FI_DEV_GPU_UTIL yesterday\n",
        "state.json": '{"global_step": 3}',
    }.items():
        write(tmp_path, name, text)
    store = LocalStore(tmp_path)
    parser = DcgmParser()
    found = {i.key: parser.sniff(Sample(store, i)) for i in store.list_objects()}
    assert found == {
        "counters.csv": False,  # dcgm-exporter's counter config, not metrics
        "export.csv": True,
        "metrics.txt": True,
        "notes.txt": False,
        "state.json": False,
    }
    sample_store = LocalStore(sample_data / DCGM)
    assert all(parser.sniff(Sample(sample_store, i)) for i in sample_store.list_objects())
