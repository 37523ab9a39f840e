"""Azure Cost Management exports: cost details of EA and MCA accounts (CSV, gzip CSV or
Parquet), the improved exports with a ``manifest.json`` per run, the older exports
without one, and the 2019 pay-as-you-go usage schema (``UsageDateTime``,
``PreTaxCost``, ``SubscriptionGuid``).

**Units**: ``<root>/<exportName>/<YYYYMMDD-YYYYMMDD>`` — one export's date range. Each
run of an improved export writes ``<runId>/manifest.json`` and ``part_*`` files holding
the whole range (daily month-to-date exports re-deliver it every day, the previous month
too in the first days): only the blobs of the newest run's manifest (by
``runInfo.submittedTime``) are read. Older exports write one
``<exportName>_<guid>.csv`` per run into the range folder: only the newest file is
read. Every run stays a member of the unit (its fingerprint changes when a run
arrives; unchanged ranges are skipped from the listing alone) but older runs are never
read. CSV/Parquet files elsewhere are recognised by their header.

**Actual and amortized cost are never mixed**: the manifest's ``exportConfig.type``
(else ``[formats.azure_cost] dataset``, else "amortized" in the path) says which one a
file is, recorded in ``export_kind`` (``azure_actual``/``azure_amortized``/``azure_usage``).
Actual: ``cost_billed`` = the cost; ``cost_effective`` = the cost on pay-as-you-go and
Spot usage, NULL where only the amortized dataset knows it (reservation and savings-plan
usage, purchases). Amortized: ``cost_effective`` = the cost; ``cost_billed`` = the cost
on pay-as-you-go usage, 0 on commitment-covered and unused-commitment lines, NULL on
purchases. Queries take billed figures from the actual dataset and effective ones from
the amortized dataset when both are present. A ``FocusCost`` export is read as FOCUS.

**Columns** (header casing varies across schemas; matched case-insensitively):
``Date`` is ``MM/DD/YYYY`` in EA files (``YYYY-MM-DD`` in MCA ones), read as a UTC day;
``Tags`` may lack the outer braces; ``AdditionalInfo`` is JSON whose ``ServiceType`` is
the VM size (numbers may be strings); ``UnitOfMeasure`` carries a multiplier (``10
Hours``, ``100 Hours``, ``10K``): ``usage_quantity`` is the quantity times it, in the
base unit. Spot meters end in `` Spot``. Azure ML compute rows name the workspace as
``ResourceId`` and the VM size only in the meter (``ND96isr H100 v5`` →
``Standard_ND96isr_H100_v5``). Accelerator hours = VM hours × GPUs per size.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from connectors.formats.base import Sample, Unit, UnitReader
from connectors.formats.billing.focus import azure_size_from_meter, focus_sql, is_focus
from connectors.formats.billing.kit import (
    BillingParser,
    Prepared,
    data_kind,
    local_files,
    newest,
    newest_delivery,
    read_manifest,
    resolve_listed,
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
from reconcile.errors import ConfigError, ParseError

_RANGE = re.compile(
    r"^(?:(?P<root>.*)/)?(?P<range>(?P<y>\d{4})(?P<m>\d{2})\d{2}-\d{8})/(?P<rest>.+)$"
)
_LEGACY_FILE = re.compile(
    r"^[^/]+_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.csv(\.gz)?$", re.I
)
MANIFEST = "manifest.json"
_DATASETS = {
    "actualcost": "azure_actual",
    "actual": "azure_actual",
    "amortizedcost": "azure_amortized",
    "amortized": "azure_amortized",
    "usage": "azure_usage",
    "focuscost": "focus",
}
_DATE_FORMATS = [
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
]


def _is_manifest(key: str) -> bool:
    return posixpath.basename(key).lower() == MANIFEST


def _range_folder(key: str) -> str | None:
    """The date-range folder of a manifest or a CSV/Parquet file under one."""
    match = _RANGE.match(key)
    if match is None or not (_is_manifest(key) or data_kind(key) in ("csv", "parquet")):
        return None
    return (f"{match['root']}/" if match["root"] else "") + match["range"]


def _is_export(folder: str, members: Sequence[ObjectInfo]) -> bool:
    """Whether a date-range folder is an export's: a ``manifest.json`` under it, or an
    ``<export>_<guid>.csv`` file directly in it."""
    return any(
        _is_manifest(m.key)
        or (posixpath.dirname(m.key) == folder and _LEGACY_FILE.match(posixpath.basename(m.key)))
        for m in members
    )


class AzureCostParser(BillingParser):
    """Azure cost-details exports → ``billing_lines``, one unit per export date range."""

    name: ClassVar[str] = "azure_cost"
    version: ClassVar[int] = 1
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".csv", ".csv.gz", ".parquet")
    OPTIONS: ClassVar[tuple[str, ...]] = ("stream_threshold_mb", "dataset")

    def check_options(self) -> None:
        """``dataset``: ``auto`` (default), ``actual``, ``amortized`` or ``usage`` — what
        files without a manifest hold.

        Raises:
            ConfigError: an unknown key or value.
        """
        super().check_options()
        value = self.options.get("dataset", "auto")
        if value not in ("auto", "actual", "amortized", "usage"):
            raise ConfigError(
                f"'formats.{self.name}.dataset' must be auto, actual, amortized or usage, "
                f"got {value!r}"
            )

    def sniff(self, sample: Sample) -> bool:
        """A cost-details header: a meter category and a cost column."""
        names = {n.lower() for n in sample_columns(sample)}
        return "metercategory" in names and bool(
            names & {"costinbillingcurrency", "cost", "pretaxcost"}
        )

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Group each export's date-range folder (with a ``manifest.json`` somewhere
        under it, or ``<export>_<guid>.csv`` files directly in it).
        """
        return self.group_units(store, objects, _range_folder, forced=forced, keep=_is_export)

    def prepare(self, reader: UnitReader, cleanup: list[Path]) -> Prepared:
        """The newest run's blobs (or newest legacy file), and the SQL for its dataset."""
        unit = reader.unit
        manifests = [m for m in unit.members if _is_manifest(m.key)]
        data = [m for m in unit.members if not _is_manifest(m.key)]
        dataset: str | None = None
        period_hint = None
        match = _RANGE.match(unit.members[0].key)
        if match is not None:
            period_hint = f"{match['y']}-{match['m']}"
        if manifests:
            contents = [(m, read_manifest(reader, m)) for m in manifests]
            manifest, content = max(
                contents, key=lambda mc: (_submitted(mc[1]), mc[0].modified_at, mc[0].key)
            )
            uri = reader.uri(manifest.key)
            blobs = content.get("blobs")
            if not isinstance(blobs, list) or not all(
                isinstance(b, dict) and isinstance(b.get("blobName"), str) for b in blobs
            ):
                raise ParseError(uri, "manifest 'blobs' is not a list of {blobName: ...}")
            run_folder = posixpath.dirname(manifest.key)
            in_run = [m for m in data if posixpath.dirname(m.key) == run_folder] or data
            chosen = resolve_listed(reader, manifest, [b["blobName"] for b in blobs], in_run)
            config = content.get("exportConfig")
            if isinstance(config, dict) and isinstance(config.get("type"), str):
                dataset = _DATASETS.get(config["type"].replace(" ", "").lower())
        elif data and all(posixpath.dirname(m.key) == unit.key for m in data):
            chosen = [newest(data)]  # each legacy run is one full-range file
        else:
            chosen = newest_delivery(data)
        if dataset is None:
            dataset = self._dataset_from(unit.key)
        files = local_files(reader, chosen, cleanup)
        source = unit.uri

        def build(columns: Columns) -> str:
            if is_focus(columns):
                return focus_sql(columns, source_uri=source, source_format=self.name)
            if not columns.has("MeterCategory", "MeterName", "metername"):
                raise ParseError(
                    source,
                    f"not an Azure cost-details export: no meter columns ({columns.summary()})",
                )
            kind = dataset
            if kind is None:
                kind = "azure_usage" if columns.has("PreTaxCost") else "azure_actual"
            return azure_sql(
                columns,
                source_uri=source,
                source_format=self.name,
                export_kind=kind,
                period_hint=period_hint,
            )

        return Prepared(files=files, build_sql=build, dedupe_files=not manifests)

    def _dataset_from(self, key: str) -> str | None:
        option = self.options.get("dataset", "auto")
        if option != "auto":
            return _DATASETS[str(option)]
        if "amortized" in key.lower():
            return "azure_amortized"
        return None


