"""The billing formats' kit (AWS CUR, FOCUS, GCP billing export, Azure cost details):
units and manifests, sniffing, loading a unit with DuckDB, and ``BillingParser``, their
base (the SQL helpers, accelerator lookup and tags they write their projections with are
in ``billing/sql.py``).

Every billing parser works the same way: it groups a delivery's objects into units
(one billing period of one export, chosen by the newest manifest), reads the unit's
data files with DuckDB's own readers (``read_parquet``/``read_csv``/``read_json`` over
``UnitReader.path()``, ``union_by_name`` so columns added in later files are kept),
normalises them with one SQL ``SELECT`` into the ``billing_lines`` columns, and returns
Arrow: a table for small units, a ``RecordBatchReader`` over DuckDB's streamed result for
large ones, so memory stays bounded whatever the file size. ``BillingParser.parse_unit``
asks the format for the files to read and the SQL that normalises them (``prepare``),
then ``load`` runs it. No Python code runs per line: the only Python steps are per
record batch and per distinct value (instance types and SKU descriptions → catalog
accelerators, tags text → a MAP).

Conventions shared by every format (also in docs/formats.md, under ``aws_cur``):

- IDs are read as text (CSV files are read with every column as VARCHAR, so a 12-digit
  AWS account id keeps its leading zero); money is ``DECIMAL(38,10)``; timestamps UTC.
- ``line_type`` is one of: usage, reservation_usage, savings_plan_usage,
  savings_plan_negation, reservation_fee, savings_plan_fee, fee, purchase, credit,
  refund, tax, discount, adjustment, unused_commitment, rounding (anything else: the
  provider's value in snake_case).
- ``accelerator`` is a catalog key (``NVIDIA A100 SXM4-40GB``) when the line is
  accelerator compute, ``unknown:<instance type or SKU>`` when it clearly is but the
  catalog does not know it (listed by ``queries/checks/billing_unknown_accelerators.sql``),
  NULL otherwise. ``accelerator_hours`` is set on usage lines only.
- ``export_kind`` names the export the line came from (``cur2``, ``cur1``, ``focus``,
  ``gcp_detailed``, ``gcp_standard``, ``azure_actual``, ``azure_amortized``,
  ``azure_usage``): the same spend often arrives in several exports, and queries pick
  one kind per provider, account and month instead of adding them up.
"""

from __future__ import annotations

import csv
import gzip
import json
import posixpath
import shutil
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Full, Queue
from typing import Any, ClassVar, Literal

import duckdb
import pyarrow as pa

from connectors.formats.base import Parsed, Parser, Sample, UnitReader
from connectors.formats.billing.sql import BatchFinisher, Columns, connect
from connectors.formats.duck import parse_error, sql_string
from connectors.stores.base import ObjectInfo
from reconcile.errors import ConfigError, ParseError
from reconcile.schemas import BILLING_LINES

DataKind = Literal["csv", "parquet", "json"]

#: Units at or under this size are materialised (errors surface as ParseError with the
#: file named); larger ones stream in record batches. ``[formats.NAME] stream_threshold_mb``.
DEFAULT_STREAM_THRESHOLD_MB = 16
#: Rows per record batch handed to the engine when streaming.
BATCH_ROWS = 256 * 1024

_DATA_SUFFIXES: dict[str, DataKind] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".csv.gzip": "csv",
    ".csv.zip": "csv",
    ".zip": "csv",
    ".gz": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json.gz": "json",
    ".jsonl.gz": "json",
    ".ndjson.gz": "json",
}


