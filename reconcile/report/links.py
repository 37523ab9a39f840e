"""Each run's linked GPU usage and billing for the report, grouped as an auditor reads them.

The rows come from the matches of ``reconcile estimate`` (``run_matches``) and the lake
projection of the rows that count once; each group names the evidence file it came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import duckdb

from reconcile import lake
from reconcile.engines import rollup_id_sql
from reconcile.report.model import BillingMatch, UsageMatch
from reconcile.report.rows import iso, number, select, table_exists


def run_links(
    con: duckdb.DuckDBPyConnection, evidence_id: Mapping[str, str]
) -> tuple[dict[str, list[UsageMatch]], dict[str, list[BillingMatch]]]:
    """Each run's linked GPU usage and billing, by run id.

    Args:
        con: a connection to the warehouse (temporary tables of the matched rows are made).
        evidence_id: each evidence file's id (E1, E2, ...) by uri.
    """
    _match_members(con)
    return _usage_matches(con, evidence_id), _billing_matches(con, evidence_id)


#: The columns of each member row the report shows, straight from the lake projection
#: (the rows that count once): never joined back to the fact tables by id, where a line
#: id repeated (identical lines, a file delivered twice) would multiply rows.
_MEMBER_COLUMNS = {
    "billing_rollup": "line_id, provider, account_id, usage_type, instance_type, resource_id, "
    "accelerator, accelerator_hours, cost_billed, currency, source_uri",
    "usage_rollup": "usage_id, source_kind, cluster, job_key, host, accelerator, started_at, "
    "ended_at, gpu_seconds, tensor_active_avg, source_uri",
}


def _match_members(con: duckdb.DuckDBPyConnection) -> None:
    """Temporary tables from each matched rollup group to its billing lines / usage rows
    (the same rollup_id expression over the lake projection of the warehouse tables)."""
    lake.register_views(con)
    for stage, view, where in (
        ("billing_rollup", "lake_billing_lines", "accelerator_hours > 0"),
        ("usage_rollup", "lake_gpu_usage", "true"),
    ):
        table = "_billing_members" if stage == "billing_rollup" else "_usage_members"
        columns = _MEMBER_COLUMNS[stage]
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT rollup_id, {columns} FROM (SELECT {rollup_id_sql(stage)} AS rollup_id, "
            f"{columns} FROM {view} WHERE {where}) WHERE rollup_id IN "
            f"(SELECT target_id FROM run_matches WHERE target_table = '{stage}')"
        )


def _usage_matches(
    con: duckdb.DuckDBPyConnection, evidence_id: Mapping[str, str]
) -> dict[str, list[UsageMatch]]:
    """Each run's linked GPU usage, grouped by source, job and file (one query for all)."""
    rows = select(
        con,
        "SELECT m.run_id, m.match_method, m.confidence, u.usage_id, u.source_kind, u.cluster, "
        "u.job_key, u.host, u.accelerator, u.started_at, u.ended_at, u.gpu_seconds, "
        "u.tensor_active_avg, u.source_uri "
        "FROM run_matches m JOIN _usage_members u ON u.rollup_id = m.target_id "
        "WHERE m.target_table = 'usage_rollup' ORDER BY m.run_id, u.usage_id, u.source_uri",
    )
    return {run: _usage_groups(items, evidence_id) for run, items in _by_run(rows).items()}


