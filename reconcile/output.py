"""Rendering Arrow tables as JSON, CSV or a terminal table."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa


def _plain(value: Any) -> Any:
    """A JSON-ready version of one cell."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # JSON numbers are doubles: 15 significant digits are plenty for money totals;
        # exact values stay in the warehouse as DECIMAL(38, 10).
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _plain(v) for k, v in value}  # a MAP column
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table as a list of JSON-ready dicts."""
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]


def to_json(table: pa.Table) -> str:
    """A JSON array with one object per row."""
    return json.dumps(rows(table), indent=2, ensure_ascii=False, default=str)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return (
            f"{value:.6g}" if (abs(value) >= 1e6 or (value and abs(value) < 1e-3)) else repr(value)
        )
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def to_csv(table: pa.Table) -> str:
    """CSV with a header row; nested values as JSON text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in rows(table):
        writer.writerow(
            [
                ""
                if v is None
                else (json.dumps(v, default=str) if isinstance(v, (dict, list)) else v)
                for v in row.values()
            ]
        )
    return buffer.getvalue()


def table_cells(table: pa.Table) -> tuple[list[str], list[list[str]]]:
    """Header and cell texts for a terminal table."""
    return table.column_names, [[_cell_text(v) for v in row.values()] for row in rows(table)]
