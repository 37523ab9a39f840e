"""Peer contender for ``billing_bench.py``: a dlt pipeline loading the same files into
a DuckDB file. Runs with the Python of a separate virtualenv that has dlt installed
(see bench/README.md); it is never imported by the project.

It uses dlt's own building blocks for local files, each on its fast (Arrow) path:

- Parquet: ``filesystem(...) | read_parquet(use_pyarrow=True)`` (record batches, no
  conversion to Python dicts);
- CSV: ``filesystem(...) | read_csv_duckdb(use_pyarrow=True)`` (DuckDB's CSV reader
  inside dlt; dlt's other CSV reader goes through pandas and Python dicts).

dlt then normalises (column names, schema inference, Parquet load files) and loads them
into the ``duckdb`` destination. Prints the number of rows in the loaded table.

    python bench/peers/dlt_load.py --kind parquet --folder DIR --glob '**/*.parquet' \
        --db /tmp/x/dlt.duckdb --work /tmp/x/dlt-work
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main() -> None:
    """Run the pipeline and print the row count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("parquet", "csv"), required=True)
    parser.add_argument("--folder", type=Path, required=True, help="folder of the files")
    parser.add_argument("--glob", default="*", help="file glob under --folder")
    parser.add_argument("--db", type=Path, required=True, help="DuckDB file to create")
    parser.add_argument("--work", type=Path, required=True, help="dlt's working folder")
    parser.add_argument("--chunk-size", type=int, default=122_880)
    args = parser.parse_args()
    # No telemetry (the bench machine may have no network) and nothing under ~/.dlt.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DLT_DATA_DIR", str(args.work / "data"))

    import dlt
    from dlt.destinations import duckdb as duckdb_destination
    from dlt.sources.filesystem import filesystem, read_csv_duckdb, read_parquet

    files = filesystem(bucket_url=args.folder.resolve().as_uri(), file_glob=args.glob)
    if args.kind == "parquet":
        resource = files | read_parquet(chunksize=args.chunk_size, use_pyarrow=True)
    else:
        resource = files | read_csv_duckdb(
            chunk_size=args.chunk_size, use_pyarrow=True, header=True
        )
    table = "billing"
    pipeline = dlt.pipeline(
        pipeline_name="billing_bench",
        pipelines_dir=str(args.work / "pipelines"),
        destination=duckdb_destination(str(args.db)),
        dataset_name="bench",
    )
    pipeline.run(resource.with_name(table))
    with pipeline.sql_client() as client:
        rows = client.execute_sql(f"SELECT count(*) FROM {table}")
    print(rows[0][0])


if __name__ == "__main__":
    main()
