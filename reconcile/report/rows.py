"""Reading the warehouse for the report: rows as dicts, whether a table exists, and values
as the model holds them (finite numbers or None, UTC timestamps in ISO 8601)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import duckdb

from reconcile import warehouse


def iso(value: Any) -> str | None:
    """A timestamp as the report states it: UTC, ISO 8601 to the second (``Z``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def number(value: Any) -> float | None:
    """A float, or None for a missing or non-finite value (JSON has no NaN)."""
    if value is None:
        return None
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def integer(value: Any) -> int | None:
    """An int, or None for a missing value."""
    return int(value) if value is not None else None


def select(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of ``sql`` (bound to ``params``) as dicts."""
    rows: list[dict[str, Any]] = con.sql(sql, params=params).to_arrow_table().to_pylist()
    return rows


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the warehouse has the table (or view) ``name``: older ones lack some."""
    count = warehouse.scalar(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $name",
        {"name": name},
    )
    return bool(count)
