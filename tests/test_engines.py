"""The heavy stages on both engines: shared SQL, golden Spark SQL, the lake, and the same
per-model totals from `reconcile run` on DuckDB and on Spark (pyspark local[2]).

The Spark tests need the ``[spark]`` extra and Java 17+ (``.ci/run`` installs both); they
share one Spark session for the whole test session.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from reconcile import lake, warehouse
from reconcile.cli import cli
from reconcile.engines import (
    STAGES,
    DuckDBEngine,
    SparkEngine,
    SparkSettings,
    spark_sql,
    stage_sql,
    subset_violations,
)
from reconcile.schemas import BILLING_LINES, GPU_USAGE

sys.path.insert(0, str(Path(__file__).parent))
import orggen

GOLDEN = Path(__file__).resolve().parents[1] / "queries" / "stages" / "spark"
SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "sample_data" / "reconcile.toml"


def _java() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and Path(home, "bin", "java").exists()))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] Spark session for every Spark test (startup costs ~5 s)."""
    pytest.importorskip("pyspark", reason="the [spark] extra is not installed")
    if not _java():
        pytest.skip("no Java for Spark")
    session = SparkEngine(SparkSettings(master="local[2]"), "unused").session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def run_cli(*args: object) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# ------------------------------------------------------------------ shared SQL


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_transpiled_sql_matches_the_golden_file(stage):
    """A sqlglot upgrade that changes the Spark SQL fails here, loudly: review the diff,
    run both engines, then regenerate with RECONCILE_UPDATE_GOLDEN=1."""
    golden = GOLDEN / f"{stage}.sql"
    if os.environ.get("RECONCILE_UPDATE_GOLDEN") == "1":
        golden.write_text(spark_sql(stage), encoding="utf-8")
    assert spark_sql(stage) == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_sql_keeps_to_the_shared_subset(stage):
    assert subset_violations(stage_sql(stage)) == []


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT epoch(b) - epoch(a) FROM t",
        "SELECT date_diff('millisecond', a, b) FROM t",
        "SELECT time_bucket(INTERVAL 1 HOUR, ts) FROM t",
        "SELECT a, sum(x) FROM t GROUP BY ALL",
        "SELECT * REPLACE (x + 1 AS x) FROM t",
        "SELECT regexp_replace(a, '[0-9]', '') FROM t",
        "SELECT element_at(tags, 'project') FROM t",
        "SELECT xs[2:3] FROM t",
        "SELECT MAP {'k': 'v'}",
        "SELECT avg(cost) FROM t",
    ],
)
def test_subset_check_flags_constructs_that_differ_on_spark(sql):
    assert subset_violations(sql), sql


def test_subset_check_accepts_the_safe_spellings():
    sql = (
        "SELECT date_diff('microsecond', a, b), regexp_replace(a, 'x', 'y', 'g'), "
        "tags['project'], date_trunc('hour', ts) FROM t -- epoch(x) in a comment is fine"
    )
    assert subset_violations(sql) == []


# ------------------------------------------------------------------ the lake


def _warehouse_with(tmp_path: Path, billing: list[dict], usage: list[dict]) -> Path:
    from reconcile.schemas import conform

    db = tmp_path / "w.duckdb"
    con = warehouse.open_for_write(db)
    for table, rows, schema in (
        ("billing_lines", billing, BILLING_LINES),
        ("gpu_usage", usage, GPU_USAGE),
    ):
        arrow = conform(rows, schema)
        con.register("_rows", arrow)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
        con.unregister("_rows")
    con.close()
    return db


def _provenance(uri: str) -> dict[str, Any]:
    return {"source_uri": uri, "source_format": "generated"}


