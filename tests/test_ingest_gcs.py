"""Ingest from Google Cloud Storage over real HTTP (fake-gcs-server): exactly once,
read-only, nothing downloaded again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from reconcile.cli import cli

pytestmark = pytest.mark.emulator

SFT_STATE = (
    "acme/aws/acme-ml-artifacts/sagemaker/qwen7b-sft-20250304-1301/output/trainer_state.json"
)


def upload(bucket: Any, folder: Path, prefix: str) -> int:
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            bucket.blob(prefix + path.relative_to(folder).as_posix()).upload_from_filename(path)
            count += 1
    return count


def listing(bucket: Any) -> list[tuple[str, int]]:
    return [(b.name, b.generation) for b in bucket.client.list_blobs(bucket)]


def test_ingest_from_gcs_is_exactly_once(gcs, gcs_bucket, hf_runs_copy, tmp_path, ingest_json):
    bucket = gcs.bucket(gcs_bucket)
    uploaded = upload(bucket, hf_runs_copy, "acme/")
    before = listing(bucket)
    db = tmp_path / "w.duckdb"
    source = f"gs://{gcs_bucket}/acme/"

    first = ingest_json(db, source)
    assert first["objects"]["listed"] == uploaded
    assert first["objects"]["new"] == 6
    assert first["rows"]["training_runs"] == 6
    assert first["bytes_read"] > 0

    # Second run: listing only. Nothing is downloaded and nothing changes.
    second = ingest_json(db, source)
    assert second["objects"]["unchanged"] == 6
    assert second["objects"]["new"] == second["objects"]["replaced"] == 0
    assert second["bytes_read"] == 0

    # One changed object (a new generation): only its run is re-read and replaced.
    state = json.loads(bucket.blob(SFT_STATE).download_as_bytes())
    state["num_input_tokens_seen"] = 123_456_789
    bucket.blob(SFT_STATE).upload_from_string(json.dumps(state).encode())
    third = ingest_json(db, source)
    assert (third["objects"]["replaced"], third["objects"]["unchanged"]) == (1, 5)
    assert third["rows_deleted"]["training_runs"] == 1

    con = duckdb.connect(str(db), read_only=True)
    runs, tokens = con.execute("SELECT count(*), sum(tokens) FROM training_runs").fetchall()[0]
    uris = [r[0] for r in con.execute("SELECT uri FROM ingest_ledger").fetchall()]
    con.close()
    assert runs == 6
    assert tokens == 123_456_789 + 2_411_724_800
    assert all(uri.startswith(source) for uri in uris)

    # Read-only: the source bucket holds the same keys as uploaded, only our edit is new.
    after = listing(bucket)
    assert [k for k, _ in after] == [k for k, _ in before]
    assert [k for (k, g), (_, h) in zip(after, before, strict=True) if g != h] == [SFT_STATE]


def test_missing_bucket_is_one_clear_error(gcs, tmp_path):
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", "gs://no-such-bucket-anywhere/x/"]
    )
    assert result.exit_code == 1
    assert result.stderr == "Error: gs://no-such-bucket-anywhere: no such bucket\n"
