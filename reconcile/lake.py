"""The lake: normalised ``billing_lines`` and ``gpu_usage`` as hive-partitioned Parquet.

Other engines (Spark, Trino, another DuckDB) read the lake instead of the warehouse file.
Each dataset is one *projection* of its warehouse table (``PROJECTIONS``), written so any
Parquet reader gets exactly the values DuckDB has:

* timestamps as microsecond instants, UTC-adjusted (``TIMESTAMPTZ``; Spark reads them as
  ``timestamp``, never the INT96 or nanosecond kinds it mishandles);
* hours, GPU-seconds and money as DECIMAL, so sums are exact and engine-independent
  (DuckDB's DOUBLE hours are rounded once, here, to 12 decimals: 3.6 ns);
* IDs, accounts and months as strings (partition values too: ``month=2025-01``), tags as
  canonical JSON text (``tags_key``; sorted keys), since Spark cannot group by a MAP;
* billing lines as the warehouse counts them (``billing_lines_counted``): each line's
  ``month`` and whether its export kind counts for billed (``counts_billed``) and for
  effective figures (``counts_effective``), so no engine ranks export kinds itself;
* no UUID, INTERVAL, TIME, HUGEINT or unsigned types (Spark refuses or changes them).

Layout: ``<lake>/<dataset>/<partition>=<value>/<partition>=<value>/data_<n>.parquet`` plus
``<lake>/_reconcile_lake.json``, a manifest with the row count and Arrow schema of each
dataset (leading underscore: Spark and Hive readers skip it). The stage engines use the
same projections as their inputs, so the DuckDB engine (projection as a view) and the
Spark engine (projection as Parquet) aggregate identical values.

An export brings the datasets it writes up to date: each partition's digest (row count
and the sum of row hashes over every column) is compared with the manifest's, only
changed partitions are written, then objects of the dataset that are neither new nor
kept are deleted, then the manifest is written last; a reader that trusts the manifest's
``exported_at`` sees either export complete.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from reconcile.errors import ReconcileError

log = logging.getLogger("reconcile")

MANIFEST = "_reconcile_lake.json"
#: 2: billing_lines carries counts_billed/counts_effective (the export kind that counts).
LAKE_VERSION = 2

#: DuckDB's memory ceiling while it writes the lake or runs the stages: a partitioned COPY
#: otherwise buffers partitions (3.7 GB at 5 M billing lines); above it DuckDB spills to
#: its temp directory (measured: 1.15 GB peak, 1.6x the time).
WORK_MEMORY_LIMIT = "1GB"

#: Canonical tag text: JSON object with keys sorted (NULL or empty map -> '{}').
_TAGS_KEY = (
    "coalesce(CAST(to_json(map_from_entries(list_sort(map_entries(tags)))) AS VARCHAR), '{}')"
)


@dataclass(frozen=True)
class Dataset:
    """One lake dataset: its name, the warehouse table it projects, partition columns."""

    name: str
    table: str
    partition_by: tuple[str, ...]
    sql: str


#: The lake datasets, by name. Each ``sql`` is DuckDB SQL over the warehouse table; its
#: columns are the dataset's columns (partition columns first).
PROJECTIONS: dict[str, Dataset] = {
    "billing_lines": Dataset(
        "billing_lines",
        "billing_lines",
        ("provider", "month"),
        f"""
SELECT provider, month,
       account_id, billing_period, usage_start_at, usage_end_at, service, usage_type,
       line_type, region, instance_type, sku_id, resource_id, usage_quantity, usage_unit,
       accelerator,
       CAST(accelerator_hours AS DECIMAL(38, 12)) AS accelerator_hours,
       cost_billed, cost_effective, cost_list, currency, export_kind,
       counts_billed, counts_effective,
       {_TAGS_KEY} AS tags_key,
       line_id, raw_hash, source_uri
FROM billing_lines_counted
""",
    ),
    "gpu_usage": Dataset(
        "gpu_usage",
        "gpu_usage",
        ("source_kind", "month"),
        f"""
