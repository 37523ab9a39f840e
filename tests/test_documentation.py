"""The documentation a provider files, and the model card that publishes it."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from reconcile.cli import cli


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory, sample_data):
    """The sample organisation with a grid intensity and a location configured."""
    root = tmp_path_factory.mktemp("doc")
    config = root / "reconcile.toml"
    config.write_text(
        (sample_data / "reconcile.toml").read_text(encoding="utf-8")
        + '\n[energy]\nlocation = "Frankfurt, Germany"\ngrid_intensity = { default = 350 }\n',
        encoding="utf-8",
    )
    db = root / "w.duckdb"
    for args in (["ingest", str(sample_data)], ["estimate"]):
        result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), *args])
        assert result.exit_code in (0, 3), result.output
    return db, config


def _json(db, *args):
    result = CliRunner().invoke(cli, ["--db", str(db), *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_report_documents_models_at_provider_or_review_from_its_own_figures(
    sample_db, tmp_path
):
    db, config = sample_db
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "--config", str(config), "report", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    totals = {r["model_id"]: r for r in _json(db, "query", "per_model_totals")}
    energy = {r["model_id"]: r for r in _json(db, "query", "energy") if r["run_id"] is None}
    documented = {m["model_id"]: m["documentation"] for m in report["models"] if m["documentation"]}
    assert (
        set(documented)
        == {m["model_id"] for m in report["models"] if m["status"] in ("provider", "review")}
        == {"acme-mistral-7b-cpt", "acme-pythia-1b-domain"}
    )
    for model_id, doc in documented.items():
        assert doc["compute_flops"] == pytest.approx(totals[model_id]["flops"], rel=1e-12)
        assert doc["energy_mwh"] == pytest.approx(
            energy[model_id]["facility_kwh_central"] / 1000, rel=1e-12
        )
        assert doc["emissions_tco2e"] == pytest.approx(energy[model_id]["tco2e_central"], rel=1e-9)
        card = next(m for m in report["models"] if m["model_id"] == model_id)
        assert doc["runs"] == len(card["runs"])
    cpt = documented["acme-mistral-7b-cpt"]
    assert cpt["base_model"] == "mistralai/Mistral-7B-v0.1"
    assert [h["accelerator"] for h in cpt["accelerator_hours"]] == ["NVIDIA H100 SXM5-80GB"]
    assert cpt["accelerator_hours"][0]["runs"] == 3
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("Documentation a provider files (EU AI Act Annex XI, 2(d)–(e))") == 2
    assert "<dt>Computational resources</dt><dd>4.3×10<sup>22</sup> FLOP" in html


def test_export_model_card_writes_valid_metadata_and_the_same_facts(sample_db, tmp_path):
    db, config = sample_db
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            str(db),
            "--config",
            str(config),
            "export",
            "model-card",
            "acme-mistral-7b-cpt",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    block = (tmp_path / "model-card.yaml").read_text(encoding="utf-8")
    assert block.startswith("---\n") and block.endswith("---\n")
    meta = yaml.safe_load(block.strip("-\n"))
    facts = json.loads((tmp_path / "model-card.json").read_text(encoding="utf-8"))
    energy = next(
        r
        for r in _json(db, "query", "energy")
        if r["model_id"] == "acme-mistral-7b-cpt" and r["run_id"] is None
    )
    assert meta["base_model"] == "mistralai/Mistral-7B-v0.1"
    co2 = meta["co2_eq_emissions"]
    assert co2["emissions"] == pytest.approx(energy["tco2e_central"] * 1e6, abs=0.1)  # grams
    assert energy["tco2e_central"] == pytest.approx(
        energy["facility_kwh_central"] * 350 / 1e6, rel=1e-9
    )
    assert co2["training_type"] == "fine-tuning"
    assert co2["geographical_location"] == "Frankfurt, Germany"
    assert re.fullmatch(r"NVIDIA H100 SXM5-80GB \([\d,]+ h\)", co2["hardware_used"])
    assert facts["model_card_metadata"] == meta
    assert facts["compute_flops"] == pytest.approx(4.3e22, rel=0.05)

    missing = CliRunner().invoke(
        cli, ["--db", str(db), "export", "model-card", "acme-mistral-7b", "--out", str(tmp_path)]
    )
    assert missing.exit_code != 0
    assert "no model 'acme-mistral-7b'" in missing.stderr and "did you mean" in missing.stderr
