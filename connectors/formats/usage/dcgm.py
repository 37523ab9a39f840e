"""NVIDIA DCGM exporter metrics → ``gpu_usage`` windows (one per GPU/MIG instance, job or
pod, and contiguous stretch of samples).

Shapes read, all by DuckDB straight from the file (``reader.path``), never a Python loop
per sample:

- **Prometheus text exposition** (a scrape of ``:9400/metrics``, or a ``/federate`` dump):
  ``NAME{labels} value [timestamp_ms]``. Samples without a timestamp take the object's
  modified time (``time_basis = object_modified_at``): a single scrape is one instant
  and has no duration unless ``scrape_interval_seconds`` is set.
- **Prometheus HTTP API JSON** (``/api/v1/query_range`` or ``/api/v1/query`` responses;
  one object, an array of them, or one per line).
- **CSV or Parquet dumps**, long (one row per sample: a time column, ``metric``,
  ``value`` and one column per label) or wide (a time column, label columns and one
  ``DCGM_FI_*`` column per metric).

Metrics used: ``DCGM_FI_DEV_GPU_UTIL`` (% → ratio), ``DCGM_FI_PROF_PIPE_TENSOR_ACTIVE``,
``DCGM_FI_PROF_SM_ACTIVE``, ``DCGM_FI_PROF_DRAM_ACTIVE`` (ratios 0–1),
``DCGM_FI_DEV_POWER_USAGE`` (W) and the ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` counter
(mJ; resets handled), also under GKE's lowercase names and the old exporter's
``dcgm_*`` names. Any other DCGM metric still proves the GPU was observed. Labels:
``UUID``/``uuid``, ``gpu``, ``pci_bus_id``, ``modelName``, ``Hostname``
(``node``/``kubernetes_node``
win when Prometheus added them), ``namespace``/``pod``/``container`` (``exported_*``
win: they are the workload's when Prometheus renamed the exporter's own), the old
``pod_name``/``pod_namespace``/``container_name``, ``hpc_job``, ``GPU_I_PROFILE`` /
``GPU_I_ID`` (MIG) and ``cluster``.

Reference: dcgm-exporter's default counters and label names; Prometheus exposition
format and HTTP API documentation.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
import tempfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from connectors.formats.base import Parser, Sample, UnitReader
from connectors.formats.duck import parse_error, sql_ident, sql_string
from connectors.formats.text import MAX_LINE_BYTES, check_head_lines
from connectors.formats.usage.kit import (
    POINT_METRICS,
    SERIES_KEYS,
    TIME_CONFIGURED_ZONE,
    TIME_OBJECT_MODIFIED,
    TIME_UNKNOWN_ZONE,
    TIME_UTC,
    WINDOW_OPTIONS,
    Windowing,
    check_str,
    check_timezone,
    connect,
    integrate,
    local_to_epoch_sql,
    series_id_sql,
)
from reconcile.errors import ParseError
from reconcile.schemas import GPU_USAGE

# Lowercased metric name -> (canonical metric, factor to canonical units).
METRICS: dict[str, tuple[str, float]] = {
    "dcgm_fi_dev_gpu_util": ("gpu_util", 0.01),
    "dcgm_gpu_utilization": ("gpu_util", 0.01),
    "dcgm_fi_prof_pipe_tensor_active": ("tensor_active", 1.0),
    "dcgm_tensor_active": ("tensor_active", 1.0),
    "dcgm_fi_prof_sm_active": ("sm_active", 1.0),
    "dcgm_sm_active": ("sm_active", 1.0),
    "dcgm_fi_prof_dram_active": ("dram_active", 1.0),
    "dcgm_dram_active": ("dram_active", 1.0),
    "dcgm_fi_dev_power_usage": ("power_w", 1.0),
    "dcgm_power_usage": ("power_w", 1.0),
    "dcgm_fi_dev_total_energy_consumption": ("energy_mj", 1.0),
    "dcgm_total_energy_consumption": ("energy_mj", 1.0),
}

# Canonical label -> source label names, best first.
LABELS: dict[str, tuple[str, ...]] = {
    "cluster": ("cluster",),
    "host": ("node", "kubernetes_node", "Hostname", "hostname", "host", "instance"),
    "gpu_index": ("gpu", "gpu_index", "minor_number"),
    "gpu_uuid": ("UUID", "uuid", "gpu_uuid"),
    "pci_bus_id": ("pci_bus_id",),
    "model_name": ("modelName", "model_name", "modelname"),
    "namespace": ("exported_namespace", "namespace", "pod_namespace"),
    "pod": ("exported_pod", "pod", "pod_name"),
    "container": ("exported_container", "container", "container_name"),
    "hpc_job": ("hpc_job",),
    "mig_profile": ("GPU_I_PROFILE",),
    "mig_instance": ("GPU_I_ID",),
}

TIME_COLUMNS = ("timestamp", "time", "ts", "datetime", "date_time", "_time")
METRIC_COLUMNS = ("metric", "__name__", "metric_name", "name")
VALUE_COLUMNS = ("value", "val", "sample_value")

_DCGM_NAME = re.compile(r"(?<![A-Za-z0-9_])(DCGM_FI_[A-Z0-9_]+|dcgm_[a-z0-9_]+)")
_EXPOSITION_LINE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+\S+(\s+-?\d+)?\s*$")
# Time column text with an explicit offset (or Z) after a clock time.
_ZONED = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|UTC|[+-]\d{2}(:?\d{2})?)$"
_LINE_RE = r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+(-?[0-9]+))?\s*$"
_LABEL_RE = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"'
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass
class _Shape:
    """Where the samples are and how to read them, whatever the file's shape.

    ``labels`` maps a raw-label alias to its SQL; ``candidates`` maps each canonical label
    to the aliases that may carry it, best first. ``ts_kind`` is ``number`` (epoch s, ms,
    µs or ns), ``timestamptz``, ``timestamp`` (naive local), ``text`` or ``none``.
    """

    relation: str
    metric: str
    value: str
    value_is_text: bool
    ts: str
    ts_kind: str
    labels: dict[str, str]
    names: dict[str, str]
    candidates: dict[str, list[str]]
    line: str | None = None


def _metric_columns(metric: str, value: str) -> list[str]:
    """``avg(...) AS gpu_util`` etc.: one pivoted column per canonical metric."""
    by_kind: dict[str, list[str]] = {}
    factors: dict[str, float] = {}
    for name, (kind, factor) in METRICS.items():
        by_kind.setdefault(kind, []).append(name)
        factors[kind] = factor
    out = []
    for kind in POINT_METRICS:
        names = sorted({n for low in by_kind[kind] for n in (low, low.upper())})
        scale = "" if factors[kind] == 1 else f" * {factors[kind]!r}"
        listed = ", ".join(sql_string(n) for n in names)
        out.append(f"avg(CASE WHEN {metric} IN ({listed}) THEN {value}{scale} END) AS {kind}")
    return out


class DcgmParser(Parser):
    """DCGM exporter metrics (text exposition, Prometheus API JSON, CSV, Parquet)."""

    name: ClassVar[str] = "dcgm"
    version: ClassVar[int] = 2  # 2: pci_bus_id, series naming no GPU dropped
    table: ClassVar[str] = "gpu_usage"
    schema: ClassVar[pa.Schema] = GPU_USAGE
    patterns: ClassVar[tuple[str, ...]] = ("dcgm*.prom", "dcgm*.prom.gz")
    sniff_suffixes: ClassVar[tuple[str, ...]] = (
        ".prom",
        ".prom.gz",
        ".metrics",
        ".txt",
        ".json",
        ".json.gz",
        ".jsonl",
        ".csv",
        ".csv.gz",
        ".parquet",
    )
    OPTIONS: ClassVar[tuple[str, ...]] = ("cluster", "timezone", *WINDOW_OPTIONS)

    def check_options(self) -> None:
        """Options: ``cluster``, ``timezone`` (for time columns without an offset),
        ``max_gap_seconds``, ``gap_factor``, ``scrape_interval_seconds``."""
        super().check_options()
        self.cluster = (
            check_str(self.name, "cluster", self.options["cluster"])
            if "cluster" in self.options
            else None
        )
        self.timezone = (
            check_timezone(self.name, "timezone", self.options["timezone"])
            if "timezone" in self.options
            else None
        )
        self.windowing = Windowing.from_options(self.name, self.options)

    def sniff(self, sample: Sample) -> bool:
        """DCGM metric names in a text head, or DCGM columns in a Parquet schema."""
        if sample.is_parquet():
            schema = sample.parquet_schema()
            if schema is None:
                return False
            names = set(schema.names)
            if any(n.lower().startswith("dcgm_") for n in names):
                return True
            return bool(names & {"UUID", "uuid"}) and bool(names & {"modelName", "Hostname"})
        text = sample.text()
        if not _DCGM_NAME.search(text):
            return False
        stripped = text.lstrip()
        if stripped.startswith(("{", "[")):
            return '"resultType"' in text
        first = sample.first_line()
        if first.startswith("#") or _EXPOSITION_LINE.match(first):
            return any(
                _DCGM_NAME.match(line) and _EXPOSITION_LINE.match(line)
                for line in text.splitlines()[:200]
            )
        header = {c.strip().strip('"') for c in re.split(r"[,;\t]", first)}
        has_time = bool({c.lower() for c in header} & set(TIME_COLUMNS))
        long = bool(header & set(METRIC_COLUMNS)) and bool(header & set(VALUE_COLUMNS))
        wide = any(_DCGM_NAME.fullmatch(c) for c in header)
        return has_time and (long or wide)

    def parse_unit(self, reader: UnitReader) -> pa.Table:
        """Parse the single member from a local path (streamed from object stores)."""
        (info,) = reader.unit.members
        path = reader.path(info.key)
        return self.parse_path(path, source=reader.unit.uri, modified_at=info.modified_at)

    def parse(self, data: bytes, *, source: str) -> pa.Table:
        """Parse bytes (written to a temporary file for DuckDB)."""
        with tempfile.TemporaryDirectory(prefix="reconcile-dcgm-") as folder:
            suffix = "".join(re.findall(r"\.[A-Za-z0-9]{1,8}", source.rsplit("/", 1)[-1])[-2:])
            path = Path(folder) / f"object{suffix}"
            path.write_bytes(data)
            return self.parse_path(path, source=source, modified_at=None)

    # -- shapes ----------------------------------------------------------------

    def parse_path(self, path: Path, *, source: str, modified_at: datetime | None) -> pa.Table:
        """Parse a file of any supported shape."""
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
        if not head.strip():
            raise ParseError(source, "empty file")
        compressed = head[:2] == b"\x1f\x8b"
        if compressed:
            try:
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64 * 1024)
            except zlib.error as exc:
                raise ParseError(source, "corrupt gzip data") from exc
        with connect() as con:
            try:
                if head[:4] == b"PAR1":
                    shape = self._tabular(con, path, source, parquet=True, compressed=False)
                else:
                    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
                    if text.startswith(("{", "[")):
                        shape = self._json(con, path, source, compressed)
                    elif text.startswith("#") or _EXPOSITION_LINE.match(text.split("\n", 1)[0]):
                        check_head_lines(path, source, compressed=compressed)
                        shape = self._exposition(con, path, source, compressed)
                    else:
                        check_head_lines(path, source, compressed=compressed)
                        shape = self._tabular(
                            con, path, source, parquet=False, compressed=compressed
                        )
                return self._finish(con, shape, source, modified_at, path)
            except duckdb.Error as exc:
                raise parse_error(exc, source, paths={str(path): source}) from exc

    def _exposition(
        self, con: duckdb.DuckDBPyConnection, path: Path, source: str, compressed: bool
    ) -> _Shape:
        compression = "gzip" if compressed else "none"
        con.execute(
            f"""
            CREATE TEMP TABLE _lines AS
            SELECT row_number() OVER () AS line_no, line FROM read_csv({sql_string(str(path))},
                columns = {{'line': 'VARCHAR'}}, delim = '\\0', quote = '', escape = '',
                header = false, auto_detect = false, compression = {sql_string(compression)},
                strict_mode = false)
            """
        )
        samples = "line IS NOT NULL AND trim(line) <> '' AND NOT starts_with(ltrim(line), '#')"
        bad = con.execute(
            f"""
            SELECT line_no, line FROM _lines
            WHERE {samples} AND NOT regexp_full_match(line, {sql_string(_LINE_RE)})
            ORDER BY line_no LIMIT 1
            """
        ).fetchall()
        if bad:
            line_no, line = bad[0]
            raise ParseError(
                source, f"not a Prometheus exposition line: {line[:80]!r}", f"line {line_no}"
            )
        con.execute(
            f"""
            CREATE TEMP VIEW _parsed AS
            SELECT line_no, m.name AS metric, m.value AS val, nullif(m.ts, '') AS ts,
                map_from_entries(list_transform(
                    regexp_extract_all(coalesce(m.labels, ''), {sql_string(_LABEL_RE)}),
                    lambda x: {{'k': regexp_extract(x, '^([^=]*)=', 1),
                        'v': replace(replace(regexp_extract(x, '="(.*)"$', 1), '\\"', '"'),
                                     '\\\\', '\\')}})) AS labels
            FROM (
                SELECT line_no, regexp_extract(line, {sql_string(_LINE_RE)},
                    ['name', 'x', 'labels', 'value', 'y', 'ts']) AS m
                FROM _lines WHERE {samples}
            )
            """
        )
        return self._from_map("_parsed", line="line_no")

    def _json(
        self, con: duckdb.DuckDBPyConnection, path: Path, source: str, compressed: bool
    ) -> _Shape:
        size = path.stat().st_size
        limit = max(16 * 1024 * 1024, size * (20 if compressed else 1) + 1)
        con.execute(
            f"""
            CREATE TEMP TABLE _docs AS
            SELECT row_number() OVER () AS doc, json FROM read_json_objects(
                {sql_string(str(path))}, format = 'auto', maximum_object_size = {limit},
                compression = {sql_string("gzip" if compressed else "none")})
            """
        )
        # A top-level array of responses arrives as one JSON array value.
        con.execute(
            """
            CREATE TEMP VIEW _responses AS
            SELECT doc, r AS json FROM (
                SELECT doc, CASE WHEN json_type(json) = 'ARRAY'
                    THEN json_extract(json, '$[*]') ELSE [json] END AS rs FROM _docs
            ), unnest(rs) AS u(r)
            """
        )
        problems = con.execute(
            """
            SELECT doc, json_extract_string(json, '$.status'),
                json_extract_string(json, '$.error'),
                json_extract_string(json, '$.data.resultType')
            FROM _responses
            WHERE coalesce(json_extract_string(json, '$.status'), '') <> 'success'
               OR coalesce(json_extract_string(json, '$.data.resultType'), '')
                  NOT IN ('matrix', 'vector')
            LIMIT 1
            """
        ).fetchall()
        if problems:
            doc, status, error, rtype = problems[0]
            if status is None and rtype is None:
                reason = "not a Prometheus query API response (no status/data.resultType)"
            elif status != "success":
                reason = f"Prometheus query failed: status {status!r}: {error or 'no error text'}"
            else:
                reason = f"unsupported resultType {rtype!r} (expected matrix or vector)"
            raise ParseError(source, reason, f"response {doc}")
        con.execute(
            """
            CREATE TEMP VIEW _parsed AS
            SELECT labels['__name__'] AS metric, json_extract_string(v, '$[1]') AS val,
                json_extract_string(v, '$[0]') AS ts, labels
            FROM (
                SELECT from_json(json_extract(r, '$.metric'), '"MAP(VARCHAR, VARCHAR)"')
                        AS labels,
                    CASE WHEN json_extract_string(json, '$.data.resultType') = 'vector'
                        THEN [json_extract(r, '$.value')]
                        ELSE json_extract(r, '$.values[*]') END AS vs
                FROM (SELECT json, unnest(json_extract(json, '$.data.result[*]')) AS r
                      FROM _responses)
            ), unnest(vs) AS u(v)
            """
        )
        return self._from_map("_parsed")

    def _from_map(self, view: str, line: str | None = None) -> _Shape:
        """A shape whose labels sit in a ``labels`` MAP column."""
        names = sorted({n for group in LABELS.values() for n in group})
        aliases = {name: f"l{i}" for i, name in enumerate(names)}
        return _Shape(
            relation=view,
            metric="metric",
            value="val",
            value_is_text=True,
            ts="ts",
            ts_kind="text",
            labels={aliases[n]: f"labels[{sql_string(n)}]" for n in names},
            names={aliases[n]: n for n in names},
            candidates={c: [aliases[n] for n in group] for c, group in LABELS.items()},
            line=line,
        )

    def _tabular(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        source: str,
        *,
        parquet: bool,
        compressed: bool,
    ) -> _Shape:
        if parquet:
            con.execute(
                f"CREATE TEMP VIEW _raw AS SELECT * FROM read_parquet({sql_string(str(path))})"
            )
            described = con.execute("DESCRIBE _raw").fetchall()
            columns = [r[0] for r in described]
            types = {r[0]: str(r[1]).upper() for r in described}
        else:
            columns, delim, numeric = _csv_header(path, source, compressed)
            types = {c: "VARCHAR" for c in columns}
        lowered = {c.lower(): c for c in reversed(columns)}

        def pick(candidates: tuple[str, ...]) -> str | None:
            for name in candidates:
                if name in columns:
                    return name
            for name in candidates:
                if name.lower() in lowered:
                    return str(lowered[name.lower()])
            return None

        time_col = pick(TIME_COLUMNS)
        if time_col is None:
            raise ParseError(
                source, f"no time column (one of {', '.join(TIME_COLUMNS)}) in {columns[:12]}"
            )
        metric_col, value_col = pick(METRIC_COLUMNS), pick(VALUE_COLUMNS)
        wide = [c for c in columns if _DCGM_NAME.fullmatch(c)]
        long = bool(metric_col and value_col)
        if not long and not wide:
            raise ParseError(
                source,
                "neither a long dump (metric and value columns) nor a wide one "
                f"(DCGM_FI_* columns): columns {columns[:12]}",
            )
        if not parquet:
            # Time and values typed up front when the head shows numbers: DuckDB then
            # parses them once, and a bad cell fails with its line number.
            typed = {c: "VARCHAR" for c in columns}
            if numeric.get(time_col):
                typed[time_col] = "DOUBLE"
                types[time_col] = "DOUBLE"
            for column in [value_col] if long else wide:
                if column is not None:
                    typed[column] = types[column] = "DOUBLE"
            spec = ", ".join(f"{sql_string(c)}: {sql_string(t)}" for c, t in typed.items())
            spec = "{" + spec + "}"
            con.execute(
                f"""
                CREATE TEMP VIEW _raw AS SELECT * FROM read_csv({sql_string(str(path))},
                    header = true, delim = {sql_string(delim)}, quote = '"', escape = '"',
                    columns = {spec}, auto_detect = false, strict_mode = true,
                    compression = {sql_string("gzip" if compressed else "none")})
                """
            )
        taken = {time_col}
        if long:
            assert metric_col is not None and value_col is not None
            relation = "_raw"
            metric = f"CAST({sql_ident(metric_col)} AS VARCHAR)"
            value_type = types[value_col]
            taken |= {metric_col, value_col}
        else:
            keep = [c for c in columns if c not in wide]
            numeric_wide = all(_is_number_type(types[c]) for c in wide)
            cast = "DOUBLE" if numeric_wide else "VARCHAR"
            con.execute(
                f"""
                CREATE TEMP VIEW _unpivoted AS
                UNPIVOT (SELECT {", ".join(sql_ident(c) for c in keep)},
                    {", ".join(f"CAST({sql_ident(c)} AS {cast}) AS {sql_ident(c)}" for c in wide)}
                    FROM _raw)
                ON {", ".join(sql_ident(c) for c in wide)} INTO NAME "__metric" VALUE "__value"
                """
            )
            relation, metric, value_col, value_type = "_unpivoted", '"__metric"', "__value", cast
            taken |= set(wide)
        available = [c for c in columns if c not in taken]
        lowered_available = {c.lower(): c for c in reversed(available)}
        labels: dict[str, str] = {}
        label_names: dict[str, str] = {}
        candidates: dict[str, list[str]] = {}
        for canonical, names in LABELS.items():
            for name in names:
                column = name if name in available else lowered_available.get(name.lower())
                if column is None:
                    continue
                alias = f"l{available.index(column)}"
                labels[alias] = f"CAST({sql_ident(column)} AS VARCHAR)"
                label_names[alias] = name
                if alias not in candidates.setdefault(canonical, []):
                    candidates[canonical].append(alias)
        time_type = types[time_col]
        if _is_number_type(time_type):
            ts_kind = "number"
        elif time_type.startswith("TIMESTAMP WITH TIME ZONE") or time_type == "TIMESTAMPTZ":
            ts_kind = "timestamptz"
        elif time_type.startswith("TIMESTAMP") or time_type == "DATE":
            ts_kind = "timestamp"
        else:
            ts_kind = "text"
        return _Shape(
            relation=relation,
            metric=metric,
            value=sql_ident(value_col),
            value_is_text=not _is_number_type(value_type),
            ts=f"CAST({sql_ident(time_col)} AS TIMESTAMP)"
            if ts_kind == "timestamp"
            else sql_ident(time_col),
            ts_kind=ts_kind,
            labels=labels,
            names=label_names,
            candidates=candidates,
        )

    # -- common --------------------------------------------------------------

    def _finish(
        self,
        con: duckdb.DuckDBPyConnection,
        shape: _Shape,
        source: str,
        modified_at: datetime | None,
        path: Path,
    ) -> pa.Table:
        # Phase 1, over every sample: pivot metrics per (raw labels, time). Labels and
        # time text are only normalised afterwards, on the much smaller result.
        if shape.value_is_text:
            number = f"try_cast({shape.value} AS DOUBLE)"
            bad = (
                f"({number} IS NULL AND nullif(trim({shape.value}), '') IS NOT NULL "
                f"AND lower(trim({shape.value})) NOT IN ('nan', '+inf', '-inf', 'inf'))"
            )
        else:
            number, bad = f"CAST({shape.value} AS DOUBLE)", "false"
        value = "CASE WHEN isnan(_v) OR isinf(_v) THEN NULL ELSE _v END"
        raw = ", ".join(f"{sql} AS {alias}" for alias, sql in shape.labels.items())
        first = "".join(f"any_value({alias}) AS {alias}, " for alias in shape.labels)
        con.execute(
            f"""
            CREATE TEMP TABLE _pts AS
            SELECT {series_id_sql(list(shape.labels))} AS rsid, _ts AS ts, {first}
                {"min(_line)" if shape.line else "NULL::BIGINT"} AS line_no,
                {", ".join(_metric_columns("_metric", value))},
                count(*) AS n,
                count(*) FILTER (_bad) AS bad_values,
                any_value(_raw_value) FILTER (_bad) AS bad_example
            FROM (
                SELECT {raw + "," if raw else ""} {shape.ts} AS _ts, {shape.metric} AS _metric,
                    {number} AS _v, {bad} AS _bad,
                    {f"CAST({shape.value} AS VARCHAR)" if shape.value_is_text else "NULL"}
                        AS _raw_value
                    {f", {shape.line} AS _line" if shape.line else ""}
                FROM {shape.relation}
            )
            WHERE starts_with(_metric, 'DCGM_') OR starts_with(_metric, 'dcgm_')
            GROUP BY rsid, ts
            """
        )
        rows, bad_values, bad_example = con.execute(
            "SELECT sum(n), sum(bad_values), any_value(bad_example) FROM _pts"
        ).fetchall()[0]
        if not rows:
            raise ParseError(source, "no DCGM metric samples found (DCGM_FI_* or dcgm_* names)")
        if bad_values:
            raise ParseError(
                source, f"non-numeric sample value {bad_example!r} ({bad_values} samples)"
            )
        # Phase 2: canonical labels once per raw label set, time in UTC per point.
        t_utc, t_local = _time_sql(shape.ts_kind)
        canonical = []
        for name in LABELS:
            parts = []
            for alias in shape.candidates.get(name, []):
                got = f"nullif(trim({alias}), '')"
                if shape.names[alias] == "instance":  # host:port of the scrape target
                    got = f"regexp_replace({got}, ':[0-9]+$', '')"
                parts.append(got)
            if name == "cluster" and self.cluster:
                parts.append(sql_string(self.cluster))
            expr = f"coalesce({', '.join(parts)})" if parts else "NULL::VARCHAR"
            canonical.append(f"{expr} AS {name}")
        first_of = ", ".join(f"any_value({alias}) AS {alias}" for alias in shape.labels)
        con.execute(
            f"""
            CREATE TEMP TABLE _rawseries AS
            SELECT *, {series_id_sql([k for k in SERIES_KEYS if k in LABELS])} AS sid FROM (
                SELECT rsid, {", ".join(canonical)}
                FROM (SELECT rsid{", " + first_of if first_of else ""} FROM _pts GROUP BY rsid)
            )
            -- a series naming no GPU (no UUID, index or bus id: an exporter's own or a
            -- test fixture's unlabelled samples) is not a device
            WHERE gpu_uuid IS NOT NULL OR gpu_index IS NOT NULL OR pci_bus_id IS NOT NULL
            """
        )
        con.execute(
            f"""
            CREATE TEMP VIEW _canon AS
            SELECT {t_utc} AS t_utc, {t_local} AS t_local, ts, line_no,
                r.* EXCLUDE (rsid), {", ".join(POINT_METRICS)}
            FROM _pts JOIN _rawseries r USING (rsid)
            """
        )
        bad_time, bad_time_example, no_time, local, zoned = con.execute(
            """
            SELECT count(*) FILTER (ts IS NOT NULL AND t_utc IS NULL AND t_local IS NULL),
                any_value(CAST(ts AS VARCHAR))
                    FILTER (ts IS NOT NULL AND t_utc IS NULL AND t_local IS NULL),
                count(*) FILTER (ts IS NULL), count(*) FILTER (t_local IS NOT NULL),
                count(*) FILTER (t_utc IS NOT NULL)
            FROM _canon
            """
        ).fetchall()[0]
        if bad_time:
            raise ParseError(source, f"unreadable timestamp {bad_time_example!r}")
        if local and zoned:
            raise ParseError(source, "mixes timestamps with and without a UTC offset")
        tags: dict[str, str] = {}
        relation = "_canon"
        if no_time:
            if modified_at is None:
                raise ParseError(
                    source, "samples have no timestamps and the object no modified time"
                )
            basis = TIME_OBJECT_MODIFIED
            t_expr = f"coalesce(t_utc, {modified_at.timestamp()!r})"
            # The scrape's time is only the file's: a copy saved later is the same scrape,
            # known by its bytes (gpu_usage_status counts windows of one scrape once).
            tags["scrape_sha256"] = _file_sha256(path)
        elif local and self.timezone:
            basis = TIME_CONFIGURED_ZONE
            tags["timezone"] = self.timezone
            order = "line_no, t_local" if shape.line else "t_local"
            helpers, final = local_to_epoch_sql("t_local", self.timezone, "sid", order)
            relation = f"(SELECT *, {final} AS _t FROM (SELECT *, {helpers} FROM _canon))"
            t_expr = "_t"
        elif local:
            basis = TIME_UNKNOWN_ZONE
            t_expr = "epoch(CAST(t_local AS TIMESTAMPTZ))"
        else:
            basis = TIME_UTC
            t_expr = "t_utc"
        points = f"""
            (SELECT sid, {t_expr} AS t, cluster, host, gpu_index, gpu_uuid, pci_bus_id, model_name,
                mig_profile, mig_instance, namespace, pod, container, hpc_job,
                coalesce(hpc_job, CASE WHEN pod IS NOT NULL
                    THEN coalesce(namespace || '/', '') || pod END) AS job_key,
                pod AS job_name, {", ".join(POINT_METRICS)}
             FROM {relation})
        """
        return integrate(
            con,
            points,
            source_kind="dcgm",
            source_uri=source,
            source_format=self.name,
            windowing=self.windowing,
            time_basis=basis,
            extra_tags=tags,
        )


def _is_number_type(name: str) -> bool:
    return name.split("(")[0] in {
        "DOUBLE",
        "FLOAT",
        "REAL",
        "BIGINT",
        "INTEGER",
        "SMALLINT",
        "TINYINT",
        "HUGEINT",
        "UBIGINT",
        "UINTEGER",
        "USMALLINT",
        "UTINYINT",
        "DECIMAL",
    }


def _time_sql(kind: str) -> tuple[str, str]:
    """SQL for (epoch seconds when the time is absolute, naive TIMESTAMP when local)."""
    if kind == "number":
        n = "CAST(ts AS DOUBLE)"
        epoch = (
            f"CASE WHEN abs({n}) >= 1e17 THEN {n} / 1e9 WHEN abs({n}) >= 1e14 "
            f"THEN {n} / 1e6 WHEN abs({n}) >= 1e11 THEN {n} / 1e3 ELSE {n} END"
        )
        return epoch, "NULL::TIMESTAMP"
    if kind == "timestamptz":
        return "epoch(ts)", "NULL::TIMESTAMP"
    if kind == "timestamp":
        return "NULL::DOUBLE", "ts"
    if kind == "none":
        return "NULL::DOUBLE", "NULL::TIMESTAMP"
    num = "try_cast(ts AS DOUBLE)"
    epoch = (
        f"CASE WHEN abs({num}) >= 1e17 THEN {num} / 1e9 WHEN abs({num}) >= 1e14 "
        f"THEN {num} / 1e6 WHEN abs({num}) >= 1e11 THEN {num} / 1e3 ELSE {num} END"
    )
    zoned = f"regexp_matches(ts, {sql_string(_ZONED)})"
    utc = (
        f"CASE WHEN {num} IS NOT NULL THEN {epoch} WHEN {zoned} THEN "
        "epoch(try_cast(regexp_replace(ts, '\\s*UTC$', 'Z') AS TIMESTAMPTZ)) END"
    )
    local = f"CASE WHEN {num} IS NULL AND NOT {zoned} THEN try_cast(ts AS TIMESTAMP) END"
    return utc, local


def _csv_header(
    path: Path, source: str, compressed: bool
) -> tuple[list[str], str, dict[str, bool]]:
    """Column names, delimiter, and which columns look numeric in the first rows."""
    opener: Any = gzip.open if compressed else open
    head: list[str] = []
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            # readline with a limit: one enormous line (or a gzip bomb) is not read whole.
            while len(head) < 50 and (line := handle.readline(MAX_LINE_BYTES + 1)):
                if len(line) > MAX_LINE_BYTES:
                    raise ParseError(
                        source,
                        f"a line longer than {MAX_LINE_BYTES:,} characters",
                        f"line {len(head) + 1}",
                    )
                head.append(line)
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise ParseError(source, f"cannot read the header line: {exc}") from exc
    first = head[0].rstrip("\r\n") if head else ""
    delim = max((",", ";", "\t"), key=first.count)
    try:
        rows = list(csv.reader([line.rstrip("\r\n") for line in head], delimiter=delim))
    except csv.Error as exc:
        raise ParseError(source, f"malformed CSV header: {exc}", "line 1") from exc
    columns = [c.strip() for c in rows[0]] if rows else []
    if not columns or len(set(columns)) != len(columns) or any(not c for c in columns):
        raise ParseError(source, "header has empty or duplicate column names", "line 1")
    numeric: dict[str, bool] = {}
    for index, column in enumerate(columns):
        cells = [r[index].strip() for r in rows[1:] if len(r) == len(columns) and r[index].strip()]
        numeric[column] = bool(cells) and all(_FLOAT.fullmatch(c) for c in cells)
    return columns, delim, numeric


def _file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
