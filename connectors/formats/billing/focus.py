"""FinOps FOCUS 1.0, 1.1 and 1.2 cost exports (any provider; CSV or Parquet).

Columns used: ProviderName, BillingAccountId, SubAccountId, BillingPeriodStart,
ChargePeriodStart/End, ChargeCategory, CommitmentDiscountStatus, ServiceName, RegionId,
SkuId, ResourceId, ConsumedQuantity/Unit (PricingQuantity/Unit when absent), BilledCost,
EffectiveCost, ListCost, BillingCurrency, Tags, and the vendor columns that name the
hardware: AWS ``x_UsageType`` (``USW2-BoxUsage:p5.48xlarge``), Microsoft
``x_SkuDetails`` (``{"ServiceType": "Standard_ND96isr_H100_v5"}``) or the meter name,
Google's ``ChargeDescription`` (the SKU description, "Nvidia H100 80GB GPU running in
EMEA"). Version-specific columns are optional, so 1.0, 1.1 and 1.2 files (and files of
different versions in one delivery) read alike.

Quirks of real exports handled here: literal ``NULL`` cells, enum values in mixed case
(``Usage-Based``/``Usage-based``), tag keys with stray spaces, negative corrections
(ChargeClass ``Correction``; kept as they are, never rejected), hourly and daily charge
periods in one file, ``SubAccountId`` given as an Azure ARM path.

FOCUS files found on their own (recognised by their header or Parquet schema) are one
unit each: a re-delivered period should overwrite its file. FOCUS exports delivered in
AWS Data Exports or Azure export layouts are read by ``aws_cur``/``azure_cost``, which
group them by billing period and follow their manifests.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import ClassVar

from connectors.formats.base import Sample, UnitReader
from connectors.formats.billing.kit import (
    BillingParser,
    Prepared,
    data_kind,
    local_files,
    sample_columns,
)
from connectors.formats.billing.sql import (
    ACCEL_KEY,
    ACCEL_QUANTITY,
    TAG_ENTRIES,
    Columns,
    accel_key,
)
from connectors.formats.duck import sql_string
from reconcile.errors import ParseError

#: Columns whose presence marks a FOCUS file.
REQUIRED = ("BilledCost", "ChargePeriodStart", "ChargeCategory")
#: Regular expression for an EC2/SageMaker instance type at the end of a usage type.
AWS_INSTANCE_RE = r":((?:ml\.)?[a-z][a-z0-9-]*\.[a-z0-9]+)(?:-[A-Za-z]+)?$"


def is_focus(columns: Columns) -> bool:
    """Whether the columns are a FOCUS export's."""
    return all(columns.has(name) for name in REQUIRED)


def focus_version(columns: Columns) -> str:
    """The FOCUS version the columns match (1.2, 1.1 or 1.0)."""
    if columns.has("InvoiceId", "PricingCurrency", "BillingAccountType"):
        return "1.2"
    if columns.has("ServiceSubcategory", "SkuMeter", "CapacityReservationId"):
        return "1.1"
    return "1.0"


def provider_sql(low: str) -> str:
    """The provider code (aws, azure, gcp, oci, or the name in snake_case) from the
    lower-cased ``ProviderName``.
    """
    return (
        f"CASE WHEN {low} IS NULL THEN 'unknown' "
        f"WHEN {low} IN ('aws', 'amazon web services') OR {low} LIKE 'amazon%' THEN 'aws' "
        f"WHEN {low} LIKE '%microsoft%' OR {low} LIKE '%azure%' THEN 'azure' "
        f"WHEN {low} LIKE '%google%' OR {low} = 'gcp' THEN 'gcp' "
        f"WHEN {low} LIKE '%oracle%' OR {low} = 'oci' THEN 'oci' "
        f"ELSE regexp_replace({low}, '[^a-z0-9]+', '_', 'g') END"
    )


