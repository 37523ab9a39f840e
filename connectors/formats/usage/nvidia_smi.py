"""``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits] -l N`` logs → ``gpu_usage``
windows (one per GPU, job and contiguous stretch of samples).

The log is one row per GPU per sample: ``timestamp, index, uuid, name,
utilization.gpu [%], ..., power.draw [W]``; a device is known by its ``uuid``, else its
``index``, else its ``pci.bus_id`` (logs that query only the bus id). Fields are
space-padded; values carry units unless ``nounits`` was given (both are read);
``[N/A]``, ``[Not Supported]`` and other bracketed words are missing values. A log
appended across restarts repeats its header line; repeats are skipped. Timestamps
(``2025/03/04 13:05:10.412``) are the node's local wall clock with no zone:
``[formats.nvidia_smi] timezone`` converts them (see docs/formats.md for what happens without
it). nvidia-smi names no host and no job: they come from the ``host`` option or from the
object's path via ``path_pattern``.

``utilization.gpu`` is the share of time any kernel ran (``gpu_util_avg``), not FLOP
utilisation; nvidia-smi has no tensor-pipe activity, so ``tensor_active_avg`` stays
empty. ``utilization.memory`` (memory-controller busy time) is not DCGM's DRAM_ACTIVE
and is not stored as such.

Logs written with ``noheader`` are only recognised when ``columns`` is configured (the
``--query-gpu`` list, in order); otherwise name them with ``--format nvidia_smi``, and
configure ``columns`` all the same.
"""

from __future__ import annotations

import re
import tempfile
import zlib
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa

from connectors.formats.base import Parser, Sample, UnitReader
from connectors.formats.duck import parse_error, sql_string
from connectors.formats.text import check_head_lines
from connectors.formats.usage.kit import (
    TIME_CONFIGURED_ZONE,
    TIME_UNKNOWN_ZONE,
    WINDOW_OPTIONS,
    Windowing,
    check_str,
    check_timezone,
    connect,
    integrate,
    local_to_epoch_sql,
    option_error,
    series_id_sql,
)
from reconcile.errors import ParseError
from reconcile.schemas import GPU_USAGE

# Query field (as written in the header, units removed) -> our column.
FIELDS = {
    "timestamp": "ts",
    "index": "gpu_index",
    "uuid": "gpu_uuid",
    "gpu_uuid": "gpu_uuid",
    "pci.bus_id": "pci_bus_id",
    "name": "model_name",
    "gpu_name": "model_name",
    "utilization.gpu": "gpu_util",
    "power.draw": "power_w",
    "power.draw.average": "power_avg",
    "power.draw.instant": "power_instant",
}
KNOWN_FIELDS = frozenset(
    {
        *FIELDS,
        "utilization.memory",
        "memory.used",
        "memory.total",
        "memory.free",
        "pci.bus_id",
        "temperature.gpu",
        "clocks.sm",
        "clocks.mem",
        "pstate",
        "driver_version",
        "serial",
    }
)
TIMESTAMP_FORMATS = (
    "%Y/%m/%d %H:%M:%S.%g",
    "%Y/%m/%d %H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%g",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
)
_UNIT = re.compile(r"\s*\[[^\]]*\]\s*$")
_NVSMI_TIME = re.compile(r"^\d{4}[/-]\d{2}[/-]\d{2}[ T]\d{2}:\d{2}:\d{2}")
_NUMBER = r"^(-?[0-9]+(\.[0-9]+)?)\s*(%|W|MiB|MHz|C|GiB|KiB)?$"


def _field(name: str) -> str:
    return _UNIT.sub("", name).strip().lower()


