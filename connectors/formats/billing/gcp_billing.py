"""Google Cloud Billing export (the BigQuery tables ``gcp_billing_export_v1_<ID>`` and
``gcp_billing_export_resource_v1_<ID>``) as files: a ``bq extract``/``EXPORT DATA`` job
writes newline-delimited JSON (optionally gzipped), Parquet, or a flattened CSV with
dotted headers (``usage.amount``) whose repeated fields (labels, credits) are JSON text.

**Units**: files under a path naming the export table (``…gcp_billing_export…``) are
grouped by folder — typically one folder per invoice month — and a folder is reloaded as
a whole when any file in it changes. Re-exports overlap (the same BigQuery rows,
``export_time`` included, extracted again into a newer file): inside a unit of several
files, rows are de-duplicated by their full content, so an invoice month extracted
twice counts once, while GCP's genuinely additive late rows (a new ``export_time``) are
kept. Files elsewhere are recognised by their content, one unit each.

**Lines**: GPUs and TPUs are their own SKUs ("Nvidia H100 80GB GPU running in EMEA",
"Spot Preemptible Nvidia Tesla A100 GPU…", "Commitment v1: Nvidia L4 GPU…") with usage
in seconds: accelerator hours = seconds ÷ 3600 (TPU: chip-hours), matched to the catalog
by name (longest pattern: ``l4`` never ``l40s``). The VM's core and RAM lines carry
the machine type in ``system_labels`` (``compute.googleapis.com/machine_spec`` =
``a3-highgpu-8g``): they get the accelerator too (cost attribution) but no hours.
Commitment SKUs are ``fee`` lines (no hours).

**Credits** (SUD, CUD, promotions…) become their own ``credit`` lines (the usage line's
accelerator, no hours), so sums net out like AWS credits: the usage line's
``cost_billed`` is ``cost``, its ``cost_effective`` is ``cost + Σ credits`` (net), and
the credit lines carry the credit in ``cost_billed`` and 0 in ``cost_effective``.
``cost_type`` tax/adjustment/rounding_error → line types tax/adjustment/rounding.
``account_id`` is the project id (the billing account for account-level charges);
``billing_period`` is the invoice month; ``resource_id`` is ``resource.global_name``;
labels are the tags (repeated keys: the first wins).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.formats.base import Sample, Unit, UnitReader
from connectors.formats.billing.kit import (
    CSV_DIALECT,
    BillingParser,
    DataFile,
    DataKind,
    Prepared,
    data_kind,
    local_files,
    path_list,
    sample_columns,
)
from connectors.formats.billing.sql import (
    ACCEL_KEY,
    ACCEL_QUANTITY,
    MONEY,
    TAG_ENTRIES,
    Columns,
    accel_key,
)
from connectors.formats.duck import sql_string
from connectors.stores.base import ObjectInfo, Store
from reconcile.errors import ParseError

_SCALARS: dict[str, str] = {
    "billing_account_id": "VARCHAR",
    "service.id": "VARCHAR",
    "service.description": "VARCHAR",
    "sku.id": "VARCHAR",
    "sku.description": "VARCHAR",
    "usage_start_time": "TIMESTAMPTZ",
    "usage_end_time": "TIMESTAMPTZ",
    "project.id": "VARCHAR",
    "project.number": "VARCHAR",
    "project.name": "VARCHAR",
    "location.location": "VARCHAR",
    "location.region": "VARCHAR",
    "location.zone": "VARCHAR",
    "resource.name": "VARCHAR",
    "resource.global_name": "VARCHAR",
    "export_time": "TIMESTAMPTZ",
    "cost": MONEY,
    "currency": "VARCHAR",
    "cost_at_list": MONEY,
    "usage.amount": "DOUBLE",
    "usage.unit": "VARCHAR",
    "usage.amount_in_pricing_units": "DOUBLE",
    "usage.pricing_unit": "VARCHAR",
    "invoice.month": "VARCHAR",
    "cost_type": "VARCHAR",
}
_LISTS: dict[str, dict[str, str]] = {
    "labels": {"key": "VARCHAR", "value": "VARCHAR"},
    "system_labels": {"key": "VARCHAR", "value": "VARCHAR"},
    "credits": {
        "name": "VARCHAR",
        "amount": MONEY,
        "full_name": "VARCHAR",
        "id": "VARCHAR",
        "type": "VARCHAR",
    },
}
_CREDITS_TYPE = "STRUCT(" + ", ".join(f"{k} {v}" for k, v in _LISTS["credits"].items()) + ")[]"
_MARKERS = ("billing_account_id", "usage_start_time")
MACHINE_SPEC = "compute.googleapis.com/machine_spec"


def _json_spec() -> dict[str, str]:
    """Explicit column types for ``read_json`` (fields absent from a row read as NULL)."""
    tops: dict[str, dict[str, str]] = {}
    spec: dict[str, str] = {}
    for path, kind in _SCALARS.items():
        if "." in path:
            top, sub = path.split(".", 1)
            tops.setdefault(top, {})[sub] = "VARCHAR" if kind == "TIMESTAMPTZ" else kind
        else:
            spec[path] = "VARCHAR" if kind == "TIMESTAMPTZ" else kind
    for top, fields in tops.items():
        spec[top] = "STRUCT(" + ", ".join(f"{k} {v}" for k, v in fields.items()) + ")"
    for name, fields in _LISTS.items():
        spec[name] = "STRUCT(" + ", ".join(f"{k} {v}" for k, v in fields.items()) + ")[]"
    return spec


def _flatten(has_path: dict[str, set[str] | None]) -> str:
    """A projection of one nested file (alias ``src``) onto dotted, typed columns.

    ``has_path`` holds the dotted scalar paths present (value None) and, for the repeated
    records present, the set of their fields.
    """
    parts = ['lower(hex(hash(src))) AS "_raw_hash"']
    for path, kind in _SCALARS.items():
        if path in has_path:
            expr = "src." + ".".join(f'"{p}"' for p in path.split("."))
            parts.append(f'CAST({expr} AS {kind}) AS "{path}"')
    for name, fields in _LISTS.items():
        present = has_path.get(name)
        if present is None:
            continue
        struct = ", ".join(
            f"'{f}': CAST({'x.' + f if f in present else 'NULL'} AS {kind})"
            for f, kind in fields.items()
        )
        parts.append(f'list_transform(src."{name}", lambda x: {{{struct}}}) AS "{name}"')
    return ", ".join(parts)


def _arrow_paths(schema: pa.Schema) -> dict[str, set[str] | None]:
    """The dotted scalar paths and repeated-record fields of a Parquet schema."""
    found: dict[str, set[str] | None] = {}

    def walk(prefix: str, typ: pa.DataType) -> None:
        if pa.types.is_struct(typ):
            for child in typ:
                walk(f"{prefix}.{child.name}" if prefix else child.name, child.type)
        elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
            item = typ.value_type
            if pa.types.is_struct(item):
                found[prefix] = {child.name for child in item}
        else:
            found[prefix] = None

    for field in schema:
        walk(field.name, field.type)
    return found


def _relation(files: Sequence[DataFile], kind: DataKind) -> str:
    """Every file flattened onto the same dotted columns."""
    if kind == "json":
        spec = ", ".join(f"{sql_string(k)}: {sql_string(v)}" for k, v in _json_spec().items())
        present: dict[str, set[str] | None] = {path: None for path in _SCALARS}
        present.update({name: set(fields) for name, fields in _LISTS.items()})
        return (
            f"SELECT {_flatten(present)} FROM read_json({path_list(files)}, "
            f"format = 'newline_delimited', columns = {{{spec}}}) src"
        )
    if kind == "parquet":
        selects = []
        for data in files:
            try:
                schema = pq.read_schema(data.path)
            except (pa.ArrowException, OSError) as exc:
                raise ParseError(data.uri, f"not a readable Parquet file: {exc}") from exc
            selects.append(
                f"(SELECT {_flatten(_arrow_paths(schema))} "
                f"FROM read_parquet({sql_string(str(data.path))}) src)"
            )
        return " UNION ALL BY NAME ".join(selects)
    return (
        f"SELECT * FROM read_csv({path_list(files)}, header = true, all_varchar = true, "
        f"union_by_name = true, nullstr = [''], {CSV_DIALECT})"
    )


def _entries(columns: Columns, name: str) -> str:
    """A key/value list column (typed, or JSON text in a flattened CSV)."""
    actual = columns.find(name)
    if actual is None:
        return "NULL::STRUCT(key VARCHAR, value VARCHAR)[]"
    if columns.types[actual].endswith("[]"):
        return columns.ref(actual)
    return f"_json_entries({columns.text(actual)})"


def _labels(columns: Columns) -> str:
    """The labels for ``TAG_ENTRIES``: typed entries, or JSON text (flattened CSV)."""
    actual = columns.find("labels")
    if actual is None:
        return "NULL::STRUCT(key VARCHAR, value VARCHAR)[]"
    if columns.types[actual].endswith("[]"):
        return columns.ref(actual)
    return columns.text(actual)


def _credits(columns: Columns) -> str:
    actual = columns.find("credits")
    if actual is None:
        return f"[]::{_CREDITS_TYPE}"
    if columns.types[actual].endswith("[]"):
        return f"coalesce({columns.ref(actual)}, [])"
    text = columns.text(actual)
    # json_transform, unlike a cast, reads a missing field (older exports) as NULL.
    shape = "[{" + ", ".join(f'"{k}": "{v}"' for k, v in _LISTS["credits"].items()) + "}]"
    return (
        f"CASE WHEN {text} IS NULL OR {text} IN ('[]', '{{}}') THEN []::{_CREDITS_TYPE} "
        f"ELSE CAST(json_transform({text}, {sql_string(shape)}) AS {_CREDITS_TYPE}) END"
    )


def gcp_sql(
    columns: Columns, *, source_uri: str, source_format: str, export_kind: str, dedupe: bool
) -> str:
    """The SELECT that turns billing-export rows (relation ``src``) into ``billing_lines``."""
    t, m, n, ts = columns.text, columns.money, columns.number, columns.timestamp
    raw = t("_raw_hash") if columns.has("_raw_hash") else "lower(hex(hash(src)))"
    zero = f"0::{MONEY}"
    deduped = "SELECT DISTINCT ON (raw_hash) * FROM base" if dedupe else "SELECT * FROM base"
    common = f"""
    account_id,
    billing_period,
    usage_start_at,
    usage_end_at,
    service,
    region,
    instance_type,
    sku_id,
    resource_id,
    currency,
    {sql_string(export_kind)} AS export_kind,
    {TAG_ENTRIES},
    raw_hash,
    {sql_string(source_uri)} AS source_uri,
    {sql_string(source_format)} AS source_format,
    {accel_key("sku", "'gcp'", "_sku_description", "instance_type")} AS {ACCEL_KEY}"""
    return f"""
