"""The audit report: its model on the sample organisation, determinism, safe writing, the
JSON schema, and the HTML rendered in real headless Chromium."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess

import duckdb
import pytest
from click.testing import CliRunner

from reconcile import compliance, flops, report, warehouse
from reconcile.cli import cli
from reconcile.flags import flag_text
from reconcile.models import ModelRegistry
from reconcile.numbers import percent
from reconcile.report import render as report_render
from reconcile.report import schema as report_schema
from reconcile.report import timeline as report_timeline
from reconcile.report.methods import METHODS
from reconcile.report.model import REPORT_SCHEMA_VERSION


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory, sample_data):
    """The sample organisation ingested and estimated (read it only; copy to change it)."""
    db = tmp_path_factory.mktemp("report") / "w.duckdb"
    config = sample_data / "reconcile.toml"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--db", str(db), "--config", str(config), "ingest", str(sample_data)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--db", str(db), "--config", str(config), "estimate"])
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture(scope="module")
def model(sample_db):
    con = warehouse.open_for_read(sample_db)
    try:
        return report.build_report(con, registry=ModelRegistry())
    finally:
        con.close()


def by_id(items, key, value):
    (found,) = [i for i in items if getattr(i, key) == value]
    return found


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# ----------------------------------------------------------------------- the model


def test_provider_model_with_the_figure_a_notification_needs(model):
    mistral = by_id(model.models, "model_id", "acme-mistral-7b-cpt")
    # Three CPT runs of 69,000 / 66,000 / 71,500 steps x 4,194,304 tokens; per token
    # 6 x N_mm + 12 x 32 layers x 4,096 context x 4,096 width (see tests/test_estimate.py).
    n_mm = 7_241_732_096 - 32_000 * 4_096 - (2 * 32 + 1) * 4_096
    tokens = (69_000 + 66_000 + 71_500) * 4_194_304
    central = (6 * n_mm + 12 * 32 * 4_096 * 4_096) * tokens
    assert mistral.status == "provider" and mistral.status_label == "Provider"
    assert mistral.flops_central == pytest.approx(central, rel=1e-9)  # 4.25e22
    assert mistral.threshold_flops == pytest.approx(1e23 / 3)
    assert mistral.threshold_basis == "default_gpai"
    assert mistral.base_compute is not None and mistral.base_compute.pretraining_flops is None
    assert mistral.share_of_threshold == pytest.approx(central / (1e23 / 3))
    assert mistral.notification == (
        "4.3×10^22 FLOP, architecture-based, summed over 3 runs, 6·N·D + 12·L·n_ctx·d_attn·D "
        "with N=7.1×10^9, L=32, n_ctx=4096, d_attn=4096, D=8.7×10^11"
    )
    assert "128 %" in mistral.headline and "3.3×10^22 FLOP" in mistral.headline
    # each run is below the default threshold alone; the lineage is in time order
    assert [r.run_id for r in mistral.runs] == [
        "mistral-cpt/run1",
        "mistral-cpt/run2",
        "mistral-cpt/run3",
    ]
    assert all(r.flops_central < compliance.DEFAULT_THRESHOLD for r in mistral.runs)
    assert sum(r.flops_central for r in mistral.runs) == pytest.approx(central, rel=1e-9)
    assert model.models[0] is mistral  # provider first


def test_review_model_and_its_threshold_basis(model):
    pythia = by_id(model.models, "model_id", "acme-pythia-1b-domain")
    assert pythia.status == "review"
    assert pythia.base_compute.pretraining_flops == pytest.approx(1.821e21)  # Pythia paper
    assert pythia.base_compute.flops_basis == "6ND-estimate"
    assert pythia.threshold_basis == "one_third_of_known"
    assert pythia.threshold_flops == pytest.approx(1.821e21 / 3)
    assert pythia.review_from_flops == pytest.approx(1.821e21 / 3 / 1.3)
    assert pythia.review_from_flops <= pythia.flops_central < pythia.threshold_flops
    assert "30 % error margin" in pythia.headline
    assert pythia.share_of_threshold == pytest.approx(pythia.flops_central / (1.821e21 / 3))
    assert percent(pythia.share_of_threshold) == "85 %"


def test_flagged_run_and_its_model(model):
    run = by_id(model.runs, "run_id", "qwen15b-ocr-ft")
    # 40e9 logged tokens on 8 H100 for 2 h: architecture needs (6 x N_mm + attention 12 x
    # 28 layers x 4,096 x 1,536) per token; 8 x 7,200 s x 989.5e12 FLOP/s (dense BF16) is all
    # the hardware can do.
    per_token = 6 * run.params_matmul + 12 * 28 * 4_096 * 1_536
    assert run.implied_utilisation == pytest.approx(
        per_token * 40e9 / (8 * 7_200 * 989.5e12), rel=1e-9
    )
    assert run.implied_utilisation > 1
    codes = {f.code for f in run.flags}
    assert {"implied_utilisation_above_1", "methods_disagree_hardware"} <= codes
    text = by_id(run.flags, "code", "implied_utilisation_above_1").text
    assert "more than the hardware's peak" in text
    ocr = by_id(model.models, "model_id", "acme-ocr-1.5b")
    assert ocr.status == "below"
    assert ("implied_utilisation_above_1", "qwen15b-ocr-ft") in {
        (f.code, f.run_id) for f in ocr.flags
    }
    assert ocr.verdict.endswith("the evidence is inconsistent")
    assert "contradicts itself" in ocr.headline


def test_every_method_side_by_side(model):
    for run in model.runs:
        assert [e.method for e in run.estimates] == list(METHODS)
        combined = run.estimates[-1]
        assert combined.available and combined.flops_central is not None
        for estimate in run.estimates:
            assert estimate.summary  # how it was obtained, or why it is missing
            if estimate.available:
                assert estimate.flops_low <= estimate.flops_central <= estimate.flops_high
    dpo = by_id(model.runs, "run_id", "qwen7b-dpo-20250318-0922")
    hardware = by_id(dpo.estimates, "method", "hardware")
    # 8 A100-40GB x 5,420.8 s x 312e12 FLOP/s x 0.35
    assert hardware.flops_central == pytest.approx(8 * 5_420.8 * 312e12 * 0.35, rel=1e-9)
    assert dpo.decided_by == "hardware"  # tokens only derived from steps
    legal = by_id(model.runs, "run_id", "llama31-8b-legal-fullft-20250411")
    assert {u.source_kind for u in legal.usage} == {"dcgm"}
    assert sum(u.rows for u in legal.usage) == 32
    assert {c.name for c in legal.cross_reference} == {"aws_meter", "guidelines_6PD"}


def test_evidence_is_traceable_and_digested(model, sample_db):
    ids = {e.id: e for e in model.evidence}
    for run in model.runs:
        assert run.evidence_ids, run.run_id
        assert set(run.evidence_ids) <= set(ids)
    for usage in (u for r in model.runs for u in r.usage):
        assert usage.evidence_id in ids
    con = duckdb.connect(str(sample_db), read_only=True)
    try:
        ledger = con.execute("SELECT uri, sha256 FROM ingest_ledger ORDER BY uri").fetchall()
    finally:
        con.close()
    assert [(e.uri, e.sha256) for e in model.evidence] == ledger
    lines = "".join(f"{sha}  {uri}\n" for uri, sha in ledger)
    assert model.provenance.evidence_digest == hashlib.sha256(lines.encode()).hexdigest()
    assert model.provenance.evidence_files == len(ledger)
    ocr = by_id(model.runs, "run_id", "qwen15b-ocr-ft")
    (manual,) = [ids[i] for i in ocr.evidence_ids]  # a run table is its only evidence
    assert manual.format == "run_table" and manual.uri.endswith("onprem/runs/manual.runs.csv")
    assert re.fullmatch(r"[0-9a-f]{64}", manual.sha256) and manual.rows == 3


def test_methods_come_from_the_code(model):
    methods = model.methods
    assert methods.formulas == flops.__doc__.strip()
    assert methods.status_rules == compliance.__doc__.strip()
    constants = {c.name: c.value for c in methods.constants}
    assert constants["reconcile.flops.DEFAULT_UTILISATION"] == flops.DEFAULT_UTILISATION
    assert constants["reconcile.flops.UNKNOWN_CONTEXT_FOR_HIGH"] == flops.UNKNOWN_CONTEXT_FOR_HIGH
    assert constants["reconcile.compliance.ACCURACY_MARGIN"] == compliance.ACCURACY_MARGIN
    assert {r.key: r.text for r in methods.references} == compliance.REFERENCES
    assert {a.key for a in methods.accelerators} >= {
        "NVIDIA H100 SXM5-80GB",
        "NVIDIA A100 SXM4-40GB",
    }
    h100 = by_id(methods.accelerators, "key", "NVIDIA H100 SXM5-80GB")
    assert h100.peak_bf16_flops == pytest.approx(989.5e12)
    p = model.provenance
    assert p.database_schema_version == warehouse.latest_version()
    from reconcile import __version__
    from reconcile.catalog import load_catalog

    assert p.tool_version == __version__
    assert p.accelerator_catalog_version == load_catalog().version
    assert p.generated_at is None and not p.estimates_stale


def test_timeline(model):
    timeline = model.timeline
    assert timeline.months == ["2025-03", "2025-04", "2025-05", "2025-06"]
    series = {s.model_id: s for s in timeline.series}
    mistral = by_id(model.models, "model_id", "acme-mistral-7b-cpt")
    # all three CPT runs ran in May: nothing before, everything by the end of May
    assert series["acme-mistral-7b-cpt"].cumulative_flops[:2] == [0.0, 0.0]
    assert series["acme-mistral-7b-cpt"].cumulative_flops[2] == pytest.approx(
        mistral.flops_central, rel=1e-9
    )
    assert series["acme-pythia-1b-domain"].cumulative_flops[:3] == [0.0, 0.0, 0.0]
    sources = {(h.source, h.platform, h.accelerator) for h in timeline.accelerator_hours}
    assert ("slurm", "hpc1", "NVIDIA H100 SXM5-80GB") in sources
    slurm = by_id(
        [h for h in timeline.accelerator_hours if h.platform == "hpc1"], "source", "slurm"
    )
    assert slurm.total_hours == pytest.approx(sum(v or 0 for v in slurm.hours_by_month))
    labels = {u.label for u in timeline.unattributed if u.kind == "gpu_usage"}
    assert {"nccl-tests", "mistral-cpt-dryrun"} <= labels  # Slurm jobs of no run


def test_month_shares_spread_a_run_over_months():
    from datetime import UTC, datetime

    shares = report_timeline._month_shares(
        datetime(2025, 4, 30, 12, tzinfo=UTC), datetime(2025, 5, 1, 12, tzinfo=UTC)
    )
    assert shares == {"2025-04": 0.5, "2025-05": 0.5}
    assert report_timeline._month_shares(None, datetime(2025, 6, 3, tzinfo=UTC)) == {"2025-06": 1.0}


def test_percent_and_flag_texts():
    assert [percent(v) for v in (1.28, 0.85, 0.0082, 5.5e-5, 0)] == [
        "128 %",
        "85 %",
        "0.82 %",
        "0.0055 %",
        "0 %",
    ]
    assert "10 %" in flag_text("reported_differs_hf_total_flos")
    assert flag_text("something_new") == "something new"


def test_report_without_billing_data(sample_db, tmp_path):
    db = tmp_path / "nobilling.duckdb"
    shutil.copy(sample_db, db)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM run_matches WHERE target_table = 'billing_rollup'")
    con.execute("DELETE FROM billing_lines")
    con.execute("DELETE FROM billing_rollup")  # derived by `estimate` from billing_lines
    con.close()
    result = run_cli("--db", db, "report", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert all(not r["billing"] for r in data["runs"])
    assert all(u["kind"] == "gpu_usage" for u in data["timeline"]["unattributed"])
    assert "None linked." in (tmp_path / "out" / "report.html").read_text()


def test_evidence_loaded_after_the_estimate_is_called_out(sample_db, tmp_path):
    db = tmp_path / "stale.duckdb"
    shutil.copy(sample_db, db)
    con = duckdb.connect(str(db))
    con.execute(  # as if one file had been ingested after `reconcile estimate`
        "UPDATE ingest_ledger SET loaded_at = now() + INTERVAL 1 HOUR "
        "WHERE uri = (SELECT min(uri) FROM ingest_ledger)"
    )
    con.close()
    result = run_cli("--db", db, "report", "--out", tmp_path / "out", "--format", "html,json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["provenance"]["estimates_stale"] is True
    assert "Run <code>reconcile estimate</code>" in (tmp_path / "out" / "report.html").read_text()


# ---------------------------------------------------------- files, determinism, CLI


FILES = ("report.html", "report.md", "report.json")


def test_same_data_gives_byte_identical_files(sample_db, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = run_cli("--db", sample_db, "report", "--out", out)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [
            f"wrote {out / name}" for name in (*FILES, "runs.csv", "links.csv")
        ]
    for name in (*FILES, "runs.csv", "links.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert sorted(p.name for p in first.iterdir()) == [
        "links.csv",
        "report.html",
        "report.json",
        "report.md",
        "runs.csv",
    ]


def test_re_estimating_does_not_change_the_report(sample_db, sample_data, tmp_path):
    """computed_at / resolved_at change with every estimate; the report must not."""
    db = tmp_path / "again.duckdb"
    shutil.copy(sample_db, db)
    before = run_cli("--db", db, "report", "--out", tmp_path / "before", "--format", "json")
    assert before.exit_code == 0, before.output
    config = sample_data / "reconcile.toml"
    assert run_cli("--db", db, "--config", config, "estimate").exit_code == 0
    after = run_cli("--db", db, "report", "--out", tmp_path / "after", "--format", "json")
    assert after.exit_code == 0, after.output
    assert (tmp_path / "before" / "report.json").read_bytes() == (
        tmp_path / "after" / "report.json"
    ).read_bytes()


def test_stamp_adds_the_generation_time(sample_db, tmp_path):
    result = run_cli(
        "--db", sample_db, "report", "--out", tmp_path, "--format", "json,html", "--stamp"
    )
    assert result.exit_code == 0, result.output
    stamp = json.loads((tmp_path / "report.json").read_text())["provenance"]["generated_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert f"generated <b>{stamp}</b>" in (tmp_path / "report.html").read_text()
    assert not (tmp_path / "report.md").exists()


def test_nothing_half_written_on_failure(sample_db, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("the previous report")
    (out / "report.md").mkdir()  # report.md cannot be replaced
    result = run_cli("--db", sample_db, "report", "--out", out)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "report.md: is a folder" in result.stderr
    assert (out / "report.html").read_text() == "the previous report"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.md"]  # no temps
    assert not any((out / "report.md").iterdir())


def test_missing_database_and_bad_format(tmp_path):
    result = run_cli("--db", tmp_path / "none.duckdb", "report", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "no such database" in result.stderr
    assert not (tmp_path / "out").exists()
    result = run_cli(
        "--db", tmp_path / "none.duckdb", "report", "--out", tmp_path, "--format", "html,pdf"
    )
    assert result.exit_code == 2 and "unknown report format pdf" in result.stderr


def test_write_report_for_the_batch_job(sample_db, tmp_path):
    con = warehouse.open_for_read(sample_db)
    try:
        written = report.write_report(con, tmp_path / "r", formats=["md"])
    finally:
        con.close()
    assert written == [tmp_path / "r" / "report.md"]


# ------------------------------------------------------------------ the three formats


def test_json_follows_its_shipped_schema(model):
    jsonschema = pytest.importorskip("jsonschema")
    assert report_schema.shipped_schema_text() == report_schema.schema_text(), (
        "regenerate: python -m reconcile.report.schema > reconcile/templates/report.schema.json"
    )
    schema = json.loads(report_schema.shipped_schema_text())
    data = json.loads(report_render.to_json(model))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert data["schema_version"] == REPORT_SCHEMA_VERSION
    # every field is documented
    for definition in [schema, *schema["$defs"].values()]:
        for name, prop in definition["properties"].items():
            assert prop.get("description"), name


def test_markdown_says_the_same(model):
    text = report_render.to_markdown(model)
    for m in model.models:
        assert f"### {report_render.charts.STATUS_SYMBOLS[m.status]} " in text
        assert m.notification in text
    for reference in compliance.REFERENCES.values():
        assert reference in text
    assert model.provenance.evidence_digest in text
    assert "| **▲ PROVIDER** | acme-mistral-7b-cpt |" in text
    assert not re.search(r"\S- \*\*", text)  # every list item on its own line


def test_html_is_self_contained_and_small(model):
    html = report_render.to_html(model)
    assert len(html.encode()) < 1_000_000
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert html.count("<svg") >= len(model.models) + 2  # overview, bullets, cumulative
    assert "@page { size: A4" in html
    for m in model.models:  # in body text, powers of ten as superscripts
        headline = m.headline.replace("'", "&#39;")
        assert re.sub(r"10\^(\d+)", r"10<sup>\1</sup>", headline) in html
        assert "10^" not in headline or "10<sup>" in html
    assert "10^" not in re.sub(r"<svg.*?</svg>", "", html, flags=re.S)


def test_methods_are_prose_and_powers_are_superscripts():
    text = "Rules:\n\n* ``provider``: above one third of 10^23;\n  said plainly.\n\nEnd."
    assert str(report_render.prose(text)) == (
        "<p>Rules:</p>\n<ul><li><code>provider</code>: above one third of 10<sup>23</sup>;"
        " said plainly.</li></ul>\n<p>End.</p>"
    )
    assert str(report_render.superscripts("4.3×10^22 <b>")) == "4.3×10<sup>22</sup> &lt;b&gt;"


# ------------------------------------------------------------------ real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
browser = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (apt-get install chromium): HTML not rendered in a browser",
)


def chromium(tmp_path, *args):
    """Headless Chromium with a fresh profile, offline; returns the finished process."""
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def html_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(report_render.to_html(model), encoding="utf-8")
    return path


@browser
@pytest.mark.browser
def test_every_status_is_visible_in_the_browser_dom_without_console_errors(
    model, html_file, tmp_path
):
    done = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", html_file.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    for m in model.models:
        row = re.search(
            rf'<tr id="status-{report_render.slug(m.model_id)}" data-status="{m.status}">'
            r"(.*?)</tr>",
            dom,
            re.S,
        )
        assert row, m.model_id
        assert f'class="badge {m.status}"' in row[1] and m.status_label in row[1]
        assert m.model_id in row[1]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    # the check above does see console errors (a page that logs one)
    control = tmp_path / "control.html"
    control.write_text("<script>console.error('boom')</script>")
    seen = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", control.as_uri())
    assert any("CONSOLE" in line and "boom" in line for line in seen.stderr.splitlines())


@browser
@pytest.mark.browser
def test_screenshot(html_file, tmp_path):
    png = tmp_path / "report.png"
    done = chromium(
        tmp_path,
        "--hide-scrollbars",
        "--window-size=1100,1500",
        f"--screenshot={png}",
        html_file.as_uri(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


@browser
@pytest.mark.browser
def test_prints_to_an_a4_pdf(html_file, tmp_path):
    pdf = tmp_path / "report.pdf"
    done = chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html_file.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert len(boxes) >= 3  # pages
    for width, height in boxes:  # A4: 595 x 842 points
        assert float(width) == pytest.approx(595.3, abs=1) and float(height) == pytest.approx(
            841.9, abs=1
        )


def test_coverage_line(model, sample_db, tmp_path):
    """Every sample run has a figure; a run that lacks one is listed with what to supply."""
    assert (model.coverage.runs, model.coverage.with_figure) == (9, 9)
    assert model.coverage.missing == []
    db = tmp_path / "more.duckdb"
    shutil.copy(sample_db, db)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "lost.runs.csv").write_text(
        "job_name,base_model,method\nlost-run,Qwen/Qwen2.5-7B,full\n"
    )
    assert run_cli("--db", db, "ingest", extra).exit_code == 0
    assert run_cli("--db", db, "estimate").exit_code == 0
    out = tmp_path / "out"
    assert run_cli("--db", db, "report", "--out", out, "--format", "md,json").exit_code == 0
    data = json.loads((out / "report.json").read_text())
    assert data["coverage"]["runs"] == 10 and data["coverage"]["with_figure"] == 9
    codes = {m["code"]: m["runs"] for m in data["coverage"]["missing"]}
    assert codes["tokens_unknown"] == ["lost-run"]
    text = (out / "report.md").read_text()
    assert "**Coverage:** 9 of 10 training runs have a compute figure." in text
    assert "num_input_tokens_seen" in text  # the remedy


def test_every_method_drawn_on_one_axis_per_run(sample_db, tmp_path):
    out = tmp_path / "out"
    assert run_cli("--db", sample_db, "report", "--out", out, "--format", "html").exit_code == 0
    html = (out / "report.html").read_text()
    # the legal run has architecture, hardware, billing, reported and combined figures
    assert html.count("on one log FLOP axis</title>") == 9  # one chart per run
    legal = html[html.index('id="run-llama31-8b-legal-fullft-20250411"') :]
    chart = legal[legal.index("<svg") : legal.index("</svg>")]
    for method in ("architecture", "hardware", "billing", "reported", "combined"):
        assert f">{method}</text>" in chart


# ------------------------------------------------------------ appendix and scale


def test_the_csv_appendix_holds_every_run_and_link_with_the_reports_figures(sample_db, tmp_path):
    import csv

    out = tmp_path / "out"
    result = run_cli("--db", sample_db, "report", "--out", out, "--format", "json,csv")
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text())
    with (out / "runs.csv").open(encoding="utf-8") as handle:
        runs = {row["run_id"]: row for row in csv.DictReader(handle)}
    assert set(runs) == {r["run_id"] for r in data["runs"]}
    for run in data["runs"]:
        combined = next(e for e in run["estimates"] if e["method"] == "combined")
        row = runs[run["run_id"]]
        if combined["flops_central"] is None:
            assert row["combined_flops_central"] == ""
        else:
            assert float(row["combined_flops_central"]) == combined["flops_central"]
        assert row["decided_by"] == (run["decided_by"] or "")
        assert row["flags"] == ";".join(f["code"] for f in run["flags"])
    with (out / "links.csv").open(encoding="utf-8") as handle:
        links = list(csv.DictReader(handle))
    assert len(links) == sum(len(r["usage"]) + len(r["billing"]) for r in data["runs"])
    billed = {}
    for link in links:
        if link["kind"] == "billing":
            billed[link["run_id"]] = billed.get(link["run_id"], 0.0) + float(
                link["accelerator_hours"]
            )
    for run in data["runs"]:
        if run["billing"]:
            hours = sum(b["accelerator_hours"] for b in run["billing"])
            assert billed[run["run_id"]] == pytest.approx(hours, rel=1e-12)


def test_a_large_organisation_shows_its_largest_runs_and_summarises_the_rest(
    sample_db, monkeypatch
):
    """With room for 3 runs in full and 2 lineage rows per model (the sample has 9 runs;
    a 10,000-run organisation meets the real limits the same way): the 3 largest runs by
    combined figure are shown in full, the others are named only in the appendix, each
    model's lineage lists its 2 largest runs and sums the rest."""
    monkeypatch.setattr(report_render, "DETAIL_RUNS", 3)
    monkeypatch.setattr(report_render, "LINEAGE_ROWS", 2)
    con = warehouse.open_for_read(sample_db)
    try:
        built = report.build_report(con)
    finally:
        con.close()
    files = report_render.render(built, ("html", "md"))
    html, md = files["report.html"], files["report.md"]

    def central(run):
        return next(e.flops_central for e in run.estimates if e.method == "combined") or 0.0

    largest = sorted(built.runs, key=lambda r: (-central(r), r.run_id))[:3]
    shown = re.findall(r'<article class="run" id="run-([^"]+)">', html)
    assert shown == [report_render.slug(r.run_id) for r in built.runs if r in largest]
    assert f"<strong>{len(built.runs)} runs:</strong> the 3 with the largest figures" in html
    assert [r.run_id for r in built.runs if f"\n### {r.run_id}\n" in md] == [
        r.run_id for r in built.runs if r in largest
    ]
    for model in built.models:
        if len(model.runs) > 2:
            rest = sorted(model.runs, key=lambda r: (-(r.flops_central or 0.0), r.run_id))[2:]
            flops = report_render.superscripts(
                compliance.sci(sum(r.flops_central or 0.0 for r in rest))
            )
            assert (
                f"The 2 largest of {len(model.runs)} runs; {len(rest)} more contribute "
                f"{flops} FLOP" in html
            )
    small = report_render.render(built, ("html",))["report.html"]
    assert small == html  # the same limits give the same document


def test_each_model_card_draws_its_lineage(model):
    """Base model, then the lineage's runs in the order they started with how each was
    linked and its figure, then the model; one arrow per step."""
    html = report_render.to_html(model)
    for m in model.models:
        start = html.index(f"<title>Lineage of {m.model_id}</title>")
        svg = html[start : html.index("</svg>", start)]
        names = re.findall(r'<text x="28" y="[\d.]+" fill="#1F2933">([^<]+)</text>', svg)
        ordered = sorted(m.runs, key=lambda r: (r.started_at or "~", r.run_id))
        assert names == [m.base_model or "base model unknown"] + [r.run_id for r in ordered] + [
            m.model_id
        ]
        assert svg.count('<path class="arrow"') == len(m.runs) + 1
        for r in m.runs:
            assert f"{r.relation} · {r.lineage_source}" in svg
