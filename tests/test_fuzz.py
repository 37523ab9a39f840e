"""Every parser, fed mutated real-looking input, returns its canonical table or raises
ParseError: never another exception, never a hang; and every content sniffer answers
True or False for any bytes (an exception there would stop a whole ingest).

Seeds are each parser's units in sample_data/ plus small generated inputs in the
shapes the sample does not show (gzip dumps and exports, Parquet and JSON Lines run
tables, FOCUS Parquet, legacy CUR csv.gz/zip, W&B export, safetensors headers). Each
example copies one unit into a temporary folder, mutates one of its members one to three
times (truncation, byte flips, inserted junk and hostile tokens, hostile numbers such as
NaN, Infinity, 1e309 or 400 digits, values of the wrong JSON/YAML type, dropped keys,
nesting deeper than the recursion limit, YAML alias bombs, odd encodings and BOMs,
CRLF or CR line ends, empty files, gzip and corrupt gzip, a 1 MB line, Parquet columns
dropped, renamed or of the wrong type) and parses the unit through the real
``LocalStore`` and ``UnitReader``.

The default run tries ``FUZZ_EXAMPLES`` examples per parser and sniffer (derandomized,
so it is repeatable; env ``RECONCILE_FUZZ_EXAMPLES`` changes it); the ``slow`` test
tries ``SLOW_EXAMPLES`` fresh random ones per parser. For a longer hunt that lists every
distinct crash instead of stopping at the first::

    N=1000 SALT=x .venv/bin/python tests/test_fuzz.py [PARSER ...]    # SNIFF=1: sniffers
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import random
import re
import shutil
import signal
import tempfile
import tomllib
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.formats.base import Sample, Unit, UnitReader
from connectors.registry import PARSERS, get_parser, open_source
from connectors.stores.local import LocalStore
from reconcile import ingest
from reconcile.errors import ParseError

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
FUZZ_EXAMPLES = int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "30"))
SLOW_EXAMPLES = int(os.environ.get("RECONCILE_FUZZ_SLOW_EXAMPLES", "60"))
#: A single parse slower than this is a hang (the sample's units parse in well under 1 s).
HANG_SECONDS = 20

# ---------------------------------------------------------------------------
# Seeds: (unit key, {member key: bytes}) per parser


@dataclass(frozen=True)
class Seed:
    """One unit's members, by key (relative to a store root)."""

    key: str
    files: dict[str, bytes]


def _sample_options() -> dict[str, dict[str, Any]]:
    return tomllib.loads((SAMPLE_DATA / "reconcile.toml").read_text())["formats"]


def _discover(files: dict[str, bytes]) -> dict[str, list[Seed]]:
    """The units the parsers claim among ``files`` (key → bytes), with their members."""
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as folder:
        for key, data in files.items():
            path = Path(folder) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        planned, _, _ = ingest.plan(None, [open_source(folder)], format_options=_sample_options())
    seeds: dict[str, list[Seed]] = defaultdict(list)
    for item in planned:
        members = {m.key: files[m.key] for m in item.unit.members}
        seeds[item.parser.name].append(Seed(item.unit.key, members))
    return seeds


def _real_files() -> dict[str, bytes]:
    """The real public training folders of tests/data/real/training (see SOURCES.md)."""
    root = Path(__file__).resolve().parent / "data" / "real" / "training"
    return {
        "real/" + p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.parent != root and "_bases" not in p.parts
    }


