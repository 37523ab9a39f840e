"""A documented table of training runs, for platforms without a native parser.

One row per run, in CSV (UTF-8, comma-separated, header row), JSON Lines (one object
per line) or Parquet, with column names taken from ``training_runs`` (see
``COLUMNS`` and docs/formats.md). Every column but ``run_id``/``job_name`` is optional;
an empty cell (or JSON null) is NULL. Tags come from ``tag:<key>`` columns and/or a
``tags`` column holding a JSON object of strings.

Recognised by name (``runs.csv``, ``*.runs.csv``, and the same for ``.jsonl`` and
``.parquet``) or by content: a header (first CSV line, first JSON object, Parquet
schema) naming ``run_id`` or ``job_name``, at least two other known columns, and
more known columns than unknown ones. A claimed table is strict: an unknown column,
a value of the wrong type, a timestamp without a UTC offset or a repeated run id is
a ParseError naming the line (or Parquet row) and column, and nothing of the file
loads.
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pyarrow as pa

from connectors.formats.base import Parser, Sample
from connectors.formats.text import read_text
from connectors.formats.training import kit
from connectors.formats.values import INT64_MAX
from reconcile.errors import ParseError
from reconcile.schemas import TRAINING_RUNS, conform

#: Column name -> kind. ``accelerator`` is a name the catalog knows (nvidia-smi name,
#: catalog key); ``tags`` a JSON object; ``notes`` free text kept in ``attributes``.
COLUMNS: dict[str, str] = {
    "run_id": "text",
    "job_name": "text",
    "platform": "text",
    "external_run_id": "text",
    "parent_run_id": "text",
    "run_status": "text",
    "started_at": "timestamp",
    "ended_at": "timestamp",
    "time_basis": "text",
    "model_id": "text",
    "base_model": "text",
    "method": "text",
    "objective": "text",
    "model_type": "text",
    "params_total": "count",
    "params_trainable": "count",
    "params_active": "count",
    "tokens": "count",
    "tokens_basis": "text",
    "epochs": "number",
    "seq_len": "count",
    "per_device_batch": "count",
    "grad_accum_steps": "count",
    "world_size": "count",
    "global_batch": "count",
    "steps": "count",
    "runtime_seconds": "number",
    "precision": "text",
    "gradient_checkpointing": "flag",
    "instance_type": "text",
    "instance_count": "count",
    "accelerator": "text",
    "accelerator_count": "count",
    "accelerator_hours": "number",
    "reported_flops": "number",
    "reported_flops_basis": "text",
    "tags": "json",
    "notes": "text",
}
TAG_PREFIX = "tag:"
_ID_COLUMNS = ("run_id", "job_name")
_TOKEN_BASES = ("logged", "derived")
_SUFFIXES = (".csv", ".jsonl", ".parquet")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


def _known(name: str) -> bool:
    return name in COLUMNS or (name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX))


def looks_like_run_table(columns: Sequence[str]) -> bool:
    """The content-sniffing rule (see the module docstring)."""
    names = [c.strip() for c in columns]
    if not set(names) & set(_ID_COLUMNS):
        return False
    known = [n for n in names if _known(n)]
    others = [n for n in known if n not in _ID_COLUMNS]
    return len(others) >= 2 and 2 * len(known) > len(names)


class RunTableParser(Parser):
    """A CSV / JSON Lines / Parquet table of runs → one ``training_runs`` row per row."""

    name: ClassVar[str] = "run_table"
    version: ClassVar[int] = 1
    table: ClassVar[str] = "training_runs"
    schema: ClassVar[pa.Schema] = TRAINING_RUNS
    patterns: ClassVar[tuple[str, ...]] = (
        "runs.csv",
        "*.runs.csv",
        "runs.jsonl",
        "*.runs.jsonl",
        "runs.parquet",
        "*.runs.parquet",
    )
    sniff_suffixes: ClassVar[tuple[str, ...]] = _SUFFIXES
    #: A table the team keeps: first for the model id it declares.
    priority: ClassVar[Mapping[str, int]] = {
        "identity": 2,
        "hardware": 2,
        "training": 4,
        "model": 2,
        "model_id": 1,
    }

    def claims_forced(self, key: str) -> bool:
        """With ``--format run_table``: every CSV, JSONL and Parquet object."""
        return key.lower().endswith(_SUFFIXES)

    def sniff(self, sample: Sample) -> bool:
        """A header naming ``run_id``/``job_name`` and mostly known columns."""
        key = sample.key.lower()
        if key.endswith(".parquet"):
            schema = sample.parquet_schema()
            return schema is not None and looks_like_run_table(schema.names)
        first = sample.first_line()
        if key.endswith(".jsonl"):
            try:
                record = json.loads(first)
            except (json.JSONDecodeError, RecursionError):
                return False
            return isinstance(record, dict) and looks_like_run_table(list(record))
        try:
            header = next(csv.reader([first]))
        except (csv.Error, StopIteration):
            return False
        return looks_like_run_table(header)

    def parse(self, data: bytes, *, source: str) -> pa.Table:
        """Parse one table; every row becomes one run."""
        kind = _kind(source, data)
        if kind == "parquet":
            records = _parquet_records(data, source)
        else:
            if not data.strip():
                raise ParseError(source, "empty file")
            text = read_text(data, source)  # no enormous line, UTF-8
            records = (
                _jsonl_records(text, source) if kind == "jsonl" else _csv_records(text, source)
            )
        rows: list[dict[str, Any]] = []
        seen: dict[str, str] = {}
        for where, record in records:
            row = _row(record, source, where)
            if row["run_id"] in seen:
                raise ParseError(
                    source, f"run {row['run_id']!r} repeats {seen[row['run_id']]}", where
                )
            seen[row["run_id"]] = where
            row["source_uri"] = source
            row["source_format"] = self.name
            rows.append(row)
        return conform(rows, self.schema)


def _kind(source: str, data: bytes) -> str:
    if data[:4] == b"PAR1":
        return "parquet"
    name = posixpath.basename(source).lower()
    if name.endswith(".jsonl"):
        return "jsonl"
    return "csv"


def _check_header(names: Sequence[str], source: str, where: str) -> None:
    known = ", ".join([*COLUMNS, "tag:<key>"])
    for name in names:
        if not _known(name):
            raise ParseError(source, f"unknown column {name!r} (known: {known})", where)
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if list(names).count(n) > 1)
        raise ParseError(source, f"column {duplicate!r} appears twice", where)
    if not set(names) & set(_ID_COLUMNS):
        raise ParseError(source, "the table needs a run_id or job_name column", where)


def _csv_records(text: str, source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise ParseError(source, f"unreadable CSV header: {exc}", "line 1") from exc
    _check_header(header, source, "line 1")
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ParseError(source, f"malformed CSV: {exc}", f"line {reader.line_num}") from exc
        if not any(field.strip() for field in fields):
            continue
        where = f"line {reader.line_num}"
        if len(fields) != len(header):
            raise ParseError(
                source, f"{len(fields)} fields where the header has {len(header)}", where
            )
        yield (
            where,
            {name: (value.strip() or None) for name, value in zip(header, fields, strict=True)},
        )


def _jsonl_records(text: str, source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(source, f"invalid JSON: {exc.msg}", where) from exc
        except RecursionError:
            raise ParseError(source, "invalid JSON: nested too deeply", where) from None
        if not isinstance(record, dict):
            raise ParseError(source, "each line should be a JSON object", where)
        _check_header(list(record), source, where)
        yield where, record


def _parquet_records(data: bytes, source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise ParseError(source, f"unreadable Parquet file: {exc}") from exc
    _check_header(table.column_names, source, "schema")
    try:
        records = table.to_pylist()
    except UnicodeDecodeError as exc:  # a string column holding bytes that are not UTF-8
        raise ParseError(source, f"text that is not UTF-8 ({exc.reason})") from None
    for index, record in enumerate(records, start=1):
        yield f"row {index}", record


def _value(kind: str, value: Any, source: str, where: str) -> Any:
    """``value`` converted to ``kind``; None for empty. Raises ParseError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None

    def fail(expected: str) -> ParseError:
        return ParseError(source, f"expected {expected}, got {value!r}", where)

    if kind == "text":
        if isinstance(value, (dict, list)):
            raise fail("text")
        return str(value).strip()
    if kind in ("count", "number"):
        if isinstance(value, bool):
            raise fail("a number")
        if isinstance(value, str):
            try:
                value = float(value.replace("_", ""))
            except ValueError:
                raise fail("a number") from None
        if isinstance(value, int) and value.bit_length() > 1023:  # beyond any float
            raise fail("a finite number")
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise fail("a non-negative number")
        if kind == "count":
            if value != int(value):
                raise fail("a whole number")
            if value > INT64_MAX:
                raise fail("a number that fits 64 bits")
            return int(value)
        return float(value)
    if kind == "flag":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise fail("true or false")
    if kind == "timestamp":
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise fail("an ISO-8601 timestamp") from None
        else:
            raise fail("an ISO-8601 timestamp")
        if parsed.tzinfo is None:
            raise ParseError(
                source,
                f"timestamp {value!s} has no UTC offset (write e.g. 2025-04-22T07:12:40Z)",
                where,
            )
        return parsed.astimezone(UTC)
    if kind == "json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (json.JSONDecodeError, RecursionError):
                raise fail("a JSON object of tags") from None
        if not isinstance(value, Mapping) or not all(
            isinstance(v, (str, int, float, bool)) for v in value.values()
        ):
            raise fail("a JSON object of tags")
        return {str(k): str(v) for k, v in value.items()}
    raise AssertionError(kind)