def azure_size_from_meter(meter: str) -> str:
    """An Azure VM size from a meter name: ``ND96isr H100 v5 Spot`` →
    ``Standard_ND96isr_H100_v5`` (Azure ML compute rows name the size only there).
    """
    return (
        f"CASE WHEN regexp_matches({meter}, '^[A-Z]{{1,3}}[0-9]+[A-Za-z]* ') "
        f"THEN 'Standard_' || replace(regexp_replace(trim({meter}), "
        "'\\s+(Spot|Low Priority)$', ''), ' ', '_') END"
    )


def tag_entries_sql(columns: Columns, name: str) -> str:
    """A tags column for ``TAG_ENTRIES``: key/value entries of a MAP, or the JSON text
    (possibly without its braces), which ``BatchFinisher`` parses once per distinct value.
    """
    actual = columns.find(name)
    if actual is None:
        return "NULL::STRUCT(key VARCHAR, value VARCHAR)[]"
    if columns.types[actual].startswith("MAP"):
        return f"map_entries({columns.ref(actual)})"
    return columns.text(actual)  # JSON text, parsed per distinct value in Arrow


def focus_sql(
    columns: Columns, *, source_uri: str, source_format: str, constants_in_sql: bool = True
) -> str:
    """The SELECT that turns FOCUS rows (relation ``src``) into ``billing_lines`` rows.

    With ``constants_in_sql=False`` the columns that hold one text for the whole unit
    (``export_kind``, ``source_uri``, ``source_format``: see ``focus_constants``) and
    ``line_id`` (the same value as ``raw_hash``) are left out, for ``BatchFinisher`` to
    add in Arrow: DuckDB would otherwise export them row by row.
    """
    t, m, n, ts = columns.text, columns.money, columns.number, columns.timestamp
    details = t("x_SkuDetails")
    meter = t("x_SkuMeterName", "SkuMeter", "x_SkuMeterSubcategory")
    consumed = columns.has("ConsumedQuantity")
    quantity = n("ConsumedQuantity", "PricingQuantity") if consumed else n("PricingQuantity")
    unit = t("ConsumedUnit", "PricingUnit") if consumed else t("PricingUnit")
    constant_columns = (
        "".join(
            f"{sql_string(value)} AS {name},\n    "
            for name, value in focus_constants(source_uri, source_format).items()
        )
        if constants_in_sql
        else ""
    )
    return f"""
WITH base AS (
    SELECT
        lower({t("ProviderName", "ServiceProviderName", "PublisherName")}) AS _provider_name,
        lower({t("ChargeCategory")}) AS _category,
        lower({t("CommitmentDiscountStatus")}) AS _commitment_status,
        regexp_replace({t("SubAccountId")}, '^/subscriptions/', '', 'i') AS _sub_account,
        {t("BillingAccountId")} AS _billing_account,
        {ts("BillingPeriodStart")} AS _billing_period_start,
        {ts("ChargePeriodStart")} AS usage_start_at,
        {ts("ChargePeriodEnd")} AS usage_end_at,
        {t("ServiceName")} AS service,
        {t("x_UsageType", "SkuMeter", "x_SkuMeterName", "ChargeDescription")} AS usage_type,
        {t("x_UsageType")} AS _aws_usage_type,
        CASE WHEN json_valid({details}) THEN json_extract_string({details}, '$.ServiceType')
             END AS _azure_size,
        {meter} AS _meter,
        {t("ChargeDescription", "x_SkuDescription")} AS _description,
        {t("RegionId", "Region", "RegionName")} AS region,
        {t("SkuId")} AS sku_id,
        {t("ResourceId")} AS resource_id,
        {quantity} AS usage_quantity,
        {unit} AS usage_unit,
        {m("BilledCost")} AS cost_billed,
        {m("EffectiveCost")} AS cost_effective,
        {m("ListCost")} AS cost_list,
        upper({t("BillingCurrency")}) AS currency,
        {tag_entries_sql(columns, "Tags")} AS {TAG_ENTRIES},
        lower(hex(hash(src))) AS raw_hash
    FROM src
), named AS (
    SELECT *, {provider_sql("_provider_name")} AS provider FROM base
), typed AS (
    SELECT *,
        CASE WHEN _category = 'usage' AND _commitment_status = 'unused' THEN 'unused_commitment'
             ELSE _line_type(_category) END AS line_type,
        CASE provider
            WHEN 'aws'
                THEN nullif(regexp_extract(_aws_usage_type, {sql_string(AWS_INSTANCE_RE)}, 1), '')
            WHEN 'azure' THEN coalesce(_azure_size, {azure_size_from_meter("_meter")})
        END AS instance_type
    FROM named
)
SELECT
    {"raw_hash AS line_id," if constants_in_sql else ""}
    provider,
    coalesce(_sub_account, _billing_account) AS account_id,
    strftime(_billing_period_start, '%Y-%m') AS billing_period,
    usage_start_at,
    usage_end_at,
    service,
    usage_type,
    line_type,
    region,
    instance_type,
    sku_id,
    resource_id,
    usage_quantity,
    usage_unit,
    cost_billed,
    cost_effective,
    cost_list,
    currency,
    {TAG_ENTRIES},
    raw_hash,
    {constant_columns}
    CASE WHEN provider IN ('aws', 'azure')
         THEN {accel_key("instance", "provider", "instance_type")}
         ELSE {accel_key("sku", "provider", "_description")} END AS {ACCEL_KEY},
    CASE WHEN line_type IN ('usage', 'reservation_usage', 'savings_plan_usage')
         THEN CASE WHEN _hour_unit(usage_unit) THEN usage_quantity
                   WHEN _second_unit(usage_unit) THEN usage_quantity / 3600 END
         END AS {ACCEL_QUANTITY}
FROM typed
"""


