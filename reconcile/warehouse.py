"""The DuckDB warehouse: opening it, and forward-only schema migrations.

Migrations are the ``NNNN_name.sql`` files of ``reconcile.migrations``, applied in
order, each in its own transaction together with its row in ``schema_migrations``
(version, name, sha256 of the file, applied_at). A database newer than this tool is
refused rather than written to.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from reconcile.errors import WarehouseError

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


#: DuckDB's memory ceiling for warehouse connections (``RECONCILE_MEMORY_LIMIT`` or
#: ``[warehouse] memory_limit``). Without one DuckDB takes up to 80 % of RAM, and a large
#: unit inserted in one transaction keeps its blocks in memory until COMMIT (4.6 GiB at
#: 20 M FOCUS lines); with it, DuckDB writes or spills them (bench/README.md). Heavy
#: single statements (the lake export, the stages) raise it to 1 GB for their duration.
DEFAULT_MEMORY_LIMIT = "512MB"


def _setup(con: duckdb.DuckDBPyConnection) -> None:
    # Timestamps are stored as instants; show and compare them in UTC.
    con.execute("SET TimeZone = 'UTC'")
    limit = os.environ.get("RECONCILE_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    try:
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error as exc:
        con.close()
        raise WarehouseError(
            f"memory limit {limit!r} is not a size DuckDB understands",
            hint="use e.g. 512MB or 2GB (RECONCILE_MEMORY_LIMIT / [warehouse] memory_limit)",
        ) from exc


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc).splitlines()[0]
        if "lock" in text.lower():
            raise WarehouseError(
                f"{path}: the database is in use by another process",
                hint="wait for the running ingest to finish",
            ) from exc
        raise WarehouseError(f"{path}: cannot open the database: {text}") from exc
    _setup(con)
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
    return applied


def open_for_write(path: Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse and bring its schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only=False)
    try:
        migrate(con)
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
    one writing process and refuses other processes meanwhile).
    """
    con.execute("CHECKPOINT")
    con.close()
    target = snapshot_path(path)
    temporary = target.with_name(target.name + ".tmp")
    try:
        shutil.copyfile(path, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def open_for_reading(path: Path) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """Open the warehouse read-only, or its published snapshot while a writer holds it.

    Returns:
        The connection and, when it is the snapshot, a note saying so and since when.

    Raises:
        WarehouseError: the database is busy and no snapshot has been published, or it
            does not exist.
    """
    try:
        return open_for_read(path), None
    except WarehouseError as exc:
        if "in use" not in exc.message:
            raise
        snapshot = snapshot_path(path)
        from reconcile.lock import holder

        who = holder(path) or {}
        since = who.get("since", "?")
        if not snapshot.exists():
            raise WarehouseError(
                f"{path}: a {who.get('command', 'reconcile')} run (pid {who.get('pid', '?')}) "
                f"has been writing since {since} and no snapshot has been published yet",
                hint="retry when it has finished") from exc
        published = datetime.fromtimestamp(snapshot.stat().st_mtime, UTC)
        con = open_for_read(snapshot)
        return con, (f"{path} is being written by a {who.get('command', 'reconcile')} run "
                     f"since {since}: answering from the snapshot published "
                     f"{published.isoformat(timespec='seconds')}")


def open_for_read(path: Path) -> duckdb.DuckDBPyConnection:
    """Open an existing warehouse read-only.

    Raises:
        WarehouseError: the file does not exist or its schema is not current.
    """
    if not path.exists():
        raise WarehouseError(
            f"{path}: no such database", hint="run `reconcile ingest SOURCE` first or pass --db"
        )
    con = _connect(path, read_only=True)
    version = schema_version(con)
    if version != latest_version():
        con.close()
        raise WarehouseError(
            f"{path}: schema version {version}, this tool needs {latest_version()}",
            hint="run `reconcile ingest` (it migrates) or use the matching tool version",
        )
    return con