SELECT source_kind,
       coalesce(strftime(coalesce(started_at, ended_at) AT TIME ZONE 'UTC', '%Y-%m'), 'unknown')
           AS month,
       cluster, job_key, job_name, user_name, account, "partition" AS slurm_partition,
       job_state, host, gpu_uuid, accelerator, gpu_count, gpu_fraction, mig_profile,
       started_at, ended_at, time_basis, elapsed_seconds,
       CAST(gpu_seconds AS DECIMAL(38, 9)) AS gpu_seconds,
       samples, gpu_util_avg, tensor_active_avg, sm_active_avg, dram_active_avg,
       power_avg_watts, energy_joules,
       CAST(tensor_active_avg * gpu_seconds AS DECIMAL(38, 9)) AS tensor_active_seconds,
       CASE WHEN tensor_active_avg IS NOT NULL THEN CAST(gpu_seconds AS DECIMAL(38, 9)) END
           AS tensor_covered_seconds,
       confidence, tags['node_list'] AS node_list, {_TAGS_KEY} AS tags_key,
       usage_id, source_uri
FROM gpu_usage_once
""",
    ),
}

#: Lake dataset name -> the view name the shared stage SQL reads it under.
VIEW_NAMES = {"billing_lines": "lake_billing_lines", "gpu_usage": "lake_gpu_usage"}


class LakeError(ReconcileError):
    """The lake cannot be written or read."""


def dataset_schema(con: duckdb.DuckDBPyConnection, name: str) -> pa.Schema:
    """The Arrow schema of a dataset, as the projection produces it."""
    return con.sql(f"SELECT * FROM ({PROJECTIONS[name].sql}) LIMIT 0").to_arrow_table().schema


@contextmanager
def bounded_memory(
    con: duckdb.DuckDBPyConnection, limit: str = WORK_MEMORY_LIMIT
) -> Iterator[None]:
    """Run a block under DuckDB ``memory_limit = limit``; the previous limit is restored."""
    (previous,) = con.execute("SELECT current_setting('memory_limit')").fetchone() or ("",)
    con.execute(f"SET memory_limit = '{limit}'")
    try:
        yield
    finally:
        if previous:
            con.execute(f"SET memory_limit = '{previous}'")
        else:
            con.execute("RESET memory_limit")


def register_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create the stage input views (``lake_*``) over the warehouse, as temporary views."""
    for name, dataset in PROJECTIONS.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {VIEW_NAMES[name]} AS {dataset.sql}")


@dataclass(frozen=True)
class Target:
    """A writable location (the lake, a published report): a store and the key prefix
    under it."""

    store: Any
    prefix: str

    @classmethod
    def open(cls, uri: str, *, s3_endpoint_url: str | None = None, create: bool = False) -> Target:
        from urllib.parse import urlparse

        from connectors.registry import open_source

        parsed = urlparse(uri)
        if len(parsed.scheme) <= 1 or parsed.scheme == "file":
            folder = Path(parsed.path if parsed.scheme == "file" else uri).expanduser()
            if folder.is_file():
                raise LakeError(f"{uri}: the lake must be a folder, not a file")
            if create:
                folder.mkdir(parents=True, exist_ok=True)
        source = open_source(uri, s3_endpoint_url=s3_endpoint_url)
        if not hasattr(source.store, "put_file"):
            raise LakeError(f"{uri}: this store cannot be written to")
        prefix = source.prefix.strip("/")
        return cls(source.store, prefix + "/" if prefix else "")

    def put_file(self, key: str, path: Path) -> None:
        self.store.put_file(self.prefix + key, path)

    def delete(self, key: str) -> None:
        self.store.delete(self.prefix + key)

    def read_bytes(self, key: str) -> bytes:
        return bytes(self.store.read_bytes(self.prefix + key))

    def keys(self, under: str) -> list[str]:
        return [o.key[len(self.prefix) :] for o in self.store.list_objects(self.prefix + under)]


@dataclass
class ExportResult:
    """What an export wrote."""

    uri: str
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    files_written: int = 0
    files_deleted: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "uri": self.uri,
            "datasets": self.datasets,
            "files_written": self.files_written,
            "files_deleted": self.files_deleted,
            "seconds": round(self.seconds, 3),
        }