def _sample_files() -> dict[str, bytes]:
    return {
        p.relative_to(SAMPLE_DATA).as_posix(): p.read_bytes()
        for p in sorted(SAMPLE_DATA.rglob("*"))
        if p.is_file()
    }


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _read_csv(data: bytes) -> pa.Table:
    import pyarrow.csv as pacsv

    return pacsv.read_csv(io.BytesIO(data))


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _generated_files(sample: dict[str, bytes]) -> dict[str, bytes]:
    """Shapes the sample does not show: gzip dumps and exports, Parquet and JSON Lines
    run tables, FOCUS Parquet, legacy CUR (csv.gz and zip), W&B and MLflow exports,
    a safetensors header."""
    files: dict[str, bytes] = {}
    sacct = "onprem/hpc1-slurm/accounting/sacct-2025-04.txt"
    files["gen/slurm/" + sacct.rsplit("/", 1)[1] + ".gz"] = _gz(sample[sacct])
    smi = "onprem/hpc-lustre/slurm-logs/41237/nvidia-smi-gpu001.csv"
    files["gen/" + smi.replace("41237", "41238") + ".gz"] = _gz(sample[smi])
    prom = next(k for k in sample if k.endswith(".prom"))
    files["gen/dcgm/dcgm-node.prom.gz"] = _gz(sample[prom])
    runs = _read_csv(sample["onprem/runs/manual.runs.csv"])
    files["gen/runs/manual.runs.parquet"] = _parquet(runs)
    files["gen/runs/manual.runs.jsonl"] = "".join(
        json.dumps(row, default=str) + "\n" for row in runs.to_pylist()
    ).encode()
    focus = "azure/focus-downloads/acme-focus-1.0-2025-05.csv"
    files["gen/focus/acme-focus-1.0-2025-05.parquet"] = _parquet(_read_csv(sample[focus]))
    files["gen/focus-gz/acme-focus-1.0-2025-05.csv.gz"] = _gz(sample[focus])
    # Azure cost export with gzip parts (the manifest names them).
    for key, data in sample.items():
        if key.startswith("azure/acmecostexports/"):
            new_key = "gen/" + key.replace(".csv", ".csv.gz")
            if key.endswith(".csv"):
                files[new_key] = _gz(data)
            else:
                text = data.decode().replace("part_0_0001.csv", "part_0_0001.csv.gz")
                files[new_key] = text.replace('"None"', '"Gzip"').encode()
    files.update(_legacy_cur())
    # W&B API export of the sample run folder.
    wandb_dir = "gcp/acme-training-eu/legal-llama/wandb/run-20250411_060312-k3v9x2ab/files/"
    config = yaml.safe_load(sample[wandb_dir + "config.yaml"])
    export = {
        "id": "k3v9x2ab",
        "name": "llama31-8b-legal-fullft",
        "state": "finished",
        "created_at": "2025-04-11T06:03:12Z",
        "entity": "acme",
        "project": "legal-llama",
        "tags": ["legal"],
        "config": {k: v for k, v in config.items() if k != "wandb_version"},
        "summary": json.loads(sample[wandb_dir + "wandb-summary.json"]),
        "metadata": json.loads(sample[wandb_dir + "wandb-metadata.json"]),
    }
    files["gen/wandb/legal.wandb.json"] = json.dumps({"runs": [export]}).encode()
    # A checkpoint folder with safetensors files (header plus a few bytes of data).
    run = "gen/hf/qwen-lora/output/"
    for key, data in sample.items():
        if key.startswith("aws/acme-ml-artifacts/sagemaker/qwen7b-dpo-20250318-0922/output/"):
            files[run + key.rsplit("/", 1)[1]] = data
    files[run + "adapter_model.safetensors"] = _safetensors(
        {"base_model.model.layers.0.self_attn.q_proj.lora_A.weight": [16, 3584]}
    )
    files[run + "model.safetensors"] = _safetensors({"lm_head.weight": [152064, 3584]})
    return files


def _safetensors(shapes: dict[str, list[int]]) -> bytes:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + 2]}
        offset += 2
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + bytes(offset)


def _legacy_cur() -> dict[str, bytes]:
    header = (
        "identity/LineItemId,identity/TimeInterval,bill/BillingPeriodStartDate,"
        "bill/PayerAccountId,lineItem/UsageAccountId,lineItem/LineItemType,"
        "lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,"
        "lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/CurrencyCode,"
        "lineItem/UnblendedCost,pricing/unit,product/instanceType,product/region,"
        "resourceTags/user:Project\n"
    )
    rows = [
        "u1,2025-03-10T08:00:00Z/2025-03-10T09:00:00Z,2025-03-01T00:00:00Z,012345678901,"
        "012345678901,Usage,2025-03-10T08:00:00Z,2025-03-10T09:00:00Z,AmazonEC2,"
        "BoxUsage:p4d.24xlarge,i-0a9f3c2e1b7d45f10,2,USD,43.915284,Hrs,p4d.24xlarge,"
        "us-east-1,support-assistant\n",
        "c1,2025-03-10T08:00:00Z/2025-03-10T09:00:00Z,2025-03-01T00:00:00Z,012345678901,"
        "012345678901,Credit,2025-03-10T08:00:00Z,2025-03-10T09:00:00Z,AmazonEC2,,,0,USD,"
        "-250,,,us-east-1,\n",
    ]
    period = "gen/cur-legacy/acme-hourly/20250301-20250401/"
    assembly = period + "22222222-bbbb/"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("acme-hourly-2.csv", header + rows[1])
    manifest = {
        "assemblyId": "22222222-bbbb",
        "reportKeys": [
            assembly.removeprefix("gen/") + "acme-hourly-1.csv.gz",
            assembly.removeprefix("gen/") + "acme-hourly-2.csv.zip",
        ],
        "billingPeriod": {"start": "20250301T000000.000Z", "end": "20250401T000000.000Z"},
    }
    return {
        assembly + "acme-hourly-1.csv.gz": _gz((header + rows[0]).encode()),
        assembly + "acme-hourly-2.csv.zip": archive.getvalue(),
        period + "acme-hourly-Manifest.json": json.dumps(manifest).encode(),
    }


