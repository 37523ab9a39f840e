"""Ingest from Azure Blob Storage over real HTTP (Azurite): exactly once, read-only,
nothing downloaded again."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from reconcile.cli import cli

SFT_STATE = (
    "acme/aws/acme-ml-artifacts/sagemaker/qwen7b-sft-20250304-1301/output/trainer_state.json"
)


def upload(container: Any, folder: Path, prefix: str) -> int:
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            container.upload_blob(prefix + path.relative_to(folder).as_posix(), path.read_bytes())
            count += 1
    return count


def listing(container: Any) -> list[tuple[str, str]]:
    return [(b.name, b.etag) for b in container.list_blobs()]


@pytest.mark.emulator
def test_ingest_from_azure_is_exactly_once(
    azure, azure_container, hf_runs_copy, tmp_path, ingest_json
):
    container = azure.get_container_client(azure_container)
    uploaded = upload(container, hf_runs_copy, "acme/")
    before = listing(container)
    db = tmp_path / "w.duckdb"
    source = f"az://{azure_container}/acme/"

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

    # One changed blob (a new ETag): only its run is re-read and replaced.
    state = json.loads(container.download_blob(SFT_STATE).readall())
    state["num_input_tokens_seen"] = 123_456_789
    container.upload_blob(SFT_STATE, json.dumps(state).encode(), overwrite=True)
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

    # Read-only: the container holds the same blobs as uploaded, only our edit is new.
    after = listing(container)
    assert [k for k, _ in after] == [k for k, _ in before]
    assert [k for (k, e), (_, f) in zip(after, before, strict=True) if e != f] == [SFT_STATE]


@pytest.mark.emulator
def test_missing_container_is_one_clear_error(azure, tmp_path):
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", "az://no-such-container/x/"]
    )
    assert result.exit_code == 1
    assert result.stderr == "Error: az://no-such-container: no such container\n"


def test_no_azure_account_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", "az://runs/x/"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: az://runs: no Azure storage account configured (set ")
    assert "AZURE_STORAGE_CONNECTION_STRING" in result.stderr


def test_account_without_azure_identity_is_one_clear_error(tmp_path, monkeypatch):
    # As if the optional extra reconcile[azure] were not installed.
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "acmeml")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", "az://runs/"])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: az://runs: no credential for storage account acmeml: azure-identity is not "
        "installed (set AZURE_STORAGE_CONNECTION_STRING, "
    )
    assert "pip install 'reconcile[azure]'" in result.stderr
    assert not (tmp_path / "w.duckdb").exists()