#: An object-store URI (``s3://``, ``gs://``, ``az://`` …), as opposed to a local path.
_STORE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_store_uri(text: str) -> bool:
    """Whether ``text`` names an object-store location rather than a local path."""
    return _STORE_URI.match(text) is not None


def export_lake(
    con: duckdb.DuckDBPyConnection,
    uri: str,
    *,
    datasets: Sequence[str] = tuple(PROJECTIONS),
    s3_endpoint_url: str | None = None,
) -> ExportResult:
    """Write ``datasets`` to the lake at ``uri`` (a folder, s3://, gs:// or az://).

    Raises:
        LakeError: an unknown dataset, or the destination cannot be written.
    """
    import time

    started = time.monotonic()
    unknown = [d for d in datasets if d not in PROJECTIONS]
    if unknown:
        raise LakeError(
            f"unknown lake dataset {unknown[0]!r}", hint="known: " + ", ".join(PROJECTIONS)
        )
    store = Target.open(uri, s3_endpoint_url=s3_endpoint_url, create=True)
    result = ExportResult(uri=uri)
    manifest: dict[str, Any] = {"lake_version": LAKE_VERSION, "datasets": {}}
    try:
        old = store.read_bytes(MANIFEST)
        manifest["datasets"] = json.loads(old).get("datasets", {})
    except Exception:  # no manifest yet, or an unreadable one: rewrite it
        pass
    with tempfile.TemporaryDirectory(prefix="reconcile-lake-") as tmp:
        for name in datasets:
            dataset = PROJECTIONS[name]
            folder = Path(tmp) / name
            previous = {
                tuple(p["values"]): p
                for p in (manifest["datasets"].get(name) or {}).get("partitions") or []
            }
            current = _partition_digests(con, dataset)
            changed = [
                values
                for values, digest in current.items()
                if (previous.get(values) or {}).get("digest") != digest
            ]
            count = sum(int(d.split(":", 1)[0]) for d in current.values())
            if changed:
                _copy_partitions(con, dataset, folder, changed)
            written = sorted(
                p.relative_to(tmp).as_posix() for p in folder.rglob("*.parquet") if p.is_file()
            )
            for key in written:
                store.put_file(key, Path(tmp) / key)
            files_of: dict[tuple[str, ...], list[str]] = {}
            for key in written:
                files_of.setdefault(_partition_of(key, dataset), []).append(key)
            partitions = []
            for values, digest in sorted(current.items()):
                files = (
                    files_of.get(values, []) if values in changed else (previous[values]["files"])
                )
                partitions.append({"values": list(values), "digest": digest, "files": files})
            keep = {f for p in partitions for f in p["files"]}
            stale = [key for key in store.keys(name + "/") if key not in keep]
            for key in stale:
                store.delete(key)
            schema = dataset_schema(con, name)
            manifest["datasets"][name] = {
                "rows": count,
                "files": len(keep),
                "partition_by": list(dataset.partition_by),
                "partitions": partitions,
                "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
            }
            result.datasets[name] = {
                "rows": count,
                "files": len(keep),
                "partitions_written": len(changed),
                "partitions_unchanged": len(current) - len(changed),
            }
            result.files_written += len(written)
            result.files_deleted += len(stale)
            shutil.rmtree(folder, ignore_errors=True)
        manifest["exported_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        path = Path(tmp) / MANIFEST
        path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        store.put_file(MANIFEST, path)
    result.seconds = time.monotonic() - started
    log.info("lake.exported", extra={"fields": result.as_dict()})
    return result


def _partition_digests(
    con: duckdb.DuckDBPyConnection, dataset: Dataset
) -> dict[tuple[str, ...], str]:
    """Partition values -> ``rows:sum of row hashes`` over every projected column: an
    unchanged digest means the partition's files can stay (a catalog update that changes
    a derived column changes it too)."""
    columns = [f.name for f in dataset_schema(con, dataset.name)]
    keys = ", ".join(dataset.partition_by)
    hashed = ", ".join(f'"{c}"' for c in columns if c not in dataset.partition_by)
    with bounded_memory(con):
        rows = con.execute(
            f"SELECT {keys}, count(*), CAST(sum(hash({hashed})) AS VARCHAR) "
            f"FROM ({dataset.sql}) GROUP BY {keys}"
        ).fetchall()
    width = len(dataset.partition_by)
    return {tuple(str(v) for v in r[:width]): f"{r[width]}:{r[width + 1]}" for r in rows}


def _copy_partitions(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    folder: Path,
    partitions: Sequence[tuple[str, ...]],
) -> None:
    """Write only ``partitions`` of ``dataset`` (hive layout) into ``folder``."""
    keys = ", ".join(dataset.partition_by)
    con.register(
        "_changed",
        pa.table({k: [p[i] for p in partitions] for i, k in enumerate(dataset.partition_by)}),
    )
    try:
        with bounded_memory(con):
            con.execute(
                f"COPY (SELECT * FROM ({dataset.sql}) WHERE ({keys}) IN "
                f"(SELECT ({keys}) FROM _changed)) TO '{folder.as_posix()}' (FORMAT parquet, "
                f"PARTITION_BY ({keys}), WRITE_PARTITION_COLUMNS false, "
                "FILENAME_PATTERN 'data_{i}', COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
            )
    finally:
        con.unregister("_changed")


def _partition_of(key: str, dataset: Dataset) -> tuple[str, ...]:
    """The partition values in a written file's key (``name/provider=aws/month=…/f``)."""
    from urllib.parse import unquote

    parts = key.split("/")[1 : 1 + len(dataset.partition_by)]
    return tuple(unquote(p.split("=", 1)[1]) for p in parts)


RESULTS = "_results"


def read_results(
    con: duckdb.DuckDBPyConnection,
    uri: str,
    stage: str,
    *,
    s3_endpoint_url: str | None = None,
) -> pa.Table | None:
    """A stage's result as another engine wrote it under ``<lake>/_results/<stage>/``
    (Parquet part files), read by DuckDB; None when no part file is there.

    Object-store parts are fetched to a temporary folder first (results are the small
    side: grouped rows, not lines).
    """
    store = Target.open(uri, s3_endpoint_url=s3_endpoint_url)
    parts = sorted(
        key
        for key in store.keys(f"{RESULTS}/{stage}/")
        if key.endswith(".parquet") and not key.rsplit("/", 1)[-1].startswith((".", "_"))
    )
    if not parts:
        return None
    with tempfile.TemporaryDirectory(prefix="reconcile-results-") as tmp:
        paths = []
        for index, key in enumerate(parts):
            local = store.store.local_path(store.prefix + key)
            if local is None:
                local = Path(tmp) / f"part-{index:05d}.parquet"
                with local.open("wb") as handle:
                    store.store.copy_to(store.prefix + key, handle)
            paths.append(local.as_posix())
        listing = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
        with bounded_memory(con):
            return con.sql(f"SELECT * FROM read_parquet({listing})").to_arrow_table()


def read_manifest(uri: str, *, s3_endpoint_url: str | None = None) -> dict[str, Any]:
    """The lake's manifest.

    Raises:
        LakeError: no manifest (nothing exported there) or an unreadable one.
    """
    store = Target.open(uri, s3_endpoint_url=s3_endpoint_url)
    try:
        manifest = json.loads(store.read_bytes(MANIFEST))
    except ReconcileError as exc:
        raise LakeError(
            f"{uri}: no lake manifest ({MANIFEST}): {exc}",
            hint="run `reconcile lake export` first",
        ) from exc
    except ValueError as exc:
        raise LakeError(f"{uri}/{MANIFEST}: not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise LakeError(f"{uri}/{MANIFEST}: not a JSON object")
    if manifest.get("lake_version") != LAKE_VERSION:
        raise LakeError(
            f"{uri}: lake version {manifest.get('lake_version')!r} is not {LAKE_VERSION}",
            hint="re-export the lake with this version of reconcile",
        )
    return manifest
