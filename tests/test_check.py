"""`reconcile check`: every source listed, described (endpoint, credentials), its units
per format and its unrecognised objects shown, without loading anything; exit 1 when a
source fails or lists nothing."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from reconcile.cli import cli


def test_check_describes_each_source_and_fails_on_a_bad_one(tmp_path, sample_data):
    good = tmp_path / "runs"
    shutil.copytree(sample_data / "onprem/runs", good)
    (good / "notes.txt").write_text("hello\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "check", "--json", str(good), str(empty), str(tmp_path / "nope")]
    )
    assert result.exit_code == 1
    first, second, third = json.loads(result.stdout)
    assert first == {
        "uri": good.resolve().as_uri(),
        "ok": True,
        "store": f"local folder {good.resolve()}",
        "objects": 2,
        "units": {"run_table": 1},
        "not_recognised": [(good / "notes.txt").resolve().as_uri()],
        "unreadable": [],
    }
    assert (second["ok"], second["error"]) == (
        False,
        "lists no objects (a typo in the prefix, or the wrong bucket?)",
    )
    assert third["ok"] is False and "no such file or folder" in third["error"]
    assert not db.exists()  # nothing loaded, no warehouse created
    ok = CliRunner().invoke(cli, ["--db", str(db), "check", str(good)])
    assert ok.exit_code == 0
    assert ok.stdout.splitlines()[-1] == "  ok"


def test_check_an_s3_source_names_endpoint_and_credentials(tmp_path, s3, bucket, moto_endpoint):
    s3.put_object(Bucket=bucket, Key="exports/focus-2025-05.csv", Body=b"BilledCost\n1\n")
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "w.duckdb"), "check", "--json", f"s3://{bucket}/exports/"]
    )
    (item,) = json.loads(result.stdout)
    assert item["store"].startswith(f"S3 endpoint {moto_endpoint}, region us-east-1, credentials: ")
    assert item["objects"] == 1 and item["ok"] is True


def test_global_options_may_follow_the_command(tmp_path, sample_data):
    folder = tmp_path / "runs"
    shutil.copytree(sample_data / "onprem/runs", folder)
    db = tmp_path / "after.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(folder), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert db.exists()
    text = CliRunner().invoke(
        cli, ["query", "SELECT '--db' AS x", "--format", "json", f"--db={db}"]
    )
    assert json.loads(text.stdout) == [{"x": "--db"}]  # an SQL text is never taken apart
