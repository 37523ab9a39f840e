"""Stage engines: where the heavy aggregations run.

The stages (``queries/stages/*.sql``) turn the biggest inputs into the small tables the
estimator needs: billing lines into accelerator-hour groups (``billing_rollup``) and GPU
usage rows into accelerator-second integrals (``usage_rollup``). They are written once,
in the subset of DuckDB's dialect that docs/shared-sql.md describes, and run

* on DuckDB (the default), in process, over views of the warehouse (``lake_*`` views,
  the same projections the lake export writes), or
* on Apache Spark, after ``sqlglot`` transpiles them (pinned version; the transpiled
  text is kept as golden files in ``queries/stages/spark/``), over the lake's Parquet,
  so the data never has to fit on one machine.

Either way the result comes back as Arrow, is cast to the stage's declared schema and
lands in DuckDB (``reconcile.estimate``), where matching, estimation and compliance run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import duckdb
import pyarrow as pa

from reconcile import lake
from reconcile.errors import ConfigError, ReconcileError
from reconcile.schemas import BILLING_ROLLUP, USAGE_ROLLUP

log = logging.getLogger("reconcile")

#: Each stage's output schema (what lands in DuckDB), and the lake dataset it reads.
STAGES: dict[str, tuple[str, pa.Schema]] = {
    "billing_rollup": ("billing_lines", BILLING_ROLLUP),
    "usage_rollup": ("gpu_usage", USAGE_ROLLUP),
}

#: The columns that identify a stage's group (its other key columns derive from these),
#: present both in the stage's output and in the lake projection it reads: a group's
#: ``rollup_id`` and the ``rollup_id`` of each input row are the same expression.
ROLLUP_KEYS: dict[str, tuple[str, ...]] = {
    "billing_rollup": (
        "provider",
        "account_id",
        "month",
        "usage_start_at",
        "usage_end_at",
        "export_kind",
        "resource_id",
        "instance_type",
        "accelerator",
        "line_type",
        "currency",
        "tags_key",
        "source_uri",
    ),
    "usage_rollup": (
        "source_kind",
        "cluster",
        "month",
        "job_key",
        "job_name",
        "host",
        "accelerator",
        "started_at",
        "ended_at",
        "node_list",
        "source_uri",
    ),
}


def rollup_id_sql(stage: str, alias: str = "") -> str:
    """DuckDB expression of a row's ``rollup_id``: md5 of the JSON array of its key
    columns as text (NULL stays null, so no two key tuples share a text)."""
    prefix = f"{alias}." if alias else ""
    items = ", ".join(f"CAST({prefix}{c} AS VARCHAR)" for c in ROLLUP_KEYS[stage])
    return f"md5(CAST(to_json([{items}]) AS VARCHAR))"


@dataclass(frozen=True)
class StageResult:
    """One stage's result as it came back from the engine."""

    table: pa.Table
    seconds: float
    sql: str


#: Spark settings every session gets; a user's conf may not change them (each one keeps
#: the transpiled SQL's results identical to DuckDB's, see docs/shared-sql.md).
SPARK_PINNED: dict[str, str] = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
}
#: Defaults for a local session (``local[N]``), overridable by the user's conf.
SPARK_LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "8",
}
ENGINES = ("duckdb", "spark")


class EngineError(ReconcileError):
    """The stage engine cannot run (not installed, unreachable, failed)."""


