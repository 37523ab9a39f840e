"""Ingest from S3 over real HTTP (moto's server): the API calls it makes (only a listing when
nothing changed, ranged reads of weights headers) and a missing bucket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from connectors.registry import Source
from connectors.stores.s3 import S3Store
from reconcile import ingest, warehouse
from reconcile.cli import cli

SFT_STATE = (
    "acme/aws/acme-ml-artifacts/sagemaker/qwen7b-sft-20250304-1301/output/trainer_state.json"
)


def upload(client: Any, bucket: str, folder: Path, prefix: str) -> int:
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.put_object(
                Bucket=bucket,
                Key=prefix + path.relative_to(folder).as_posix(),
                Body=path.read_bytes(),
            )
            count += 1
    return count


def counting_store(endpoint: str, bucket: str) -> tuple[S3Store, dict[str, int]]:
    """An S3 store whose client counts the API calls it makes."""
    calls: dict[str, int] = {}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.split(".")[-1]
        calls[operation] = calls.get(operation, 0) + 1

    client.meta.events.register("before-call.s3.*", count)
    return S3Store(bucket, client=client), calls


def test_s3_calls_an_unchanged_ingest_lists_and_a_change_reads_only_its_unit(
    s3, bucket, hf_runs_copy, tmp_path, moto_endpoint
):
    """What S3 is asked, counted on the client (exactly once on every store is
    ``test_ingest_stores.py``)."""
    upload(s3, bucket, hf_runs_copy, "acme/")
    db = tmp_path / "w.duckdb"
    first = CliRunner().invoke(cli, ["--db", str(db), "ingest", f"s3://{bucket}/acme/"])
    assert first.exit_code == 0, first.output

    # Second run: listing only.
    store, calls = counting_store(moto_endpoint, bucket)
    con = warehouse.open_for_write(db)
    second = ingest.ingest(con, [Source(f"s3://{bucket}/acme/", store, "acme/")])
    con.close()
    assert second.counts["unchanged"] == 6
    assert set(calls) == {"ListObjectsV2"}

    # One changed object: only its run is read.
    state = json.loads(s3.get_object(Bucket=bucket, Key=SFT_STATE)["Body"].read())
    state["num_input_tokens_seen"] = 123_456_789
    s3.put_object(Bucket=bucket, Key=SFT_STATE, Body=json.dumps(state).encode())
    store, calls = counting_store(moto_endpoint, bucket)
    con = warehouse.open_for_write(db)
    third = ingest.ingest(con, [Source(f"s3://{bucket}/acme/", store, "acme/")])
    con.close()
    assert (third.counts["replaced"], third.counts["unchanged"]) == (1, 5)
    # Its 4 trainer states (root + 3 checkpoints) and the sidecars of the chosen (root)
    # state: adapter_config, train_results, README.
    assert calls["GetObject"] == 7


def test_safetensors_headers_are_read_with_ranged_gets(s3, bucket, tmp_path, moto_endpoint):
    import numpy as np
    from safetensors.numpy import save_file

    local = tmp_path / "run"
    local.mkdir()
    (local / "trainer_state.json").write_text(
        json.dumps({"global_step": 5, "epoch": 1.0, "log_history": []})
    )
    (local / "config.json").write_text(json.dumps({"model_type": "llama"}))
    save_file({"w": np.zeros((1000, 1000), np.float32)}, str(local / "model.safetensors"))
    upload(s3, bucket, local, "run/")
    store, calls = counting_store(moto_endpoint, bucket)
    con = warehouse.open_for_write(tmp_path / "w.duckdb")
    summary = ingest.ingest(con, [Source(f"s3://{bucket}/", store, "")])
    params = con.execute("SELECT params_total FROM training_runs").fetchall()[0][0]
    con.close()
    assert params == 1_000_000
    assert summary.bytes_read < 10_000  # a 4 MB weights file, but only its header was fetched
    # trainer_state.json, config.json, then two ranged GETs: header length, header JSON.
    assert calls["GetObject"] == 4


def test_missing_bucket_is_one_clear_error(s3, tmp_path):
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", "s3://no-such-bucket-anywhere/x/"]
    )
    assert result.exit_code == 1
    assert result.stderr == "Error: s3://no-such-bucket-anywhere: no such bucket\n"