def tricky_rows(n: int = 400, seed: int = 3) -> tuple[list[dict], list[dict]]:
    """Billing lines and usage rows with the values that break engines: NULL keys,
    zero-padded and NULL accounts, Unicode and quoting in tags, microsecond timestamps,
    month boundaries, two export kinds for one account-month, negative corrections,
    awkward decimals, MIG fractions and missing tensor activity."""
    import random

    rng = random.Random(seed)
    base = datetime(2025, 1, 31, 22, 0, 0, 123456, tzinfo=UTC)
    billing = []
    for i in range(n):
        start = base + timedelta(minutes=37 * (i % 13), microseconds=i)
        kind = ("cur2", "focus", "cur1", "azure_actual", "azure_amortized", "gcp_detailed")[i % 6]
        provider = {"cur2": "aws", "cur1": "aws", "focus": "aws"}.get(kind) or kind.split("_")[0]
        tags: dict[str, str] | None = (
            {"project": f"p{i % 4}", "ünï": 'quote"d,comma', "user:team": "ml"}
            if i % 3
            else ({} if i % 2 else None)
        )
        hours = [1.0, 0.1, 1 / 3, 2.5, -1.0, 1e-6][i % 6] * (1 + i % 5)
        billing.append(
            {
                "line_id": f"L{i:05d}",
                "provider": provider,
                "account_id": None if i % 17 == 0 else f"{i % 3:012d}",
                "billing_period": "2025-01" if i % 29 else None,
                "usage_start_at": None if i % 31 == 0 else start,
                "usage_end_at": start + timedelta(hours=1),
                "line_type": ("Usage", "Credit", "DiscountedUsage")[i % 3],
                "instance_type": ("p5.48xlarge", "ND96isr_H100_v5", None)[i % 3],
                "resource_id": None if i % 7 == 0 else f"arn:aws:sagemaker:job/run-{i % 9}",
                "accelerator": "NVIDIA H100 SXM5-80GB" if i % 11 else None,
                "accelerator_hours": hours if i % 11 else None,
                "cost_billed": Decimal(rng.randrange(-(10**6), 10**8)) / Decimal(10**6),
                "cost_effective": Decimal(rng.randrange(0, 10**9)) / Decimal(10**7),
                "currency": "USD" if i % 13 else "EUR",
                "export_kind": kind,
                "tags": tags,
                "raw_hash": f"h{i}",
                **_provenance(f"s3://bills/{kind}/part-{i % 4}.parquet"),
            }
        )
    usage = []
    for i in range(n // 2):
        start = base + timedelta(seconds=300 * (i % 20), microseconds=7 * i)
        seconds = 300.0 * (1 + i % 3)
        fraction = (1.0, 1 / 7, 3 / 7)[i % 3]
        usage.append(
            {
                "usage_id": f"U{i:05d}",
                "source_kind": ("dcgm", "nvidia_smi", "slurm")[i % 3],
                "cluster": "hpc1" if i % 5 else None,
                "job_key": f"{4000 + i % 6}" if i % 4 else None,
                "job_name": f"train-{i % 6}-worker-{i % 2}",
                "host": f"gpu{i % 8:03d}",
                "gpu_uuid": f"GPU-{i % 16:04d}",
                "accelerator": "NVIDIA H100 SXM5-80GB",
                "gpu_count": 1 + i % 8,
                "gpu_fraction": fraction,
                "started_at": start,
                "ended_at": start + timedelta(seconds=seconds),
                "elapsed_seconds": seconds,
                "gpu_seconds": seconds * fraction * (1 + i % 8),
                "samples": 10 + i,
                "tensor_active_avg": None if i % 4 == 0 else rng.random(),
                "tags": {"node_list": "gpu[001-004]"} if i % 3 == 2 else None,
                **_provenance(f"file:///telemetry/dcgm-{i % 3}.csv"),
            }
        )
    return billing, usage


def test_lake_export_layout_types_and_round_trip(tmp_path):
    billing, usage = tricky_rows()
    db = _warehouse_with(tmp_path, billing, usage)
    out = tmp_path / "lake"
    result = run_cli("--db", db, "lake", "export", out)
    assert result.exit_code == 0, result.output
    assert "billing_lines: 400 rows" in result.output
    manifest = json.loads((out / lake.MANIFEST).read_text())
    assert manifest["datasets"]["billing_lines"]["rows"] == 400
    assert manifest["datasets"]["gpu_usage"]["partition_by"] == ["source_kind", "month"]
    folders = {p.parent.relative_to(out).as_posix() for p in out.rglob("*.parquet")}
    assert "billing_lines/provider=aws/month=2025-01" in folders
    assert "billing_lines/provider=aws/month=2025-02" in folders  # across the month boundary
    assert "gpu_usage/source_kind=dcgm/month=2025-01" in folders
    one = next((out / "billing_lines" / "provider=aws" / "month=2025-01").glob("*.parquet"))
    schema = pq.read_schema(one)
    assert schema.field("usage_start_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("accelerator_hours").type == pa.decimal128(38, 12)
    assert schema.field("cost_billed").type == pa.decimal128(38, 10)
    assert schema.field("account_id").type == pa.string()
    assert "provider" not in schema.names  # partition values live in the path only
    # Read back with DuckDB's hive reader: exactly the projection, zero-padded ids kept.
    con = warehouse.open_for_read(db)
    for name, dataset in lake.PROJECTIONS.items():
        reread = (
            f"SELECT * FROM read_parquet('{out.as_posix()}/{name}/**/*.parquet', "
            "hive_partitioning = true, hive_types_autocast = false)"
        )
        columns = ", ".join(f.name for f in lake.dataset_schema(con, name))
        for a, b in ((dataset.sql, reread), (reread, dataset.sql)):
            diff = con.sql(
                f"SELECT count(*) FROM (SELECT {columns} FROM ({a}) EXCEPT ALL "
                f"SELECT {columns} FROM ({b}))"
            ).fetchall()
            assert diff == [(0,)], name
    con.close()


def test_re_export_rewrites_changed_partitions_only_and_removes_gone_ones(tmp_path):
    billing, usage = tricky_rows()
    db = _warehouse_with(tmp_path, billing, usage)
    out = tmp_path / "lake"
    assert run_cli("--db", db, "lake", "export", out).exit_code == 0
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM billing_lines WHERE provider = 'gcp'")
    con.close()
    january = out / "billing_lines" / "provider=aws" / "month=2025-01"
    february = out / "billing_lines" / "provider=aws" / "month=2025-02"
    stamps = {p: p.stat().st_mtime_ns for p in (*january.iterdir(), *february.iterdir())}
    result = run_cli("--db", db, "lake", "export", out, "--dataset", "billing_lines")
    assert result.exit_code == 0, result.output
    assert not (out / "billing_lines" / "provider=gcp").exists()
    assert (out / "gpu_usage").exists()  # not re-exported, kept
    manifest = json.loads((out / lake.MANIFEST).read_text())["datasets"]["billing_lines"]
    assert manifest["rows"] == 400 - sum(1 for b in billing if b["provider"] == "gcp")
    assert "0 files written" in result.output  # the other partitions did not change
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # One changed line rewrites its partition only; the lake still equals the warehouse.
    con = duckdb.connect(str(db))
    con.execute(
        "UPDATE billing_lines SET accelerator_hours = 7.25 WHERE line_id = "
        "(SELECT min(line_id) FROM billing_lines WHERE provider = 'aws' "
        "AND usage_start_at >= TIMESTAMPTZ '2025-02-01 00:00:00+00')"
    )
    con.close()
    result = run_cli("--db", db, "lake", "export", out)
    assert result.exit_code == 0, result.output
    assert all(p.stat().st_mtime_ns == stamps[p] for p in january.iterdir())
    assert any(p.stat().st_mtime_ns != stamps.get(p) for p in february.iterdir())
    con = warehouse.open_for_read(db)
    dataset = lake.PROJECTIONS["billing_lines"]
    columns = ", ".join(f.name for f in lake.dataset_schema(con, "billing_lines"))
    reread = (
        f"SELECT * FROM read_parquet('{out.as_posix()}/billing_lines/**/*.parquet', "
        "hive_partitioning = true, hive_types_autocast = false)"
    )
    for a, b in ((dataset.sql, reread), (reread, dataset.sql)):
        (diff,) = con.execute(
            f"SELECT count(*) FROM (SELECT {columns} FROM ({a}) EXCEPT ALL "
            f"SELECT {columns} FROM ({b}))"
        ).fetchone()
        assert diff == 0
    con.close()


@pytest.mark.emulator
def test_lake_export_to_s3(tmp_path, s3, bucket, moto_endpoint):
    billing, usage = tricky_rows(60)
    db = _warehouse_with(tmp_path, billing, usage)
    uri = f"s3://{bucket}/lake/v1"
    result = run_cli("--db", db, "lake", "export", uri, "--s3-endpoint-url", moto_endpoint)
    assert result.exit_code == 0, result.output
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="lake/v1/")["Contents"]]
    assert "lake/v1/_reconcile_lake.json" in keys
    assert any(k.startswith("lake/v1/billing_lines/provider=aws/month=2025-01/") for k in keys)
    manifest = lake.read_manifest(uri, s3_endpoint_url=moto_endpoint)
    assert manifest["datasets"]["billing_lines"]["rows"] == 60


