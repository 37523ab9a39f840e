"""Rendering Arrow tables as JSON, CSV or a terminal table.

Cell values are data, often from files nobody vetted (job names, object keys, tags):

- on a terminal they are shown, never obeyed: control characters (C0, DEL, C1, bidi
  overrides) are stripped and rich markup is not interpreted (``Text`` objects);
- in CSV, a text cell a spreadsheet would run as a formula gets a leading ``'``
  (OWASP, "CSV Injection": https://owasp.org/www-community/attacks/CSV_Injection);
- in JSON, C1 characters are written as ``\\u`` escapes (same value, inert bytes).

CSV and JSON are written batch by batch, so a large result never sits in memory whole.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
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


def rows(table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """The table (or one record batch) as a list of JSON-ready dicts."""
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]


#: DEL and the C1 controls: JSON leaves them raw, and 0x9b is a one-byte CSI to some
#: terminals. They can only occur inside JSON strings, where an escape is the same value.
_JSON_C1 = re.compile("[\x7f-\x9f]")


def _json_text(value: Any, indent: int | None = 2) -> str:
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    return _JSON_C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def to_json(table: pa.Table) -> str:
    """A JSON array with one object per row."""
    return _json_text(rows(table))


def iter_json(batches: Iterable[pa.RecordBatch]) -> Iterator[str]:
    """A JSON array with one object per row, in pieces (one per non-empty batch).

    The pieces joined are the text :func:`to_json` gives for the same rows.
    """
    first = True
    for batch in batches:
        if not batch.num_rows:
            continue
        items = ",\n".join("  " + _json_text(row).replace("\n", "\n  ") for row in rows(batch))
        yield ("[\n" if first else ",\n") + items
        first = False
    yield "[]" if first else "\n]"


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


#: Leading characters that make a spreadsheet evaluate a cell (OWASP's list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A plain number written as text: a spreadsheet reads it as that number, not a formula.
_PLAIN_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_safe(value: str) -> str:
    """``value`` as a CSV text cell that no spreadsheet runs as a formula.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading ``'``, unless it is a plain number such as ``-1.5`` (which stays a number).
    """
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return csv_safe(json.dumps(value, default=str))
    if isinstance(value, str):
        return csv_safe(value)
    return value  # numbers, booleans: written as the numbers they are


def _csv_text(cells: list[Any]) -> str:
    """One CSV line. The csv module quotes a field holding the line terminator but not a
    lone ``\\r``, which readers then take for a line break: such a row gets every text
    cell quoted (numbers stay bare)."""
    buffer = io.StringIO()
    carriage = any(isinstance(c, str) and "\r" in c for c in cells)
    if carriage:
        csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).writerow(cells)
    else:
        csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def iter_csv(column_names: list[str], batches: Iterable[pa.RecordBatch]) -> Iterator[str]:
    """CSV with a header row, in pieces (the header, then one per batch); nested values
    as JSON text, formula-like text cells neutralised (:func:`csv_safe`)."""
    yield _csv_text([csv_safe(name) for name in column_names])
    for batch in batches:
        yield "".join(_csv_text([_csv_cell(v) for v in row.values()]) for row in rows(batch))


def to_csv(table: pa.Table) -> str:
    """CSV with a header row; see :func:`iter_csv`."""
    return "".join(iter_csv(table.column_names, table.to_batches()))


#: Characters that move the cursor or change how a terminal shows what follows:
#: C0 controls (tab, newline and ESC included), DEL, C1 controls, and the bidirectional
#: overrides and isolates ("Trojan Source", CVE-2021-42574).
_TERMINAL_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n\r\v\f]+")


def terminal_safe(text: str) -> str:
    """``text`` without anything a terminal would act on: tabs and line breaks become
    one space, every other control character is dropped."""
    return _TERMINAL_CONTROLS.sub("", _LINE_BREAKS.sub(" ", text))


def readable(value: Any) -> str:
    """A cell for people (terminal tables, Markdown): 3 significant figures, thousands
    separators, money to the cent; CSV, JSON and Parquet keep the raw values."""
    if isinstance(value, bool) or value is None:
        return _cell_text(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}" if value == value else str(value)  # NaN stays NaN
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        size = abs(value)
        if size == 0:
            return "0"
        if size >= 1e15 or size < 1e-3:
            return f"{value:.3g}"
        if size >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return _cell_text(value)


def table_cells(table: pa.Table, *, for_people: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and cell texts for a terminal table, made :func:`terminal_safe` (numbers
    :func:`readable` unless ``for_people`` is false).

    The texts may still contain rich markup (``[bold]``): show them as ``Text`` objects.
    """
    cell = readable if for_people else _cell_text
    header = [terminal_safe(name) for name in table.column_names]
    return header, [[terminal_safe(cell(v)) for v in row.values()] for row in rows(table)]


def markdown_table(table: pa.Table) -> str:
    """A GitHub-flavoured Markdown table of ``table`` (numbers :func:`readable`)."""
    header, cells = table_cells(table)

    def line(items: list[str]) -> str:
        return "| " + " | ".join(i.replace("|", "\\|") for i in items) + " |"

    numeric = [
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        for t in table.schema.types
    ]
    rule = "|" + "|".join("--:" if n else "---" for n in numeric) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in cells)]) + "\n"


def vertical_text(title: str, table: pa.Table) -> str:
    """Each row as a block of ``column: value`` lines: for tables wider than the terminal."""
    header, cells = table_cells(table)
    width = max((len(h) for h in header), default=0)
    blocks = [terminal_safe(title)]
    for number, row in enumerate(cells, start=1):
        blocks.append(f"-- row {number} " + "-" * 20)
        blocks += [f"{h.rjust(width)}: {v}" for h, v in zip(header, row, strict=True)]
    return "\n".join(blocks) + "\n"


def rich_table(title: str, table: pa.Table) -> Any:
    """A ``rich.table.Table`` of ``table`` whose title, headers and cells are shown
    literally: no markup interpreted, no control character kept."""
    from rich.table import Column, Table
    from rich.text import Text

    header, cells = table_cells(table)
    view = Table(*(Column(header=Text(h)) for h in header), title=Text(terminal_safe(title)))
    for row in cells:
        view.add_row(*(Text(c) for c in row))
    return view
