"""Running the SQL files of ``queries/`` (or the user's own) with bound parameters."""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from reconcile.errors import QueryError

_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)?$")
#: SQL given on the command line instead of a query name or file.
_INLINE_SQL = re.compile(r"^\s*(select|with|from|summarize|describe|pivot|unpivot)\s", re.I)


@dataclass(frozen=True)
class QueryFile:
    """A named SQL statement and where it came from."""

    name: str
    origin: str
    sql: str

    @property
    def description(self) -> str:
        """The first line of the file's leading comment."""
        for line in self.sql.splitlines():
            stripped = line.strip()
            if stripped.startswith("--"):
                text = stripped.lstrip("-").strip()
                if text:
                    return text
            elif stripped:
                break
        return ""


def available() -> list[QueryFile]:
    """The queries shipped with the tool (``queries/*.sql`` and ``queries/checks/*.sql``)."""
    root = resources.files("reconcile.sql")
    found = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            found.append(
                QueryFile(entry.name[:-4], f"queries/{entry.name}", entry.read_text("utf-8"))
            )
    checks = root / "checks"
    if checks.is_dir():
        for entry in sorted(checks.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                found.append(
                    QueryFile(
                        f"checks/{entry.name[:-4]}",
                        f"queries/checks/{entry.name}",
                        entry.read_text("utf-8"),
                    )
                )
    return found


def resolve(name_or_file: str) -> QueryFile:
    """A shipped query by name, or a ``.sql`` file by path.

    Raises:
        QueryError: neither a known name nor a readable ``.sql`` file.
    """
    if _INLINE_SQL.match(name_or_file):
        return QueryFile("sql", "inline SQL", name_or_file)
    path = Path(name_or_file)
    if name_or_file.endswith(".sql"):
        try:
            return QueryFile(path.stem, str(path), path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise QueryError(f"{name_or_file}: no such SQL file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise QueryError(f"{name_or_file}: cannot read: {exc}") from exc
    known = {q.name: q for q in available()}
    if _NAME.match(name_or_file) and name_or_file in known:
        return known[name_or_file]
    close = difflib.get_close_matches(name_or_file, list(known), n=3, cutoff=0.6)
    hint = (
        f"did you mean {' or '.join(close)}?"
        if close
        else f"known: {', '.join(sorted(known))} (or give SQL: 'SELECT …')"
    )
    raise QueryError(f"unknown query {name_or_file!r}", hint=hint)


def parse_params(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings into a dict (values stay strings; cast in SQL if needed).

    Raises:
        QueryError: a pair without ``=`` or with an invalid key.
    """
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise QueryError(f"--param {pair!r}: expected KEY=VALUE with KEY a name")
        params[key] = value
    return params


#: Run on the connection of ``reconcile query`` before any user SQL: a read-only
#: connection still lets SQL write files (``COPY ... TO``, ``EXPORT DATABASE``, profiling
#: and query logs), read any file (``read_csv('/etc/passwd')``), install or load
#: extensions and spill to disk. Locking the configuration last keeps the query from
#: undoing any of it (``SET enable_external_access = true`` is then refused).
_LOCK_DOWN = (
    "SET temp_directory = ''",
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


def lock_down(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Make ``con`` unable to touch the file system or its own settings, for good;
    returns it.

    Statements then see only the database's tables: no file is read or written (not
    even a spill file), no extension is installed or loaded, no setting changes.
    """
    for statement in _LOCK_DOWN:
        con.execute(statement)
    return con


def run(con: duckdb.DuckDBPyConnection, query: QueryFile, params: dict[str, str]) -> pa.Table:
    """Execute ``query`` with ``params`` bound as DuckDB named parameters.

    Values are bound, never formatted into the SQL text.

    Raises:
        QueryError: a missing or unknown parameter, or a failing statement.
    """
    try:
        relation = con.sql(query.sql, params=params or None)
        if relation is None:
            raise QueryError(f"{query.origin}: the statement returns no rows to show")
        table = relation.to_arrow_table()
    except duckdb.InvalidInputException as exc:
        raise _input_error(query, exc) from exc
    except duckdb.Error as exc:
        raise QueryError(f"{query.origin}: {_first_line(exc)}") from exc
    return table


#: Rows per record batch when results are streamed.
BATCH_ROWS = 10_000

#: The default limit of one ``reconcile query`` (``--timeout`` / ``[query] timeout``).
DEFAULT_TIMEOUT_SECONDS = 300.0


class QueryTimeoutError(QueryError):
    """A query ran past its time limit and was interrupted."""


@contextmanager
def time_limit(
    con: duckdb.DuckDBPyConnection, seconds: float | None, origin: str
) -> Iterator[None]:
    """Interrupt whatever ``con`` runs once ``seconds`` have passed (None or 0: no limit).

    Covers everything inside the block: the statements and fetching their results.

    Raises:
        QueryTimeoutError: the limit was reached; the statement was interrupted.
    """
    if not seconds:
        yield
        return
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    # What an interrupt surfaces as: DuckDB's own error while a statement runs
    # (usually already a QueryError from run()/stream()), Arrow's while batches stream.
    except (duckdb.Error, QueryError, pa.ArrowException, OSError) as exc:
        if fired.is_set():
            raise QueryTimeoutError(
                f"{origin}: stopped after the time limit of {seconds:g} s",
                hint="narrow the query, or raise the limit with --timeout SECONDS "
                "or [query] timeout (0: none)",
            ) from exc
        raise
    finally:
        timer.cancel()


def stream(
    con: duckdb.DuckDBPyConnection,
    query: QueryFile,
    params: dict[str, str],
    batch_rows: int = BATCH_ROWS,
) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    """Execute ``query`` like :func:`run`, but hand the result over batch by batch.

    Returns:
        The column names and an iterator of record batches of at most ``batch_rows`` rows,
        fetched from DuckDB as the caller consumes them.

    Raises:
        QueryError: as :func:`run`; also while iterating, when a later batch fails.
    """
    try:
        relation = con.sql(query.sql, params=params or None)
        if relation is None:
            raise QueryError(f"{query.origin}: the statement returns no rows to show")
        reader = relation.to_arrow_reader(batch_rows)
    except duckdb.InvalidInputException as exc:
        raise _input_error(query, exc) from exc
    except duckdb.Error as exc:
        raise QueryError(f"{query.origin}: {_first_line(exc)}") from exc
    return list(reader.schema.names), _batches(reader, query.origin)


def _batches(reader: pa.RecordBatchReader, origin: str) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        # A statement failing after its first rows reaches Python as Arrow's error.
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise QueryError(f"{origin}: {_first_line(exc)}") from exc
        yield batch


def _input_error(query: QueryFile, exc: duckdb.Error) -> QueryError:
    text = _first_line(exc)
    hint = "pass parameters with --param KEY=VALUE" if "parameter" in text.lower() else None
    return QueryError(f"{query.origin}: {text}", hint=hint)


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
