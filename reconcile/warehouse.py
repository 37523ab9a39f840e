"""The DuckDB warehouse: opening it, and forward-only schema migrations.

Migrations are the ``NNNN_name.sql`` files of ``reconcile.migrations``, applied in
order, each in its own transaction together with its row in ``schema_migrations``
(version, name, sha256 of the file, applied_at). A database newer than this tool is
refused rather than written to. Reference tables (``reconcile.schemas.REFERENCE_TABLES``)
are then filled from their data files, so SQL reads the package's one copy.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from reconcile.errors import (
    ConfigError,
    UnsafePathError,
    WarehouseCorruptError,
    WarehouseError,
    WarehouseInUseError,
    WriteRefusedError,
)
from reconcile.schemas import ALLOCATION_KINDS, EXPORT_KIND_RANKS

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One schema migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """sha256 of the migration's SQL text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> list[Migration]:
    """All migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("reconcile.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def latest_version() -> int:
    """The schema version this tool writes."""
    return migrations()[-1].version


#: DuckDB's memory ceiling for warehouse connections, unless the settings give one
#: (``RECONCILE_MEMORY_LIMIT`` or ``[warehouse] memory_limit``: ``Settings.memory_limit``).
#: Without one DuckDB takes up to 80 % of RAM, and a large unit inserted in one
#: transaction keeps its blocks in memory until COMMIT (4.6 GiB at 20 M FOCUS lines);
#: with it, DuckDB writes or spills them (bench/README.md). Heavy single statements (the
#: lake export, the stages) raise it to 1 GB for their duration.
DEFAULT_MEMORY_LIMIT = "512MB"


def _setup(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    # Timestamps are stored as instants; show and compare them in UTC.
    con.execute("SET TimeZone = 'UTC'")
    try:
        _set_memory_limit(con, limit)
    except ConfigError:
        con.close()
        raise


def _set_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    try:
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error as exc:
        raise ConfigError(
            f"'warehouse.memory_limit' {limit!r} is not a size DuckDB understands",
            hint="use e.g. 512MB or 2GB (RECONCILE_MEMORY_LIMIT / [warehouse] memory_limit)",
        ) from exc


def check_memory_limit(limit: str) -> None:
    """Refuse a memory limit DuckDB would refuse, before any warehouse is opened.

    Raises:
        ConfigError: naming the value.
    """
    con = duckdb.connect()
    try:
        _set_memory_limit(con, limit)
    finally:
        con.close()


#: How DuckDB reports a database file that is cut short or damaged.
_CORRUPT = re.compile(
    r"Corrupt database file|does not match stored checksum|Could not read enough bytes|"
    r"not a valid DuckDB database file|database file .* is (?:truncated|corrupt)|"
    r"Serialization Error",
    re.IGNORECASE,
)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def corruption(path: Path, exc: BaseException) -> WarehouseCorruptError | None:
    """A ``WarehouseCorruptError`` for ``path`` if DuckDB's ``exc`` says the file is
    truncated or fails a checksum; the message names the last good snapshot, if any."""
    text = _first_line(exc)
    if not _CORRUPT.search(text):
        return None
    snapshot = snapshot_path(path)
    if snapshot != path and snapshot.is_file() and not snapshot.is_symlink():
        published = datetime.fromtimestamp(snapshot.stat().st_mtime, UTC)
        hint = (
            f"the last good snapshot is {snapshot}, published "
            f"{published.isoformat(timespec='seconds')}: copy it over {path.name} to restore "
            "(runs since then are redone)"
        )
    else:
        hint = "no snapshot has been published: restore it from a backup or start a new one"
    return WarehouseCorruptError(
        f"{path}: the database file is truncated or corrupt ({text})", hint=hint
    )


def _connect(path: Path, *, read_only: bool, memory_limit: str) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        damaged = corruption(path, exc)
        if damaged is not None:
            raise damaged from exc
        if not isinstance(exc, duckdb.IOException):
            raise
        text = _first_line(exc)
        if "lock" in text.lower():
            pid = re.search(r"PID (\d+)", str(exc))
            other = f"process {pid[1]}" if pid else "another process"
            raise WarehouseInUseError(
                f"{path}: the database is in use by {other} "
                + ("(a writer)" if read_only else "(a reader or a writer)"),
                hint="readers answer from the published snapshot; close the other "
                "connection (a DuckDB shell, a notebook) or wait for it",
            ) from exc
        if "permission denied" in text.lower() or "read-only file system" in text.lower():
            raise WriteRefusedError(
                f"{path}: cannot open the database for {'reading' if read_only else 'writing'}:"
                f" {text}",
                hint="check the permissions of the file and its folder",
            ) from exc
        raise WarehouseError(f"{path}: cannot open the database: {text}") from exc
    _setup(con, memory_limit)
    return con


#: How DuckDB reports a write the file system refused (disk full, quota, file-size limit),
#: also inside "Failed to commit" when the WAL could not be written (that ends the
#: transaction).
_WRITE_REFUSED = re.compile(
    r"Could not write|No space left|File too large|Disk quota|disk is full", re.IGNORECASE
)


def write_failure(exc: BaseException) -> str | None:
    """DuckDB's first line about a refused write anywhere in ``exc``'s chain, else None.

    The chain matters: a failed statement is often followed by a failing clean-up (an
    ``unregister`` in an aborted transaction) that becomes the exception raised.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (duckdb.IOException, duckdb.TransactionException)):
            text = " ".join(str(current).split())
            if _WRITE_REFUSED.search(text):
                return text
        current = current.__cause__ or current.__context__
    return None


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction; one DuckDB already ended (a COMMIT that failed
    ends it) needs nothing, and must not hide the error that ended it."""
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException as exc:
        if "no transaction is active" not in str(exc):
            raise


def scalar(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> object:
    """The first column of the first row, with the result fully consumed.

    DuckDB refuses new work on a connection while a result is only partly fetched.
    """
    rows = con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()
    return rows[0][0] if rows else None


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest applied migration, or 0 for an empty database."""
    exists = scalar(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    )
    if not exists:
        return 0
    return int(str(scalar(con, "SELECT coalesce(max(version), 0) FROM schema_migrations")))


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every pending migration; return the versions applied.

    Raises:
        WarehouseError: the database was written by a newer version of the tool.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " checksum VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    current = schema_version(con)
    known = migrations()
    if current > known[-1].version:
        raise WarehouseError(
            f"database schema version {current} is newer than this tool's ({known[-1].version})",
            hint="upgrade reconcile",
        )
    applied = []
    for migration in known:
        if migration.version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES ($v, $n, $c, now())",
                {"v": migration.version, "n": migration.name, "c": migration.checksum},
            )
            con.execute("COMMIT")
        except BaseException:
            rollback(con)
            raise
        applied.append(migration.version)
    fill_reference(con, "export_kind_ranks", [tuple(r.values()) for r in _export_kind_rows()])
    fill_reference(con, "allocation_kinds", [(kind,) for kind in ALLOCATION_KINDS])
    return applied


