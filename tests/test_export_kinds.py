"""The export-kind ranking: reconcile/data/export_kinds.csv is the only one, and both
readers (the view billing_lines_counted and the billing stage) count what it says."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

import pytest

from reconcile import lake, warehouse
from reconcile.engines import DuckDBEngine, spark_sql, stage_sql
from reconcile.errors import WarehouseError

SHIPPED = (resources.files("reconcile.data") / "export_kinds.csv").read_text(encoding="utf-8")


def _line(con, line_id, kind, cost, *, start="2025-03-02 10:00:00+00", period="2025-03"):
    """One accelerator billing line of account 111 (2 hours), in its own delivery."""
    con.execute(
        "INSERT INTO billing_lines (line_id, provider, account_id, billing_period, "
        "usage_start_at, accelerator, accelerator_hours, cost_billed, cost_effective, "
        "currency, export_kind, source_uri, source_format) VALUES "
        "($id, 'aws', '111', $period, CAST($start AS TIMESTAMPTZ), 'NVIDIA H100 SXM5-80GB', "
        "2.0, $cost, $cost, 'USD', $kind, $uri, 'test')",
        {
            "id": line_id,
            "period": period,
            "start": start,
            "cost": cost,
            "kind": kind,
            "uri": f"file:///{kind}/{line_id}.csv",
        },
    )


def _counted(con):
    """(billed, effective) as the view counts them, and as the billing stage does."""
    view = con.execute(
        "SELECT sum(cost_billed) FILTER (WHERE counts_billed), "
        "sum(cost_effective) FILTER (WHERE counts_effective) FROM billing_lines_counted"
    ).fetchone()
    rollup = DuckDBEngine().run_stages(con)["billing_rollup"].table.to_pylist()
    stage = (
        sum(r["cost_billed"] for r in rollup if r["counts_billed"]),
        sum(r["cost_effective"] for r in rollup if r["counts_effective"]),
    )
    return tuple(view), stage


@pytest.fixture
def con(tmp_path):
    con = warehouse.open_for_write(tmp_path / "w.duckdb")
    yield con
    con.close()


def test_the_csv_is_the_only_ranking(con):
    view = con.execute(
        "SELECT sql FROM duckdb_views() WHERE view_name = 'billing_lines_counted'"
    ).fetchone()[0]
    for sql in (
        view,
        stage_sql("billing_rollup"),
        spark_sql("billing_rollup"),
        lake.PROJECTIONS["billing_lines"].sql,
    ):
        assert "'cur2'" not in sql.lower()
        assert "azure_amortized" not in sql.lower()
    assert "export_kind_ranks" in view
    stored = con.execute("SELECT count(*) FROM export_kind_ranks").fetchone()[0]
    assert stored == warehouse.export_kind_ranks().num_rows == len(SHIPPED.splitlines()) - 1


def test_cur2_counts_and_focus_of_the_same_month_does_not(con):
    # the same 10.00 USD of March, delivered as CUR 2.0 (two lines) and as FOCUS (one)
    _line(con, "c1", "cur2", Decimal("4.00"))
    _line(con, "c2", "cur2", Decimal("6.00"))
    _line(con, "f1", "focus", Decimal("10.00"))
    view, stage = _counted(con)
    assert view == (Decimal("10.00"), Decimal("10.00"))  # 4 + 6, FOCUS not added
    assert stage == view


def test_a_new_kind_in_the_csv_changes_what_counts(con):
    _line(con, "c1", "cur2", Decimal("4.00"))
    _line(con, "c2", "cur2", Decimal("6.00"))
    _line(con, "n1", "cur3", Decimal("9.50"))
    # cur3 is not listed: it ranks as every unlisted kind, after CUR 2.0
    assert _counted(con) == ((Decimal("10.00"),) * 2, (Decimal("10.00"),) * 2)
    ranks = warehouse.export_kind_ranks(SHIPPED + 'cur3,0,0,"a newer AWS export"\n')
    warehouse.fill_export_kind_ranks(con, ranks)
    assert _counted(con) == ((Decimal("9.50"),) * 2, (Decimal("9.50"),) * 2)
    # a billed-only preference: cur3 for billed figures, CUR 2.0 still for effective
    ranks = warehouse.export_kind_ranks(SHIPPED + 'cur3,0,5,"billed only"\n')
    warehouse.fill_export_kind_ranks(con, ranks)
    assert _counted(con) == ((Decimal("9.50"), Decimal("10.00")),) * 2


def test_opening_for_write_restores_the_shipped_ranking(tmp_path):
    db = tmp_path / "w.duckdb"
    con = warehouse.open_for_write(db)
    con.execute("DELETE FROM export_kind_ranks")
    con.close()
    con = warehouse.open_for_write(db)
    assert con.execute("SELECT count(*) FROM export_kind_ranks").fetchone()[0] > 0
    con.close()


def test_a_line_without_a_month_counts_in_the_unknown_month(con):
    _line(con, "c1", "cur2", Decimal("4.00"), start=None, period=None)
    rows = con.execute("SELECT month, counts_billed FROM billing_lines_counted").fetchall()
    assert rows == [("unknown", True)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("export_kind,rank_billed,rank_effective,note\ncur2,1,1,x\n", "empty export_kind"),
        (
            "export_kind,rank_billed,rank_effective,note\n,9,9,x\ncur2,1,1,x\ncur2,2,2,y\n",
            "listed twice",
        ),
        ("export_kind,rank_billed,rank_effective,note\n,9,9,x\ncur2,first,1,x\n", "whole numbers"),
        ("export_kind,rank_billed,rank_effective,note\n,9,9,x\ncur2,1,1,\n", "note"),
    ],
)
def test_a_malformed_ranking_is_refused(text, reason):
    with pytest.raises(WarehouseError, match=reason):
        warehouse.export_kind_ranks(text)


def test_a_changed_ranking_changes_the_estimate_digest(con):
    from reconcile.estimate import inputs_digest

    before = inputs_digest(con, {})
    warehouse.fill_export_kind_ranks(
        con, warehouse.export_kind_ranks(SHIPPED + 'cur3,0,0,"a newer AWS export"\n')
    )
    assert inputs_digest(con, {}) != before