#: Constructs the shared SQL must not use: each transpiles to something Spark rejects or,
#: worse, computes differently without an error (docs/shared-sql.md has the evidence).
SUBSET_RULES: tuple[tuple[str, str], ...] = (
    (
        r"\bepoch(_ms|_us|_ns)?\s*\(",
        "epoch(): whole seconds or missing on Spark; use date_diff('microsecond', a, b)",
    ),
    (r"\bextract\s*\(\s*epoch\b", "extract(epoch ...): use date_diff('microsecond', a, b)"),
    (r"\btime_bucket\s*\(", "time_bucket(): Spark has none; use date_trunc on a TIMESTAMP"),
    (
        r"\bdate_?diff\s*\(\s*'(?!microsecond')",
        "date_diff with a unit other than "
        "'microsecond': DuckDB counts boundaries, Spark elapsed time",
    ),
    (r"\bdate_?sub\s*\(", "date_sub: differs between the engines; use date_diff('microsecond')"),
    (r"\bgroup\s+by\s+all\b", "GROUP BY ALL: list the columns (Trino/Athena reject ALL)"),
    (r"\border\s+by\s+all\b", "ORDER BY ALL: list the columns"),
    (r"\*\s*(replace|exclude)\s*\(", "* REPLACE / * EXCLUDE: select the columns by name"),
    (r"\basof\b", "ASOF JOIN: Spark has none"),
    (r"\b(un)?pivot\b", "PIVOT: DuckDB's syntax does not transpile"),
    (r"\bcolumns\s*\(", "COLUMNS(): DuckDB only"),
    (r"\bmap\s*\{", "MAP literal: transpiles to invalid Spark SQL"),
    (r"\belement_at\s*\(", "element_at: a list on DuckDB, a scalar on Spark; use map['k']"),
    (
        r"\b(list_\w+|array_slice|len|string_split)\s*\(",
        "list functions: missing or 1-based differently on Spark",
    ),
    (r"\[[^\]'\n]*:[^\]\n]*\]", "list slicing: indexes shift on Spark"),
    (
        r"\bregexp_replace\s*\((?![^;]*?,\s*'g'\s*\))",
        "regexp_replace without 'g': DuckDB replaces the first match, Spark all",
    ),
    (
        r"\b(percentile_cont|quantile\w*|median|approx\w*)\s*\(",
        "percentiles are approximate on Spark",
    ),
    (
        r"\bavg\s*\(",
        "avg(): DOUBLE on Spark, DECIMAL on DuckDB for DECIMAL input; sum and divide explicitly",
    ),
    (r"\blist\s*\(", "list(): order is lost on Spark (COLLECT_LIST)"),
    (r"\bstrftime\s*\(", "strftime: write months as partition values, not formatted dates"),
)


def subset_violations(sql: str) -> list[str]:
    """The shared-SQL rules ``sql`` breaks (comments ignored), as ``line N: reason``."""
    import re

    found = []
    for number, line in enumerate(sql.splitlines(), start=1):
        code = line.split("--", 1)[0]
        for pattern, reason in SUBSET_RULES:
            if re.search(pattern, code, flags=re.IGNORECASE):
                found.append(f"line {number}: {reason}")
    return found


def stage_sql(name: str) -> str:
    """The shared SQL of stage ``name`` (DuckDB dialect)."""
    return (resources.files("reconcile.sql") / "stages" / f"{name}.sql").read_text("utf-8")


def transpile(sql: str) -> str:
    """DuckDB SQL -> Spark SQL with sqlglot (pretty-printed, comments kept)."""
    try:
        import sqlglot
    except ImportError as exc:
        raise EngineError(
            "the Spark engine needs sqlglot, which is not installed",
            hint="pip install 'reconcile[spark]'",
        ) from exc
    return sqlglot.transpile(sql, read="duckdb", write="spark", pretty=True)[0] + "\n"


def spark_sql(name: str) -> str:
    """The Spark SQL of stage ``name``, as transpiled now (tests pin it to golden files)."""
    return transpile(stage_sql(name))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types (checked, lossless casts)."""
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise EngineError(f"stage result lacks columns: {', '.join(missing)}")
    columns = []
    for f in schema:
        column = table.column(f.name)
        if column.type != f.type:
            column = column.cast(f.type, safe=True)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _log_stage(engine: str, stage: str, result: StageResult) -> None:
    log.info(
        "stage.done",
        extra={
            "fields": {
                "engine": engine,
                "stage": stage,
                "rows": result.table.num_rows,
                "seconds": round(result.seconds, 3),
            }
        },
    )


class Engine(Protocol):
    """Runs every stage and returns its result, cast to the stage's schema."""

    name: str

    def run_stages(self, con: duckdb.DuckDBPyConnection) -> dict[str, StageResult]:
        """Stage name -> its result, cast to the stage's schema."""
        ...


