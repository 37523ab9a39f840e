"""`reconcile run` over three clouds at once: the sample organisation's files spread over
S3 (moto), GCS (fake-gcs-server), Azure Blob (Azurite) and a local folder give the same
statuses and totals as the same files read from one local folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconcile.cli import cli

pytestmark = pytest.mark.emulator


def files_under(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file()]


def run(db: Path, config: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "run", "--json"])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def per_model(db: Path) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["--db", str(db), "query", "per_model_totals", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_run_over_s3_gcs_azure_and_a_folder(
    tmp_path, sample_data, s3, bucket, gcs, gcs_bucket, azure, azure_container
):
    options = (sample_data / "reconcile.toml").read_text()
    # Reference: everything from one local folder.
    reference_db = tmp_path / "reference.duckdb"
    reference_config = tmp_path / "reference.toml"
    reference_config.write_text(f'[[sources]]\nuri = "{sample_data}"\n\n{options}')
    reference = run(reference_db, reference_config)

    for path in files_under(sample_data / "aws"):
        s3.put_object(
            Bucket=bucket,
            Key="aws/" + path.relative_to(sample_data / "aws").as_posix(),
            Body=path.read_bytes(),
        )
    gcs_target = gcs.bucket(gcs_bucket)
    for path in files_under(sample_data / "gcp"):
        gcs_target.blob(
            "gcp/" + path.relative_to(sample_data / "gcp").as_posix()
        ).upload_from_filename(path)
    container = azure.get_container_client(azure_container)
    for path in files_under(sample_data / "azure"):
        container.upload_blob(
            "azure/" + path.relative_to(sample_data / "azure").as_posix(), path.read_bytes()
        )
    onprem = tmp_path / "onprem"
    shutil.copytree(sample_data / "onprem", onprem)

    db = tmp_path / "multi.duckdb"
    config = tmp_path / "multi.toml"
    config.write_text(
        f'[[sources]]\nuri = "s3://{bucket}/aws/"\n\n'
        f'[[sources]]\nuri = "gs://{gcs_bucket}/gcp/"\n\n'
        f'[[sources]]\nuri = "az://{azure_container}/azure/"\n\n'
        f'[[sources]]\nuri = "{onprem}"\n\n{options}'
    )
    first = run(db, config)
    assert [s["uri"][:5] for s in first["sources"][:3]] == ["s3://", "gs://", "az://"]
    assert first["sources"][3]["uri"] == str(onprem)
    assert all(s["quarantined"] == 0 for s in first["sources"])
    assert first["models"] == reference["models"]
    assert first["models"]["acme-mistral-7b-cpt"] == "provider"
    assert first["models"]["acme-pythia-1b-domain"] == "review"

    def comparable(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (r["model_id"], r["runs"], r["tokens"], round(r["flops"] or 0, -10), r["status"])
            for r in rows
        ]

    assert comparable(per_model(db)) == comparable(per_model(reference_db))
    # An hour later nothing changed: listing only.
    again = run(db, config)
    assert all(s["new"] == s["replaced"] == 0 and s["bytes_read"] == 0 for s in again["sources"])