def data_kind(key: str) -> DataKind | None:
    """The reader for an object by its name (``.csv.gz`` → csv), or None."""
    name = posixpath.basename(key).lower()
    for suffix, kind in sorted(_DATA_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if name.endswith(suffix):
            return kind
    return None


# -- sniffing -------------------------------------------------------------------------


def csv_header(sample: Sample) -> list[str]:
    """The column names of a CSV sample's header line (quotes stripped)."""
    line = sample.first_line()
    if not line:
        return []
    try:
        row = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return []
    return [c.strip().strip("\ufeff") for c in row]


def sample_columns(sample: Sample) -> set[str]:
    """Column names of a CSV or Parquet sample (empty when neither)."""
    if sample.is_parquet():
        schema = sample.parquet_schema()
        return set(schema.names) if schema is not None else set()
    if sample.head[:2] == b"\x1f\x8b" or sample.key.lower().endswith((".csv", ".csv.gz")):
        return set(csv_header(sample))
    return set()


#: Billing CSVs are RFC 4180: fixed so that a broken row is an error, never a reason for
#: DuckDB's sniffer to settle on another dialect (one column per line) and load garbage.
CSV_DIALECT = "delim = ',', quote = '\"', escape = '\"'"
#: Batches the parsing thread may have ready ahead of the warehouse insert.
PREFETCH_BATCHES = 2

# -- units ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DataFile:
    """One data file of a unit, as a local path DuckDB can read."""

    key: str
    uri: str
    path: Path
    kind: DataKind


@dataclass
class Prepared:
    """What a format's ``prepare`` hands to ``load``: the files to read and the SQL."""

    files: list[DataFile]
    #: builds the SELECT (over relation ``src``) from the columns found.
    build_sql: Callable[[Columns], str]
    #: how to read the files (``csv``/``parquet``/``json``); None: from the file names.
    kind: DataKind | None = None
    #: text cells that mean NULL (FOCUS exports write a literal ``NULL``).
    null_tokens: Sequence[str] = ("",)
    #: a custom relation over the files (nested formats flattened per file); None:
    #: ``read_parquet``/``read_csv``/``read_json`` with ``union_by_name``.
    relation: Callable[[Sequence[DataFile], DataKind], str] | None = None
    cleanup: list[Path] = field(default_factory=list)
    #: canonical columns the SQL leaves out, one text for the whole unit (``BatchFinisher``).
    constants: Mapping[str, str] = field(default_factory=dict)
    #: canonical columns the SQL leaves out, equal to another column (``BatchFinisher``).
    copies: Mapping[str, str] = field(default_factory=dict)
    #: the files are one delivery found without a manifest: a row repeated in another
    #: file of it (a file saved twice, a part re-uploaded under another name) is read
    #: once; identical rows inside one file all stay (they are real).
    dedupe_files: bool = False


def newest(infos: Sequence[ObjectInfo]) -> ObjectInfo:
    """The most recently modified object (the last key on a tie)."""
    return max(infos, key=lambda info: (info.modified_at, info.key))


def newest_delivery(files: Sequence[ObjectInfo]) -> list[ObjectInfo]:
    """Without a manifest: the data files of the newest delivery folder.

    Deliveries that create new versions put each one in its own folder (an assembly
    id, an execution id, a run id); every such folder is a full snapshot, so only the
    newest one is loaded. Files directly in the period folder (overwrite mode) are one
    delivery.
    """
    by_folder: dict[str, list[ObjectInfo]] = {}
    for info in files:
        by_folder.setdefault(posixpath.dirname(info.key), []).append(info)
    if len(by_folder) <= 1:
        return sorted(files)
    chosen = max(by_folder.values(), key=lambda group: (newest(group).modified_at, group[0].key))
    return sorted(chosen)


def match_listed(path: str, members: Sequence[ObjectInfo]) -> ObjectInfo | None:
    """The member a manifest's file reference (``s3://bucket/key``, a bucket-relative
    key, or a blob name) points at.

    Matching is by trailing path components, so a local or re-rooted copy of the bucket
    still resolves: at least the file name and its folder (the assembly, execution or
    run id) must agree, or the whole reference when it is a bare name; the member
    agreeing on the most components wins.
    """
    text = path.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
        text = text.split("/", 1)[1] if "/" in text else ""
    wanted = [part for part in text.split("/") if part]
    if not wanted:
        return None
    needed = min(2, len(wanted))
    best: ObjectInfo | None = None
    best_count = 0
    for info in members:
        have = info.key.split("/")
        count = 0
        while count < min(len(have), len(wanted)) and have[-1 - count] == wanted[-1 - count]:
            count += 1
        if count >= needed and count > best_count:
            best, best_count = info, count
    return best


def read_manifest(reader: UnitReader, info: ObjectInfo) -> dict[str, Any]:
    """A manifest's JSON object.

    Raises:
        ParseError: not UTF-8 JSON, or not an object.
    """
    uri = reader.uri(info.key)
    data = reader.read(info.key, limit=64 * 1024 * 1024)
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(uri, f"manifest is not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(
            uri, f"manifest is not valid JSON: {exc.msg}", f"line {exc.lineno}"
        ) from exc
    except RecursionError as exc:
        raise ParseError(uri, "manifest is not a manifest: its JSON nests too deeply") from exc
    if not isinstance(value, dict):
        raise ParseError(uri, "manifest is not a JSON object")
    return value


def string_list(value: Any, uri: str, key: str) -> list[str]:
    """A manifest entry that must be a list of strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ParseError(uri, f"manifest {key!r} is not a list of file names")
    return list(value)


def resolve_listed(
    reader: UnitReader, manifest: ObjectInfo, listed: Sequence[str], data: Sequence[ObjectInfo]
) -> list[ObjectInfo]:
    """The data members a manifest lists, in its order.

    Raises:
        ParseError: a listed file is not in the source (a delivery still in progress, or
            a partial copy): nothing of the period is loaded until it is complete.
    """
    found: list[ObjectInfo] = []
    missing: list[str] = []
    for path in listed:
        info = match_listed(path, data)
        if info is None:
            missing.append(path)
        elif info not in found:
            found.append(info)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ParseError(
            reader.uri(manifest.key),
            f"the manifest lists {missing[0]}{more}, not found next to it "
            "(delivery incomplete?); the period keeps its previously loaded rows",
        )
    return found


# -- loading -------------------------------------------------------------------------


def local_files(
    reader: UnitReader, infos: Sequence[ObjectInfo], cleanup: list[Path]
) -> list[DataFile]:
    """Local paths for ``infos`` (S3 objects are streamed to temporary files). Zipped CSV
    (legacy CUR) is unpacked to a temporary file, since DuckDB reads gzip but not zip.

    Raises:
        ParseError: an object is neither a known data file nor a readable zip with one CSV.
    """
    files = []
    for info in infos:
        kind = data_kind(info.key)
        uri = reader.uri(info.key)
        if kind is None:
            raise ParseError(
                uri, "not a data file this format reads (csv, csv.gz, zip, parquet, json)"
            )
        path = reader.path(info.key)
        if info.key.lower().endswith(".zip"):
            path = _unzip(path, uri, cleanup)
        files.append(DataFile(info.key, uri, path, kind))
    return files


#: A zipped CUR file may unpack to at most this many bytes (a zip bomb is refused).
MAX_UNZIPPED_BYTES = 16 * 1024**3


def _unzip(path: Path, uri: str, cleanup: list[Path]) -> Path:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, NotImplementedError, OSError) as exc:
        raise ParseError(uri, f"not a readable zip archive: {exc}") from exc
    # CSV compresses 10-30x; a zip bomb thousands of times: refuse past 1,000x.
    limit = min(MAX_UNZIPPED_BYTES, max(64 * 1024**2, 1000 * path.stat().st_size))
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise ParseError(uri, f"zip archive holds {len(names)} files, expected one CSV")
        folder = Path(tempfile.mkdtemp(prefix="reconcile-zip-"))
        cleanup.append(folder)
        target = folder / "data.csv"
        try:
            with archive.open(names[0]) as source, target.open("wb") as sink:
                written = 0
                while chunk := source.read(1 << 20):
                    written += len(chunk)
                    if written > limit:
                        raise ParseError(uri, f"zip archive unpacks to more than {limit} bytes")
                    sink.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
            # NotImplementedError: a compression method or zip version Python cannot read.
            raise ParseError(uri, f"cannot unpack zip archive: {exc}") from exc
    return target


def _relation(prepared: Prepared, files: Sequence[DataFile], kind: DataKind) -> str:
    if prepared.relation is not None:
        return prepared.relation(files, kind)
    if not prepared.dedupe_files or len(files) < 2:
        return _read(prepared, files, kind)
    # The n-th copy of a row in one file is the same fact as the n-th copy in another.
    tagged = _read(prepared, files, kind, ", filename = '_file'")
    return (
        "SELECT * EXCLUDE (_file, _row, _copy) FROM ("
        "SELECT *, row_number() OVER (PARTITION BY _file, _row) AS _copy FROM ("
        f"SELECT *, hash(*COLUMNS(* EXCLUDE (_file))) AS _row FROM ({tagged}))) "
        "QUALIFY row_number() OVER (PARTITION BY _row, _copy ORDER BY _file) = 1"
    )


def _read(prepared: Prepared, files: Sequence[DataFile], kind: DataKind, extra: str = "") -> str:
    """DuckDB's own reader over ``files`` (``extra``: more reader options)."""
    paths = path_list(files)
    if kind == "parquet":
        return f"SELECT * FROM read_parquet({paths}, union_by_name = true{extra})"
    if kind == "json":
        return (
            f"SELECT * FROM read_json({paths}, format = 'newline_delimited', "
            f"union_by_name = true{extra})"
        )
    # CSV: every column as text (IDs keep leading zeros; values are cast in the SQL);
    # the null tokens (FOCUS exports write a literal NULL) are turned into NULL by the reader.
    nulls = "[" + ", ".join(sql_string(t) for t in prepared.null_tokens) + "]"
    return (
        f"SELECT * FROM read_csv({paths}, header = true, all_varchar = true, "
        f"union_by_name = true, nullstr = {nulls}, {CSV_DIALECT}{extra})"
    )


def path_list(files: Sequence[DataFile]) -> str:
    """The files' local paths as a SQL list literal."""
    return "[" + ", ".join(sql_string(str(f.path)) for f in files) + "]"


def file_kind(files: Sequence[DataFile], unit_uri: str) -> DataKind:
    """The one reader all ``files`` need.

    Raises:
        ParseError: the files mix formats.
    """
    kinds = {f.kind for f in files}
    if len(kinds) > 1:
        raise ParseError(unit_uri, f"the delivery mixes file formats: {', '.join(sorted(kinds))}")
    return next(iter(kinds)) if kinds else "csv"


class _Translator:
    """Turns DuckDB's errors into ParseErrors naming the source, not temp paths."""

    def __init__(self, unit_uri: str, files: Sequence[DataFile]) -> None:
        self.unit_uri = unit_uri
        self.files = files
        self.paths = {str(data.path): data.uri for data in files}

    def __call__(self, exc: Exception, where: DataFile | None = None) -> ParseError:
        text = str(exc)
        source = where.uri if where is not None else self.unit_uri
        if where is None:
            for data in self.files:
                if str(data.path) in text:
                    source = data.uri
        if any(marker in " ".join(text.split()) for marker in _CSV_SHAPE_MARKERS):
            # DuckDB's words ("could not detect the dialect") hide the defect: name it.
            for data in [where] if where is not None else self.files:
                defect = csv_shape_defect(data.path) if data.kind == "csv" else None
                if defect is not None:
                    return ParseError(data.uri, defect)
        return parse_error(exc, source, paths=self.paths)


#: DuckDB messages about a CSV whose rows do not fit its header.
_CSV_SHAPE_MARKERS = (
    "automatically detect the CSV parsing dialect",
    "Expected Number of Columns",
    "too many columns",
)


def csv_shape_defect(path: Path) -> str | None:
    """The first row of an RFC 4180 CSV (plain or gzip) whose field count is not the
    header's, in words ("header has 55 fields, line 3 has 54"); None when all agree.
    Blank lines are skipped, as DuckDB does.
    """
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    try:
        with (
            gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
            if gzipped
            else path.open(encoding="utf-8-sig", errors="replace", newline="")
        ) as handle:
            rows = csv.reader(handle)
            header: list[str] | None = None
            ended = 0  # the line the previous row ended on
            for row in rows:
                first, ended = ended + 1, rows.line_num
                if not row:
                    continue
                if header is None:
                    header = row
                    continue
                if len(row) != len(header):
                    where = (
                        f"line {ended} has {len(row)}"
                        if first == ended
                        else f"the row on lines {first}-{ended} has {len(row)} (a quote left open?)"
                    )
                    return f"header has {len(header)} fields, {where}"
    except (OSError, EOFError, csv.Error, zlib.error) as exc:
        return f"not readable as CSV: {exc}"
    return None


def load(
    reader: UnitReader,
    prepared: Prepared,
    *,
    stream_threshold_bytes: int,
) -> Parsed:
    """Read ``prepared.files`` with DuckDB, normalise them with the format's SQL and
    return the canonical table (or, above the threshold, a stream of its batches).

    Raises:
        ParseError: a file is unreadable, lacks what the format needs, or holds a value
            that does not convert (for streamed units such errors surface while the
            engine reads the stream, and the unit is quarantined as a whole).
    """
    finish = BatchFinisher(reader.unit.uri, constants=prepared.constants, copies=prepared.copies)
    unit_uri = reader.unit.uri
    files = prepared.files
    translate = _Translator(unit_uri, files)
    con = connect()
    owned = True
    try:
        if not files:
            # A period with no charges (an empty manifest): nothing to load, nothing to keep.
            return BILLING_LINES.empty_table()
        kind = prepared.kind or file_kind(files, unit_uri)
        columns = _describe(con, prepared, files, kind, translate)
        sql = prepared.build_sql(columns)
        try:
            # DuckDB sniffs the files again here, on other samples than _describe's: a
            # dialect it cannot settle is the file's defect, not a crash.
            con.execute(f"CREATE TEMP VIEW src AS {_relation(prepared, files, kind)}")
        except duckdb.Error as exc:
            raise _locate(con, prepared, files, kind, translate, exc) from exc
        size = sum(f.path.stat().st_size for f in files)
        if size <= stream_threshold_bytes:
            try:
                # DuckDB's batch stream is much faster to read than to_arrow_table().
                reader_ = con.sql(sql).to_arrow_reader(BATCH_ROWS)
                batches = [finish(b) for b in reader_]
            except (duckdb.Error, pa.ArrowException, OSError) as exc:
                # Whether DuckDB fails before the first batch (duckdb.Error) or while pyarrow
                # reads its stream (ArrowIOError, an OSError) depends on timing: same error.
                raise _locate(con, prepared, files, kind, translate, exc) from exc
            return pa.Table.from_batches(batches, schema=BILLING_LINES)
        try:
            stream = con.sql(sql).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:  # DuckDB may run ahead to the first batch
            raise _locate(con, prepared, files, kind, translate, exc) from exc
        owned = False
        return pa.RecordBatchReader.from_batches(
            BILLING_LINES, _stream(con, stream, finish, translate, prepared.cleanup)
        )
    finally:
        if owned:
            con.close()
            _remove(prepared.cleanup)


def _stream(
    con: duckdb.DuckDBPyConnection,
    stream: pa.RecordBatchReader,
    finish: BatchFinisher,
    translate: _Translator,
    cleanup: list[Path],
) -> Iterator[pa.RecordBatch]:
    """The unit's canonical batches, produced one step ahead by a worker thread.

    The parsing DuckDB (and the per-batch Arrow work) runs while the engine inserts the
    previous batch into the warehouse, so the two overlap instead of taking turns; the
    queue holds at most ``PREFETCH_BATCHES`` batches, so memory stays bounded.
    """
    queue: Queue[pa.RecordBatch | BaseException | None] = Queue(maxsize=PREFETCH_BATCHES)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in stream:
                finished = finish(batch)
                while not stop.is_set():
                    try:
                        queue.put(finished, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            queue.put(exc)

    worker = threading.Thread(target=produce, name="billing-parse", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is None:
                return
            if isinstance(item, (duckdb.Error, pa.ArrowException, OSError)):
                # DuckDB's errors reach pyarrow's stream as ArrowIOError ("IOError: ...")
                raise translate(item) from item
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                queue.get(timeout=0.1)
            except Empty:
                pass
        worker.join()
        con.close()
        _remove(cleanup)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    paths.clear()


def _describe(
    con: duckdb.DuckDBPyConnection,
    prepared: Prepared,
    files: Sequence[DataFile],
    kind: DataKind,
    translate: _Translator,
) -> Columns:
    """The unit's columns; a file that cannot be read at all is named in the error."""
    try:
        rows = con.execute(f"DESCRIBE {_relation(prepared, files, kind)}").fetchall()
    except duckdb.Error as exc:
        for data in files:
            try:
                con.execute(f"DESCRIBE {_relation(prepared, [data], kind)}").fetchall()
            except duckdb.Error as single:
                raise translate(single, data) from single
        raise translate(exc) from exc
    return Columns([(str(r[0]), str(r[1])) for r in rows], null_tokens=prepared.null_tokens)


def _locate(
    con: duckdb.DuckDBPyConnection,
    prepared: Prepared,
    files: Sequence[DataFile],
    kind: DataKind,
    translate: _Translator,
    exc: Exception,
) -> ParseError:
    """On an error in a several-file unit, find the file that holds it (each file with
    the SQL for its own columns: files of one delivery may differ).
    """
    if len(files) > 1:
        for data in files:
            try:
                columns = _describe(con, prepared, [data], kind, translate)
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW src AS {_relation(prepared, [data], kind)}"
                )
                for _ in con.sql(prepared.build_sql(columns)).to_arrow_reader(BATCH_ROWS):
                    pass
            except (duckdb.Error, pa.ArrowException, OSError) as single:
                return translate(single, data)
    return translate(exc, files[0] if len(files) == 1 else None)


# -- the parser base -----------------------------------------------------------------


class BillingParser(Parser):
    """Base of the billing parsers: the stream threshold option and the load template.

    Subclasses implement ``units`` (layout: which objects form one billing period of
    one export; ``group_units`` groups them) and ``prepare`` (which data files of the
    unit to read and the SQL). With ``--format NAME`` every data file left over is a
    single-file unit.
    """

    table: ClassVar[str] = "billing_lines"
    schema: ClassVar[pa.Schema] = BILLING_LINES
    OPTIONS: ClassVar[tuple[str, ...]] = ("stream_threshold_mb",)

    def check_options(self) -> None:
        """``stream_threshold_mb``: units larger than this stream in record batches
        (default ``DEFAULT_STREAM_THRESHOLD_MB``).

        Raises:
            ConfigError: an unknown key or a bad value, naming ``formats.NAME.KEY``.
        """
        super().check_options()
        threshold = self.options.get("stream_threshold_mb", DEFAULT_STREAM_THRESHOLD_MB)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
            raise ConfigError(
                f"'formats.{self.name}.stream_threshold_mb' must be a number >= 0, "
                f"got {threshold!r}"
            )

    @property
    def stream_threshold_bytes(self) -> int:
        """Units above this many bytes stream."""
        value = self.options.get("stream_threshold_mb", DEFAULT_STREAM_THRESHOLD_MB)
        return int(float(value) * 1024 * 1024)

    def claims_forced(self, key: str) -> bool:
        """With ``--format NAME``: any data file (csv, parquet, json, plain or packed)."""
        return data_kind(key) is not None

    def prepare(self, reader: UnitReader, cleanup: list[Path]) -> Prepared:
        """The files of the unit to load and the SQL that normalises them."""
        raise NotImplementedError

    def parse_unit(self, reader: UnitReader) -> Parsed:
        """Load one unit into ``billing_lines`` rows."""
        cleanup: list[Path] = []
        try:
            prepared = self.prepare(reader, cleanup)
        except BaseException:
            _remove(cleanup)
            raise
        prepared.cleanup.extend(cleanup)
        return load(reader, prepared, stream_threshold_bytes=self.stream_threshold_bytes)
