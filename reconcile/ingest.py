"""The ingest engine: exactly-once loading of source objects into the warehouse.

For every source: list objects (no downloads), let the parsers group them into units,
compare each unit's fingerprint (and the parser version) with the ledger, then fetch
and parse only new or changed units, in parallel. Each loaded unit's rows, the removal
of the rows its previous version produced, and its ledger row are written in the same
DuckDB transaction, so a crash at any point leaves the database as if the unit had
never been loaded. A unit that fails to parse is recorded in ``quarantine``; rows of
an earlier good version stay until a good version replaces them.

Quarantine records the kind of failure: bad content stays quarantined until the unit
changes; a store error (a 503, a permission denied) is retried by the next run. Folders a
listing could not read are reported in the summary's ``errors`` and the units that
contain them are left as they were (their listing is incomplete). Every source URI that
is stored or reported goes through ``redact_uri``: no signed-URL query, SAS or password.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import pyarrow as pa

from connectors.formats.base import Parsed, Parser, Sample, Unit, UnitReader
from connectors.registry import PARSERS, Source, all_parsers, get_parser
from connectors.stores.base import (
    ObjectInfo,
    UnreadableFoldersError,
    redact_uri,
    redact_uris,
)
from reconcile import overlaps
from reconcile.errors import ParseError, StoreError, redact_secrets
from reconcile.schemas import FACT_TABLES
from reconcile.warehouse import fill_reference, rollback, scalar, write_failure

Outcome = Literal["new", "replaced", "unchanged", "quarantined"]
#: Why a unit is in quarantine: its bytes ('content', kept until the unit changes) or the
#: store ('store', retried by the next run).
ErrorKind = Literal["content", "store"]

#: Most unrecognised objects an ingest summary names (the count is always exact).
MAX_NAMED_IGNORED = 10_000

#: Units committed together; a crash loses at most one batch, which re-runs load.
COMMIT_EVERY_UNITS = 256
COMMIT_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class PlannedUnit:
    """A unit found in a source, with the parser that claimed it and what to do."""

    source: Source
    parser: Parser
    unit: Unit
    fingerprint: str
    action: Literal["load", "skip", "still_quarantined"]
    replaces: bool
    previous_table: str | None


@dataclass
class PlanNotes:
    """What a plan noticed besides its units: objects no parser recognised (their URIs,
    up to ``MAX_NAMED_IGNORED``) and sources that listed no object at all."""

    ignored: list[str] = field(default_factory=list)
    empty_sources: list[str] = field(default_factory=list)


@dataclass
class IngestSummary:
    """What an ingest did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    objects_listed: int = 0
    ignored: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)
    rows_deleted: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0
    quarantined: list[dict[str, str]] = field(default_factory=list)
    #: sources or folders that could not be listed ({"uri", "error", "kind"}): the run is
    #: incomplete, and units containing them were left as they were
    errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: logical runs after resolution (None when resolution did not run)
    logical_runs: int | None = None
    #: rows of a unit loaded now (or of one it repeats) that count in another unit:
    #: reconcile.overlaps.Overlap.as_dict() each
    overlaps: list[dict[str, Any]] = field(default_factory=list)
    #: URIs of the objects no parser recognised (the first MAX_NAMED_IGNORED)
    not_recognised: list[str] = field(default_factory=list)
    #: things that did not stop the run but may be mistakes ({"uri", "warning"})
    warnings: list[dict[str, str]] = field(default_factory=list)

    def take_notes(self, notes: PlanNotes) -> None:
        """Record what the plan noticed: unrecognised objects, sources that list nothing."""
        self.not_recognised = list(notes.ignored)
        self.warnings += [
            {"uri": uri, "warning": f"{uri} lists no objects (a typo in the prefix?)"}
            for uri in notes.empty_sources
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with every count present even when zero."""
        return {
            "dry_run": self.dry_run,
            "objects": {
                "listed": self.objects_listed,
                "new": self.counts["new"],
                "replaced": self.counts["replaced"],
                "unchanged": self.counts["unchanged"],
                "quarantined": self.counts["quarantined"],
                "ignored": self.ignored,
            },
            "rows": {table: self.rows[table] for table in FACT_TABLES},
            "rows_deleted": {table: self.rows_deleted[table] for table in FACT_TABLES},
            "bytes_read": self.bytes_read,
            "quarantine": self.quarantined,
            "errors": self.errors,
            "logical_runs": self.logical_runs,
            "overlaps": self.overlaps,
            "not_recognised": self.not_recognised,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


class ProgressSink:
    """Receives progress events; the CLI draws them, the default ignores them."""

    def start(self, units: int) -> None:
        """``units`` units are about to be fetched."""

    def advance(self, units: int, bytes_read: int) -> None:
        """One more unit done; ``bytes_read`` bytes were read for it."""

    def finish(self) -> None:
        """Nothing more will come."""


def plan(
    con: duckdb.DuckDBPyConnection | None,
    sources: Sequence[Source],
    *,
    format_name: str | None = None,
    retry_quarantined: bool = False,
    workers: int = 8,
    format_options: Mapping[str, Mapping[str, Any]] | None = None,
    listing_errors: list[UnreadableFoldersError] | None = None,
    notes: PlanNotes | None = None,
) -> tuple[list[PlannedUnit], int, int]:
    """List every source and decide, per unit, whether it needs loading.

    Objects are claimed by name first (each parser's ``units``), then by content
    (``sniff``) for objects no name claimed.

    Args:
        listing_errors: where to collect listings that missed unreadable folders; the
            rest of such a source is still planned, except units whose folder holds an
            unreadable one (they would load incomplete). None: raise the first.

    Returns:
        (planned units, objects listed, objects no parser claimed).

    Raises:
        UnreadableFoldersError: a listing missed folders and ``listing_errors`` is None.
    """
    ledger: dict[str, tuple[str, str, int]] = {}
    quarantine: dict[str, tuple[str, str, int, str, str | None]] = {}
    if con is not None:
        for uri, fp, fmt, version, table, digest in con.execute(
            "SELECT uri, fingerprint, format, parser_version, target_table, "
            "coalesce(options_digest, '') FROM ingest_ledger"
        ).fetchall():
            ledger[uri] = (fp, fmt, version, table, digest)  # type: ignore[assignment]
        for uri, fp, fmt, version, digest, kind in con.execute(
            "SELECT uri, fingerprint, format, parser_version, coalesce(options_digest, ''), "
            "error_kind FROM quarantine"
        ).fetchall():
            quarantine[uri] = (fp, fmt, version, digest, kind)
    parsers = (
        [get_parser(format_name, (format_options or {}).get(format_name))]
        if format_name
        else all_parsers(format_options)
    )
    planned: list[PlannedUnit] = []
    listed = ignored = 0
    seen: set[str] = set()
    for source in sources:
        objects: list[ObjectInfo] = []
        unreadable: tuple[str, ...] = ()
        try:
            objects.extend(_list(source))
        except UnreadableFoldersError as exc:
            if listing_errors is None:
                raise
            listing_errors.append(exc)
            unreadable = exc.folders
        listed += len(objects)
        if not objects and not unreadable and notes is not None:
            notes.empty_sources.append(redact_uri(source.uri))
        rest: Sequence[Any] = objects
        claimed: list[tuple[Parser, Unit]] = []
        for parser in parsers:
            units, rest = parser.units(source.store, rest, forced=format_name is not None)
            claimed += [(parser, unit) for unit in units]
        if rest and format_name is None:
            sniffed, rest = _sniff(source, rest, parsers, ledger, quarantine, workers)
            claimed += sniffed
        for parser, unit in claimed:
            if unit.uri in seen:  # the same unit named by two overlapping sources
                continue
            if _holds_any(unit.key, unreadable):
                continue  # listed without the unreadable folder's objects: left as it was
            seen.add(unit.uri)
            planned.append(_decide(source, parser, unit, ledger, quarantine, retry_quarantined))
        ignored += len(rest)
        if notes is not None:
            room = MAX_NAMED_IGNORED - len(notes.ignored)
            notes.ignored += [redact_uri(source.store.uri(i.key)) for i in rest[: max(0, room)]]
    return planned, listed, ignored


def _sniff(
    source: Source,
    objects: Sequence[ObjectInfo],
    parsers: Sequence[Parser],
    ledger: dict[str, Any],
    quarantine: dict[str, Any],
    workers: int,
) -> tuple[list[tuple[Parser, Unit]], list[ObjectInfo]]:
    """Offer objects no parser claimed by name to the content-sniffing parsers.

    An object already recorded unchanged (in the ledger or quarantine) keeps the format
    it was recorded with, without being sampled again: a no-op run stays listing-only.
    """
    sniffers = [p for p in parsers if p.sniff_suffixes]
    if not sniffers:
        return [], list(objects)
    by_name = {p.name: p for p in sniffers}
    suffixes = tuple(s for p in sniffers for s in p.sniff_suffixes)
    claimed: list[tuple[Parser, Unit]] = []
    to_sample: list[ObjectInfo] = []
    rest: list[ObjectInfo] = []
    for info in objects:
        if not info.key.lower().endswith(suffixes):
            rest.append(info)
            continue
        uri = source.store.uri(info.key)
        known = ledger.get(uri) or quarantine.get(uri)
        if known and known[0] == info.etag and known[1] in by_name:
            sniffer = by_name[known[1]]
            claimed.append((sniffer, sniffer.unit_for(source.store, info)))
        else:
            to_sample.append(info)

    def detect(info: ObjectInfo) -> Parser | None:
        sample = Sample(source.store, info)
        for sniffer in sniffers:
            if sniffer.sniff(sample):
                return sniffer
        return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for info, found in zip(to_sample, pool.map(detect, to_sample), strict=True):
            if found is None:
                rest.append(info)
            else:
                claimed.append((found, found.unit_for(source.store, info)))
    rest.sort()
    return claimed, rest


def _holds_any(key: str, folders: Sequence[str]) -> bool:
    """Whether the unit at ``key`` (an object or a folder) contains one of ``folders``."""
    if not folders:
        return False
    base = key.rstrip("/")
    return any(not base or f == base or f.startswith(base + "/") for f in folders)


def _list(source: Source) -> Iterator[Any]:
    filtered = bool(source.include or source.exclude)
    for info in source.store.list_objects(source.prefix):
        if source.exact_key is not None and info.key != source.exact_key:
            continue
        if filtered and not source.wants(info.key):
            continue
        yield info


def options_digest(parser: Parser) -> str:
    """A digest of a parser's configured options ('' for none): changing them re-reads."""
    options = parser.options
    if not options:
        return ""
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _decide(
    source: Source,
    parser: Parser,
    unit: Unit,
    ledger: dict[str, Any],
    quarantine: dict[str, Any],
    retry_quarantined: bool,
) -> PlannedUnit:
    fingerprint = unit.fingerprint()
    current = (fingerprint, parser.name, parser.version, options_digest(parser))
    previous = ledger.get(unit.uri)
    previous_table = previous[3] if previous else None
    failed = quarantine.get(unit.uri)
    if previous and (*previous[:3], previous[4]) == current:
        action: Literal["load", "skip", "still_quarantined"] = "skip"
    elif (
        failed is not None
        and failed[:4] == current
        and failed[4] == "content"  # a store error (or an unrecorded kind) is retried
        and not retry_quarantined
    ):
        action = "still_quarantined"
    else:
        action = "load"
    return PlannedUnit(
        source, parser, unit, fingerprint, action, previous is not None, previous_table
    )


@dataclass(frozen=True)
class _Failure:
    """Why a unit could not be loaded: the error line and its kind."""

    error: str
    kind: ErrorKind


def _fetch(item: PlannedUnit) -> tuple[PlannedUnit, Parsed | None, _Failure | None, UnitReader]:
    reader = UnitReader(item.source.store, item.unit)
    try:
        parsed = item.parser.parse_unit(reader)
    except ParseError as exc:
        reader.close()
        return item, None, _Failure(redact_uris(exc.one_line()), "content"), reader
    except StoreError as exc:
        # The store failed (a 503 after retries, permission denied, the object vanished
        # since the listing): recorded in quarantine as a store error, so the next run
        # tries again instead of keeping a good object out for good; not a crash of the run.
        reader.close()
        return item, None, _Failure(redact_uris(exc.one_line()), "store"), reader
    if parsed.schema != item.parser.schema:
        reader.close()
        raise TypeError(
            f"parser {item.parser.name} returned a non-canonical table for "
            f"{item.unit.uri}: {parsed.schema} != {item.parser.schema}"
        )
    return item, parsed, None, reader


def _bounded(
    pool: ThreadPoolExecutor,
    items: Sequence[PlannedUnit],
    window: int,
    fn: Callable[[PlannedUnit], Any],
) -> Iterable[Any]:
    """Map ``fn`` over ``items`` in order, with at most ``window`` in flight."""
    pending: list[Future[Any]] = []
    iterator = iter(items)
    for item in iterator:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


def record_formats(con: duckdb.DuckDBPyConnection) -> None:
    """Write what the formats in use declare about their evidence into the warehouse
    (``evidence_priority``: each training format's rank per kind of field), where
    resolution reads it without knowing any format."""
    rows = sorted(
        (name, kind, rank)
        for name, parser in PARSERS.items()
        for kind, rank in parser.priority.items()
    )
    fill_reference(con, "evidence_priority", rows)


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[Source],
    *,
    format_name: str | None = None,
    retry_quarantined: bool = False,
    workers: int | None = None,
    progress: ProgressSink | None = None,
    format_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> IngestSummary:
    """Load every new or changed unit of ``sources`` into the warehouse, exactly once.

    Folders a listing could not read do not stop the run: they are reported in the
    summary's ``errors`` (the caller should fail the run), and the units that contain
    them are left as they were.

    Args:
        workers: units fetched and parsed in parallel; None takes the largest
            ``default_workers`` of the sources' stores.
    """
    if workers is None:
        workers = max((s.store.default_workers for s in sources), default=1)
    record_formats(con)
    started = time.monotonic()
    progress = progress or ProgressSink()
    listing_errors: list[UnreadableFoldersError] = []
    notes = PlanNotes()
    planned, listed, ignored = plan(
        con,
        sources,
        format_name=format_name,
        retry_quarantined=retry_quarantined,
        workers=workers,
        format_options=format_options,
        listing_errors=listing_errors,
        notes=notes,
    )
    summary = IngestSummary(objects_listed=listed, ignored=ignored)
    summary.take_notes(notes)
    for exc in listing_errors:
        for folder, uri in zip(exc.folders, exc.uris, strict=True):
            one = UnreadableFoldersError([folder], [uri]).one_line()
            summary.errors.append(
                {"uri": redact_uri(uri), "error": redact_uris(one), "kind": "access"}
            )
    to_load = [p for p in planned if p.action == "load"]
    for item in planned:
        if item.action == "skip":
            summary.counts["unchanged"] += 1
        elif item.action == "still_quarantined":
            summary.counts["quarantined"] += 1
    if summary.counts["quarantined"]:
        uris = [p.unit.uri for p in planned if p.action == "still_quarantined"]
        rows = con.execute(
            "SELECT uri, error, error_kind FROM quarantine WHERE list_contains($uris, uri) "
            "ORDER BY uri",
            {"uris": uris},
        ).fetchall()
        summary.quarantined += [
            {"uri": u, "error": redact_uris(e), "kind": k, "seen": "before"} for u, e, k in rows
        ]

    progress.start(len(to_load))
    writer = _BatchWriter(con, summary)
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for item, table, failure, reader in _bounded(pool, to_load, 2 * workers, _fetch):
                summary.bytes_read += reader.bytes_read
                if failure is not None:
                    writer.quarantine(item, failure)
                    summary.counts["quarantined"] += 1
                    summary.quarantined.append(
                        {
                            "uri": item.unit.uri,
                            "error": failure.error,
                            "kind": failure.kind,
                            "seen": "now",
                        }
                    )
                elif isinstance(table, pa.RecordBatchReader):
                    # A large unit streams in its own transaction, after the pending batch.
                    writer.flush()
                    stream_error = writer.load_stream(item, table, reader)
                    if stream_error is None:
                        summary.counts["replaced" if item.replaces else "new"] += 1
                    else:
                        writer.quarantine(item, stream_error)
                        summary.counts["quarantined"] += 1
                        summary.quarantined.append(
                            {
                                "uri": item.unit.uri,
                                "error": stream_error.error,
                                "kind": stream_error.kind,
                                "seen": "now",
                            }
                        )
                else:
                    assert table is not None
                    writer.add(item, table, reader)
                    summary.counts["replaced" if item.replaces else "new"] += 1
                progress.advance(1, reader.bytes_read)
                if writer.due():
                    writer.flush()
        writer.flush()
    finally:
        progress.finish()
    tables = {t for u in writer.done for t in (u.parser.table, u.previous_table) if t}
    if tables & overlaps.STATUS_VIEWS.keys():
        found = overlaps.record(con, tables, [u.unit.uri for u in writer.done])
        summary.overlaps = [item.as_dict() | {"text": item.sentence()} for item in found]
    summary.seconds = time.monotonic() - started
    return summary


#: Class names of store errors, to recognise one that DuckDB wrapped in its own error.
_STORE_ERRORS: tuple[type[StoreError], ...] = (
    StoreError,
    *StoreError.__subclasses__(),
    UnreadableFoldersError,
)
_STORE_ERROR_NAMES = tuple(cls.__name__ for cls in _STORE_ERRORS)


class _BatchWriter:
    """Writes loaded and quarantined units in batches, one transaction per batch.

    Within a batch every unit's old rows are deleted, its new rows inserted and its
    ledger row written by set-based statements, all committed together: a crash loses
    the whole batch (which the next run loads again) and never part of a unit.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
        self.con = con
        self.summary = summary
        self.loaded: list[tuple[PlannedUnit, pa.Table, UnitReader]] = []
        self.failed: list[tuple[PlannedUnit, _Failure]] = []
        #: units committed so far
        self.done: list[PlannedUnit] = []
        self.started = time.monotonic()

    def add(self, item: PlannedUnit, table: pa.Table, reader: UnitReader) -> None:
        """Queue a parsed unit."""
        self.loaded.append((item, table, reader))

    def quarantine(self, item: PlannedUnit, failure: _Failure) -> None:
        """Queue a unit that failed to load (bad content, or the store failed)."""
        self.failed.append((item, failure))

    def due(self) -> bool:
        """Whether the batch is big or old enough to commit."""
        pending = len(self.loaded) + len(self.failed)
        return pending >= COMMIT_EVERY_UNITS or (
            pending > 0 and time.monotonic() - self.started >= COMMIT_EVERY_SECONDS
        )

    def flush(self) -> None:
        """Write the batch in one transaction."""
        if not self.loaded and not self.failed:
            return
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            self._write_loaded()
            for item, failure in self.failed:
                _record_quarantine(con, item, failure)
            con.execute("COMMIT")
        except BaseException:
            rollback(con)
            raise
        finally:
            for _, _, reader in self.loaded:
                reader.close()
        self.done += [item for item, _, _ in self.loaded]
        self.loaded, self.failed = [], []
        self.started = time.monotonic()

    def load_stream(
        self, item: PlannedUnit, stream: pa.RecordBatchReader, reader: UnitReader
    ) -> _Failure | None:
        """Load one streamed unit in its own transaction; return the failure if the
        stream failed part-way (the transaction is then rolled back: nothing half-loaded).
        """
        con = self.con
        table_name = item.parser.table
        con.execute("BEGIN TRANSACTION")
        try:
            self._delete_stale([item])
            con.register("_stream", stream)
            try:
                inserted = scalar(con, f"INSERT INTO {table_name} BY NAME SELECT * FROM _stream")
            finally:
                # After a failed insert the transaction is aborted and refuses even this;
                # raising here would hide the stream's own error (the name is re-registered
                # by the next load).
                with contextlib.suppress(duckdb.Error):
                    con.unregister("_stream")
            rows = int(str(inserted or 0))
            self._write_ledger([(item, rows, reader)])
            con.execute("COMMIT")
            self.done.append(item)
        except (ParseError, duckdb.Error, pa.ArrowException) as exc:
            # Raised while the stream was being read: a bad row deep in a large file.
            rollback(con)
            if write_failure(exc) is not None:
                raise  # the disk is full, not the unit bad: never quarantine it for that
            text = redact_uris(
                exc.one_line()
                if isinstance(exc, ParseError)
                else redact_secrets(" ".join(str(exc).split()))
            )
            # A store error raised while the stream read its member comes back wrapped in
            # DuckDB's words: still the store's failure, retried next run.
            kind: ErrorKind = (
                "store" if any(f"{name}:" in text for name in _STORE_ERROR_NAMES) else "content"
            )
            # A parser's error raised inside the stream comes back wrapped, with its traceback.
            text = text.split(" Detail: Python exception:", 1)[0]
            # Lead with the unit (DuckDB wraps a stream's error in its own words first).
            uri = item.unit.uri
            return _Failure(text[text.index(uri) :] if uri in text else f"{uri}: {text}", kind)
        except BaseException:
            rollback(con)
            raise
        finally:
            reader.close()
        self.summary.rows[table_name] += rows
        return None

    def _write_loaded(self) -> None:
        if not self.loaded:
            return
        con = self.con
        self._delete_stale([item for item, _, _ in self.loaded])
        # Insert the new rows, one bulk statement per target table.
        by_table: dict[str, list[pa.Table]] = {}
        for item, table, _ in self.loaded:
            by_table.setdefault(item.parser.table, []).append(table)
        for name, tables in by_table.items():
            incoming = pa.concat_tables(tables)
            if incoming.num_rows:
                con.register("_incoming", incoming)
                try:
                    con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _incoming")
                finally:
                    con.unregister("_incoming")
            self.summary.rows[name] += incoming.num_rows
        self._write_ledger([(item, table.num_rows, reader) for item, table, reader in self.loaded])

    def _delete_stale(self, items: list[PlannedUnit]) -> None:
        """Remove the rows earlier versions of ``items`` produced, wherever they went."""
        stale: dict[str, list[str]] = {}
        for item in items:
            for name in {item.parser.table, item.previous_table} - {None}:
                assert name in FACT_TABLES
                stale.setdefault(str(name), []).append(item.unit.uri)
        for name, uris in stale.items():
            self.con.register("_stale", pa.table({"uri": pa.array(uris, pa.string())}))
            try:
                deleted = scalar(
                    self.con, f"DELETE FROM {name} WHERE source_uri IN (SELECT uri FROM _stale)"
                )
            finally:
                self.con.unregister("_stale")
            self.summary.rows_deleted[name] += int(str(deleted or 0))

    def _write_ledger(self, done: list[tuple[PlannedUnit, int, UnitReader]]) -> None:
        """Ledger rows for loaded units; they also leave quarantine."""
        ledger = pa.table(
            {
                "uri": [i.unit.uri for i, _, _ in done],
                "source_root": [redact_uri(i.source.uri) for i, _, _ in done],
                "format": [i.parser.name for i, _, _ in done],
                "parser_version": pa.array([i.parser.version for i, _, _ in done], pa.int32()),
                "options_digest": [options_digest(i.parser) for i, _, _ in done],
                "fingerprint": [i.fingerprint for i, _, _ in done],
                "size_bytes": pa.array([i.unit.size for i, _, _ in done], pa.int64()),
                "sha256": [r.sha256 for _, _, r in done],
                "members": [
                    json.dumps(
                        [
                            {"key": m.key, "etag": m.etag, "size": m.size}
                            | ({"sha256": r.file_sha256[m.key]} if m.key in r.file_sha256 else {})
                            for m in i.unit.members
                        ]
                    )
                    for i, _, r in done
                ],
                "target_table": [i.parser.table for i, _, _ in done],
                "row_count": pa.array([rows for _, rows, _ in done], pa.int64()),
                "modified_at": pa.array(
                    [
                        max((m.modified_at for m in i.unit.members), default=None)
                        for i, _, _ in done
                    ],
                    pa.timestamp("us", tz="UTC"),
                ),
            }
        )
        self.con.register("_ledger", ledger)
        try:
            self.con.execute(
                "INSERT OR REPLACE INTO ingest_ledger (uri, source_root, format, "
                "parser_version, fingerprint, size_bytes, sha256, members, target_table, "
                "row_count, modified_at, loaded_at, options_digest) SELECT uri, source_root, "
                "format, parser_version, fingerprint, size_bytes, sha256, members::JSON, "
                "target_table, row_count, modified_at, now(), options_digest FROM _ledger"
            )
            self.con.execute("DELETE FROM quarantine WHERE uri IN (SELECT uri FROM _ledger)")
        finally:
            self.con.unregister("_ledger")


def _record_quarantine(
    con: duckdb.DuckDBPyConnection, item: PlannedUnit, failure: _Failure
) -> None:
    con.execute(
        "INSERT INTO quarantine (uri, source_root, format, parser_version, fingerprint, error, "
        "first_seen_at, last_seen_at, attempts, options_digest, error_kind) VALUES "
        "($uri, $root, $format, $version, $fp, $error, now(), now(), 1, $digest, $kind) "
        "ON CONFLICT (uri) DO UPDATE SET source_root = excluded.source_root, "
        "format = excluded.format, parser_version = excluded.parser_version, "
        "options_digest = excluded.options_digest, "
        "fingerprint = excluded.fingerprint, error = excluded.error, "
        "error_kind = excluded.error_kind, "
        "last_seen_at = excluded.last_seen_at, attempts = quarantine.attempts + 1",
        {
            "uri": item.unit.uri,
            "root": redact_uri(item.source.uri),
            "format": item.parser.name,
            "version": item.parser.version,
            "fp": item.fingerprint,
            "error": redact_uris(failure.error),
            "digest": options_digest(item.parser),
            "kind": failure.kind,
        },
    )
