"""The nvidia-smi query-log parser: hpc1 logs of mistral-cpt run1, edge cases, bad logs."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.formats.base import Sample, UnitReader
from connectors.formats.usage.nvidia_smi import NvidiaSmiParser
from connectors.stores.local import LocalStore
from reconcile.errors import ConfigError, ParseError
from reconcile.schemas import GPU_USAGE

LOGS = "onprem/hpc-lustre/slurm-logs/41237"
HPC1 = {
    "timezone": "Europe/Berlin",
    "cluster": "hpc1",
    "path_pattern": r"slurm-logs/(?P<job>\d+)/nvidia-smi-(?P<host>[^/.]+)\.csv",
}
HEADER = (
    "timestamp, index, uuid, name, utilization.gpu [%], utilization.memory [%], "
    "memory.used [MiB], memory.total [MiB], power.draw [W]"
)


def parse_file(path: Path, options: dict | None = None) -> list[dict]:
    store = LocalStore(path.parent)
    parser = NvidiaSmiParser(options)
    (info,) = [i for i in store.list_objects() if i.key == path.name]
    table = parser.parse_unit(UnitReader(store, parser.unit_for(store, info)))
    assert table.schema == GPU_USAGE
    return table.to_pylist()


def parse_text(tmp_path: Path, text: str, options: dict | None = None) -> list[dict]:
    path = tmp_path / "nvidia-smi-node9.csv"
    path.write_text(text)
    return parse_file(path, options)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def column_means(path: Path) -> dict[str, tuple[float, float]]:
    """Per GPU: mean utilization (%) and power (W) over all samples, units stripped."""
    sums: dict[str, list[float]] = {}
    with path.open() as handle:
        for row in csv.reader(handle, skipinitialspace=True):
            if row[0] == "timestamp":
                continue
            acc = sums.setdefault(row[2], [0.0, 0.0, 0])
            acc[0] += float(row[4].removesuffix(" %"))
            acc[1] += float(row[8].removesuffix(" W"))
            acc[2] += 1
    return {k: (u / n, p / n) for k, (u, p, n) in sums.items()}


def test_run1_gpu001_log(sample_data):
    path = sample_data / LOGS / "nvidia-smi-gpu001.csv"
    rows = parse_file(path, HPC1)
    assert len(rows) == 8
    means = column_means(path)
    for row in rows:
        assert (row["host"], row["job_key"], row["cluster"]) == ("gpu001", "41237", "hpc1")
        assert row["source_kind"] == "nvidia-smi"
        assert row["accelerator"] == "NVIDIA H100 SXM5-80GB"
        assert row["samples"] == 80  # every 15 s from 09:12:45 local
        assert row["gpu_seconds"] == 1200
        assert row["time_basis"] == "configured_timezone"
        assert row["tensor_active_avg"] is None  # nvidia-smi cannot see the tensor pipe
        util, power = means[row["gpu_uuid"]]  # equal steps: the plain mean
        assert row["gpu_util_avg"] == pytest.approx(util / 100)
        assert row["power_avg_watts"] == pytest.approx(power)
        assert row["energy_joules"] == pytest.approx(power * 1200)
    first = min(rows, key=lambda r: r["started_at"])
    assert first["started_at"] == datetime(2025, 5, 2, 7, 12, 45, 118000, UTC)  # CEST
    assert dict(first["tags"])["gpu_index"] == "0"


def test_run1_gpu002_log_without_units_and_with_a_logger_restart(sample_data):
    rows = parse_file(sample_data / LOGS / "nvidia-smi-gpu002.csv", HPC1)
    assert len(rows) == 16  # 8 GPUs x 2 stretches: the restart left a 126 s gap
    gpu0 = sorted(r["started_at"] for r in rows if dict(r["tags"])["gpu_index"] == "0")
    assert gpu0 == [
        datetime(2025, 5, 2, 7, 12, 46, 407000, UTC),
        datetime(2025, 5, 2, 7, 21, 52, 407000, UTC),
    ]
    assert sorted({r["elapsed_seconds"] for r in rows}) == [435, 660]
    assert sum(r["gpu_seconds"] for r in rows) == 8 * (435 + 660)


def test_without_configuration_times_are_marked_and_host_unknown(sample_data):
    rows = parse_file(sample_data / LOGS / "nvidia-smi-gpu001.csv")
    assert {r["time_basis"] for r in rows} == {"unknown_timezone_read_as_utc"}
    assert {r["host"] for r in rows} == {None}
    assert min(r["started_at"] for r in rows) == datetime(2025, 5, 2, 9, 12, 45, 118000, UTC)
    assert sum(r["gpu_seconds"] for r in rows) == 8 * 1200


def test_noheader_logs_need_the_columns_option(tmp_path):
    text = "2025/05/02 09:00:00.000, 0, GPU-a, NVIDIA H100 80GB HBM3, 100, 700.00\n" * 1
    text += "2025/05/02 09:00:05.000, 0, GPU-a, NVIDIA H100 80GB HBM3, 100, 700.00\n"
    with pytest.raises(ParseError, match="noheader") as caught:
        parse_text(tmp_path, text)
    assert caught.value.location == "line 1"
    columns = ["timestamp", "index", "uuid", "name", "utilization.gpu", "power.draw [W]"]
    (row,) = parse_text(tmp_path, text, {"columns": columns, "host": "node9"})
    assert (row["elapsed_seconds"], row["host"], row["gpu_util_avg"]) == (10, "node9", 1.0)
    # Sniffing recognises such logs only when the columns are configured.
    store = LocalStore(tmp_path)
    (info,) = list(store.list_objects())
    assert not NvidiaSmiParser().sniff(Sample(store, info))
    assert NvidiaSmiParser({"columns": columns}).sniff(Sample(store, info))


def test_a_log_that_names_devices_only_by_pci_bus_id(tmp_path):
    """The layout some job wrappers log (``--query-gpu=timestamp,name,pci.bus_id,...``,
    as in OmniOpt's gpu_usage files): two GPUs told apart by their bus ids."""
    header = (
        "timestamp, name, pci.bus_id, driver_version, pstate, pcie.link.gen.max, "
        "pcie.link.gen.current, temperature.gpu, utilization.gpu [%], utilization.memory [%], "
        "memory.total [MiB], memory.free [MiB], memory.used [MiB]"
    )
    lines = [header]
    for second in (0, 5, 10):
        for bus, util in (("00000000:3B:00.0", 90), ("00000000:AF:00.0", 10)):
            lines.append(
                f"2025/05/02 09:00:{second:02d}.000, NVIDIA A100-SXM4-40GB, {bus}, 535.104.05, "
                f"P0, 4, 4, 40, {util} %, 20 %, 40960 MiB, 1000 MiB, 39960 MiB"
            )
    rows = parse_text(tmp_path, "\n".join(lines) + "\n", {"host": "node3"})
    assert sorted(
        (dict(r["tags"])["pci_bus_id"], r["elapsed_seconds"], r["gpu_util_avg"]) for r in rows
    ) == [
        ("00000000:3B:00.0", 15, 0.9),
        ("00000000:AF:00.0", 15, 0.1),
    ]
    assert {r["accelerator"] for r in rows} == {"NVIDIA A100 SXM4-40GB"}
    store = LocalStore(tmp_path)
    (info,) = list(store.list_objects())
    assert NvidiaSmiParser().sniff(Sample(store, info))


def test_missing_values_and_power_variants(tmp_path):
    text = "\n".join(
        [
            "timestamp, uuid, utilization.gpu [%], power.draw.average [W]",
            "2025/05/02 09:00:00.000, GPU-a, 50 %, [N/A]",
            "2025/05/02 09:00:10.000, GPU-a, [Not Supported], 300.00 W",
            "2025/05/02 09:00:20.000, GPU-a, 100 %, 500.00 W",
        ]
    )
    (row,) = parse_text(tmp_path, text)
    assert row["elapsed_seconds"] == 30
    assert row["gpu_util_avg"] == pytest.approx((0.5 * 10 + 1.0 * 10) / 20)
    assert row["power_avg_watts"] == pytest.approx(400)


def test_dst_fall_back_in_a_local_log(tmp_path):
    clock = [
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
    lines = ["timestamp, index, uuid, utilization.gpu [%]"]
    lines += [f"2025/10/26 {t}:00.000, 0, GPU-a, 100 %" for t in clock]
    (row,) = parse_text(tmp_path, "\n".join(lines), {"timezone": "Europe/Berlin"})
    assert row["started_at"] == utc(2025, 10, 25, 23, 45)
    assert row["ended_at"] == utc(2025, 10, 26, 2, 15)
    assert row["elapsed_seconds"] == 9000


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            f"{HEADER}\n2025/05/02 25:61:00.000, 0, GPU-a, H100, 1 %, 0 %, 1 MiB, 2 MiB, 1 W",
            "unreadable timestamp",
            "line 2",
        ),
        (
            f"{HEADER}\n2025/05/02 09:00:00.000, 0, GPU-a, H100, 1 %, 0 %",
            "expected 9 comma-separated fields, found 6",
            "line 2",
        ),
        (
            f"{HEADER}\n\n2025/05/02 09:00:00.000, 0, GPU-a, H100, lots %, 0 %, 1 MiB, 2 MiB, 1 W",
            "not a number",
            "line 3",
        ),
        (
            "timestamp, name, utilization.gpu [%]\n2025/05/02 09:00:00.000, H100, 1 %",
            "index, uuid or pci.bus_id",
            "line 1",
        ),
        (HEADER + "\n", "no samples", None),
        ("", "empty file", None),
    ],
)
def test_malformed_logs_raise_parse_error_naming_the_file(tmp_path, text, message, line):
    with pytest.raises(ParseError, match=message) as caught:
        parse_text(tmp_path, text)
    assert caught.value.source == (tmp_path / "nvidia-smi-node9.csv").as_uri()
    assert caught.value.location == line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path_pattern": "(?P<node>.*)"}, "'formats.nvidia_smi.path_pattern' needs named groups"),
        ({"path_pattern": "(unclosed"}, "'formats.nvidia_smi.path_pattern' is not a valid regex"),
        ({"columns": "timestamp,uuid"}, "'formats.nvidia_smi.columns' must be a list"),
        ({"columns": ["uuid"]}, "'formats.nvidia_smi.columns' must include 'timestamp'"),
        ({"timezone": "Europe/Atlantis"}, "'formats.nvidia_smi.timezone'"),
        ({"hostname": "x"}, "unknown key 'formats.nvidia_smi.hostname'"),
    ],
)
def test_invalid_options_name_the_key(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        NvidiaSmiParser(options)