def focus_constants(source_uri: str, source_format: str) -> dict[str, str]:
    """The canonical columns of FOCUS rows that hold one text for the whole unit."""
    return {"export_kind": "focus", "source_uri": source_uri, "source_format": source_format}


#: Canonical columns equal to another one: the line id of a FOCUS row is its raw hash.
FOCUS_COPIES = {"line_id": "raw_hash"}
#: Cells that mean NULL in FOCUS CSV: empty, and ``NULL`` as exports and the FOCUS sample
#: data write it, ``null`` as the specification's own examples do (any of these cases).
FOCUS_NULLS = ("", "NULL", "null", "Null")


class FocusParser(BillingParser):
    """FOCUS cost exports found on their own → ``billing_lines`` (one unit per file)."""

    name: ClassVar[str] = "focus"
    version: ClassVar[int] = 1
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".csv", ".csv.gz", ".parquet")

    def sniff(self, sample: Sample) -> bool:
        """A CSV header or Parquet schema with FOCUS's required columns."""
        names = {n.strip() for n in sample_columns(sample)}
        return all(name in names for name in REQUIRED)

    def claims(self, key: str) -> bool:
        """A file named like a FOCUS export (``*focus*.csv``…), one unit each; with
        ``--format focus`` every data file is one. Others are left for content sniffing.
        """
        name = posixpath.basename(key).lower()
        return "focus" in name and data_kind(key) in ("csv", "parquet")

    def prepare(self, reader: UnitReader, cleanup: list[Path]) -> Prepared:
        """Every member file, read as FOCUS."""
        files = local_files(reader, reader.unit.members, cleanup)
        uri = reader.unit.uri

        def build(columns: Columns) -> str:
            require_focus(columns, uri)
            return focus_sql(
                columns, source_uri=uri, source_format=self.name, constants_in_sql=False
            )

        return Prepared(
            files=files,
            build_sql=build,
            null_tokens=FOCUS_NULLS,
            constants=focus_constants(uri, self.name),
            copies=FOCUS_COPIES,
        )


def require_focus(columns: Columns, uri: str) -> None:
    """Raise ParseError unless the columns are a FOCUS export's."""
    missing = [name for name in REQUIRED if not columns.has(name)]
    if missing:
        raise ParseError(
            uri,
            f"not a FOCUS export: missing column(s) {', '.join(missing)} ({columns.summary()})",
        )
