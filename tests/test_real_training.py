"""Real public fine-tuning output folders (tests/data/real/training, see SOURCES.md):
the project's figure for each run against a hand count made without the project
(tests/data/real/training/expected.py, which imports nothing of it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from reconcile.cli import cli

CORPUS = Path(__file__).resolve().parent / "data" / "real" / "training"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())["runs"]
#: The issue's bar: a figure within 3 % of the hand count (attention term aside).
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def corpus_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("real") / "w.duckdb"
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(db), "ingest", str(CORPUS)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--db", str(db), "estimate"])
    assert result.exit_code == 0, result.output
    return db


def _runs(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Logical runs by corpus folder, with the architecture figure without attention."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.sql(
            """
            SELECT r.run_key, r.job_name, r.evidence_uris, r.tokens, r.tokens_basis,
                   r.method, r.objective, r.base_model, r.base_model_catalog,
                   r.params_matmul_active, r.params_trainable,
                   c.has_figure, c.missing,
                   CAST(json_extract(a.assumptions, '$.central_without_attention') AS DOUBLE)
                       AS flops_without_attention
            FROM resolved_runs r
            JOIN run_coverage c ON c.run_id = r.run_key
            LEFT JOIN run_estimates a ON a.run_id = r.run_key AND a.method = 'architecture'
            """
        ).to_arrow_table().to_pylist()
    finally:
        con.close()
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for uri in row["evidence_uris"]:
            slug = Path(uri.removeprefix("file://")).relative_to(CORPUS).parts[0]
            found.setdefault(slug, []).append(row)
            break
    return found


def _cases() -> list[tuple[str, str | None, dict[str, Any]]]:
    """(slug, checkpoint folder of one run in a multi-run folder, expectation)."""
    cases = []
    for slug, expected in sorted(EXPECTED.items()):
        if expected.get("runs"):
            cases += [(slug, run["path"], {**expected, **run}) for run in expected["runs"]]
        else:
            cases.append((slug, None, expected))
    return cases


def _match(found: list[dict[str, Any]], path: str | None) -> dict[str, Any] | None:
    if path is None:
        return found[0] if len(found) == 1 else None
    return next((r for r in found if (r["job_name"] or "").endswith("@" + path)), None)


def test_every_real_run_with_enough_evidence_gets_a_figure_within_3_percent(corpus_db):
    runs = _runs(corpus_db)
    assessed, misses = 0, []
    for slug, path, expected in _cases():
        if not expected["enough_evidence"] or not expected.get("tokens"):
            continue
        assessed += 1
        run = _match(runs.get(slug, []), path)
        if run is None:
            misses.append(f"{slug}/{path or ''}: not recognised as one run")
            continue
        ours = run["flops_without_attention"]
        if not ours:
            misses.append(f"{slug}/{path or ''}: no figure ({run['missing']})")
            continue
        ratio = ours / expected["flops"]
        if abs(ratio - 1) > TOLERANCE:
            misses.append(f"{slug}/{path or ''}: ours / hand = {ratio:.4f}")
    coverage = 1 - len(misses) / assessed
    print(f"{assessed - len(misses)} of {assessed} within 3 %")
    print("\n".join(misses))
    assert assessed >= 30  # the corpus keeps at least 30 runs a hand count can settle
    assert coverage >= 0.95, "\n".join(misses)


def test_evaluation_only_folders_hold_no_training(corpus_db):
    runs = _runs(corpus_db)
    for slug, expected in EXPECTED.items():
        if expected["enough_evidence"] and expected.get("tokens") == 0:
            assert slug not in runs, slug


def test_runs_without_enough_evidence_say_what_is_missing(corpus_db):
    runs = _runs(corpus_db)
    for slug, expected in EXPECTED.items():
        if expected["enough_evidence"]:
            continue
        for run in runs.get(slug, []):
            if not run["has_figure"]:
                assert run["missing"], slug