@pytest.mark.emulator
@pytest.mark.parametrize("scheme", ["gs", "az"])
def test_lake_export_to_gcs_and_azure_replaces_what_is_gone(tmp_path, request, scheme):
    bucket = request.getfixturevalue("gcs_bucket" if scheme == "gs" else "azure_container")
    billing, usage = tricky_rows(60)
    db = _warehouse_with(tmp_path, billing, usage)
    uri = f"{scheme}://{bucket}/lake"
    assert run_cli("--db", db, "lake", "export", uri).exit_code == 0
    from connectors.registry import open_source

    store = open_source(uri).store

    def keys() -> list[str]:
        return [o.key for o in store.list_objects("lake/")]

    assert "lake/_reconcile_lake.json" in keys()
    assert any(k.startswith("lake/billing_lines/provider=gcp/") for k in keys())
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM billing_lines WHERE provider = 'gcp'")
    con.close()
    assert run_cli("--db", db, "lake", "export", uri).exit_code == 0
    assert not any(k.startswith("lake/billing_lines/provider=gcp/") for k in keys())
    assert lake.read_manifest(uri)["datasets"]["billing_lines"]["rows"] == sum(
        1 for b in billing if b["provider"] != "gcp"
    )


@pytest.mark.emulator
def test_stage_results_written_by_another_engine_are_read_back_from_s3(
    tmp_path, s3, bucket, moto_endpoint
):
    """What Spark leaves under <lake>/_results/<stage>/ on an object store (part files,
    _SUCCESS, checksum files) comes back through the store, parts in name order."""
    parts = [pa.table({"k": [1, 2], "v": ["a", "b"]}), pa.table({"k": [3], "v": ["c"]})]
    for index, part in enumerate(parts):
        path = tmp_path / f"p{index}.parquet"
        pq.write_table(part, path)
        s3.upload_file(str(path), bucket, f"lake/_results/billing_rollup/part-0000{index}.parquet")
    s3.put_object(Bucket=bucket, Key="lake/_results/billing_rollup/_SUCCESS", Body=b"")
    s3.put_object(Bucket=bucket, Key="lake/_results/billing_rollup/.part-00000.crc", Body=b"x")
    con = duckdb.connect()
    uri = f"s3://{bucket}/lake"
    table = lake.read_results(con, uri, "billing_rollup", s3_endpoint_url=moto_endpoint)
    assert table is not None
    assert table.column("k").to_pylist() == [1, 2, 3]
    assert lake.read_results(con, uri, "usage_rollup", s3_endpoint_url=moto_endpoint) is None


