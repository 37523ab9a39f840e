"""Real public billing exports (tests/data/real/billing, SOURCES.md): each loads with the
hand sums of expected.py (stdlib only), or is refused or left aside with a reason.

FOCUS: the FOCUS 1.0 sample data (literal NULL) and three example files of the FOCUS 1.2
specification (lowercase null, US dates, a virtual currency, a file with no billing
account or currency). AWS: a legacy CUR CSV. Azure: an EA actual-cost export, an
anonymised EA export in CAD, a pay-as-you-go export with PreTaxCost.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile import warehouse
from reconcile.cli import cli

ROOT = Path(__file__).parent / "data" / "real" / "billing"
EXPECTED = json.loads((ROOT / "expected.json").read_text())

#: file -> (provider, export_kind, billed column, effective column or None)
LOADED = {
    "focus/sample-data-1.0/focus_sample.csv": ("aws", "focus", "BilledCost", "EffectiveCost"),
    "focus/spec-1.2-commitment-discount-flexibility/"
    "one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv": (
        "unknown",
        "focus",
        "BilledCost",
        "EffectiveCost",
    ),
    "focus/spec-1.2-saas-spend-agreements/saas_spend_agreements_b2.csv": (
        "acme_co",
        "focus",
        "BilledCost",
        "EffectiveCost",
    ),
    "focus/spec-1.2-virtual-currency/virtual_currency_pricing_model_b2.csv": (
        "acmecorp",
        "focus",
        "BilledCost",
        "EffectiveCost",
    ),
    "aws_cur/focus-converters-anonymized-cur/sample-anonymous-aws-export-dataset.csv": (
        "aws",
        "cur1",
        "lineItem/UnblendedCost",
        "lineItem/UnblendedCost",  # no Savings Plans or reservations: amortised = unblended
    ),
    "azure/finops-toolkit-ea-actual-small/EA_ActualCost_Small.csv": (
        "azure",
        "azure_actual",
        "Cost",
        None,
    ),
    "azure/focus-converters-ea-anonymized/sample-anonymous-ea-export-dataset.csv": (
        "azure",
        "azure_actual",
        "CostInBillingCurrency",
        "CostInBillingCurrency",  # usage lines only: effective = billed
    ),
    "azure/koku-legacy-pretaxcost/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv": (
        "azure",
        "azure_usage",
        "PreTaxCost",
        "PreTaxCost",
    ),
}


def _one(tmp_path: Path, rel: str) -> tuple[Path, dict]:
    folder = tmp_path / "src"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / rel, folder / Path(rel).name.replace(":", "_"))
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(folder)])
    assert result.exit_code in (0, 3), result.output
    return db, json.loads(result.stdout)


def _hand(rel: str, column: str) -> Decimal:
    return Decimal(EXPECTED[rel]["cost_sums"][column]["sum"])


@pytest.mark.parametrize("rel", sorted(LOADED))
def test_real_export_loads_with_the_hand_sums(tmp_path, rel):
    provider, kind, billed_column, effective_column = LOADED[rel]
    db, summary = _one(tmp_path, rel)
    assert summary["quarantine"] == [] and summary["objects"]["ignored"] == 0
    assert summary["rows"]["billing_lines"] == EXPECTED[rel]["data_rows"]
    con = warehouse.open_for_read(db)
    try:
        ((providers, kinds, billed, effective, currencies),) = con.execute(
            "SELECT list_sort(list_distinct(list(provider))), "
            "list_sort(list_distinct(list(export_kind))), sum(cost_billed), "
            "sum(cost_effective), list_sort(list_distinct(list(currency))) FROM billing_lines"
        ).fetchall()
    finally:
        con.close()
    assert (providers, kinds) == ([provider], [kind])
    # money is DECIMAL(38,10) per line: the hand sum to within the rounding of each line
    lines = EXPECTED[rel]["data_rows"]
    assert abs(billed - _hand(rel, billed_column)) <= Decimal("5e-11") * lines
    if effective_column is not None:
        assert abs(effective - _hand(rel, effective_column)) <= Decimal("5e-11") * lines
    assert [c for c in currencies if c] == EXPECTED[rel]["currencies"]


def test_the_focus_specifications_examples_read_their_dates_and_nulls(tmp_path):
    """US dates (`1/1/26`) are months of 2025-26, not the year 1; `null` is NULL."""
    rel = "focus/spec-1.2-saas-spend-agreements/saas_spend_agreements_b2.csv"
    db, _ = _one(tmp_path, rel)
    con = warehouse.open_for_read(db)
    try:
        months = [
            m
            for (m,) in con.execute(
                "SELECT DISTINCT billing_period FROM billing_lines ORDER BY 1"
            ).fetchall()
        ]
    finally:
        con.close()
    assert months == [
        "2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11",
        "2025-12", "2026-01", "2026-02", "2026-03",
    ]  # fmt: skip


def test_what_is_not_a_cloud_delivery_is_never_loaded_silently(tmp_path):
    """An Athena table dump (Ctrl-A separated, no CSV name) and the 2014 GCP file export
    are not recognised (listed as ignored); a dump whose credits are Python reprs is
    quarantined with the reason."""
    for n, rel in enumerate(
        (
            "aws_cur/wa-labs-athena-cur/Step1CUR.gz",
            "gcp/billing-export-python-file-export-json/google-platform-demo-2014-02-21.json",
        )
    ):
        _, summary = _one(tmp_path / str(n), rel)
        assert summary["objects"]["ignored"] == 1 and summary["rows"]["billing_lines"] == 0
    _, summary = _one(tmp_path / "koku", next(r for r in EXPECTED if r.startswith("gcp/koku")))
    [quarantined] = summary["quarantine"]
    assert "Malformed JSON" in quarantined["error"] and "FreeTrial:Credit" in quarantined["error"]
