"""Ingest from Azure Blob Storage over real HTTP (Azurite): a missing container, no account,
no identity library (exactly once on every store is ``test_ingest_stores.py``)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from reconcile.cli import cli


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