def test_reading_a_lake_that_was_never_exported_is_one_clear_error(tmp_path):
    with pytest.raises(lake.LakeError, match="no lake manifest"):
        lake.read_manifest(str(tmp_path))


# ------------------------------------------------------------------ both engines


def _compare_tables(a: pa.Table, b: pa.Table) -> None:
    """Keys, DECIMALs, counts exactly; doubles to a relative 1e-12."""
    assert a.schema == b.schema
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        left, right = a.column(name).to_pylist(), b.column(name).to_pylist()
        if pa.types.is_floating(a.schema.field(name).type):
            for x, y in zip(left, right, strict=True):
                assert (x is None and y is None) or math.isclose(x, y, rel_tol=1e-12), name
        else:
            assert left == right, name


@pytest.mark.spark
def test_stages_agree_exactly_on_tricky_generated_rows(tmp_path, spark):
    billing, usage = tricky_rows()
    db = _warehouse_with(tmp_path, billing, usage)
    con = warehouse.open_for_write(db)
    on_duckdb = DuckDBEngine().run_stages(con)
    on_spark = SparkEngine(SparkSettings(master="local[2]"), str(tmp_path / "lake")).run_stages(con)
    con.close()
    for stage in STAGES:
        assert on_duckdb[stage].table.num_rows > 10
        _compare_tables(on_duckdb[stage].table, on_spark[stage].table)
    # Spot checks against the input: every positive accelerator line is counted once.
    rolled = on_duckdb["billing_rollup"].table
    positive = [b for b in billing if (b["accelerator_hours"] or 0) > 0]
    assert sum(rolled.column("line_count").to_pylist()) == len(positive)
    total = sum(rolled.column("accelerator_hours").to_pylist())
    assert total == sum(Decimal(str(round(b["accelerator_hours"], 12))) for b in positive)
    usage_total = sum(on_spark["usage_rollup"].table.column("gpu_seconds").to_pylist())
    assert usage_total == sum(Decimal(f"{u['gpu_seconds']:.9f}") for u in usage)