class DuckDBEngine:
    """The stages in process, over views of the warehouse."""

    name = "duckdb"

    def run_stages(self, con: duckdb.DuckDBPyConnection) -> dict[str, StageResult]:
        lake.register_views(con)
        results = {}
        for name, (_, schema) in STAGES.items():
            started = time.monotonic()
            sql = stage_sql(name)
            with lake.bounded_memory(con):
                table = conform(con.sql(sql).to_arrow_table(), schema)
            results[name] = StageResult(table, time.monotonic() - started, sql)
            _log_stage(self.name, name, results[name])
        return results


@dataclass
class SparkSettings:
    """``[engine.spark]``: where Spark runs and how it reaches the lake."""

    master: str | None = None
    remote: str | None = None
    lake: str | None = None
    conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, value: Mapping[str, Any] | None) -> SparkSettings:
        """Validate ``[engine.spark]``.

        Raises:
            ConfigError: naming the key.
        """
        value = dict(value or {})
        conf = value.get("conf") or {}
        for key, item in conf.items():
            if not isinstance(item, str | int | float | bool):
                raise ConfigError(f"'engine.spark.conf.{key}' must be a string or number")
            if key in SPARK_PINNED and str(item).lower() != SPARK_PINNED[key].lower():
                raise ConfigError(
                    f"'engine.spark.conf.{key}' cannot be changed: reconcile pins it to "
                    f"{SPARK_PINNED[key]}",
                    hint="see docs/shared-sql.md for why",
                )
        if value.get("master") and value.get("remote"):
            raise ConfigError("set one of 'engine.spark.master' and 'engine.spark.remote'")
        return cls(
            master=value.get("master"),
            remote=value.get("remote"),
            lake=value.get("lake"),
            conf={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in conf.items()},
        )


def default_lake(db: Path) -> str:
    """The lake folder used when none is configured: beside the warehouse file."""
    return str(db.with_name(db.name + ".lake"))


def spark_path(lake_uri: str) -> str:
    """The lake URI as Spark's Hadoop file systems name it (s3:// -> s3a://, gs:// as is,
    az://container/path -> abfss://container@<account>.dfs.core.windows.net/path needs
    the account, so it must be configured as ``engine.spark.lake``)."""
    parsed = urlparse(lake_uri)
    if len(parsed.scheme) <= 1 or parsed.scheme == "file":
        path = Path(parsed.path if parsed.scheme == "file" else lake_uri).expanduser()
        return path.resolve().as_uri()
    if parsed.scheme == "s3":
        return "s3a://" + lake_uri[len("s3://") :]
    if parsed.scheme == "gs":
        return lake_uri
    raise ConfigError(
        f"Spark cannot read {lake_uri} by that name",
        hint="set engine.spark.lake to the URI the cluster reads the lake under "
        "(e.g. abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH)",
    )


def _reachable(url: str) -> None:
    """Fail fast, with one line, when a Spark master or Connect server does not answer."""
    parsed = urlparse(url)
    if parsed.scheme not in ("spark", "sc") or not parsed.hostname:
        return
    for host in parsed.hostname.split(","):
        port = parsed.port or (15002 if parsed.scheme == "sc" else 7077)
        try:
            socket.create_connection((host, port), timeout=5).close()
            return
        except OSError as exc:
            error = exc
    raise EngineError(
        f"cannot reach the Spark {'Connect server' if parsed.scheme == 'sc' else 'master'} "
        f"at {url}: {error.strerror or error}",
        hint="check engine.spark.master / engine.spark.remote, or use --engine duckdb",
    )