def _submitted(content: dict[str, Any]) -> str:
    run = content.get("runInfo")
    if isinstance(run, dict) and isinstance(run.get("submittedTime"), str):
        return str(run["submittedTime"])
    return ""


def _date(text: str) -> str:
    """A date/time text in any of the exports' formats as TIMESTAMPTZ (UTC); a value in
    none of them stops the load (never silently NULL).
    """
    formats = "[" + ", ".join(sql_string(f) for f in _DATE_FORMATS) + "]"
    parsed = f"CAST(try_strptime({text}, {formats}) AS TIMESTAMPTZ)"
    return (
        f"CASE WHEN {text} IS NULL THEN NULL::TIMESTAMPTZ "
        f"WHEN {parsed} IS NULL THEN error('unrecognised date ' || {text}) "
        f"ELSE {parsed} END"
    )


def azure_sql(
    columns: Columns,
    *,
    source_uri: str,
    source_format: str,
    export_kind: str,
    period_hint: str | None,
) -> str:
    """The SELECT that turns cost-details rows (relation ``src``) into ``billing_lines``."""
    t, m, n = columns.text, columns.money, columns.number
    details = t("AdditionalInfo")
    quantity = n("Quantity", "UsageQuantity", "ConsumedQuantity")
    uom = t("UnitOfMeasure", "UnitOfMeasureDisplay")
    price = columns.number("PayGPrice")
    payg_cost = columns.money("PayGCostInBillingCurrency", "PaygCostInBillingCurrency")
    hint = sql_string(period_hint) if period_hint else "NULL::VARCHAR"
    if export_kind == "azure_amortized":
        # Amortized data spreads purchases over the usage they cover: it says what the
        # usage effectively cost, never what was billed (a subscription seen only in
        # amortized data has no billed figure, rather than a wrong one).
        billed = f"NULL::{MONEY}"
        effective = "_cost"
    elif export_kind == "azure_actual":
        billed = "_cost"
        effective = """CASE WHEN line_type IN ('usage', 'tax', 'rounding') THEN _cost END"""
    else:
        billed = effective = "_cost"
    return f"""
WITH base AS (
    SELECT
        {_date(t("Date", "UsageDateTime", "UsageDate", "date"))} AS usage_start_at,
        {_date(t("BillingPeriodStartDate", "billingPeriodStartDate"))} AS _period_start,
        {t("SubscriptionId", "SubscriptionGuid", "SubAccountId")} AS account_id,
        {t("MeterCategory")} AS service,
        {t("MeterName", "Meter")} AS usage_type,
        {t("ConsumedService")} AS _consumed_service,
        {t("ChargeType")} AS _charge_type,
        lower({t("PricingModel")}) AS _pricing_model,
        {t("ResourceLocation", "MeterRegion", "Location")} AS region,
        CASE WHEN json_valid({details}) THEN json_extract_string({details}, '$.ServiceType')
             END AS _service_type,
        {t("MeterId")} AS sku_id,
        {t("ResourceId", "InstanceId", "InstanceName")} AS resource_id,
        {quantity} AS _quantity,
        {uom} AS _uom,
        {m("CostInBillingCurrency", "Cost", "PreTaxCost")} AS _cost,
        coalesce({payg_cost}, CAST({price} * {quantity} AS {MONEY})) AS cost_list,
        upper({t("BillingCurrency", "BillingCurrencyCode", "Currency")}) AS currency,
        {t("Tags")} AS {TAG_ENTRIES},
        lower(hex(hash(src))) AS raw_hash
    FROM src
), typed AS (
    SELECT *,
        CASE WHEN _charge_type IS NULL OR lower(_charge_type) = 'usage' THEN
                  CASE _pricing_model WHEN 'reservation' THEN 'reservation_usage'
                                      WHEN 'savingsplan' THEN 'savings_plan_usage'
                                      WHEN 'savings plan' THEN 'savings_plan_usage'
                                      ELSE 'usage' END
             ELSE _line_type(_charge_type) END AS line_type,
        coalesce(CAST(nullif(regexp_extract(_uom, '^\\s*([0-9]+(?:\\.[0-9]+)?)', 1), '')
                      AS DOUBLE), 1)
            * CASE upper(regexp_extract(_uom, '^\\s*[0-9.]+\\s*([KkMm])\\b', 1))
                  WHEN 'K' THEN 1000 WHEN 'M' THEN 1000000 ELSE 1 END AS _multiplier,
        nullif(regexp_replace(regexp_replace(_uom, '^\\s*[0-9.]+\\s*([KkMm]\\b)?\\s*', ''),
                              '^/', ''), '') AS usage_unit,
        coalesce(_service_type,
                 CASE WHEN lower(service) = 'virtual machines'
                           OR lower(_consumed_service) LIKE '%machinelearning%'
                      THEN {azure_size_from_meter("usage_type")} END) AS instance_type
    FROM base
), priced AS (
    SELECT *, _quantity * _multiplier AS usage_quantity FROM typed
)
SELECT
    raw_hash AS line_id,
    'azure' AS provider,
    account_id,
    coalesce(strftime(_period_start, '%Y-%m'), strftime(usage_start_at, '%Y-%m'), {hint})
        AS billing_period,
    usage_start_at,
    usage_start_at + INTERVAL 1 DAY AS usage_end_at,
    service,
    usage_type,
    line_type,
    region,
    instance_type,
    sku_id,
    resource_id,
    usage_quantity,
    usage_unit,
    {billed} AS cost_billed,
    {effective} AS cost_effective,
    cost_list,
    currency,
    {sql_string(export_kind)} AS export_kind,
    {TAG_ENTRIES},
    raw_hash,
    {sql_string(source_uri)} AS source_uri,
    {sql_string(source_format)} AS source_format,
    {accel_key("instance", "'azure'", "instance_type")} AS {ACCEL_KEY},
    CASE WHEN line_type IN ('usage', 'reservation_usage', 'savings_plan_usage')
              AND _hour_unit(usage_unit)
         THEN usage_quantity END AS {ACCEL_QUANTITY}
FROM priced
"""