def _run_both(tmp_path: Path, source: Path, config_text: str) -> tuple[Path, Path]:
    dbs = []
    for engine in ("duckdb", "spark"):
        folder = tmp_path / engine
        folder.mkdir()
        config = folder / "reconcile.toml"
        config.write_text(
            config_text + f'\n[[sources]]\nuri = "{source.as_posix()}"\n'
            f'\n[engine]\nlake = "{(folder / "lake").as_posix()}"\n'
            '\n[engine.spark]\nmaster = "local[2]"\n',
            encoding="utf-8",
        )
        db = folder / "w.duckdb"
        result = run_cli("--config", config, "--db", db, "run", "--engine", engine)
        assert result.exit_code in (0, 3), result.output  # 3: the sample quarantines a file
        dbs.append(db)
    return dbs[0], dbs[1]


def _per_model_totals(db: Path) -> list[dict[str, Any]]:
    result = run_cli("--db", db, "query", "per_model_totals", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _assert_same_results(duck: Path, spark_db: Path) -> list[dict[str, Any]]:
    totals = _per_model_totals(duck)
    other = _per_model_totals(spark_db)
    assert [r["model_id"] for r in totals] == [r["model_id"] for r in other]
    for a, b in zip(totals, other, strict=True):
        for key, value in a.items():
            if isinstance(value, float):
                assert math.isclose(value, b[key], rel_tol=1e-12), (a["model_id"], key)
            else:
                assert value == b[key], (a["model_id"], key)
    with duckdb.connect(str(duck), read_only=True) as con:
        con.execute(f"ATTACH '{spark_db}' AS other (READ_ONLY)")
        for table, columns in (
            ("billing_rollup", "* EXCLUDE (computed_at)"),
            ("usage_rollup", "* EXCLUDE (computed_at)"),
            ("run_matches", "* EXCLUDE (computed_at)"),
        ):
            for a, b in ((table, f"other.{table}"), (f"other.{table}", table)):
                (count,) = con.execute(
                    f"SELECT count(*) FROM (SELECT {columns} FROM {a} EXCEPT ALL "
                    f"SELECT {columns} FROM {b})"
                ).fetchone()
                assert count == 0, table
        engines = con.execute("SELECT DISTINCT engine FROM other.stage_runs").fetchall()
        assert engines == [("spark",)]
    return totals


@pytest.mark.spark
def test_run_on_spark_gives_the_same_per_model_totals_on_the_sample_org(
    tmp_path, spark, sample_copy
):
    duck, spark_db = _run_both(tmp_path, sample_copy, SAMPLE_CONFIG.read_text("utf-8"))
    totals = {r["model_id"]: r for r in _assert_same_results(duck, spark_db)}
    assert totals["acme-mistral-7b-cpt"]["status"] == "provider"
    assert totals["acme-pythia-1b-domain"]["status"] == "review"


@pytest.mark.spark
def test_run_on_spark_gives_the_same_per_model_totals_on_a_generated_org(tmp_path, spark):
    source = tmp_path / "org"
    counts = orggen.generate(source, runs=36, idle_lines=400)
    duck, spark_db = _run_both(tmp_path, source, '[estimate]\ntag_keys = ["project"]\n')
    totals = {r["model_id"]: r for r in _assert_same_results(duck, spark_db)}
    assert len(totals) == 9
    assert totals["gen-model-4"]["status"] == "provider"  # three CPT-sized Mistral runs
    with duckdb.connect(str(spark_db), read_only=True) as con:
        (lines,) = con.execute("SELECT sum(line_count) FROM billing_rollup").fetchone()
        assert lines == counts["billing_lines"]
        methods = dict(
            con.execute("SELECT match_method, count(*) FROM run_matches GROUP BY ALL").fetchall()
        )
        assert {"resource_id", "tag", "pod_name"} <= set(methods)


CONNECT_CHECK = """
import json, sys
from pathlib import Path
from reconcile import warehouse
from reconcile.engines import DuckDBEngine, SparkEngine, SparkSettings
con = warehouse.open_for_write(Path(sys.argv[1]))
remote = SparkEngine(SparkSettings(remote="local[2]"), sys.argv[2]).run_stages(con)
local = DuckDBEngine().run_stages(con)
same = {k: [v.table.num_rows, v.table.equals(local[k].table)] for k, v in remote.items()}
print(json.dumps(same))
"""


@pytest.mark.spark
def test_spark_connect_gives_the_same_stage_results(tmp_path, spark):
    """Spark Connect (engine.spark.remote), with a local Connect server: its own process,
    as a Connect session cannot share one with the classic session of the other tests."""
    pytest.importorskip("grpc", reason="the Spark Connect client is not installed")
    db = _warehouse_with(tmp_path, *tricky_rows(200))
    proc = subprocess.run(
        [sys.executable, "-c", CONNECT_CHECK, str(db), str(tmp_path / "lake")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["billing_rollup"][0] > 10 and result["usage_rollup"][0] > 10
    assert all(same for _, same in result.values()), result


# ------------------------------------------------------------------ errors


def test_spark_engine_without_pyspark_is_one_clear_error(tmp_path, monkeypatch):
    db = _warehouse_with(tmp_path, *tricky_rows(20))
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    result = run_cli("--db", db, "estimate", "--engine", "spark")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the Spark engine needs pyspark, which is not installed")
    assert "pip install 'reconcile[spark]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_spark_master_is_one_clear_error(tmp_path):
    pytest.importorskip("pyspark")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "c.toml"
    config.write_text(
        f'[engine]\nname = "spark"\n[engine.spark]\nmaster = "spark://127.0.0.1:{port}"\n'
    )
    db = _warehouse_with(tmp_path, *tricky_rows(20))
    result = run_cli("--config", config, "--db", db, "estimate")
    assert result.exit_code == 1
    assert f"Error: cannot reach the Spark master at spark://127.0.0.1:{port}" in result.stderr
    # Nothing half-written: the estimate tables are as before (empty).
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM billing_rollup").fetchone() == (0,)


def test_pinned_spark_settings_cannot_be_overridden(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[engine]\nname = "spark"\n[engine.spark.conf]\n"spark.sql.ansi.enabled" = false\n'
    )
    result = run_cli("--config", config, "--db", tmp_path / "w.duckdb", "estimate")
    assert result.exit_code == 1
    assert "'engine.spark.conf.spark.sql.ansi.enabled' cannot be changed" in result.stderr


def test_unknown_engine_in_config_is_rejected(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[engine]\nname = "trino"\n')
    result = run_cli("--config", config, "--db", tmp_path / "w.duckdb", "estimate")
    assert result.exit_code == 1
    assert f"Error: {config}: unknown engine 'trino' (known: duckdb, spark)" in result.stderr