_SEEDS: dict[str, list[Seed]] | None = None


def seeds() -> dict[str, list[Seed]]:
    """Every unit of sample_data/ and of the generated shapes, per parser (built once)."""
    global _SEEDS
    if _SEEDS is None:
        sample = _sample_files()
        found = _discover(sample)
        for name, more in _discover(_generated_files(sample)).items():
            found[name] = found.get(name, []) + more
        for name, more in _discover(_real_files()).items():
            found[name] = found.get(name, []) + more
        _SEEDS = dict(found)
    return _SEEDS


# ---------------------------------------------------------------------------
# Mutations, written against a tiny "chooser" so hypothesis and a plain Random drive them


class Chooser:
    """What a mutation may ask for: an integer in a range, an element, some bytes."""

    def integer(self, low: int, high: int) -> int:
        raise NotImplementedError

    def choice(self, items: list[Any] | tuple[Any, ...]) -> Any:
        return items[self.integer(0, len(items) - 1)]

    def junk(self) -> bytes:
        raise NotImplementedError


class RandomChooser(Chooser):
    """Driven by ``random.Random`` (the exploratory loop in __main__)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def junk(self) -> bytes:
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 24)))


class DataChooser(Chooser):
    """Driven by hypothesis' ``st.data()`` (shrinks to a minimal failing mutation)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))

    def junk(self) -> bytes:
        return self.data.draw(st.binary(min_size=1, max_size=24))


HOSTILE_NUMBERS = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e309",
    b"-1e309",
    b"1e-400",
    b"-1",
    b"0",
    b"-0",
    b"9" * 400,
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e18",
    b"253402300800",
    b"-62135596801",
    b"1_000",
    b"0x10",
    b"1.5",
    b"",
)
HOSTILE_TOKENS = (
    b"\x00",
    b'"',
    b"'",
    b",",
    b"|",
    b"\t",
    b"\n",
    b"\r",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"\\",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xc3",
    "é".encode(),
    "\u202e".encode(),
    "🦙".encode(),
    b"null",
    b"true",
    b"---\n",
    b"# HELP x\n",
    b"1e999",
)


def _json_value(chooser: Chooser) -> Any:
    return chooser.choice(
        (
            None,
            True,
            False,
            0,
            -1,
            1.5,
            10**30,
            -(10**30),
            float("nan"),
            float("inf"),
            -float("inf"),
            1e300,
            "",
            "x",
            "2025-13-45T99:99:99Z",
            "🦙",
            "9" * 50,
            [],
            {},
            [None],
            {"": None},
            [[[[]]]],
            {"a": {"b": {"c": []}}},
        )
    )


def _json_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _json_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:50]):
            yield from _json_paths(value, (*path, index))


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        copy = dict(node)
        copy[head] = _replace(node[head], rest, value)
        return copy
    copy_list = list(node)
    copy_list[head] = _replace(node[head], rest, value)
    return copy_list


_DELETE = object()


def _delete(node: Any, path: tuple[Any, ...]) -> Any:
    head, rest = path[0], path[1:]
    if not rest:
        if isinstance(node, dict):
            return {k: v for k, v in node.items() if k != head}
        return [v for i, v in enumerate(node) if i != head]
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    copy[head] = _delete(node[head], rest)
    return copy