class NvidiaSmiParser(Parser):
    """nvidia-smi ``--query-gpu`` CSV logs."""

    name: ClassVar[str] = "nvidia_smi"
    version: ClassVar[int] = 2  # 2: devices known by pci.bus_id too
    table: ClassVar[str] = "gpu_usage"
    schema: ClassVar[pa.Schema] = GPU_USAGE
    patterns: ClassVar[tuple[str, ...]] = (
        "nvidia-smi*.csv",
        "nvidia_smi*.csv",
        "nvidia-smi*.csv.gz",
        "nvidia_smi*.csv.gz",
    )
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".csv", ".csv.gz", ".log", ".txt")
    OPTIONS: ClassVar[tuple[str, ...]] = (
        "timezone",
        "host",
        "cluster",
        "path_pattern",
        "columns",
        *WINDOW_OPTIONS,
    )

    def check_options(self) -> None:
        """Options: ``timezone``, ``host``, ``cluster``, ``path_pattern`` (a regex with named
        groups ``host``/``job``/``cluster`` searched in the object's URI), ``columns`` (the
        query fields of noheader logs) and the windowing options."""
        super().check_options()
        fmt = self.name
        opts = self.options
        self.timezone = (
            check_timezone(fmt, "timezone", opts["timezone"]) if "timezone" in opts else None
        )
        self.host = check_str(fmt, "host", opts["host"]) if "host" in opts else None
        self.cluster = check_str(fmt, "cluster", opts["cluster"]) if "cluster" in opts else None
        self.path_pattern: re.Pattern[str] | None = None
        if "path_pattern" in opts:
            text = check_str(fmt, "path_pattern", opts["path_pattern"])
            try:
                self.path_pattern = re.compile(text)
            except re.error as exc:
                raise option_error(fmt, "path_pattern", f"is not a valid regex: {exc}") from exc
            groups = set(self.path_pattern.groupindex)
            if not groups or not groups <= {"host", "job", "cluster"}:
                raise option_error(
                    fmt,
                    "path_pattern",
                    "needs named groups among (?P<host>...), (?P<job>...), (?P<cluster>...)",
                )
        self.columns: list[str] | None = None
        if "columns" in opts:
            value = opts["columns"]
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(c, str) and c.strip() for c in value)
            ):
                raise option_error(fmt, "columns", "must be a list of query fields")
            self.columns = [_field(c) for c in value]
            if "timestamp" not in self.columns:
                raise option_error(fmt, "columns", "must include 'timestamp'")
        self.windowing = Windowing.from_options(fmt, opts)

    def sniff(self, sample: Sample) -> bool:
        """A ``timestamp, index|uuid|pci.bus_id, ...`` header, or (with ``columns`` configured) a
        first line with nvidia-smi's timestamp and that many fields."""
        first = sample.first_line()
        fields = [_field(f) for f in first.split(",")]
        if fields and fields[0] == "timestamp":
            return bool({"index", "uuid", "pci.bus_id"} & set(fields)) and (
                len(set(fields) & KNOWN_FIELDS) >= 3
            )
        if self.columns and len(fields) == len(self.columns):
            return bool(
                _NVSMI_TIME.match(first.split(",")[self.columns.index("timestamp")].strip())
            )
        return False

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Parse the single member from a local path."""
        (info,) = reader.unit.members
        return self.parse_path(reader.path(info.key), source=reader.unit.uri)

    def parse(self, data: bytes, *, source: str) -> pa.Table:
        """Parse bytes (written to a temporary file for DuckDB)."""
        with tempfile.TemporaryDirectory(prefix="reconcile-nvsmi-") as folder:
            path = Path(folder) / ("log.csv.gz" if data[:2] == b"\x1f\x8b" else "log.csv")
            path.write_bytes(data)
            return self.parse_path(path, source=source)

    def parse_path(self, path: Path, *, source: str) -> pa.Table:
        """Parse one log file."""
        head = path.open("rb").read(64 * 1024)
        compressed = head[:2] == b"\x1f\x8b"
        if compressed:
            try:
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64 * 1024)
            except zlib.error as exc:
                raise ParseError(source, "corrupt gzip data") from exc
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if len(head) < 64 * 1024 or exc.start < len(head) - 4:
                raise ParseError(source, f"not UTF-8 text (byte {exc.start})") from exc
            text = head[: exc.start].decode("utf-8")
        first = next((line for line in text.lstrip("\ufeff").splitlines() if line.strip()), "")
        if not first:
            raise ParseError(source, "empty file")
        fields = [_field(f) for f in first.split(",")]
        header = fields[0] == "timestamp"
        if not header:
            if self.columns is None:
                raise ParseError(
                    source,
                    "no header line (a noheader log): set [formats.nvidia_smi] columns to the "
                    "--query-gpu fields, in order",
                    "line 1",
                )
            fields = self.columns
        missing = {"timestamp"} - set(fields)
        if not ({"uuid", "gpu_uuid", "index", "pci.bus_id"} & set(fields)) or missing:
            raise ParseError(
                source,
                f"needs a timestamp and an index, uuid or pci.bus_id field, found {fields}",
                "line 1",
            )
        col = {FIELDS[f]: i for i, f in enumerate(fields) if f in FIELDS}
        check_head_lines(path, source, compressed=compressed)  # no gigabyte-long line
        found = self._from_path(source)
        with connect() as con:
            try:
                return self._parse(con, path, source, len(fields), col, compressed, found)
            except duckdb.Error as exc:
                raise parse_error(exc, source, paths={str(path): source}) from exc

    def _from_path(self, source: str) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.path_pattern is not None:
            match = self.path_pattern.search(source)
            if match:
                found = {k: v for k, v in match.groupdict().items() if v}
        if self.host:
            found.setdefault("host", self.host)
        if self.cluster:
            found.setdefault("cluster", self.cluster)
        return found

    def _parse(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        source: str,
        width: int,
        col: dict[str, int],
        compressed: bool,
        found: dict[str, str],
    ) -> pa.Table:
        # Lines are read whole and split here, so every error names its true line.
        compression = sql_string("gzip" if compressed else "none")
        con.execute(
            f"""
            CREATE TEMP VIEW _lines AS
            SELECT line_no, string_split(line, ',') AS f FROM (
                SELECT row_number() OVER () AS line_no, line FROM read_csv(
                    {sql_string(str(path))}, columns = {{'line': 'VARCHAR'}}, delim = '\\0',
                    quote = '', escape = '', header = false, auto_detect = false,
                    strict_mode = false, compression = {compression})
            )
            WHERE line IS NOT NULL AND trim(line) <> ''
            """
        )
        ts = f"trim(f[{col['ts'] + 1}])"
        wrong = con.execute(
            f"""
            SELECT line_no, len(f) FROM _lines
            WHERE len(f) <> {width} AND NOT lower({ts}) = 'timestamp'
            ORDER BY line_no LIMIT 1
            """
        ).fetchall()
        if wrong:
            line_no, count = wrong[0]
            raise ParseError(
                source, f"expected {width} comma-separated fields, found {count}", f"line {line_no}"
            )
        formats = "[" + ", ".join(sql_string(f) for f in TIMESTAMP_FORMATS) + "]"
        numeric = [k for k in ("gpu_util", "power_w", "power_avg", "power_instant") if k in col]

        def field(name: str) -> str:
            return f"trim(f[{col[name] + 1}])" if name in col else "NULL"

        def missing(text: str) -> str:  # '', [N/A], [Not Supported], N/A ...
            return f"({text} = '' OR regexp_full_match({text}, '\\[.*\\]|N/A'))"

        def number(name: str) -> str:
            text = field(name)
            value = f"try_cast(regexp_extract({text}, {sql_string(_NUMBER)}, 1) AS DOUBLE)"
            return f"CASE WHEN {missing(text)} THEN NULL ELSE {value} END AS {name}"

        def bad(name: str) -> str:
            text = field(name)
            return f"NOT ({missing(text)} OR regexp_full_match({text}, {sql_string(_NUMBER)}))"

        con.execute(
            f"""
            CREATE TEMP TABLE _parsed AS
            SELECT line_no, {ts} AS ts_text, try_strptime({ts}, {formats}) AS t_local,
                {"".join(number(k) + ", " for k in numeric)}
                {" OR ".join(bad(k) for k in numeric) or "false"} AS bad_value,
                nullif({field("gpu_index")}, '') AS gpu_index,
                nullif({field("gpu_uuid")}, '') AS gpu_uuid,
                nullif({field("pci_bus_id")}, '') AS pci_bus_id,
                nullif({field("model_name")}, '') AS model_name
            FROM _lines
            WHERE lower({ts}) <> 'timestamp'
            """
        )
        bad_rows = con.execute(
            """
            SELECT line_no, ts_text, t_local IS NULL AS bad_time FROM _parsed
            WHERE t_local IS NULL OR bad_value ORDER BY line_no LIMIT 1
            """
        ).fetchall()
        if bad_rows:
            line_no, ts_text, bad_time = bad_rows[0]
            reason = (
                f"unreadable timestamp {ts_text!r}"
                if bad_time
                else "a utilization or power value is not a number"
            )
            raise ParseError(source, reason, f"line {line_no}")
        if not con.execute("SELECT count(*) FROM _parsed").fetchall()[0][0]:
            raise ParseError(source, "no samples after the header")
        powers = [k for k in ("power_w", "power_avg", "power_instant") if k in numeric]
        power = f"coalesce({', '.join(powers)})" if powers else "NULL"
        util = "gpu_util / 100.0" if "gpu_util" in numeric else "NULL"
        tags: dict[str, str] = {}
        if self.timezone:
            basis = TIME_CONFIGURED_ZONE
            tags["timezone"] = self.timezone
            series = series_id_sql(["gpu_uuid", "gpu_index", "pci_bus_id"])
            helpers, final = local_to_epoch_sql("t_local", self.timezone, series, "line_no")
            relation = f"(SELECT *, {final} AS t FROM (SELECT *, {helpers} FROM _parsed))"
        else:
            basis = TIME_UNKNOWN_ZONE
            relation = "(SELECT *, epoch(CAST(t_local AS TIMESTAMPTZ)) AS t FROM _parsed)"

        def const(key: str) -> str:
            return sql_string(found[key]) if key in found else "NULL::VARCHAR"

        points = f"""
            (SELECT {series_id_sql(["gpu_uuid", "gpu_index", "pci_bus_id"])} AS sid, t,
                {const("cluster")} AS cluster, {const("host")} AS host, gpu_index,
                gpu_uuid, pci_bus_id, model_name, NULL::VARCHAR AS mig_profile,
                NULL::VARCHAR AS mig_instance, NULL::VARCHAR AS namespace,
                NULL::VARCHAR AS pod, NULL::VARCHAR AS container, NULL::VARCHAR AS hpc_job,
                {const("job")} AS job_key, NULL::VARCHAR AS job_name,
                {util} AS gpu_util, NULL::DOUBLE AS tensor_active, NULL::DOUBLE AS sm_active,
                NULL::DOUBLE AS dram_active, {power} AS power_w, NULL::DOUBLE AS energy_mj
             FROM {relation})
        """
        return integrate(
            con,
            points,
            source_kind="nvidia-smi",
            source_uri=source,
            source_format=self.name,
            windowing=self.windowing,
            time_basis=basis,
            extra_tags=tags,
        )
