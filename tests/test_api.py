"""The library: one import, the CLI's work as methods, tables as polars DataFrames."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

import reconcile
from reconcile import energy
from reconcile.errors import ReconcileError


@pytest.fixture(scope="module")
def org(tmp_path_factory, sample_data):
    root = tmp_path_factory.mktemp("api")
    shutil.copytree(sample_data, root / "org")
    return root / "org"


def test_a_notebook_session_from_one_import(tmp_path, org):
    wh = reconcile.Warehouse(tmp_path / "w.duckdb", config=org / "reconcile.toml")
    summary = wh.ingest(str(org))
    assert summary["objects"]["new"] > 0 and summary["quarantine"] == []
    with pytest.raises(ReconcileError, match="`reconcile estimate` has not run"):
        wh.status()  # nothing assessed yet: no empty frame passing for "all clear"
    estimated = wh.estimate()
    status = wh.status()
    assert isinstance(status, pl.DataFrame)
    assert status.height == len(estimated["models"])
    assert dict(zip(status["model_id"], status["status"], strict=True)) == estimated["models"]
    order = ["provider", "review", "insufficient_evidence", "below"]
    assert status["status"].to_list() == sorted(status["status"].to_list(), key=order.index)

    totals = wh.query("billing_totals")
    assert set(totals.columns) >= {"provider", "accelerator_hours", "cost_billed"}
    aws = wh.query(
        "SELECT sum(accelerator_hours) AS h FROM billing_lines_counted "
        "WHERE counts_billed AND provider = $p",
        p="aws",
    )
    assert aws["h"][0] == pytest.approx(102.466667, abs=1e-6)  # as tests/test_billing.py
    assert (
        wh.table("billing_lines_once").height
        == wh.query("SELECT count(*) AS n FROM billing_lines_once")["n"][0]
    )
    written = wh.report(tmp_path / "report", formats=("json",))
    assert [p.name for p in written] == ["report.json"]


def test_the_library_estimates_with_the_whole_config(tmp_path, org):
    """`Warehouse.estimate()` reads [energy] (and records the inputs' digest) as the CLI
    does: the same run_energy figures, the same digest."""
    config = tmp_path / "reconcile.toml"
    config.write_text(
        (org / "reconcile.toml").read_text(encoding="utf-8") + "\n[energy]\npue = 1.2\n",
        encoding="utf-8",
    )
    wh = reconcile.Warehouse(tmp_path / "w.duckdb", config=config)
    wh.ingest(str(org))
    wh.estimate()
    rows = wh.query(
        "SELECT facility_kwh_central / board_kwh_central AS ratio FROM run_energy "
        "WHERE board_kwh_central > 0"
    )
    assert rows.height > 0
    assert rows["ratio"].to_list() == pytest.approx(
        [energy.DEFAULT_HOST_OVERHEAD * 1.2] * rows.height, rel=1e-12
    )
    digest = wh.query("SELECT digest FROM stage_digests WHERE name = 'estimate'")
    assert digest.height == 1 and len(digest["digest"][0]) == 64