def _mutate_tree(doc: Any, chooser: Chooser, dump: Callable[[Any], str]) -> bytes:
    """A value of the wrong type, a dropped key, very deep nesting, or a huge value."""
    paths = list(itertools.islice(_json_paths(doc), 5_000))  # aliases may expand 10**9
    path = chooser.choice(paths)
    op = chooser.integer(0, 3)
    if op == 1 and path:
        return dump(_delete(doc, path)).encode()
    if op == 2:
        # Deep nesting: more levels than Python's recursion limit.
        depth = chooser.choice((50, 2_000, 20_000))
        marker = "DEEP-MARKER-0xdeep"
        text = dump(_replace(doc, path, marker))
        return (
            text.replace(marker, "[" * depth + "]" * depth, 1)
            .replace('"[', "[")
            .replace(']"', "]")
            .encode()
        )
    if op == 3:  # a long string or a huge list or object where a value was
        value = chooser.choice(
            ("x" * 100_000, list(range(10_000)), {str(i): i for i in range(2_000)})
        )
        return dump(_replace(doc, path, value)).encode()
    return dump(_replace(doc, path, _json_value(chooser))).encode()


def _mutate_json(data: bytes, chooser: Chooser) -> bytes | None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return _mutate_tree(doc, chooser, json.dumps)


#: YAML aliases that expand to 10**9 items ("billion laughs"); safe_load builds them
#: by reference, anything that walks or serialises the result explodes.
YAML_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def _mutate_yaml(data: bytes, chooser: Chooser) -> bytes | None:
    if len(data) > 20_000 or data[:4] == b"PAR1" or data.count(b"[") > 1_000:
        return None
    try:
        doc = yaml.safe_load(data)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    if not isinstance(doc, (dict, list)):
        return None
    if chooser.integer(0, 4) == 0:  # an alias bomb merged into the document
        if isinstance(doc, dict):
            key = chooser.choice(sorted(map(str, doc)) or ["k"])
            text = yaml.safe_dump({k: v for k, v in doc.items() if k != key})
            return (text + YAML_BOMB.replace("i: &i", f"{key}: &i")).encode()
        return None

    def dump(value: Any) -> str:
        return str(yaml.safe_dump(value, allow_unicode=True))

    try:
        return _mutate_tree(doc, chooser, dump)
    except (yaml.YAMLError, RecursionError):
        return None


def _mutate_parquet(data: bytes, chooser: Chooser) -> bytes | None:
    """Structure-aware: a column of the wrong type, dropped, renamed, or all null/NaN."""
    if data[:4] != b"PAR1":
        return None
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError):
        return None
    if not table.num_columns:
        return None
    index = chooser.integer(0, table.num_columns - 1)
    field = table.schema.field(index)
    op = chooser.integer(0, 5)
    rows = table.num_rows
    if op == 0:
        table = table.remove_column(index)
    elif op == 1:
        if pa.types.is_nested(field.type):  # Arrow cannot cast a MAP/LIST/STRUCT to text
            return None
        table = table.set_column(index, field.name, table.column(index).cast(pa.string()))
    elif op == 2:
        table = table.set_column(index, field.name, pa.nulls(rows, field.type))
    elif op == 3:
        value = chooser.choice((float("nan"), float("inf"), -1e300, 1e300, 0.0, -1.0))
        table = table.set_column(index, field.name, pa.array([value] * rows, pa.float64()))
    elif op == 4:
        table = table.rename_columns(
            [n if i != index else n + "_x" for i, n in enumerate(table.column_names)]
        )
    else:
        value = chooser.choice(("", "🦙", "x" * 10_000, "NaN", "-1", "2025-99-99"))
        table = table.set_column(index, field.name, pa.array([value] * rows, pa.string()))
    return _parquet(table)


_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def mutate(data: bytes, chooser: Chooser) -> bytes:
    """One to three mutations of ``data``."""
    for _ in range(chooser.integer(1, 3)):
        data = _mutate_once(data, chooser)
    return data