WITH base AS (
    SELECT
        {raw} AS raw_hash,
        coalesce({t("project.id")}, {t("billing_account_id")}) AS account_id,
        {t("service.description")} AS service,
        {t("sku.id")} AS sku_id,
        {t("sku.description")} AS _sku_description,
        {ts("usage_start_time")} AS usage_start_at,
        {ts("usage_end_time")} AS usage_end_at,
        {t("location.region", "location.location")} AS region,
        {t("resource.global_name", "resource.name")} AS resource_id,
        {n("usage.amount")} AS usage_quantity,
        {t("usage.unit")} AS usage_unit,
        {n("usage.amount_in_pricing_units")} AS _pricing_quantity,
        {t("usage.pricing_unit")} AS _pricing_unit,
        {m("cost")} AS _cost,
        upper({t("currency")}) AS currency,
        {m("cost_at_list")} AS cost_list,
        {_credits(columns)} AS _credits,
        {t("invoice.month")} AS _invoice_month,
        lower({t("cost_type")}) AS _cost_type,
        {_labels(columns)} AS _labels,
        {_entries(columns, "system_labels")} AS _system_labels
    FROM src
), deduped AS ({deduped}
), typed AS (
    SELECT *,
        CASE WHEN _cost_type IN ('tax', 'adjustment') THEN _cost_type
             WHEN _cost_type = 'rounding_error' THEN 'rounding'
             WHEN lower(_sku_description) LIKE 'commitment%' THEN 'fee'
             WHEN _cost_type IS NULL OR _cost_type = 'regular' THEN 'usage'
             ELSE _line_type(_cost_type) END AS line_type,
        list_filter(_system_labels, lambda e: e.key = {sql_string(MACHINE_SPEC)})[1].value
            AS instance_type,
        _labels AS {TAG_ENTRIES},
        CASE WHEN regexp_matches(_invoice_month, '^[0-9]{{6}}$')
             THEN substr(_invoice_month, 1, 4) || '-' || substr(_invoice_month, 5, 2)
             ELSE _invoice_month END AS billing_period,
        coalesce(list_sum(list_transform(_credits, lambda c: c.amount)), {zero}) AS _credit_total
    FROM deduped
)
SELECT
    raw_hash AS line_id,
    'gcp' AS provider,
    _sku_description AS usage_type,
    line_type,
    usage_quantity,
    usage_unit,
    _cost AS cost_billed,
    _cost + _credit_total AS cost_effective,
    cost_list,{common},
    CASE WHEN line_type = 'usage'
         THEN CASE WHEN _second_unit(usage_unit) THEN usage_quantity / 3600
                   WHEN _hour_unit(usage_unit) THEN usage_quantity
                   WHEN _hour_unit(_pricing_unit) THEN _pricing_quantity END
         END AS {ACCEL_QUANTITY}