class SparkEngine:
    """The stages on Apache Spark (local, a cluster, or Spark Connect), over the lake."""

    name = "spark"

    def __init__(
        self,
        settings: SparkSettings,
        lake_uri: str,
        *,
        s3_endpoint_url: str | None = None,
        export: bool = True,
    ) -> None:
        self.settings = settings
        self.lake_uri = lake_uri
        self.s3_endpoint_url = s3_endpoint_url
        self.export = export

    @property
    def target(self) -> str:
        """The Spark Connect URL or master the session uses."""
        return self.settings.remote or self.settings.master or "local[2]"

    def preflight(self) -> None:
        """Fail fast, before any lock or export: pyspark importable, master reachable.

        Raises:
            EngineError: one line saying what is missing.
        """
        try:
            import pyspark.sql  # noqa: F401
        except ImportError as exc:
            raise EngineError(
                "the Spark engine needs pyspark, which is not installed",
                hint="pip install 'reconcile[spark]' (and Java 17+), or use --engine duckdb",
            ) from exc
        transpile("SELECT 1")  # sqlglot present
        _reachable(self.target)

    def session(self) -> Any:
        """The Spark session (an existing active one is reused), with the pinned settings.

        Raises:
            EngineError: pyspark missing, no Java, or the master cannot be reached.
        """
        self.preflight()
        from pyspark.sql import SparkSession

        target = self.target
        if target.startswith("local"):
            # The driver binds to loopback: no hostname lookups, no warning about them.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = SparkSession.builder.appName("reconcile")
        if self.settings.remote:
            builder = builder.remote(self.settings.remote)
        else:
            builder = builder.master(target)
        if target.startswith("local"):
            for key, value in SPARK_LOCAL_DEFAULTS.items():
                builder = builder.config(key, value)
        for key, value in {**self.settings.conf, **SPARK_PINNED}.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
            for key, value in SPARK_PINNED.items():
                session.conf.set(key, value)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if "JAVA_GATEWAY_EXITED" in str(exc) or "JAVA_HOME" in str(exc):
                raise EngineError(
                    f"cannot start Spark: {first}",
                    hint="the Spark engine needs Java 17 or newer on PATH or in JAVA_HOME",
                ) from exc
            raise EngineError(f"cannot start Spark ({target}): {first}") from exc
        return session

    def run_stages(self, con: duckdb.DuckDBPyConnection) -> dict[str, StageResult]:
        if self.export:
            lake.export_lake(con, self.lake_uri, s3_endpoint_url=self.s3_endpoint_url)
        manifest = lake.read_manifest(self.lake_uri, s3_endpoint_url=self.s3_endpoint_url)
        base = (self.settings.lake or spark_path(self.lake_uri)).rstrip("/")
        session = self.session()
        results = {}
        for name, (dataset, schema) in STAGES.items():
            started = time.monotonic()
            self._register(session, con, base, dataset, manifest)
            sql = spark_sql(name)
            # The executors write the result next to the lake; DuckDB reads it back. No
            # collect through the driver (2 M groups overflowed a 1 GB driver heap).
            try:
                session.sql(sql).write.mode("overwrite").parquet(f"{base}/{lake.RESULTS}/{name}")
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise EngineError(f"Spark failed in stage {name}: {first}") from exc
            table = lake.read_results(
                con, self.lake_uri, name, s3_endpoint_url=self.s3_endpoint_url
            )
            table = schema.empty_table() if table is None else conform(table, schema)
            results[name] = StageResult(table, time.monotonic() - started, sql)
            _log_stage(self.name, name, results[name])
        return results

    @staticmethod
    def _register(
        session: Any,
        con: duckdb.DuckDBPyConnection,
        base: str,
        dataset: str,
        manifest: Mapping[str, Any],
    ) -> None:
        view = lake.VIEW_NAMES[dataset]
        info = (manifest.get("datasets") or {}).get(dataset) or {}
        if not info.get("files"):
            # Nothing exported (an empty table): an empty frame with the lake's schema.
            frame = session.createDataFrame(lake.dataset_schema(con, dataset).empty_table())
        else:
            path = f"{base}/{dataset}"
            frame = session.read.option("basePath", path).parquet(path)
        frame.createOrReplaceTempView(view)


def make_engine(
    name: str | None,
    config: Mapping[str, Any],
    db: Path,
    *,
    s3_endpoint_url: str | None = None,
) -> Engine:
    """The engine a command asked for (``--engine`` over ``[engine] name``; DuckDB by
    default).

    Raises:
        ConfigError: an unknown engine or invalid ``[engine]`` settings.
    """
    section = dict(config.get("engine") or {})
    chosen = str(name or section.get("name") or "duckdb").strip().lower()
    if chosen not in ENGINES:
        raise ConfigError(f"unknown engine {chosen!r}", hint="known: " + ", ".join(ENGINES))
    if chosen == "duckdb":
        return DuckDBEngine()
    settings = SparkSettings.from_config(section.get("spark"))
    engine = SparkEngine(
        settings, section.get("lake") or default_lake(db), s3_endpoint_url=s3_endpoint_url
    )
    engine.preflight()
    return engine