def _mutate_once(data: bytes, chooser: Chooser) -> bytes:
    if chooser.integer(0, 1):  # half the time, a mutation that keeps the structure valid
        structured = (
            _mutate_json(data, chooser)
            or _mutate_parquet(data, chooser)
            or (_mutate_yaml(data, chooser) if data[:1] not in (b"{", b"[") else None)
        )
        if structured is not None:
            return structured
    op = chooser.integer(0, 13)
    size = len(data)
    if op == 0:  # truncate
        return data[: chooser.integer(0, size)]
    if op == 1 and size:  # flip a byte
        at = chooser.integer(0, size - 1)
        return data[:at] + bytes([data[at] ^ chooser.integer(1, 255)]) + data[at + 1 :]
    if op == 2:  # insert junk or a hostile token
        at = chooser.integer(0, size)
        junk = chooser.junk() if chooser.integer(0, 1) else chooser.choice(HOSTILE_TOKENS)
        return data[:at] + junk + data[at:]
    if op == 3:  # a hostile number in place of a number
        numbers = list(_NUMBER.finditer(data[:200_000]))
        if numbers:
            found = chooser.choice(numbers)
            return data[: found.start()] + chooser.choice(HOSTILE_NUMBERS) + data[found.end() :]
        return data
    if op == 4:
        return _mutate_json(data, chooser) or data
    if op == 5:
        return _mutate_parquet(data, chooser) or data
    if op == 6:  # encodings and byte-order marks
        text = data.decode("utf-8", errors="replace")
        return chooser.choice(
            (
                lambda: b"\xef\xbb\xbf" + data,
                lambda: text.encode("utf-16"),
                lambda: text.encode("utf-16-be"),
                lambda: text.encode("latin-1", errors="replace"),
                lambda: text.encode("utf-32"),
                lambda: b"\xef\xbb\xbf\xef\xbb\xbf" + data,
            )
        )()
    if op == 7:  # line endings
        return chooser.choice(
            (
                lambda: data.replace(b"\n", b"\r\n"),
                lambda: data.replace(b"\n", b"\r"),
                lambda: data.replace(b"\r\n", b"\n") + b"\n\n\n",
            )
        )()
    if op == 8:
        return b""
    if op == 9:  # lines duplicated, dropped or swapped
        lines = data.split(b"\n")
        if len(lines) < 2:
            return data
        i, j = chooser.integer(0, len(lines) - 1), chooser.integer(0, len(lines) - 1)
        how = chooser.integer(0, 2)
        if how == 0:
            lines.insert(i, lines[j])
        elif how == 1:
            del lines[i]
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if op == 10:  # one delimited cell replaced
        lines = data.split(b"\n")
        i = chooser.integer(0, len(lines) - 1)
        sep = b"|" if b"|" in lines[i] else b","
        cells = lines[i].split(sep)
        j = chooser.integer(0, len(cells) - 1)
        cells[j] = chooser.choice(HOSTILE_NUMBERS + HOSTILE_TOKENS + (b'"a""b', b'"open'))
        lines[i] = sep.join(cells)
        return b"\n".join(lines)
    if op == 11:  # gzip (or gzip of garbage, or a corrupt gzip)
        packed = gzip.compress(data, mtime=0)
        return chooser.choice((packed, packed[: max(0, len(packed) // 2)], b"\x1f\x8b" + data))
    if op == 12 and data[:2] == b"\x1f\x8b":  # mutate inside the gzip
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return data
        return gzip.compress(_mutate_once(inner, chooser), mtime=0)
    if op == 13:  # a very long line
        at = chooser.integer(0, size)
        return data[:at] + b"x" * chooser.choice((10_000, 1_000_000)) + data[at:]
    return data


# ---------------------------------------------------------------------------
# The property


@contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    """Fail (rather than block the suite) when a parse runs for ``seconds``."""

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"parse still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_PARSERS: dict[str, Any] = {}


def parser_for(name: str) -> Any:
    if name not in _PARSERS:
        _PARSERS[name] = get_parser(name, _sample_options().get(name))
    return _PARSERS[name]


def check_unit(
    name: str,
    files: dict[str, bytes | None],
    unit_key: str,
    big: dict[str, Path] | None = None,
) -> str:
    """Parse ``files`` as one unit of parser ``name``; return "ok" or "parse_error".

    ``big`` names members that already are files (moved in, not read into memory).
    Anything other than a canonical table or a ParseError propagates.
    """
    parser = parser_for(name)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        root = Path(folder)
        for key, data in files.items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            if big and key in big:
                shutil.move(big[key], path)
            else:
                assert data is not None
                path.write_bytes(data)
        store = LocalStore(root)
        infos = {i.key: i for i in store.list_objects("")}
        members = tuple(sorted(infos[k] for k in files))
        unit = Unit(uri=store.uri(unit_key), key=unit_key, members=members)
        reader = UnitReader(store, unit)
        try:
            with hang_guard(HANG_SECONDS):
                try:
                    parsed = parser.parse_unit(reader)
                except ParseError as exc:
                    assert exc.source, "a ParseError must name its source"
                    return "parse_error"
                if isinstance(parsed, pa.RecordBatchReader):
                    assert parsed.schema == parser.schema
                    try:
                        parsed = parsed.read_all()
                    except (ParseError, duckdb.Error, pa.ArrowException):
                        # The engine quarantines a stream that fails part-way, in its
                        # own rolled-back transaction (ingest._BatchWriter.load_stream).
                        return "parse_error"
        finally:
            reader.close()
        assert isinstance(parsed, pa.Table)
        assert parsed.schema == parser.schema, f"{name}: non-canonical schema"
        return "ok"


def check_sniff(name: str, key: str, data: bytes) -> None:
    """``sniff`` answers a bool for any content; it never raises."""
    parser = parser_for(name)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        path = Path(folder) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        store = LocalStore(folder)
        (info,) = list(store.list_objects(""))
        with hang_guard(HANG_SECONDS):
            assert parser.sniff(Sample(store, info)) in (True, False)


def fuzz_one(name: str, chooser: Chooser) -> str:
    """One mutated unit of parser ``name``."""
    seed = chooser.choice(seeds()[name])
    files = dict(seed.files)
    target = chooser.choice(sorted(files))
    files[target] = mutate(files[target], chooser)
    return check_unit(name, files, seed.key)


# ---------------------------------------------------------------------------
# Tests


def test_every_parser_has_seeds_that_parse():
    assert set(seeds()) == set(PARSERS)
    for name, found in seeds().items():
        for seed in found:
            assert check_unit(name, seed.files, seed.key) == "ok", (name, seed.key)


_FUZZ_SETTINGS = dict(
    # Generous: a loaded CI machine is slow; the hang guard interrupts a parse that hangs.
    deadline=timedelta(seconds=15),
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("name", list(PARSERS))
@settings(max_examples=FUZZ_EXAMPLES, **_FUZZ_SETTINGS)  # type: ignore[arg-type]
@given(data=st.data())
def test_mutated_input_parses_or_raises_parse_error(name, data):
    fuzz_one(name, DataChooser(data))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PARSERS))
@settings(max_examples=SLOW_EXAMPLES, **{**_FUZZ_SETTINGS, "derandomize": False})  # type: ignore[arg-type]
@given(data=st.data())
def test_mutated_input_parses_or_raises_parse_error_long(name, data):
    fuzz_one(name, DataChooser(data))


_SNIFFERS = [n for n, cls in PARSERS.items() if getattr(cls, "sniff_suffixes", ())]


@pytest.mark.parametrize("name", _SNIFFERS)
@settings(max_examples=FUZZ_EXAMPLES, **_FUZZ_SETTINGS)  # type: ignore[arg-type]
@given(data=st.data())
def test_sniffing_mutated_content_never_raises(name, data):
    chooser = DataChooser(data)
    donor = chooser.choice(sorted(seeds()))
    seed = chooser.choice(seeds()[donor])
    key = chooser.choice(sorted(seed.files))
    suffix = chooser.choice(parser_for(name).sniff_suffixes)
    check_sniff(name, "x/object" + suffix, mutate(seed.files[key], chooser))


if __name__ == "__main__":  # pragma: no cover - exploratory loop: distinct crashes
    import sys
    import traceback

    names = sys.argv[1:] or list(PARSERS)
    count = int(os.environ.get("N", "300"))
    sniff = os.environ.get("SNIFF") == "1"

    def sniff_one(name: str, chooser: Chooser) -> None:
        donor = chooser.choice(sorted(seeds()))
        seed = chooser.choice(seeds()[donor])
        key = chooser.choice(sorted(seed.files))
        suffix = chooser.choice(parser_for(name).sniff_suffixes)
        check_sniff(name, "x/object" + suffix, mutate(seed.files[key], chooser))

    for name in names:
        crashes: dict[str, str] = {}
        for i in range(count):
            rng = random.Random(f"{name}-{i}{os.environ.get('SALT', '')}")
            try:
                (sniff_one if sniff else fuzz_one)(name, RandomChooser(rng))
            except Exception as exc:
                frames = traceback.extract_tb(exc.__traceback__)
                ours = [
                    f for f in frames if "/connectors/" in f.filename or "/reconcile/" in f.filename
                ]
                frame = (ours or frames)[-1]
                sig = f"{type(exc).__name__} at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
                crashes.setdefault(sig, f"seed {name}-{i}: {str(exc)[:200]}")
        print(name, "crashes:", len(crashes))
        for sig, text in crashes.items():
            print("   ", sig, "|", text)


# ---------------------------------------------------------------------------
# Regressions: one example of each crash the fuzzing found (now a ParseError, or, for a
# value the row can do without, tolerated)


def _json_set(key: str, value: Any) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        doc = json.loads(data)
        doc[key] = value
        return json.dumps(doc).encode()

    return change


def _deep(data: bytes) -> bytes:
    return b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _sacct_field(name: str, value: str) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        lines = data.decode().splitlines()
        header = lines[0].split("|")
        cells = lines[1].split("|")
        cells[header.index(name)] = value
        return "\n".join([lines[0], "|".join(cells), *lines[2:]]).encode()

    return change


REGRESSIONS: list[tuple[str, str, str, Callable[[bytes], bytes]]] = [
    ("json nested 100,000 deep", "hf_checkpoint", "/trainer_state.json", _deep),
    ("json nested 100,000 deep", "sagemaker_job", "/describe-training-job.json", _deep),
    ("json nested 100,000 deep", "flops_meter", "/flops_meter.json", _deep),
    ("json nested 100,000 deep", "wandb", ".wandb.json", _deep),
    ("json nested 100,000 deep", "mlflow", "qwen7b-dpo-20250318-0922.json", _deep),
    ("json nested 100,000 deep", "run_table", ".jsonl", lambda d: _deep(d) + b"\n"),
    ("step beyond int64", "hf_checkpoint", "/trainer_state.json", _json_set("global_step", 10**20)),
    (
        "TrainerControl not an object",
        "hf_checkpoint",
        "/trainer_state.json",
        _json_set("stateful_callbacks", {"TrainerControl": "x"}),
    ),
    ("model_type a number", "hf_checkpoint", "/config.json", _json_set("model_type", 7)),
    (
        "ModelArtifacts a string",
        "sagemaker_job",
        "/describe-training-job.json",
        _json_set("ModelArtifacts", "s3://x"),
    ),
    (
        "epoch seconds past 9999",
        "sagemaker_job",
        "/describe-training-job.json",
        _json_set("TrainingStartTime", 1e20),
    ),
    (
        "InstanceCount beyond int64",
        "sagemaker_job",
        "/describe-training-job.json",
        _json_set("ResourceConfig", {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 10**30}),
    ),
    (
        "HyperParameters a list",
        "sagemaker_job",
        "/describe-training-job.json",
        _json_set("HyperParameters", ["x"]),
    ),
    ("gpu_name a number", "flops_meter", "/flops_meter.json", _json_set("gpu_name", 1.5)),
    ("N_total infinite", "flops_meter", "/flops_meter.json", _json_set("N_total", float("inf"))),
    (
        "integer beyond any float",
        "wandb",
        "/wandb-summary.json",
        _json_set("train/global_step", 10**400),
    ),
    ("YAML alias bomb", "wandb", "/config.yaml", lambda d: YAML_BOMB.encode()),
    ("YAML alias bomb", "mlflow", "/meta.yaml", lambda d: YAML_BOMB.encode()),
    ("YAML alias to itself", "mlflow", "/meta.yaml", lambda d: b"a: &a [*a]\n"),
    ("YAML alias bomb", "hf_checkpoint", "/README.md", lambda d: f"---\n{YAML_BOMB}---\n".encode()),
    (
        "hostlist of 10**11 hosts",
        "slurm_sacct",
        "sacct-2025-04.txt",
        _sacct_field("NodeList", "gpu[1-99999999999]"),
    ),
    ("superscript digit", "slurm_sacct", "sacct-2025-04.txt", _sacct_field("ElapsedRaw", "²")),
    (
        "5,000-digit elapsed time",
        "slurm_sacct",
        "sacct-2025-04.txt",
        _sacct_field("ElapsedRaw", "9" * 5000),
    ),
    (
        "CSV field over the csv module's limit",
        "dcgm",
        ".prom",
        lambda d: b'timestamp,"' + b"x" * 200_000 + b'"\n',
    ),
]


@pytest.mark.parametrize(
    ("what", "name", "suffix", "change"),
    REGRESSIONS,
    ids=[f"{name}: {what}" for what, name, _, _ in REGRESSIONS],
)
def test_crashes_found_by_fuzzing_are_parse_errors(what, name, suffix, change):
    seed, key = next(
        (seed, key)
        for seed in seeds()[name]
        for key in sorted(seed.files)
        if key.endswith(suffix) and "/params/" not in key
    )
    files = dict(seed.files)
    files[key] = change(seed.files[key])
    # An odd value the row does not need is tolerated (stringified or ignored).
    tolerated = what in ("TrainerControl not an object", "model_type a number")
    assert check_unit(name, files, seed.key) == ("ok" if tolerated else "parse_error")


# ---------------------------------------------------------------------------
# Numeric extremes: every numeric field of every parser's files set to an extreme; the
# unit parses or is quarantined, and no later command crashes.

EXTREMES: dict[str, Any] = {
    "zero": 0,
    "negative": -1,
    "huge_float": 1e308,
    "nan": float("nan"),
    "huge_int": 10**30,
}


def _set_numbers(value: Any, extreme: Any) -> Any:
    """``value`` (parsed JSON/YAML) with every number replaced by ``extreme``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return extreme
    if isinstance(value, list):
        return [_set_numbers(v, extreme) for v in value]
    if isinstance(value, dict):
        return {k: _set_numbers(v, extreme) for k, v in value.items()}
    return value


def _extreme_text(key: str, data: bytes, extreme: Any) -> bytes | None:
    """The file with its numeric fields (not numbers inside text) set to ``extreme``;
    None for binary files (a gzipped text file is changed inside)."""
    if key.endswith(".gz"):
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError):
            return None
        changed = _extreme_text(key[: -len(".gz")], inner, extreme)
        if changed is None and key.endswith(".json.gz"):
            changed = _extreme_text(key[: -len(".gz")] + "l", inner, extreme)  # JSON lines
        return _gz(changed) if changed is not None else None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if key.endswith((".json", ".jsonl")):
        try:
            if key.endswith(".jsonl"):
                lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                lines = [json.loads(text)]
        except json.JSONDecodeError:
            return None
        dumped = [json.dumps(_set_numbers(v, extreme)) for v in lines]
        return ("\n".join(dumped) + "\n").encode()
    literal = repr(extreme) if isinstance(extreme, float) else str(extreme)
    # CSV cells, sacct's |-separated fields, Prometheus sample values, MLflow metric
    # lines: a number standing alone between separators (not part of a date or a name)
    cell = re.compile(r"(^|[,|\t ])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?=$|[,|\t ])", re.M)
    return cell.sub(lambda m: m[1] + literal, text).encode()


@pytest.mark.parametrize("name", list(PARSERS))
def test_numeric_extremes_never_crash_a_later_command(name, tmp_path):
    from click.testing import CliRunner

    from reconcile.cli import cli

    # the first seed with a text member that has numeric fields
    seed = next(
        (
            candidate
            for candidate in seeds()[name]
            if any((_extreme_text(k, d, 0) or d) != d for k, d in candidate.files.items())
        ),
        seeds()[name][0],
    )
    root = tmp_path / "sources"
    variants = 0
    for label, extreme in EXTREMES.items():
        files = dict(seed.files)
        changed = False
        for key, data in seed.files.items():
            new = _extreme_text(key, data, extreme)
            if new is not None and new != data:
                files[key], changed = new, True
        if not changed:
            continue
        variants += 1
        assert check_unit(name, files, seed.key) in ("ok", "parse_error"), label
        for key, data in files.items():
            path = root / label / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if not variants:
        pytest.skip(f"{name}: no text member with numbers in its first seed")
    config = tmp_path / "reconcile.toml"
    config.write_text((SAMPLE_DATA / "reconcile.toml").read_text())
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    base = ["--db", str(db), "--config", str(config)]
    result = runner.invoke(cli, [*base, "ingest", str(root)])
    assert result.exit_code in (0, 3), result.output
    for args in (["estimate"], ["status"], ["query", "runs", "--format", "json"]):
        result = runner.invoke(cli, [*base, *args])
        assert result.exit_code == 0, (args, result.output)
    result = runner.invoke(cli, [*base, "report", "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
