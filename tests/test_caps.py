"""Caps per object: a gzip bomb or one enormous line never takes the machine down.

Each probe runs in a child process (so its peak memory can be measured) that parses,
through the real ``LocalStore`` and ``UnitReader``, one unit of each parser whose data
member was replaced by:

* a gzip bomb: the member's first line, then 1 GiB of zero bytes as 1,024 gzip members
  of 1 MiB (about 1 MB on disk; DuckDB, zlib and Python's gzip read concatenated
  members as one stream), for every parser that accepts gzip;
* a single 200 MB line (written in chunks to a temporary folder, deleted afterwards):
  a JSON document with one huge string value, or a CSV/text line with one huge field,
  for every parser that reads JSON or CSV.

Every probe must end in a ParseError (or, for the long line, a table) within a bounded
time, and the child's peak memory must stay far below what inflating the input would
take. How the caps work: whole-object reads stop at ``MAX_OBJECT_BYTES`` (512 MiB of
stored bytes), and at ``MAX_SIDECAR_BYTES`` (16 MiB) for files that describe a run rather
than log it (job descriptions, configs, summaries, meter files); text formats read whole
(sacct, run tables) decompress in bounded chunks (``connectors.formats.text``) and refuse
a line longer than ``MAX_LINE_BYTES``; nvidia-smi and DCGM text files are checked the
same way over their first 64 MiB before DuckDB reads them (DuckDB would scan a whole
gigabyte-long line before dropping it); every DuckDB parse runs with its own
``memory_limit`` and refuses oversized lines or JSON objects.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent / "test_fuzz.py"

PROBE = r"""
import gzip, io, json, os, resource, runpy, sys, tempfile, time
from pathlib import Path

fuzz = runpy.run_path(sys.argv[1], run_name="caps_probe")
kind, names = sys.argv[2], sys.argv[3].split(",")
ZERO_MEMBER = gzip.compress(bytes(1 << 20), 9, mtime=0)
LINE = 200 * 1024 * 1024


def first_line(data):
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.split(b"\n", 1)[0] + b"\n"


def write_bomb(path, original):
    with open(path, "wb") as out:
        out.write(gzip.compress(first_line(original), mtime=0))
        for _ in range(1024):
            out.write(ZERO_MEMBER)


def write_long_line(path, key, original):
    chunk = b"a" * (1 << 20)
    text = gzip.decompress(original) if original[:2] == b"\x1f\x8b" else original
    plain = key.removesuffix(".gz")
    out = gzip.open(path, "wb", compresslevel=1) if key.endswith(".gz") else open(path, "wb")
    with out:
        if plain.endswith(".json"):  # a JSON document on one line, one enormous string
            out.write(b'{"global_step": 1, "log_history": [], "TrainingJobName": "x", "pad": "')
            tail = b'"}'
        elif plain.endswith(".jsonl") or "billing_export" in key:  # JSON Lines
            out.write(first_line(text) + b'{"pad": "')
            tail = b'"}\n'
        else:  # CSV or text: the header, then one enormous field
            out.write(first_line(text) + b"x,")
            tail = b"\n"
        for _ in range(LINE // len(chunk)):
            out.write(chunk)
        out.write(tail)


def member_to_replace(name, seed):
    keys = sorted(seed.files)
    if kind == "bomb":
        gz = [k for k in keys if k.endswith(".gz")]
        return gz[-1] if gz else None  # the newest delivery, the one a manifest names
    skip = ("manifest.json", ".zip", ".parquet", ".yaml", ".md", "output.log")
    data = [k for k in keys if not k.lower().endswith(skip)]
    data = [k for k in data if not any(p in k for p in ("/params/", "/tags/", "/metrics/"))]
    for preferred in ("trainer_state.json", "describe-training-job.json"):
        data = [k for k in data if k.endswith(preferred)] or data
    return data[-1] if data else None


def run_one(name):
    seeds = fuzz["seeds"]()[name]
    chosen = None
    for seed in sorted(seeds, key=lambda seed: not seed.key.startswith("gen/wandb")):
        key = member_to_replace(name, seed)
        if key is not None:
            chosen = (seed, key)
            break
    if chosen is None:
        return {"parser": name, "outcome": "no_seed"}
    seed, key = chosen
    with tempfile.TemporaryDirectory(prefix="caps-") as folder:
        path = Path(folder) / "member"
        if kind == "bomb":
            write_bomb(path, seed.files[key])
        else:
            write_long_line(path, key, seed.files[key])
        files = dict(seed.files)
        files[key] = None
        started = time.monotonic()
        try:
            outcome = fuzz["check_unit"](name, files, seed.key, big={key: path})
            error = None
        except Exception as exc:  # reported to the test, which fails on it
            outcome, error = "crash", f"{type(exc).__name__}: {str(exc)[:300]}"
        seconds = time.monotonic() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return {"parser": name, "member": key, "outcome": outcome, "error": error,
            "seconds": round(seconds, 2), "max_rss_mib": rss}


fuzz["seeds"]()  # built once; each parser then runs in a fork of its own (its own peak)
for name in names:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, json.dumps(run_one(name)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    print(text if text else json.dumps({"parser": name, "outcome": f"died ({status})"}), flush=True)
"""


def probe(kind: str, names: list[str], timeout: int) -> list[dict[str, object]]:
    """Run the probe in a child process; one result per parser."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(FUZZ), kind, ",".join(names)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


#: Parsers that accept gzip-compressed members.
GZIP_PARSERS = [
    "slurm_sacct",
    "nvidia_smi",
    "dcgm",
    "gcp_billing",
    "focus",
    "azure_cost",
    "aws_cur",
]
#: Parsers that read JSON or CSV/text members.
LINE_PARSERS = [
    "hf_checkpoint",
    "sagemaker_job",
    "flops_meter",
    "wandb",
    "mlflow",
    "run_table",
    "slurm_sacct",
    "nvidia_smi",
    "dcgm",
    "gcp_billing",
    "focus",
    "azure_cost",
    "aws_cur",
]

#: Generous bounds for a loaded 2-core CI machine; inflating the inputs would need GiBs.
MAX_SECONDS = 30
MAX_RSS_MIB = 1536


@pytest.fixture(scope="module")
def bombs() -> dict[str, dict[str, object]]:
    return {r["parser"]: r for r in probe("bomb", GZIP_PARSERS, timeout=600)}  # type: ignore[misc]


@pytest.fixture(scope="module")
def long_lines() -> dict[str, dict[str, object]]:
    return {r["parser"]: r for r in probe("line", LINE_PARSERS, timeout=600)}  # type: ignore[misc]


@pytest.mark.slow
@pytest.mark.parametrize("name", GZIP_PARSERS)
def test_a_gzip_bomb_is_refused_within_bounds(bombs, name):
    found = bombs[name]
    assert found["outcome"] == "parse_error", found
    assert found["seconds"] < MAX_SECONDS, found  # type: ignore[operator]
    assert found["max_rss_mib"] < MAX_RSS_MIB, found  # type: ignore[operator]


@pytest.mark.slow
@pytest.mark.parametrize("name", LINE_PARSERS)
def test_a_single_200_mb_line_is_bounded(long_lines, name):
    found = long_lines[name]
    assert found["outcome"] in ("parse_error", "ok"), found
    assert found["seconds"] < MAX_SECONDS, found  # type: ignore[operator]
    assert found["max_rss_mib"] < MAX_RSS_MIB, found  # type: ignore[operator]