FROM typed
UNION ALL BY NAME
SELECT
    raw_hash || ':credit:' || _credit_index AS line_id,
    'gcp' AS provider,
    coalesce(_credit.type, _credit.name) AS usage_type,
    'credit' AS line_type,
    NULL::DOUBLE AS usage_quantity,
    NULL::VARCHAR AS usage_unit,
    _credit.amount AS cost_billed,
    {zero} AS cost_effective,
    NULL::{MONEY} AS cost_list,{common},
    NULL::DOUBLE AS {ACCEL_QUANTITY}
FROM (SELECT *, unnest(_credits) AS _credit, generate_subscripts(_credits, 1) AS _credit_index
      FROM typed WHERE len(_credits) > 0)
"""


def _export_folder(key: str) -> str | None:
    """The folder of a data file under a path naming the export table."""
    if "gcp_billing_export" in key.lower() and data_kind(key) is not None:
        return posixpath.dirname(key)
    return None


class GcpBillingParser(BillingParser):
    """GCP billing export files → ``billing_lines``, one unit per export folder."""

    name: ClassVar[str] = "gcp_billing"
    version: ClassVar[int] = 1
    sniff_suffixes: ClassVar[tuple[str, ...]] = (
        ".json",
        ".jsonl",
        ".json.gz",
        ".jsonl.gz",
        ".csv",
        ".csv.gz",
        ".parquet",
    )

    def sniff(self, sample: Sample) -> bool:
        """A JSON line, CSV header or Parquet schema with the export's key fields."""
        names = sample_columns(sample)
        if not names:
            line = sample.first_line()
            if line.startswith("{"):
                try:
                    first = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    return False
                names = set(first) if isinstance(first, dict) else set()
        return all(marker in names for marker in _MARKERS) and bool(
            names & {"sku", "sku.description", "sku.id", "cost"}
        )

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Data files under a ``…gcp_billing_export…`` path, grouped by folder."""
        return self.group_units(store, objects, _export_folder, forced=forced)

    def prepare(self, reader: UnitReader, cleanup: list[Path]) -> Prepared:
        """Every data file of the unit, flattened, de-duplicated when several."""
        unit = reader.unit
        files = local_files(reader, unit.members, cleanup)
        path = unit.key.lower()
        uri = unit.uri
        dedupe = len(files) > 1

        def build(columns: Columns) -> str:
            if not all(columns.has(marker) for marker in _MARKERS):
                raise ParseError(
                    uri,
                    "not a GCP billing export: missing billing_account_id/usage_start_time "
                    f"({columns.summary()})",
                )
            if "gcp_billing_export_resource" in path:
                kind = "gcp_detailed"
            elif "gcp_billing_export_v1" in path:
                kind = "gcp_standard"
            else:
                kind = "gcp_detailed" if columns.has("resource.global_name") else "gcp_standard"
            return gcp_sql(
                columns, source_uri=uri, source_format=self.name, export_kind=kind, dedupe=dedupe
            )

        return Prepared(files=files, build_sql=build, relation=_relation)
