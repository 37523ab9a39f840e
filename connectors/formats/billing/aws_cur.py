"""AWS Cost and Usage Reports: legacy CUR (1.0: CSV gz/zip with ``lineItem/UsageType``
headers, or Parquet in the Athena layout) and CUR 2.0 / Data Exports (Parquet or CSV,
MAP columns ``resource_tags`` and ``product``), delivered to S3 with manifests.

**The unit is one billing period of one report/export**, keyed by a stable folder:

- CUR 2.0 / Data Exports: ``<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM`` (data) with
  ``<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``; with
  "create new report" each refresh adds a folder of files, and the manifest's
  ``dataFiles`` names the current ones.
- Legacy CUR: ``<prefix>/<report>/<yyyymmdd-yyyymmdd>`` with the period-level
  ``<report>-Manifest.json`` (rewritten on each refresh) and one
  ``<assemblyId>/`` folder per delivery; the manifest's ``reportKeys`` names the current
  assembly's files.
- Legacy Parquet for Athena: ``<report>/<report>/year=YYYY/month=M/<report>-*.parquet``
  (overwrite mode only, no manifest).

Every assembly is a full snapshot of the month, so loading two would double it. Only
the files the **newest manifest** lists are read (the period-level one for legacy
CUR; the newest by modification time otherwise); without a manifest, only the newest
delivery folder (by modification time), and a row repeated in another of its files (a
file saved twice) is read once. The unit's members are all the period's manifests and data files, so
its fingerprint changes whenever a new assembly arrives — the engine then replaces
the whole period's rows in one transaction — while unchanged periods are recognised
from the listing alone (no manifest is read on a no-op run). Files of older
assemblies are members (listed in the ledger) but never read.

Line types (Usage, DiscountedUsage, SavingsPlanCoveredUsage, SavingsPlanNegation, the
RI and Savings Plans fees, Fee, Credit, Refund, Tax, the discounts) map to the common
``line_type`` values. ``cost_billed`` is ``line_item_unblended_cost``;
``cost_effective`` is the amortised cost (the AWS CUDOS formula: Savings Plans and RI
effective costs on covered usage, negations and up-front fees 0, unused commitment on
recurring fees); ``cost_list`` is ``pricing_public_on_demand_cost``.

Accelerator usage: the instance type comes from ``product_instance_type`` or the usage
type — EC2 ``BoxUsage:p4d.24xlarge`` / ``USW2-SpotUsage:p5.48xlarge``, SageMaker
``USE1-Train:ml.p4d.24xlarge``, HyperPod ``USE1-Cluster:ml.p5.48xlarge`` — and
accelerator hours = instance hours × accelerators per instance (catalog), on usage
lines. Resource ids (instance id, training-job ARN) and user tags (``user:`` prefix
removed, keys in the snake_case of CUR 2.0 so every CUR version agrees) are kept.

A delivery in this layout whose files are FOCUS (the AWS FOCUS export uses the same
Data Exports layout) is read as FOCUS.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from connectors.formats.base import Sample, Unit, UnitReader
from connectors.formats.billing.focus import AWS_INSTANCE_RE, focus_sql, is_focus
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
    string_list,
)
from connectors.formats.billing.sql import (
    ACCEL_KEY,
    ACCEL_QUANTITY,
    MONEY,
    TAG_ENTRIES,
    Columns,
    accel_key,
    snake_case,
)
from connectors.formats.duck import sql_string
from connectors.stores.base import ObjectInfo, Store
from reconcile.errors import ParseError

_CUR2 = re.compile(
    r"^(?:(?P<root>.*)/)?(?P<part>data|metadata)/BILLING_PERIOD=(?P<period>\d{4}-\d{2})/(?P<rest>.+)$"
)
_LEGACY = re.compile(
    r"^(?:(?P<root>.*)/)?(?P<period>(?P<y>\d{4})(?P<m>\d{2})\d{2}-\d{8})/(?P<rest>.+)$"
)
_ATHENA = re.compile(
    r"^(?:(?P<root>.*)/)?(?P<report>[^/]+)/year=(?P<y>\d{4})/month=(?P<m>\d{1,2})/(?P<file>[^/]+)$"
)
MANIFEST_SUFFIX = "Manifest.json"
#: Columns that mark a CUR file (snake_case; legacy CSV headers are converted).
_CUR_MARKERS = ("line_item_usage_type", "line_item_line_item_type", "identity_line_item_id")


@dataclass(frozen=True)
class _Group:
    key: str
    layout: str  # cur2 | legacy | athena
    period: str  # YYYY-MM


def _classify(key: str) -> tuple[_Group, bool] | None:
    """(the period group of ``key``, whether it is a manifest), or None."""
    is_manifest = key.endswith(MANIFEST_SUFFIX)
    match = _CUR2.match(key)
    if match:
        part, rest = match["part"], match["rest"]
        if (part == "metadata" and is_manifest) or (part == "data" and data_kind(rest)):
            root = f"{match['root']}/" if match["root"] else ""
            group = _Group(f"{root}data/BILLING_PERIOD={match['period']}", "cur2", match["period"])
            return group, part == "metadata"
        return None
    match = _ATHENA.match(key)
    if match and data_kind(key) == "parquet" and match["file"].startswith(match["report"]):
        root = f"{match['root']}/" if match["root"] else ""
        folder = f"{root}{match['report']}/year={match['y']}/month={match['m']}"
        return _Group(folder, "athena", f"{match['y']}-{int(match['m']):02d}"), False
    match = _LEGACY.match(key)
    if match and (is_manifest or data_kind(key) in ("csv", "parquet")):
        root = f"{match['root']}/" if match["root"] else ""
        period = f"{match['y']}-{match['m']}"
        return _Group(f"{root}{match['period']}", "legacy", period), is_manifest
    return None


def _group_key(key: str) -> str | None:
    found = _classify(key)
    return found[0].key if found else None


def _is_cur(folder: str, members: Sequence[ObjectInfo]) -> bool:
    """Whether a period group is CUR: any but a legacy ``yyyymmdd-yyyymmdd`` folder is;
    that one when it holds a manifest or its files are named after their report."""
    if not _RANGE_NAME.match(posixpath.basename(folder)):
        return True
    return any(m.key.endswith(MANIFEST_SUFFIX) for m in members) or _cur_named(members)


#: A legacy CUR data file: ``<report>-<n>.csv.gz`` (or .csv.zip, .csv, .snappy.parquet).
_LEGACY_DATA = re.compile(r"^(?P<report>.+)-\d+\.(?:csv(?:\.gz|\.zip)?|(?:snappy\.)?parquet)$")


def _cur_named(members: Sequence[ObjectInfo]) -> bool:
    """Whether a legacy period folder with no manifest is CUR all the same: every file is
    ``<report>/<range>/[<assembly>/]<report>-<n>.csv.gz``, named after its report folder
    (Azure exports, which use the same range folders, name theirs ``<export>_<guid>.csv``
    or ``part_<n>_<n>.csv``).
    """
    for info in members:
        parts = info.key.split("/")
        match = _LEGACY_DATA.match(parts[-1])
        if match is None:
            return False
        ranges = [i for i, part in enumerate(parts[:-1]) if _RANGE_NAME.match(part)]
        if not ranges or ranges[-1] == 0 or parts[ranges[-1] - 1] != match["report"]:
            return False
    return bool(members)


_RANGE_NAME = re.compile(r"^\d{8}-\d{8}$")


class AwsCurParser(BillingParser):
    """AWS CUR 1.0 and CUR 2.0 deliveries → ``billing_lines``, one unit per period."""

    name: ClassVar[str] = "aws_cur"
    version: ClassVar[int] = 1
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".csv", ".csv.gz", ".parquet")

    def sniff(self, sample: Sample) -> bool:
        """A CSV header or Parquet schema with CUR's line-item columns."""
        names = {snake_case(n) for n in sample_columns(sample)}
        return any(marker in names for marker in _CUR_MARKERS)

    def units(
        self, store: Store, objects: Sequence[ObjectInfo], *, forced: bool
    ) -> tuple[list[Unit], list[ObjectInfo]]:
        """Group CUR deliveries by report and billing period (see the module docstring).

        A legacy ``yyyymmdd-yyyymmdd`` folder is CUR if it holds a ``*-Manifest.json``
        or, without one, if its files are named after their report (Azure exports use
        the same folder names, not the file names).
        """
        return self.group_units(store, objects, _group_key, forced=forced, keep=_is_cur)

    def prepare(self, reader: UnitReader, cleanup: list[Path]) -> Prepared:
        """The files the newest manifest lists (or the newest delivery), and the SQL."""
        unit = reader.unit
        manifests = [m for m in unit.members if m.key.endswith(MANIFEST_SUFFIX)]
        data = [m for m in unit.members if not m.key.endswith(MANIFEST_SUFFIX)]
        found = _classify(unit.members[0].key)
        group = found[0] if found and found[0].key == unit.key else None
        layout = group.layout if group else "single"
        period_hint = group.period if group else None
        if manifests:
            if layout == "legacy":
                # The period-level manifest is rewritten on every refresh and names the
                # current assembly; assembly-level ones never change.
                top = [m for m in manifests if posixpath.dirname(m.key) == unit.key]
                manifest = newest(top or manifests)
            else:
                manifest = newest(manifests)
            content = read_manifest(reader, manifest)
            listed, period = self._listed(content, reader.uri(manifest.key))
            chosen = resolve_listed(reader, manifest, listed, data)
            period_hint = period or period_hint
        else:
            chosen = newest_delivery(data)
        files = local_files(reader, chosen, cleanup)
        export_kind = "cur2" if layout == "cur2" else "cur1"
        uri = unit.uri

        def build(columns: Columns) -> str:
            if is_focus(columns):
                return focus_sql(columns, source_uri=uri, source_format=self.name)
            columns.add_aliases(snake_case)
            if not columns.has(*_CUR_MARKERS):
                raise ParseError(
                    uri,
                    f"not a Cost and Usage Report: no line-item columns ({columns.summary()})",
                )
            kind = "cur2" if columns.has("resource_tags", "product") else export_kind
            if layout == "single" and columns.has("resource_tags"):
                kind = "cur2"
            return cur_sql(
                columns,
                source_uri=uri,
                source_format=self.name,
                period_hint=period_hint,
                export_kind=kind,
            )

        return Prepared(files=files, build_sql=build, null_tokens=("",), dedupe_files=not manifests)

    @staticmethod
    def _listed(content: dict[str, Any], uri: str) -> tuple[list[str], str | None]:
        """(the files a manifest lists, its billing period as YYYY-MM)."""
        if "dataFiles" in content:
            listed = string_list(content["dataFiles"], uri, "dataFiles")
        elif "reportKeys" in content:
            listed = string_list(content["reportKeys"], uri, "reportKeys")
        else:
            raise ParseError(uri, "manifest has neither 'dataFiles' nor 'reportKeys'")
        period = None
        billing = content.get("billingPeriod")
        if isinstance(billing, dict) and isinstance(billing.get("start"), str):
            digits = re.sub(r"\D", "", billing["start"])
            if len(digits) >= 6:
                period = f"{digits[:4]}-{digits[4:6]}"
        return listed, period