def fill_reference(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Make the reference table ``table`` hold exactly ``rows`` (tuples in its column
    order), in one transaction; nothing is written when it does (an unchanged run
    writes nothing). Compared as Python rows: building Arrow costs a first use of
    pyarrow on every command."""

    def order(row: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
        return tuple((value is not None, value) for value in row)

    wanted = sorted(rows, key=order)
    if sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=order) == wanted:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table}")
        if wanted:
            marks = ", ".join("?" * len(wanted[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", wanted)
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise


def export_kind_ranks(text: str | None = None) -> pa.Table:
    """The export-kind ranking (``EXPORT_KIND_RANKS``) from ``reconcile/data/export_kinds.csv``,
    or from ``text`` in that format.

    Raises:
        WarehouseError: a rank that is not a whole number, a kind listed twice, no note,
            or not exactly one row for unlisted kinds (empty ``export_kind``).
    """
    return pa.Table.from_pylist(_export_kind_rows(text), schema=EXPORT_KIND_RANKS)


def _export_kind_rows(text: str | None = None) -> list[dict[str, Any]]:
    name = "export_kinds.csv"
    if text is None:
        text = (resources.files("reconcile.data") / name).read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            ranks = int(row["rank_billed"]), int(row["rank_effective"])
        except (TypeError, ValueError) as exc:
            raise WarehouseError(f"{name} line {line}: ranks must be whole numbers") from exc
        if not row.get("note"):
            raise WarehouseError(f"{name} line {line}: every rank needs a note saying why")
        kind = row["export_kind"].strip() or None
        if any(r["export_kind"] == kind for r in rows):
            raise WarehouseError(f"{name} line {line}: {kind or 'the default'} is listed twice")
        rows.append(
            {
                "export_kind": kind,
                "rank_billed": ranks[0],
                "rank_effective": ranks[1],
                "note": row["note"],
            }
        )
    if not any(r["export_kind"] is None for r in rows):
        raise WarehouseError(f"{name}: no row with an empty export_kind (the unlisted kinds)")
    return rows


def fill_export_kind_ranks(con: duckdb.DuckDBPyConnection, ranks: pa.Table) -> None:
    """Make ``export_kind_ranks`` hold exactly ``ranks``; nothing is written when it does."""
    fill_reference(con, "export_kind_ranks", [tuple(r.values()) for r in ranks.to_pylist()])


def open_for_write(
    path: Path, *, wait_seconds: float = 0.0, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse and bring its schema up to date.

    Another process holding the file (a reader's connection, say) is waited for up to
    ``wait_seconds`` (the batch job's ``--lock-timeout``) before giving up with a message
    naming it.

    Raises:
        WriteRefusedError: the folder (or file) is not writable; DuckDB writes its
            write-ahead log ``<db>.wal`` beside the database.
        WarehouseCorruptError: the file is truncated or fails a checksum.
        WarehouseError: other reasons it cannot be opened, or a newer schema.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteRefusedError(
            f"{path.parent}: cannot create the warehouse folder: {exc.strerror}"
        ) from exc
    if not os.access(path.parent, os.W_OK):
        # Checked up front: DuckDB would open the file and fail at the first write.
        raise WriteRefusedError(
            f"{path.parent}: the warehouse folder is read-only",
            hint=f"make it writable or pass --db with a writable location for {path.name}",
        )
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = _connect(path, read_only=False, memory_limit=memory_limit)
            break
        except WarehouseInUseError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    try:
        migrate(con)
    except duckdb.Error as exc:
        con.close()
        damaged = corruption(path, exc)
        if damaged is not None:
            raise damaged from exc
        raise
    except BaseException:
        con.close()
        raise
    return con


def snapshot_path(path: Path) -> Path:
    """Where the last completed state of a warehouse is published for readers."""
    return path.with_name(path.stem + ".snapshot" + path.suffix)


def publish_snapshot(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Checkpoint, close ``con`` and publish a read-only copy of ``path`` atomically.

    Readers fall back to the snapshot while a writer holds the database (DuckDB allows
    one writing process and refuses other processes meanwhile). The copy is written to a
    new, uniquely named temporary file in the same folder (created exclusively, so a
    planted link is never written through) and renamed over the snapshot.

    Raises:
        WriteRefusedError: the copy could not be written (disk full, read-only folder);
            the warehouse itself is complete and the previous snapshot stays.
        UnsafePathError: the warehouse file is not a plain file.
    """
    con.execute("CHECKPOINT")
    con.close()
    target = snapshot_path(path)
    temporary: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        temporary = Path(name)
        with os.fdopen(fd, "wb") as out:
            source_fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(source_fd, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o644)
        os.replace(temporary, target)
        temporary = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(
                f"{path}: the warehouse is a symbolic link; refusing to copy through it"
            ) from exc
        raise WriteRefusedError(
            f"{target}: cannot publish the snapshot: {exc.strerror or exc}",
            hint="free disk space and run again; the warehouse is complete and readers "
            "keep the previous snapshot",
        ) from exc
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    return target


def open_for_reading(
    path: Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """Open the warehouse read-only, or its published snapshot while a writer holds it.

    Returns:
        The connection and, when it is the snapshot, a note saying so and since when.

    Raises:
        WarehouseError: the database is busy and no snapshot has been published, or it
            does not exist.
    """
    snapshot = snapshot_path(path)
    if _current(snapshot, path):
        # Readers read the published snapshot when it is as new as the warehouse: they
        # then never hold the warehouse file, and never keep the scheduled writer out.
        return open_for_read(snapshot, memory_limit=memory_limit), None
    try:
        return open_for_read(path, memory_limit=memory_limit), None
    except WarehouseError as exc:
        if "in use" not in exc.message:
            raise
        from reconcile.lock import holder

        who = holder(path) or {}
        since = who.get("since", "?")
        if not snapshot.exists():
            raise WarehouseError(
                f"{path}: a {who.get('command', 'reconcile')} run (pid {who.get('pid', '?')}) "
                f"has been writing since {since} and no snapshot has been published yet",
                hint="retry when it has finished",
            ) from exc
        published = datetime.fromtimestamp(snapshot.stat().st_mtime, UTC)
        con = open_for_read(snapshot, memory_limit=memory_limit)
        return con, (
            f"{path} is being written by a {who.get('command', 'reconcile')} run "
            f"since {since}: answering from the snapshot published "
            f"{published.isoformat(timespec='seconds')}"
        )


def _current(snapshot: Path, path: Path) -> bool:
    """Whether ``snapshot`` holds everything the warehouse holds: the last writer ended
    well after publishing it (``reconcile run``); an ingest or estimate since, or a
    writer still at work, make it stale."""
    from reconcile.lock import holder

    last = holder(path) or {}
    return (
        snapshot.exists()
        and last.get("finished") is not None
        and last.get("outcome") == "ok"
        and last.get("snapshot_published") is True
    )


def open_for_read(
    path: Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """Open an existing warehouse read-only.

    Raises:
        WarehouseError: the file does not exist or its schema is not current.
    """
    if not path.exists():
        raise WarehouseError(
            f"{path}: no such database", hint="run `reconcile ingest SOURCE` first or pass --db"
        )
    con = _connect(path, read_only=True, memory_limit=memory_limit)
    try:
        version = schema_version(con)
    except duckdb.Error as exc:
        con.close()
        damaged = corruption(path, exc)
        if damaged is not None:
            raise damaged from exc
        raise
    if version != latest_version():
        con.close()
        raise WarehouseError(
            f"{path}: schema version {version}, this tool needs {latest_version()}",
            hint="run `reconcile ingest` (it migrates) or use the matching tool version",
        )
    return con


def stored_digest(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The digest recorded for ``name`` (``estimate``, ``report:<folder>``), or None."""
    row = con.execute("SELECT digest FROM stage_digests WHERE name = ?", [name]).fetchone()
    return str(row[0]) if row else None


def record_digest(con: duckdb.DuckDBPyConnection, name: str, digest: str | None) -> None:
    """Record (or, for None, forget) what ``name`` was last computed from."""
    con.execute("DELETE FROM stage_digests WHERE name = ?", [name])
    if digest is not None:
        con.execute("INSERT INTO stage_digests VALUES (?, ?, now())", [name, digest])
