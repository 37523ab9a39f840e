"""Ingest from Google Cloud Storage over real HTTP (fake-gcs-server): a missing bucket
(exactly once on every store is ``test_ingest_stores.py``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconcile.cli import cli

pytestmark = pytest.mark.emulator


def test_missing_bucket_is_one_clear_error(gcs, tmp_path):
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "w.duckdb"), "ingest", "gs://no-such-bucket-anywhere/x/"]
    )
    assert result.exit_code == 1
    assert result.stderr == "Error: gs://no-such-bucket-anywhere: no such bucket\n"
