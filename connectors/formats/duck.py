"""DuckDB as the parsers use it: SQL quoting, the private in-memory connection that parses
one unit, and DuckDB's errors as ``ParseError``s. Shared by the billing and usage kits.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import duckdb

from reconcile.errors import ParseError

#: The DuckDB that parses one unit spills to disk beyond this (bounded memory: several
#: units parse in parallel, each with its own connection).
PARSE_MEMORY_LIMIT = "1GB"
#: Reasons longer than this are cut (DuckDB may quote a whole line or query).
MAX_REASON_CHARS = 400

#: What DuckDB appends after the reason: advice, the failing SQL, the sniffer's search.
_ADVICE = re.compile(r" Possible fixes:| LINE \d+:| The search space used was:")
#: DuckDB's error class ("Conversion Error: ") and pyarrow's wrapper of a streamed one.
_PREFIX = re.compile(r"^(?:IOError: )?(?:[A-Za-z ]+Error: )?")
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CSV_FIELDS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def connect(
    *, ordered: bool = True, memory_limit: str = PARSE_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for parsing one unit; close it (or use it in ``with``).

    UTC, no progress bar, ``memory_limit`` (``PARSE_MEMORY_LIMIT`` unless the kit says
    otherwise), no cache of file blocks (each file is
    read once: a cache would grow with the file), and a spill folder of its own that
    DuckDB creates when it first spills and removes when the connection closes.

    Args:
        ordered: keep rows in insertion order. Parsers that number lines with
            ``row_number() OVER ()`` need it; one whose rows carry their own identity
            (billing lines) turns it off to stream with less memory.
    """
    spill = Path(tempfile.gettempdir()) / f"reconcile-duck-{uuid.uuid4().hex}"
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = {sql_string(memory_limit)}")
    con.execute(f"SET temp_directory = {sql_string(str(spill))}")
    con.execute("SET enable_external_file_cache = false")
    if not ordered:
        con.execute("SET preserve_insertion_order = false")
    return con


def parse_error(
    exc: Exception, source: str, *, paths: Mapping[str, str] | None = None
) -> ParseError:
    """A DuckDB error (or pyarrow's ``IOError`` over a DuckDB stream) as a ParseError.

    The reason is DuckDB's message without its error class, its advice and the failing
    SQL, with each local path of ``paths`` (path → URI) replaced by the URI it stands
    for, cut at ``MAX_REASON_CHARS``. A CSV error's line becomes the location, and a row
    with the wrong number of fields reads "expected N columns, found M".
    """
    text = " ".join(str(exc).split())
    for path, uri in (paths or {}).items():
        text = text.replace(path, uri)
    line = _CSV_LINE.search(text)
    location = f"line {line[1]}" if line else None
    fields = _CSV_FIELDS.search(text)
    if line and fields:
        return ParseError(source, f"expected {fields[1]} columns, found {fields[2]}", location)
    reason = _PREFIX.sub("", _ADVICE.split(text)[0]).strip() or type(exc).__name__
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + "…"
    return ParseError(source, reason, location)
