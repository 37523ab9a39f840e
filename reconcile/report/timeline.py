"""The report's timeline: compute over calendar months (UTC).

Each run's combined central FLOPs are spread over the months of its start-to-end window
in proportion to time; accelerator-hours and unattributed compute come from the shipped
queries (the same files ``reconcile query`` runs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb

from reconcile import queries
from reconcile.report.model import (
    AcceleratorHours,
    ModelReport,
    ModelSeries,
    Timeline,
    Unattributed,
)
from reconcile.report.rows import number


def _month(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m")


def _next_month(value: datetime) -> datetime:
    return datetime(value.year + value.month // 12, value.month % 12 + 1, 1, tzinfo=UTC)


def _month_shares(start: datetime | None, end: datetime | None) -> dict[str, float]:
    """How a run's compute spreads over calendar months (UTC), by time."""
    if start is None and end is None:
        return {}
    if start is None or end is None or end <= start:
        return {_month(start or end): 1.0}  # type: ignore[arg-type]
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = (end - start).total_seconds()
    shares: dict[str, float] = {}
    cursor = start
    while cursor < end:
        boundary = min(_next_month(cursor), end)
        shares[_month(cursor)] = (boundary - cursor).total_seconds() / total
        cursor = boundary
    return shares


def _month_range(months: Iterable[str]) -> list[str]:
    found = sorted(set(months))
    if not found:
        return []
    year, month = map(int, found[0].split("-"))
    result = []
    while f"{year:04d}-{month:02d}" <= found[-1]:
        result.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return result


def build_timeline(
    con: duckdb.DuckDBPyConnection,
    models: list[ModelReport],
    runs_by_key: Mapping[str, dict[str, Any]],
    estimates_by_run: Mapping[str, dict[str, dict[str, Any]]],
) -> Timeline:
    """Each model's cumulative FLOPs by month against its threshold, accelerator-hours by
    source and month, and the compute no run accounts for (the shipped queries)."""
    known = {q.name: q for q in queries.available()}
    # Billed hours from billing_totals, which counts spend delivered in several exports
    # (native and FOCUS...) once; the other sources from accelerator_hours_by_platform.
    hours_rows = [
        r
        for r in queries.run(con, known["accelerator_hours_by_platform"], {}).to_pylist()
        if r["source"] != "billing"
    ]
    hours_rows += [
        {
            "source": "billing",
            "platform": r["provider"],
            "accelerator": r["accelerator"],
            "month": r["month"],
            "accelerator_hours": r["accelerator_hours"],
        }
        for r in queries.run(con, known["billing_totals"], {}).to_pylist()
        if r["accelerator_hours"] and float(r["accelerator_hours"]) > 0
    ]
    unattributed_rows = queries.run(con, known["unattributed_compute"], {}).to_pylist()
    per_model: dict[str, dict[str, float]] = {}
    undated = set()
    for model in models:
        monthly: dict[str, float] = defaultdict(float)
        for member in model.runs:
            run = runs_by_key.get(member.run_id, {})
            central = number(
                estimates_by_run.get(member.run_id, {}).get("combined", {}).get("flops_central")
            )
            if central is None:
                continue
            shares = _month_shares(run.get("started_at"), run.get("ended_at"))
            if not shares:
                undated.add(member.run_id)
            for month, share in shares.items():
                monthly[month] += central * share
        per_model[model.model_id] = monthly
    months = _month_range(
        [m for monthly in per_model.values() for m in monthly]
        + [r["month"] for r in hours_rows if r["month"]]
        + [r["month"] for r in unattributed_rows if r["month"]]
    )
    series = []
    for model in models:
        total, cumulative = 0.0, []
        for month in months:
            total += per_model[model.model_id].get(month, 0.0)
            cumulative.append(total)
        series.append(ModelSeries(model.model_id, model.status, model.threshold_flops, cumulative))
    grouped: dict[tuple[str, str | None, str | None], dict[str, float]] = defaultdict(dict)
    for row in hours_rows:
        key = (row["source"], row["platform"], row["accelerator"])
        cell = grouped[key]
        month = row["month"] or "unknown"
        cell[month] = cell.get(month, 0.0) + float(row["accelerator_hours"] or 0.0)
    hours = [
        AcceleratorHours(
            source=source,
            platform=platform,
            accelerator=accelerator,
            hours_by_month=[cells.get(m) for m in months],
            total_hours=sum(cells.values()),
        )
        for (source, platform, accelerator), cells in sorted(
            grouped.items(), key=lambda kv: tuple(x or "" for x in kv[0])
        )
    ]
    unattributed = [
        Unattributed(
            kind=r["kind"],
            provider=r["provider"],
            account_id=r["account_id"],
            month=r["month"],
            accelerator=r["accelerator"],
            accelerator_hours=float(r["accelerator_hours"] or 0.0),
            cost_billed=number(r["cost_billed"]),
            currency=r["currency"],
            label=r["tags"],
        )
        for r in unattributed_rows
    ]
    unattributed.sort(
        key=lambda u: (
            u.kind,
            u.provider or "",
            u.month or "",
            -u.accelerator_hours,
            u.accelerator or "",
            u.label or "",
        )
    )
    return Timeline(
        months=months,
        flops_attribution="each run's combined central FLOPs spread over the months of its "
        "start-to-end window in proportion to time (UTC)",
        series=series,
        undated_runs=sorted(undated),
        accelerator_hours=hours,
        unattributed=unattributed,
    )
