"""The Slurm sacct parser: sample dumps of cluster hpc1, edge cases, malformed dumps."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.formats.base import UnitReader
from connectors.formats.usage.slurm_sacct import SlurmSacctParser
from connectors.stores.local import LocalStore
from reconcile.errors import ConfigError, ParseError
from reconcile.schemas import GPU_USAGE

ACCOUNTING = "onprem/hpc1-slurm/accounting"
HPC1 = {
    "cluster": "hpc1",
    "timezone": "Europe/Berlin",
    "partitions": {"h100": "NVIDIA H100 SXM5-80GB"},
}
H100 = "NVIDIA H100 SXM5-80GB"
HEADER = (
    "JobID|JobIDRaw|JobName|User|Account|Partition|State|Start|End|ElapsedRaw|NNodes|NodeList"
    "|AllocTRES"
)


def parse_file(path: Path, options: dict | None = None) -> list[dict]:
    store = LocalStore(path.parent)
    parser = SlurmSacctParser(options)
    (info,) = [i for i in store.list_objects() if i.key == path.name]
    table = parser.parse_unit(UnitReader(store, parser.unit_for(store, info)))
    assert table.schema == GPU_USAGE
    return table.to_pylist()


def parse_text(text: str, options: dict | None = None) -> list[dict]:
    table = SlurmSacctParser(options).parse(text.encode(), source="file:///dumps/sacct.txt")
    assert table.schema == GPU_USAGE
    return table.to_pylist()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def may(sample_data: Path) -> dict[str, dict]:
    rows = parse_file(sample_data / ACCOUNTING / "sacct-2025-05.txt", HPC1)
    return {row["job_key"]: row for row in rows}


def test_one_row_per_allocation_never_per_step(may):
    # 31 lines: 10 GPU allocations; steps, a CPU-only job, a CPU-only het component and a
    # job cancelled before it started give no row.
    assert sorted(may) == [
        "41237",
        "41502_1",
        "41502_2",
        "41502_3",
        "41655",
        "41890",
        "42001+1",
        "42200",
        "42455",
        "42515",
    ]
    assert sum(r["gpu_seconds"] for r in may.values()) == (
        488_436 * 64
        + 467_292 * 64
        + 506_206 * 64
        + 2417
        + 2391
        + 2452
        + 312 * 8
        + 3611 * 4
        + 95 * 16
        + 14_432 * 2
    )


def test_mistral_cpt_run1_allocation(may):
    row = may["41237"]
    assert row["job_name"] == "mistral-cpt-run1"
    assert (row["user_name"], row["account"], row["partition"]) == ("mlops", "acme-ml", "h100")
    assert row["cluster"] == "hpc1"
    assert row["job_state"] == "COMPLETED"
    assert row["gpu_count"] == 64
    assert row["accelerator"] == H100
    assert row["elapsed_seconds"] == 488_436
    assert row["gpu_seconds"] == 488_436 * 64  # 8,683 GPU-hours: the allocation, once
    # 2025-05-02T09:12:40 in Berlin (CEST, UTC+2).
    assert row["started_at"] == utc(2025, 5, 2, 7, 12, 40)
    assert row["ended_at"] == utc(2025, 5, 7, 22, 53, 16)
    assert row["time_basis"] == "configured_timezone"
    assert row["confidence"] == "allocation"
    assert row["host"] is None  # eight nodes
    tags = dict(row["tags"])
    assert tags["steps"] == "batch,extern,0"
    assert tags["step_elapsed_max_seconds"] == "488378"
    assert tags["node_list"] == "gpu[001-008]"
    assert tags["accelerator_basis"] == "partition_option"
    assert tags["timezone"] == "Europe/Berlin"
    assert "step_check" not in tags


def test_arrays_het_jobs_failed_and_cancelled(may):
    task = may["41502_3"]
    assert dict(task["tags"])["array_job_id"] == "41502"
    assert dict(task["tags"])["array_task_id"] == "3"
    assert dict(task["tags"])["job_id_raw"] == "41502"
    assert task["host"] == "gpu011"
    het = may["42001+1"]
    assert (dict(het["tags"])["het_job_id"], dict(het["tags"])["het_job_offset"]) == ("42001", "1")
    assert het["gpu_seconds"] == 3611 * 4
    assert may["41655"]["job_state"] == "FAILED"
    cancelled = may["42200"]
    assert cancelled["job_state"] == "CANCELLED"
    assert dict(cancelled["tags"])["cancelled_by"] == "1000"
    assert cancelled["gpu_seconds"] == 95 * 16
    assert may["42455"]["job_state"] == "TIMEOUT"


def test_usage_ids_are_deterministic_and_unique(sample_data, may):
    again = parse_file(sample_data / ACCOUNTING / "sacct-2025-05.txt", HPC1)
    assert {r["usage_id"] for r in again} == {r["usage_id"] for r in may.values()}
    assert len({r["usage_id"] for r in again}) == len(again)
    assert all(r["usage_id"].startswith("slurm:") for r in again)


def test_epoch_times_need_no_timezone(sample_data):
    rows = {r["job_key"]: r for r in parse_file(sample_data / ACCOUNTING / "sacct-2025-04.txt")}
    assert sorted(rows) == ["40110", "40231", "40377"]
    smoke = rows["40110"]
    assert smoke["time_basis"] == "utc"
    assert smoke["started_at"] == utc(2025, 4, 22, 8, 5, 3)  # 10:05:03 CEST
    assert smoke["gpu_seconds"] == 904 * 8
    assert smoke["cluster"] == "hpc1"  # from the Cluster column
    assert smoke["accelerator"] is None  # untyped GRES, no partition option
    assert rows["40377"]["job_state"] == "OUT_OF_MEMORY"
    assert rows["40377"]["gpu_seconds"] == 1861 * 64


def test_without_a_timezone_rows_are_kept_and_marked(sample_data):
    rows = {r["job_key"]: r for r in parse_file(sample_data / ACCOUNTING / "sacct-2025-05.txt")}
    row = rows["41237"]
    assert row["time_basis"] == "unknown_timezone_read_as_utc"
    assert row["started_at"] == utc(2025, 5, 2, 9, 12, 40)  # the wall clock, as if UTC
    assert row["gpu_seconds"] == 488_436 * 64  # durations do not depend on the zone


def test_running_and_pending_jobs():
    text = "\n".join(
        [
            HEADER,
            "51000|51000|train|u|a|h100|RUNNING|2025-06-01T10:00:00|Unknown|7200|1|gpu003|"
            "cpu=8,gres/gpu=8,node=1",
            "51000.batch|51000.batch|batch||a||RUNNING|2025-06-01T10:00:00|Unknown|7200|1|gpu003|"
            "cpu=8,gres/gpu=8,node=1",
            "51001_[1-20]|51001|sweep|u|a|h100|PENDING|Unknown|Unknown|0|1|None assigned|",
        ]
    )
    (row,) = parse_text(text, {"timezone": "Europe/Berlin"})
    assert row["job_state"] == "RUNNING"
    assert row["started_at"] == utc(2025, 6, 1, 8, 0, 0)
    assert row["ended_at"] == utc(2025, 6, 1, 10, 0, 0)  # start + elapsed at dump time
    assert dict(row["tags"])["ended_at_basis"] == "start_plus_elapsed"
    assert row["gpu_seconds"] == 7200 * 8


def test_dst_fall_back_is_resolved_with_elapsed_raw():
    # 2025-10-26: Berlin's clock goes 02:59:59 CEST -> 02:00:00 CET; 02:30 happens twice.
    text = "\n".join(
        [
            HEADER,
            "60001|60001|a|u|a|h100|COMPLETED|2025-10-26T01:30:00|2025-10-26T02:30:00|7200|1|"
            "gpu001|gres/gpu=1",
            "60002|60002|b|u|a|h100|COMPLETED|2025-10-26T01:30:00|2025-10-26T02:30:00|3600|1|"
            "gpu001|gres/gpu=1",
        ]
    )
    rows = {r["job_key"]: r for r in parse_text(text, {"timezone": "Europe/Berlin"})}
    assert rows["60001"]["started_at"] == utc(2025, 10, 25, 23, 30)
    assert rows["60001"]["ended_at"] == utc(2025, 10, 26, 1, 30)  # the second 02:30 (CET)
    assert rows["60002"]["ended_at"] == utc(2025, 10, 26, 0, 30)  # the first 02:30 (CEST)
    assert "elapsed_vs_start_end_seconds" not in dict(rows["60001"]["tags"])


def test_spring_forward_without_elapsed_columns_uses_utc_difference():
    text = "\n".join(
        [
            "JobID|Start|End|NNodes|NodeList|AllocTRES",
            "61000|2025-03-30T01:30:00|2025-03-30T03:30:00|1|gpu001|gres/gpu=4",
        ]
    )
    (row,) = parse_text(text, {"timezone": "Europe/Berlin"})
    assert row["elapsed_seconds"] == 3600  # 01:30 CET -> 03:30 CEST is one hour
    assert row["gpu_seconds"] == 4 * 3600


def test_elapsed_text_typed_gres_and_mig():
    text = "\n".join(
        [
            "JobID|State|Start|End|Elapsed|NNodes|NodeList|AllocTRES|Partition",
            "70001|COMPLETED|1746000000|1746090061|1-01:01:01|2|gpu[001-002]|"
            "cpu=8,gres/gpu:nvidia_h100_80gb_hbm3=16,node=2|batch",
            "70002|COMPLETED|1746000000|1746003600|01:00:00|1|gpu003|gres/gpu:1g.10gb=2|mig",
            "70003|COMPLETED|1746000000|1746003600|01:00:00|1|node7|gres/gpu:a100=4|batch",
        ]
    )
    rows = {r["job_key"]: r for r in parse_text(text, {"nodes": {"node*": "A100-SXM4-80GB"}})}
    typed = rows["70001"]
    assert typed["elapsed_seconds"] == 90_061
    assert typed["gpu_count"] == 16
    assert typed["accelerator"] == H100  # AutoDetect's type name matches the catalog
    assert dict(typed["tags"])["accelerator_basis"] == "gres_type"
    mig = rows["70002"]
    assert mig["mig_profile"] == "1g.10gb"
    assert mig["gpu_fraction"] == pytest.approx(1 / 7)
    assert mig["gpu_seconds"] == pytest.approx(3600 * 2 / 7)
    # "a100" alone names no SKU: the nodes option decides.
    assert rows["70003"]["accelerator"] == "NVIDIA A100 SXM4-80GB"
    assert dict(rows["70003"]["tags"])["accelerator_basis"] == "nodes_option"


def test_old_alloc_gres_and_sites_without_gpu_tres():
    text = "\n".join(
        [
            "JobID|Partition|State|Start|End|ElapsedRaw|NNodes|NodeList|AllocGRES",
            "80001|gpu|COMPLETED|1746000000|1746001000|1000|2|n[1-2]|gpu:tesla:4",
            "80002|gpu|COMPLETED|1746000000|1746001000|1000|1|n3|gpu:2(IDX:0-1)",
            "80003|cpu|COMPLETED|1746000000|1746001000|1000|1|c1|",
        ]
    )
    rows = {r["job_key"]: r for r in parse_text(text)}
    assert rows["80001"]["gpu_count"] == 8  # per node x 2 nodes
    assert dict(rows["80001"]["tags"])["gpu_count_basis"] == "alloc_gres_per_node"
    assert rows["80002"]["gpu_count"] == 2
    assert "80003" not in rows
    per_job = {r["job_key"]: r for r in parse_text(text, {"allocgres": "per_job"})}
    assert per_job["80001"]["gpu_count"] == 4
    no_gres = "JobID|Partition|ElapsedRaw|Start|NNodes|NodeList\n90001|h100|100|1746000000|2|g[1-2]"
    (row,) = parse_text(no_gres, {"gpus_per_node": {"h100": 8}})
    assert row["gpu_count"] == 16
    assert dict(row["tags"])["gpu_count_basis"] == "nodes_x_gpus_per_node"


def test_requeued_duplicates_concatenated_dumps_and_trailing_pipes():
    lines = [
        HEADER + "|",
        "52000|52000|t|u|a|h100|REQUEUED|1746000000|1746000600|600|1|g1|gres/gpu=8|",
        "52000|52000|t|u|a|h100|COMPLETED|1746001000|1746004600|3600|1|g1|gres/gpu=8|",
    ]
    text = "\n".join(lines + lines)  # the same dump concatenated twice
    rows = parse_text(text)
    assert sorted(r["job_state"] for r in rows) == ["COMPLETED", "REQUEUED"]
    assert sum(r["gpu_seconds"] for r in rows) == (600 + 3600) * 8


def test_steps_that_exceed_their_allocation_are_flagged():
    text = "\n".join(
        [
            HEADER,
            "53000|53000|t|u|a|h100|COMPLETED|1746000000|1746000600|600|1|g1|gres/gpu=2",
            "53000.0|53000.0|x||a||COMPLETED|1746000000|1746000600|590|1|g1|gres/gpu=4",
        ]
    )
    (row,) = parse_text(text)
    assert row["gpu_seconds"] == 1200
    assert dict(row["tags"])["step_check"] == "0 has more GPUs than its allocation"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            "JobID           JobName    State\n------------ ---------- ----------\n"
            "41237        mistral-c+  COMPLETED",
            "fixed-width sacct output",
            "line 1",
        ),
        (
            "41237|mistral|COMPLETED|2025-05-02T09:12:40|1|gpu001|gres/gpu=8",
            "no header line: export without -n/--noheader",
            "line 1",
        ),
        (f"{HEADER}\n1|1|a|u|a|p|COMPLETED|1746000000|1746000001|1|1|g1", "found 12", "line 2"),
        (
            f"{HEADER}\n1|1|a|u|a|p|COMPLETED|1746000000|1746000001|abc|1|g1|gres/gpu=1",
            "ElapsedRaw is not a whole number",
            "line 2",
        ),
        (
            f"{HEADER}\n\n1|1|a|u|a|p|COMPLETED|yesterday|Unknown|1|1|g1|gres/gpu=1",
            "Start is not a time",
            "line 3",
        ),
        (
            f"{HEADER}\n1|1|a|u|a|p|COMPLETED|1746000000|Unknown|1|1|g1|gres/gpu=eight",
            "is not a whole number",
            "line 2",
        ),
        ("JobID|JobName|State|Start|End|ElapsedRaw\n1|a|COMPLETED|1|2|1", "no AllocTRES", "line 1"),
        ("", "empty file", None),
    ],
)
def test_malformed_dumps_raise_parse_error_naming_the_file(text, message, line):
    with pytest.raises(ParseError, match=message) as caught:
        parse_text(text)
    assert caught.value.source == "file:///dumps/sacct.txt"
    assert caught.value.location == line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timezon": "Europe/Berlin"}, "unknown key 'formats.slurm_sacct.timezon'"),
        ({"timezone": "Mars/Olympus_Mons"}, "'formats.slurm_sacct.timezone' is not a known"),
        ({"timezone": 2}, "'formats.slurm_sacct.timezone' must be an IANA"),
        ({"partitions": {"h100": "Quantum 9000"}}, "'formats.slurm_sacct.partitions.h100'"),
        ({"partitions": "h100"}, "'formats.slurm_sacct.partitions' must be a table"),
        ({"gpus_per_node": {"h100": "8"}}, "'formats.slurm_sacct.gpus_per_node'"),
        ({"allocgres": "per_rack"}, "'formats.slurm_sacct.allocgres'"),
        ({"nodes": {"gpu[9-x]": "H100"}}, "'formats.slurm_sacct.nodes"),
    ],
)
def test_invalid_options_name_the_key(options, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        SlurmSacctParser(options)


def test_sniffing_recognises_parsable_and_fixed_width_headers(tmp_path):
    from connectors.formats.base import Sample

    store = LocalStore(tmp_path)
    (tmp_path / "jobs.txt").write_text(HEADER + "\n")
    (tmp_path / "fixed.log").write_text("JobID           JobName    State\n---- ---- ----\n")
    (tmp_path / "other.txt").write_text("hello|world\n")
    parser = SlurmSacctParser()
    found = {i.key: parser.sniff(Sample(store, i)) for i in store.list_objects()}
    assert found == {"fixed.log": True, "jobs.txt": True, "other.txt": False}
