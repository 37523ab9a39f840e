"""The generic run table (CSV / JSON Lines / Parquet), on sample_data/ and edge cases."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from connectors.formats.base import Sample, UnitReader
from connectors.formats.training.run_table import COLUMNS, RunTableParser
from connectors.stores.local import LocalStore
from reconcile.cli import cli
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS

SAMPLE = "onprem/runs/manual.runs.csv"


def parse(root: Path, forced: bool = False) -> list[dict]:
    """Every row the run-table parser makes of ``root`` (by name, else by content)."""
    store = LocalStore(root)
    parser = RunTableParser()
    units, rest = parser.units(store, list(store.list_objects()), forced=forced)
    units += [
        parser.unit_for(store, info)
        for info in rest
        if info.key.endswith(parser.sniff_suffixes) and parser.sniff(Sample(store, info))
    ]
    rows = []
    for unit in units:
        table = parser.parse_unit(UnitReader(store, unit))
        assert table.schema == TRAINING_RUNS
        rows += table.to_pylist()
    return rows


def without_source(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("source_uri", "attributes")}


@pytest.fixture(scope="module")
def sample_rows(sample_data: Path) -> dict[str, dict]:
    rows = parse(sample_data / "onprem" / "runs")
    return {row["job_name"]: row for row in rows}


@pytest.fixture(scope="module")
def sample_row(sample_rows: dict[str, dict]) -> dict:
    return sample_rows["smoke-test-h100"]


def test_sample_table_rows(sample_rows):
    # The smoke test, the review-band Pythia CPT and the implausible OCR fine-tune.
    assert sorted(sample_rows) == ["pythia1b-domain-cpt", "qwen15b-ocr-ft", "smoke-test-h100"]
    pythia = sample_rows["pythia1b-domain-cpt"]
    assert pythia["model_id"] == "acme-pythia-1b-domain"
    assert pythia["tokens"] == 82_000_000_000
    assert pythia["accelerator_count"] == 32


def test_sample_table(sample_row, sample_data):
    row = sample_row
    assert row["run_id"] == "table:smoke-test-h100"  # no run_id column: table:<job_name>
    assert row["job_name"] == "smoke-test-h100"
    assert row["platform"] == "slurm"
    assert row["base_model"] == "mistralai/Mistral-7B-v0.1"
    assert row["base_model_basis"] == "run_table"
    assert row["method"] == "lora" and row["objective"] == "sft"
    assert row["tokens"] == 200 * 64 * 4096 == 52_428_800
    assert row["tokens_basis"] == "logged"
    assert row["steps"] == 200 and row["epochs"] == 1.0
    assert row["per_device_batch"] == 4 and row["grad_accum_steps"] == 2
    assert row["world_size"] == 8
    assert row["global_batch"] == 4 * 2 * 8  # derived from the three stated values
    assert row["seq_len"] == 4096
    assert row["started_at"] == datetime(2025, 4, 22, 8, 6, 12, tzinfo=UTC)
    assert row["ended_at"] == datetime(2025, 4, 22, 8, 19, 47, tzinfo=UTC)
    assert row["time_basis"] == "declared"
    assert row["runtime_seconds"] == 780.0
    assert row["accelerator"] == "NVIDIA H100 SXM5-80GB"
    assert row["accelerator_count"] == 8 and row["instance_count"] == 1
    assert row["precision"] == "bf16"
    assert row["reported_flops"] is None and row["params_total"] is None
    # LoRA r=8 on q_proj (4096 -> 4096) and v_proj (4096 -> 1024) in 32 layers
    assert row["params_trainable"] == 32 * 8 * ((4096 + 4096) + (4096 + 1024)) == 3_407_872
    assert row["params_basis"] == "run_table"
    assert dict(row["tags"]) == {
        "slurm_job_id": "40110",
        "framework": "torchtune",
        "team": "ml-research",
    }
    attributes = json.loads(row["attributes"])
    assert attributes["table_row"] == "line 2"
    assert attributes["notes"].startswith("LoRA smoke test")
    assert row["source_format"] == "run_table"
    assert row["source_uri"] == (sample_data / SAMPLE).resolve().as_uri()


def test_sample_lies_inside_its_slurm_job(sample_row, sample_data):
    # sacct-2025-04.txt: job 40110 on gpu005 from epoch 1745309103 to 1745310007.
    line = next(
        x
        for x in (sample_data / "onprem/hpc1-slurm/accounting/sacct-2025-04.txt")
        .read_text()
        .splitlines()
        if x.startswith("40110|")
    )
    fields = line.split("|")
    start, end = (datetime.fromtimestamp(int(v), UTC) for v in fields[7:9])
    assert start < sample_row["started_at"] < sample_row["ended_at"] < end
    assert sample_row["runtime_seconds"] < (end - start).total_seconds()


def _records(sample_data: Path) -> list[dict]:
    text = (sample_data / SAMPLE).read_text()
    return list(csv.DictReader(io.StringIO(text)))


def test_jsonl_and_parquet_give_the_same_row(tmp_path, sample_data, sample_row):
    record = next(r for r in _records(sample_data) if r["job_name"] == "smoke-test-h100")
    typed = {
        k: (int(v) if COLUMNS.get(k) == "count" else float(v) if COLUMNS.get(k) == "number" else v)
        for k, v in record.items()
    }
    (tmp_path / "cluster.runs.jsonl").write_text(json.dumps(typed) + "\n")
    columns = dict(typed)
    columns["started_at"] = datetime(2025, 4, 22, 8, 6, 12, tzinfo=UTC)
    columns["ended_at"] = datetime(2025, 4, 22, 8, 19, 47, tzinfo=UTC)
    pq.write_table(
        pa.table({k: [v] for k, v in columns.items()}), tmp_path / "cluster.runs.parquet"
    )
    rows = parse(tmp_path)
    assert len(rows) == 2
    for row in rows:
        assert without_source(row) == without_source(sample_row)


def test_tags_json_column_run_id_and_unknown_accelerator(tmp_path):
    (tmp_path / "runs.csv").write_text(
        "run_id,job_name,base_model,accelerator,tags,tag:owner,reported_flops,tokens_basis,tokens\n"
        'r-1,,/mnt/base,AcmeNPU-1,"{""project"": ""legal"", ""n"": 3}",ana,1.5e18,derived,1000\n'
        "r-2,job-b,,,,,,,\n"
    )
    rows = {r["run_id"]: r for r in parse(tmp_path)}
    row = rows["r-1"]
    assert dict(row["tags"]) == {"project": "legal", "n": "3", "owner": "ana"}
    assert row["base_model"] is None
    assert row["accelerator"] is None
    assert row["reported_flops"] == 1.5e18 and row["reported_flops_basis"] == "run_table"
    assert row["tokens_basis"] == "derived"
    attributes = json.loads(row["attributes"])
    assert attributes["base_model_raw"] == "/mnt/base"
    assert attributes["accelerator_raw"] == "AcmeNPU-1"
    assert rows["r-2"]["job_name"] == "job-b" and rows["r-2"]["tags"] is None


def test_sniffing_by_header(tmp_path):
    (tmp_path / "export.csv").write_text("job_name,tokens,steps,owner\nj,1,2,x\n")
    (tmp_path / "gpu.csv").write_text("job_name,started_at,ended_at,host,gpu,util,power\n")
    (tmp_path / "sacct.csv").write_text("JobID,JobName,Start,End\n1,x,a,b\n")
    (tmp_path / "runs-2025.jsonl").write_text('{"run_id": "a", "tokens": 1, "steps": 1}\n')
    pq.write_table(
        pa.table({"run_id": ["p"], "epochs": [1.0], "steps": [3]}), tmp_path / "runs.export.parquet"
    )
    store = LocalStore(tmp_path)
    parser = RunTableParser()
    sniffed = {info.key: parser.sniff(Sample(store, info)) for info in store.list_objects()}
    assert sniffed == {
        "export.csv": True,  # one unknown column of four: still a run table (and an error)
        "gpu.csv": False,  # job_name, but mostly unknown columns
        "sacct.csv": False,
        "runs-2025.jsonl": True,
        "runs.export.parquet": True,
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.runs.csv", "job_name,tokenz\nj,1\n", "unknown column 'tokenz' (known: run_id, "),
        ("a.runs.csv", "job_name,tokens\nj,1.5\n", "line 2, column tokens: expected a whole"),
        ("a.runs.csv", "job_name,steps\nj,many\n", "line 2, column steps: expected a number"),
        ("a.runs.csv", "job_name,epochs\nj,-1\n", "expected a non-negative number"),
        (
            "a.runs.csv",
            "job_name,started_at\nj,2025-04-22 08:06:12\n",
            "line 2, column started_at: timestamp 2025-04-22 08:06:12 has no UTC offset",
        ),
        ("a.runs.csv", "job_name,started_at\nj,yesterday\n", "expected an ISO-8601 timestamp"),
        ("a.runs.csv", "job_name,gradient_checkpointing\nj,maybe\n", "expected true or false"),
        ("a.runs.csv", "job_name,tokens,tokens_basis\nj,1,guessed\n", "tokens_basis should be"),
        ("a.runs.csv", "run_id,job_name\nx,\nx,\n", "line 3: run 'x' repeats line 2"),
        (
            "a.runs.csv",
            "run_id,job_name,steps\n,,4\n",
            "line 2: a row needs a run_id or a job_name",
        ),
        ("a.runs.csv", "tokens,steps\n1,2\n", "needs a run_id or job_name column"),
        ("a.runs.csv", "job_name,steps\nj,1,2\n", "line 2: 3 fields where the header has 2"),
        ("a.runs.csv", "job_name,job_name\nj,k\n", "column 'job_name' appears twice"),
        ("a.runs.csv", "job_name,tags\nj,[1]\n", "expected a JSON object of tags"),
        ("a.runs.csv", "", "empty file"),
        ("a.runs.jsonl", '{"job_name": "j"}\n{"job_name": "k", "gpu": 1}\n', "line 2: unknown"),
        ("a.runs.jsonl", '{"job_name": "j"}\n[1]\n', "line 2: each line should be a JSON object"),
        ("a.runs.jsonl", '{"job_name": "j", "steps": true}\n', "expected a number"),
        ("a.runs.parquet", "PAR1 not really", "unreadable Parquet file"),
    ],
)
def test_bad_tables_raise_parse_error_naming_the_file(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(ParseError, match=re.escape(message)) as caught:
        parse(tmp_path)
    assert str(caught.value).startswith((tmp_path / name).resolve().as_uri())


def test_forced_format_claims_only_table_suffixes(tmp_path):
    (tmp_path / "anything.csv").write_text("job_name,steps,tokens\nj,1,2\n")
    (tmp_path / "notes.txt").write_text("hello")
    store = LocalStore(tmp_path)
    units, rest = RunTableParser().units(store, list(store.list_objects()), forced=True)
    assert [u.key for u in units] == ["anything.csv"]
    assert [i.key for i in rest] == ["notes.txt"]


def test_cli_quarantines_a_bad_table_and_loads_the_rest(tmp_path, sample_data):
    source = tmp_path / "src"
    shutil.copytree(sample_data / "onprem" / "runs", source)
    (source / "typo.runs.csv").write_text("job_name,tokenz\nj,1\n")
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", str(source)])
    assert result.exit_code == 3, result.output
    (line,) = [x for x in result.stderr.splitlines() if x]
    assert line.startswith("quarantined: file://")
    assert "typo.runs.csv:line 1: unknown column 'tokenz'" in line
    assert "1 new" in result.stdout


def _ingest(db: Path, source: Path) -> dict:
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", str(source)])
    assert result.exit_code == 0, result.output
    summary: dict = json.loads(result.stdout)
    return summary


def test_reingest_is_a_no_op_and_redelivery_replaces(tmp_path, sample_data):
    source = tmp_path / "src"
    shutil.copytree(sample_data / "onprem" / "runs", source)
    db = tmp_path / "w.duckdb"
    first = _ingest(db, source)
    assert first["objects"]["new"] == 1 and first["rows"]["training_runs"] == 3
    second = _ingest(db, source)
    assert second["objects"]["unchanged"] == 1 and second["bytes_read"] == 0
    table = source / "manual.runs.csv"
    header = table.read_text().splitlines()[0].split(",")
    table.write_text(
        table.read_text() + ",".join(["second-run", "slurm"] + [""] * (len(header) - 2)) + "\n"
    )
    third = _ingest(db, source)
    assert third["objects"]["replaced"] == 1
    assert third["rows_deleted"]["training_runs"] == 3
    assert third["rows"]["training_runs"] == 4


def test_a_parquet_string_that_is_not_utf8_is_a_parse_error():
    """Found by the fuzz suite: Parquet bytes flipped inside a string column."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from connectors.registry import get_parser

    table = pa.table(
        {
            "job_name": pa.array([b"\xed\xa0\x80"], pa.binary()).cast(pa.string(), safe=False),
            "tokens": [1],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with pytest.raises(ParseError, match="not UTF-8"):
        get_parser("run_table").parse(buffer.getvalue(), source="mem://bad.runs.parquet")