def _by_run(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by their ``run_id``, in their order."""
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_run[row["run_id"]].append(row)
    return by_run


def _usage_groups(rows: list[dict[str, Any]], evidence_id: Mapping[str, str]) -> list[UsageMatch]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (
            row["source_kind"],
            row["cluster"],
            row["job_key"],
            row["accelerator"],
            row["match_method"],
            row["confidence"],
            row["source_uri"],
        )
        groups[key].append(row)
    matches = []
    for key, items in groups.items():
        kind, cluster, job, accelerator, how, confidence, uri = key
        seconds = sum(float(i["gpu_seconds"] or 0.0) for i in items)
        measured = [i for i in items if i["tensor_active_avg"] is not None and i["gpu_seconds"]]
        weight = sum(float(i["gpu_seconds"]) for i in measured)
        tensor = (
            sum(float(i["tensor_active_avg"]) * float(i["gpu_seconds"]) for i in measured) / weight
            if weight
            else None
        )
        starts = [i["started_at"] for i in items if i["started_at"] is not None]
        ends = [i["ended_at"] for i in items if i["ended_at"] is not None]
        matches.append(
            UsageMatch(
                source_kind=kind,
                cluster=cluster,
                job_key=job,
                accelerator=accelerator,
                hosts=sorted({i["host"] for i in items if i["host"]}),
                match_method=how,
                confidence=number(confidence),
                rows=len(items),
                gpu_hours=seconds / 3600.0,
                tensor_active_avg=tensor,
                started_at=iso(min(starts)) if starts else None,
                ended_at=iso(max(ends)) if ends else None,
                evidence_id=evidence_id.get(uri),
                usage_ids=sorted(i["usage_id"] for i in items),
            )
        )
    matches.sort(
        key=lambda m: (m.source_kind, m.job_key or "", m.evidence_id or "", m.match_method)
    )
    return matches


def _billing_matches(
    con: duckdb.DuckDBPyConnection, evidence_id: Mapping[str, str]
) -> dict[str, list[BillingMatch]]:
    """Each run's linked billing, grouped by account, usage type, resource and file, and
    its allocated shares of windows other runs share (one query each for all runs)."""
    rows = select(
        con,
        "SELECT m.run_id, m.match_method, m.confidence, b.line_id, b.provider, b.account_id, "
        "b.usage_type, b.instance_type, b.resource_id, b.accelerator, "
        "CAST(b.accelerator_hours AS DOUBLE) AS accelerator_hours, "
        "CAST(b.cost_billed AS DOUBLE) AS cost_billed, b.currency, b.source_uri "
        "FROM run_matches m JOIN _billing_members b ON b.rollup_id = m.target_id "
        "WHERE m.target_table = 'billing_rollup' ORDER BY m.run_id, b.line_id, b.source_uri",
    )
    out = {run: _billing_groups(items, evidence_id) for run, items in _by_run(rows).items()}
    for row in _window_rows(con):
        out.setdefault(row["run_id"], []).append(
            BillingMatch(
                provider=row["provider"],
                account_id=None,
                usage_type=None,
                instance_type=None,
                resource_id=None,
                accelerator=row["accelerator"],
                match_method=row["match_method"],
                confidence=number(row["confidence"]),
                lines=int(row["allocated_lines"] or 0),
                accelerator_hours=float(row["allocated_hours"] or 0.0),
                cost_billed=None,
                currency=None,
                evidence_id=None,
                line_ids=[],
                window_id=row["window_id"],
                shared_accelerator_hours=number(row["shared_hours"]),
            )
        )
    return out


def _window_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The allocated shares (``billing_window`` links) with their window's cloud and
    accelerator; none in a warehouse from before allocation."""
    if not table_exists(con, "billing_window_members"):
        return []
    return select(
        con,
        "WITH windows AS (SELECT w.window_id, any_value(b.provider) AS provider, "
        "any_value(b.accelerator) AS accelerator FROM billing_window_members w "
        "JOIN billing_rollup b ON b.rollup_id = w.rollup_id GROUP BY w.window_id) "
        "SELECT m.run_id, m.match_method, m.confidence, m.target_id AS window_id, "
        "m.allocated_hours, m.allocated_lines, "
        "CAST(m.details->>'shared_accelerator_hours' AS DOUBLE) AS shared_hours, "
        "w.provider, w.accelerator "
        "FROM run_matches m JOIN windows w ON w.window_id = m.target_id "
        "WHERE m.target_table = 'billing_window' ORDER BY m.run_id, m.target_id",
    )


def _billing_groups(
    rows: list[dict[str, Any]], evidence_id: Mapping[str, str]
) -> list[BillingMatch]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (
            row["provider"],
            row["account_id"],
            row["usage_type"],
            row["instance_type"],
            row["resource_id"],
            row["accelerator"],
            row["match_method"],
            row["confidence"],
            row["currency"],
            row["source_uri"],
        )
        groups[key].append(row)
    matches = []
    for key, items in groups.items():
        provider, account, usage_type, instance, resource, accelerator, how, conf, cur, uri = key
        costs = [float(i["cost_billed"]) for i in items if i["cost_billed"] is not None]
        matches.append(
            BillingMatch(
                provider=provider,
                account_id=account,
                usage_type=usage_type,
                instance_type=instance,
                resource_id=resource,
                accelerator=accelerator,
                match_method=how,
                confidence=number(conf),
                lines=len(items),
                accelerator_hours=sum(float(i["accelerator_hours"] or 0.0) for i in items),
                cost_billed=sum(costs) if costs else None,
                currency=cur,
                evidence_id=evidence_id.get(uri),
                line_ids=sorted(i["line_id"] for i in items),
                window_id=None,
                shared_accelerator_hours=None,
            )
        )
    matches.sort(key=lambda m: (m.provider, m.account_id or "", m.resource_id or "", m.line_ids))
    return matches
