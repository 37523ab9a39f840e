"""Object keys and folder contents are untrusted.

A key with ``../``, an absolute path, a newline, right-to-left marks, emoji or a
thousand characters never makes the tool write outside its private temporary folder
(``UnitReader.path`` names temporary copies by a hash of the key), and never breaks the
ledger: such objects load, are recorded verbatim, and a second run is a no-op. A local
source folder's symbolic links are never followed.

Hard links cannot be told from ordinary files without comparing inode numbers across
the whole file system; a hard link inside a source folder is read like any file (it
can only point at a file the user running the tool could read anyway).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile import warehouse
from reconcile.cli import cli

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
PROM = SAMPLE / (
    "gcp/acme-training-eu/monitoring/dcgm/train-eu/"
    "federate-gke-train-eu-a3-highgpu-pool-5c7e2b1a-x8q2-20250411T120000Z.prom"
)
SMI = SAMPLE / "onprem/hpc-lustre/slurm-logs/41237/nvidia-smi-gpu001.csv"
SACCT = SAMPLE / "onprem/hpc1-slurm/accounting/sacct-2025-04.txt"
STATE = SAMPLE / "onprem/hpc-lustre/mistral-cpt/run1/trainer_state.json"


def hostile_keys(escape_to: Path) -> dict[str, bytes]:
    """Objects under keys an attacker with write access to a bucket could choose.

    Formats read through a temporary copy (DCGM, nvidia-smi) and formats read whole
    (sacct, trainer states) each get some.
    """
    climb = "../" * 12 + str(escape_to).lstrip("/")
    return {
        f"{climb}/pwned/dcgm-climb.prom": PROM.read_bytes(),
        f"/{escape_to.as_posix().lstrip('/')}/pwned-abs/dcgm-absolute.prom": PROM.read_bytes(),
        "./x/../dots/dcgm-dots.prom": PROM.read_bytes(),
        # (A newline is legal in an S3 key, but moto's server cannot route it: the local
        # store test below covers it.)
        "a//double/./slash/dcgm-slashes.prom": PROM.read_bytes(),
        "rtl-\u202egnp.exe\u202c/nvidia-smi-rtl.csv": SMI.read_bytes(),
        "🦙 emoji/nvidia-smi-🦙.csv": SMI.read_bytes(),
        "q?x=1&y=2#frag/%2e%2e/nvidia-smi-query.csv": SMI.read_bytes(),
        "back\\slash\\..\\..\\sacct-backslash.txt": SACCT.read_bytes(),
        ("long-" + "n" * 950)[:990] + "/sacct-long.txt": SACCT.read_bytes(),
        f"{climb}/pwned-run/trainer_state.json": STATE.read_bytes(),
    }


def test_hostile_s3_keys_stay_inside_the_temp_folder_and_the_ledger(
    s3, bucket, tmp_path, monkeypatch
):
    objects = hostile_keys(tmp_path)
    for key, data in objects.items():
        assert len(key.encode()) <= 1024  # S3's limit
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    listed = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    assert listed == set(objects)  # the server keeps every key verbatim
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    db = tmp_path / "w.duckdb"
    config = tmp_path / "reconcile.toml"
    config.write_text('[formats.nvidia_smi]\nhost = "gpu001"\ncluster = "hpc1"\n')
    args = ["--db", str(db), "--config", str(config), "ingest", "--json", f"s3://{bucket}/"]

    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["objects"]["new"] == len(objects)
    assert summary["objects"]["quarantined"] == 0

    # Nothing escaped: no file appeared outside the private temp folder, which is empty.
    assert not list(tmp_path.glob("pwned*")) and not list(tmp_path.rglob("*pwned*"))
    assert list(private_tmp.iterdir()) == []
    others = {p.name for p in tmp_path.iterdir()} - {"home", "tmp", "reconcile.toml"}
    assert all(name.startswith("w.duckdb") for name in others), others

    # The ledger holds every key verbatim.
    con = warehouse.open_for_read(db)
    try:
        rows = con.execute("SELECT uri, members FROM ingest_ledger").fetchall()
    finally:
        con.close()
    member_keys = {m["key"] for _, members in rows for m in json.loads(members)}
    assert member_keys == set(objects)
    uris = {uri for uri, _ in rows}
    for key in objects:
        if not key.endswith("trainer_state.json"):
            assert f"s3://{bucket}/{key}" in uris

    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)["objects"]
    assert (again["new"], again["replaced"], again["unchanged"]) == (0, 0, len(objects))
    assert list(private_tmp.iterdir()) == []


def test_a_symlinked_folder_or_file_pointing_outside_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    (outside / "run").mkdir(parents=True)
    (outside / "run" / "trainer_state.json").write_bytes(STATE.read_bytes())
    (outside / "sacct-secret.txt").write_bytes(SACCT.read_bytes())
    source = tmp_path / "source"
    (source / "real").mkdir(parents=True)
    (source / "real" / "trainer_state.json").write_bytes(STATE.read_bytes())
    os.symlink(outside / "run", source / "linked-run", target_is_directory=True)
    os.symlink(outside / "sacct-secret.txt", source / "sacct-linked.txt")
    os.symlink(outside, source / "loop-up", target_is_directory=True)
    db = tmp_path / "w.duckdb"

    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(source)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["objects"]["listed"] == 1
    assert summary["objects"]["new"] == 1
    con = warehouse.open_for_read(db)
    try:
        (uri,) = con.execute("SELECT uri FROM ingest_ledger").fetchall()[0]
    finally:
        con.close()
    assert uri == (source / "real").resolve().as_uri()


@pytest.mark.parametrize("name", ["line\nbreak", "rtl-\u202egnp", "🦙", "x" * 200])
def test_odd_local_folder_names_load_and_reload_as_a_no_op(tmp_path, name):
    source = tmp_path / "source"
    run = source / name
    run.mkdir(parents=True)
    (run / "trainer_state.json").write_bytes(STATE.read_bytes())
    (source / f"sacct-{name[:50]}.txt").write_bytes(SACCT.read_bytes())
    db = tmp_path / "w.duckdb"
    args = ["--db", str(db), "ingest", "--json", str(source)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["objects"]["new"] == 2
    second = CliRunner().invoke(cli, args)
    assert json.loads(second.stdout)["objects"]["unchanged"] == 2


class _Trap:
    """Unpickling this creates a file: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_pickles_in_a_run_folder_are_never_loaded(tmp_path):
    import pickle

    marker = tmp_path / "unpickled"
    run = tmp_path / "source" / "run1"
    run.mkdir(parents=True)
    (run / "trainer_state.json").write_bytes(STATE.read_bytes())
    trap = pickle.dumps(_Trap(marker))
    for name in ("training_args.bin", "optimizer.pt", "rng_state.pth", "scheduler.pt"):
        (run / name).write_bytes(trap)
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(run.parent)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["objects"]["new"] == 1
    assert not marker.exists()
    con = warehouse.open_for_read(db)
    try:
        (members,) = con.execute("SELECT members FROM ingest_ledger").fetchall()[0]
    finally:
        con.close()
    assert [m["key"] for m in json.loads(members)] == ["run1/trainer_state.json"]
