"""Nothing succeeds silently: a report meant for a bucket goes to the bucket (or is
refused), objects nobody recognised are named, a source that lists nothing warns, and a
missing AWS profile is one line, not a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from reconcile.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_report_out_to_s3_writes_into_the_bucket(tmp_path, sample_data, s3, bucket):
    root = tmp_path / "org"
    shutil.copytree(sample_data / "onprem/runs", root)
    db = str(tmp_path / "w.duckdb")
    assert invoke("--db", db, "ingest", str(root)).exit_code == 0
    assert invoke("--db", db, "estimate").exit_code == 0
    result = invoke(
        "--db", db, "report", "--out", f"s3://{bucket}/reports/latest", "--format", "json,md"
    )
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == [
        f"wrote s3://{bucket}/reports/latest/report.json",
        f"wrote s3://{bucket}/reports/latest/report.md",
    ]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["reports/latest/report.json", "reports/latest/report.md"]
    body = s3.get_object(Bucket=bucket, Key="reports/latest/report.json")["Body"].read()
    assert json.loads(body)["runs"]
    assert not list(Path.cwd().glob("s3:*"))  # no local folder named after the scheme


def test_run_refuses_a_bucket_as_report_folder(tmp_path):
    config = tmp_path / "reconcile.toml"
    folder = tmp_path / "src"
    folder.mkdir()
    config.write_text(f'[[sources]]\nuri = "{folder}"\n\n[report]\nout = "s3://bucket/reports"\n')
    result = invoke("--db", str(tmp_path / "w.duckdb"), "--config", str(config), "run")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: s3://bucket/reports: `run` writes its report to a folder"
    )


def test_unrecognised_objects_are_named_and_an_empty_source_warns(tmp_path, sample_data):
    folder = tmp_path / "src"
    shutil.copytree(sample_data / "onprem/runs", folder)
    (folder / "notes.txt").write_text("meeting notes\n")
    (folder / "diagram.png").write_bytes(b"\x89PNG\r\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    db = str(tmp_path / "w.duckdb")
    result = invoke("--db", db, "ingest", "--json", str(folder), str(empty))
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["objects"]["ignored"] == 2
    assert summary["not_recognised"] == [
        (folder / "diagram.png").as_uri(),
        (folder / "notes.txt").as_uri(),
    ]
    assert summary["warnings"] == [
        {
            "uri": empty.resolve().as_uri(),
            "warning": f"{empty.resolve().as_uri()} lists no objects (a typo in the prefix?)",
        }
    ]
    text = invoke("--db", str(tmp_path / "w2.duckdb"), "ingest", str(folder), str(empty))
    assert f"not recognised: {(folder / 'notes.txt').as_uri()}" in text.stdout
    assert "lists no objects" in text.stderr


def test_a_missing_aws_profile_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    result = invoke("--db", str(tmp_path / "w.duckdb"), "ingest", "s3://bucket/prefix")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: AWS profile 'nosuch' is not in ~/.aws/config or ~/.aws/credentials "
        "(create it with `aws configure --profile NAME`, or fix the name)"
    ]
