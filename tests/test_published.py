"""Published fine-tuning runs (tests/data/published: papers, reports and model cards that
state base model, data size, GPU type, count and time), entered as a run table the way a
user would — GPU names as the sources spell them — against hand arithmetic made without
the project (tests/data/published/expected.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from reconcile.cli import cli

CORPUS = Path(__file__).resolve().parent / "data" / "published"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())["runs"]
ROWS = {r["job_name"]: r for r in csv.DictReader((CORPUS / "runs.csv").open())}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    db = tmp_path_factory.mktemp("published") / "w.duckdb"
    runner = CliRunner()
    for args in (["ingest", str(CORPUS / "runs.csv")], ["estimate"]):
        result = runner.invoke(cli, ["--db", str(db), *args])
        assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.sql(
            """
            SELECT r.run_key, r.base_model_catalog, r.base_model_basis, r.upstream_run_key,
                   r.flags,
                   CAST(json_extract(a.assumptions, '$.central_without_attention') AS DOUBLE)
                       AS architecture,
                   json_extract(a.assumptions, '$.implied_utilisation')::DOUBLE AS implied,
                   h.flops_low AS hardware_low, h.flops_high AS hardware_high
            FROM resolved_runs r
            LEFT JOIN run_estimates a ON a.run_id = r.run_key AND a.method = 'architecture'
            LEFT JOIN run_estimates h ON h.run_id = r.run_key AND h.method = 'hardware'
            """
        ).to_arrow_table().to_pylist()
    finally:
        con.close()
    return {r["run_key"]: r for r in rows}


def test_the_corpus_is_large_and_varied():
    assert len(EXPECTED) >= 25
    assert sum(1 for e in EXPECTED.values() if e.get("hardware_max_bf16")) >= 25


def test_architecture_figure_against_hand_arithmetic(published):
    """Every run whose row states its tokens gets the hand count's figure (attention
    aside): base models named as the sources write them resolve, lineages chain."""
    checked = 0
    for name, expected in EXPECTED.items():
        if not ROWS[name]["tokens"] or not expected.get("flops_architecture"):
            continue
        checked += 1
        ours = published[name]["architecture"]
        assert ours, (name, published[name]["flags"])
        assert ours == pytest.approx(expected["flops_architecture"], rel=0.03), name
    assert checked >= 15


def test_hardware_bound_is_gpu_time_at_the_dense_bf16_peak(published):
    """The hardware method's high end is accelerator time × the dense BF16 peak — never
    the FP8 peak when nothing says FP8 — and an ambiguous name ("H100", "A100s") gives a
    band over its candidates that holds the hand figure, never an unknown."""
    checked = 0
    for name, expected in EXPECTED.items():
        bound = expected.get("hardware_max_bf16")
        if not bound:
            continue
        checked += 1
        run = published[name]
        assert "hardware_unknown_accelerator" not in run["flags"], name
        low, high = run["hardware_low"], run["hardware_high"]
        assert high is not None, name
        # high = time × the largest candidate's BF16 peak; low uses the smallest one
        assert high >= bound * 0.999, (name, high, bound)
        assert low <= bound, (name, low, bound)
    assert checked >= 25


def test_unambiguous_names_give_the_exact_bound(published):
    for name in ("dolphin-2.9-llama3-8b", "suzume-llama-3-8b-multilingual", "llemma-7b"):
        if name in EXPECTED:
            assert published[name]["hardware_high"] == pytest.approx(
                EXPECTED[name]["hardware_max_bf16"], rel=1e-6
            ), name


def test_stages_chain_without_declarations(published):
    for name, row in ROWS.items():
        upstream = next(
            (o for o, r in ROWS.items() if r["model_id"] and r["model_id"] == row["base_model"]),
            None,
        )
        if upstream is not None:
            assert published[name]["upstream_run_key"] == upstream, name
            assert published[name]["base_model_basis"] == "upstream_run"