def _row(record: Mapping[str, Any], source: str, where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for name, raw in record.items():
        location = f"{where}, column {name}"
        if name.startswith(TAG_PREFIX):
            tag = _value("text", raw, source, location)
            if tag is not None:
                tags[name[len(TAG_PREFIX) :]] = tag
            continue
        values[name] = _value(COLUMNS[name], raw, source, location)
    tags.update(values.pop("tags", None) or {})
    if not values.get("run_id") and not values.get("job_name"):
        raise ParseError(source, "a row needs a run_id or a job_name", where)
    attributes: dict[str, Any] = {"table_row": where}
    notes = values.pop("notes", None)
    if notes:
        attributes["notes"] = notes
    hours = values.pop("accelerator_hours", None)
    if hours is not None:
        if hours < 0:
            raise ParseError(source, f"accelerator_hours is negative ({hours})", where)
        # device time as papers and cards state it ("23,000 A100-hours"): all devices
        attributes["accelerator_hours"] = hours
    basis = values.get("tokens_basis")
    if basis is not None and basis not in _TOKEN_BASES:
        raise ParseError(
            source,
            f"tokens_basis should be one of {', '.join(_TOKEN_BASES)}, got {basis!r}",
            f"{where}, column tokens_basis",
        )
    if values.get("tokens") is not None and basis is None:
        values["tokens_basis"] = "logged"
    base = values.pop("base_model", None)
    if base is not None:
        values["base_model"], values["base_model_basis"] = kit.base_model(
            [(base, "run_table")], attributes
        )
    accelerator_name = values.pop("accelerator", None)
    accelerator = kit.accelerator_key(accelerator_name)
    if accelerator_name and accelerator is None:
        attributes["accelerator_raw"] = accelerator_name
    match = kit.accelerator_match(accelerator_name)
    if match is not None and match.count and values.get("accelerator_count") is None:
        # "8x A100", "2 x p4d.24xlarge": the count written in the name
        values["accelerator_count"] = match.count
        attributes["accelerator_count_basis"] = "written in the accelerator name"
    if accelerator is None and values.get("instance_type"):
        accelerator, _ = kit.instance_hardware(values["instance_type"])
    values["accelerator"] = accelerator
    if any(values.get(c) is not None for c in ("params_total", "params_trainable")):
        values["params_basis"] = "run_table"
    if values.get("reported_flops") is not None and not values.get("reported_flops_basis"):
        values["reported_flops_basis"] = "run_table"
    for name in ("method", "objective", "platform", "precision"):
        if values.get(name):
            values[name] = values[name].lower()
    batch: list[int] = [
        values[c] for c in ("per_device_batch", "grad_accum_steps", "world_size") if values.get(c)
    ]
    if values.get("global_batch") is None and len(batch) == 3:
        values["global_batch"] = batch[0] * batch[1] * batch[2]
        attributes["global_batch_basis"] = "per_device_batch × grad_accum_steps × world_size"
    if not values.get("time_basis") and (values.get("started_at") or values.get("ended_at")):
        values["time_basis"] = "declared"
    values["run_id"] = values.get("run_id") or f"table:{values['job_name']}"
    values["tags"] = sorted(tags.items()) or None
    values["attributes"] = json.dumps(attributes, sort_keys=True)
    kit.check_row(values, source, where)
    return values