def _tag_entries(columns: Columns) -> str:
    """User tags as key/value entries: CUR 2.0's ``resource_tags`` map (or its JSON text
    in CSV), or legacy ``resourceTags/user:Key`` / ``resource_tags_user_key`` columns
    (keys in CUR 2.0's snake_case, so every CUR version agrees; the ``user_`` prefix is
    removed when the MAP is built).
    """
    actual = columns.find("resource_tags")
    if actual is not None:
        if columns.types[actual].startswith("MAP"):
            return f"map_entries({columns.ref(actual)})"
        return columns.text(actual)  # JSON text (CSV), parsed per distinct value
    tag_columns = [n for n in columns.names if snake_case(n).startswith("resource_tags_")]
    if not tag_columns:
        return "NULL::STRUCT(key VARCHAR, value VARCHAR)[]"
    entries = []
    for name in tag_columns:
        key = snake_case(name).removeprefix("resource_tags_")
        entries.append(f"{{'key': {sql_string(key)}, 'value': {columns.text(name)}}}")
    return f"[{', '.join(entries)}]"


def cur_sql(
    columns: Columns,
    *,
    source_uri: str,
    source_format: str,
    period_hint: str | None,
    export_kind: str,
) -> str:
    """The SELECT that turns CUR rows (relation ``src``) into ``billing_lines`` rows."""
    t, m, n, ts = columns.text, columns.money, columns.number, columns.timestamp
    zero = f"0::{MONEY}"
    hint = sql_string(period_hint) if period_hint else "NULL::VARCHAR"
    return f"""
WITH base AS (
    SELECT
        {t("identity_line_item_id")} AS _line_item_id,
        {t("identity_time_interval")} AS _time_interval,
        {t("line_item_line_item_type")} AS _type,
        {t("line_item_usage_account_id", "bill_payer_account_id")} AS account_id,
        {ts("bill_billing_period_start_date")} AS _period_start,
        {ts("line_item_usage_start_date")} AS usage_start_at,
        {ts("line_item_usage_end_date")} AS usage_end_at,
        {t("line_item_product_code", "product_servicecode")} AS service,
        {t("line_item_usage_type")} AS usage_type,
        {t("product_region_code", "product_region")} AS region,
        {t("product_instance_type")} AS _product_instance_type,
        {t("product_sku")} AS sku_id,
        {t("line_item_resource_id")} AS resource_id,
        {n("line_item_usage_amount")} AS usage_quantity,
        {t("pricing_unit")} AS usage_unit,
        {m("line_item_unblended_cost")} AS cost_billed,
        {m("savings_plan_savings_plan_effective_cost")} AS _sp_effective,
        {m("savings_plan_total_commitment_to_date")} AS _sp_commitment,
        {m("savings_plan_used_commitment")} AS _sp_used,
        {m("reservation_effective_cost")} AS _ri_effective,
        {m("reservation_unused_amortized_upfront_fee_for_billing_period")} AS _ri_unused_upfront,
        {m("reservation_unused_recurring_fee")} AS _ri_unused_recurring,
        {t("reservation_reservation_a_r_n", "reservation_reservation_arn")} AS _ri_arn,
        {m("pricing_public_on_demand_cost")} AS cost_list,
        upper({t("line_item_currency_code", "pricing_currency")}) AS currency,
        {_tag_entries(columns)} AS {TAG_ENTRIES},
        lower(hex(hash(src))) AS raw_hash
    FROM src
), typed AS (
    SELECT *,
        _line_type(_type) AS line_type,
        coalesce(_product_instance_type,
                 nullif(regexp_extract(usage_type, {sql_string(AWS_INSTANCE_RE)}, 1), ''))
            AS instance_type
    FROM base
)
SELECT
    coalesce(_line_item_id || '/' || coalesce(_time_interval, ''), raw_hash) AS line_id,
    'aws' AS provider,
    account_id,
    coalesce(strftime(_period_start, '%Y-%m'), {hint}) AS billing_period,
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
    CASE line_type
        WHEN 'savings_plan_usage' THEN coalesce(_sp_effective, cost_billed)
        WHEN 'savings_plan_negation' THEN {zero}
        WHEN 'savings_plan_fee' THEN
            CASE WHEN lower(_type) = 'savingsplanupfrontfee' THEN {zero}
                 ELSE coalesce(_sp_commitment - _sp_used, cost_billed) END
        WHEN 'reservation_usage' THEN coalesce(_ri_effective, cost_billed)
        WHEN 'reservation_fee' THEN coalesce(_ri_unused_upfront + _ri_unused_recurring, cost_billed)
        WHEN 'fee' THEN CASE WHEN _ri_arn IS NOT NULL THEN {zero} ELSE cost_billed END
        ELSE cost_billed
    END AS cost_effective,
    cost_list,
    currency,
    {sql_string(export_kind)} AS export_kind,
    {TAG_ENTRIES},
    raw_hash,
    {sql_string(source_uri)} AS source_uri,
    {sql_string(source_format)} AS source_format,
    {accel_key("instance", "'aws'", "instance_type")} AS {ACCEL_KEY},
    CASE WHEN line_type IN ('usage', 'reservation_usage', 'savings_plan_usage')
              AND (usage_unit IS NULL OR _hour_unit(usage_unit))
         THEN usage_quantity END AS {ACCEL_QUANTITY}
FROM typed
"""
