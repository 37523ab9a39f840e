#!/usr/bin/env python3
"""Independent expected values for the real billing export samples in this folder.

Standard library only (csv, json, gzip, decimal, hashlib, io, os); it imports
nothing from the project, so its numbers can be used to check the project's
ingestion.  Run it from anywhere:

    python3 tests/data/real/billing/expected.py

It writes expected.json (sorted keys, indent 1) next to itself.

Conventions (see SOURCES.md for provenance):
* "data_rows" counts data records: CSV records after the header, ignoring
  completely blank lines (counted separately in "blank_lines"); for a JSON
  array file, the number of array elements.
* Cost sums are exact decimal.Decimal sums of every cell of the column that
  is not empty and not a null literal (null/NULL/Null, any case).  They are
  printed with format(d, "f") (never exponent notation); compare them as
  Decimal values, since trailing zeros follow the inputs' scale.
* "null_literals" counts, per column, cells whose whole text is the word
  null in any case (after stripping spaces); "null_literal_spellings" shows
  which spellings occur.  Quoted and unquoted nulls both count: csv gives no
  way to tell them apart.
"""

import csv
import decimal
import gzip
import hashlib
import io
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# Candidate column names per role; only those present in a file are used.
ROLES = {
    "focus": {
        "accounts": ["BillingAccountId", "SubAccountId"],
        "period": [("BillingPeriodStart", "BillingPeriodEnd")],
        "costs": ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost",
                  "PricingCurrencyEffectiveCost"],
        "currency": ["BillingCurrency"],
        "extra_distinct": ["ProviderName", "PricingCurrency", "ChargeCategory"],
    },
    "aws_cur": {
        "accounts": ["bill/PayerAccountId", "lineItem/UsageAccountId",
                     "bill_payer_account_id", "line_item_usage_account_id"],
        "period": [("bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate"),
                   ("bill_billing_period_start_date", "bill_billing_period_end_date")],
        "costs": ["lineItem/UnblendedCost", "lineItem/BlendedCost",
                  "lineItem/NetUnblendedCost", "pricing/publicOnDemandCost",
                  "reservation/EffectiveCost", "reservation/NetEffectiveCost",
                  "savingsPlan/SavingsPlanEffectiveCost",
                  "savingsPlan/NetSavingsPlanEffectiveCost",
                  "line_item_unblended_cost", "line_item_blended_cost",
                  "line_item_net_unblended_cost", "pricing_public_on_demand_cost",
                  "reservation_effective_cost", "reservation_net_effective_cost",
                  "savings_plan_savings_plan_effective_cost",
                  "savings_plan_net_savings_plan_effective_cost"],
        "currency": ["lineItem/CurrencyCode", "line_item_currency_code"],
        "extra_distinct": ["lineItem/LineItemType", "line_item_line_item_type",
                           "bill/BillType", "bill_bill_type"],
    },
    "azure": {
        "accounts": ["BillingAccountId", "billingAccountId", "SubscriptionId",
                     "subscriptionId", "SubscriptionGuid"],
        "period": [("BillingPeriodStartDate", "BillingPeriodEndDate"),
                   ("billingPeriodStartDate", "billingPeriodEndDate")],
        "costs": ["CostInBillingCurrency", "costInBillingCurrency", "PreTaxCost",
                  "Cost", "CostInUsd", "costInUsd", "PaygCostInBillingCurrency",
                  "paygCostInBillingCurrency"],
        "currency": ["BillingCurrency", "BillingCurrencyCode", "billingCurrency",
                     "billingCurrencyCode", "Currency"],
        "extra_distinct": ["ChargeType", "chargeType", "PricingModel"],
        # legacy exports without billing-period columns: use the usage date
        "usage_date": ["Date", "date", "UsageDateTime"],
    },
    "gcp": {
        "accounts": ["billing_account_id", "project.id"],
        "period": [("invoice.month", None)],
        "costs": ["cost"],
        "currency": ["currency"],
        "extra_distinct": ["cost_type", "service.description"],
    },
}

FILES = [
    {"path": "focus/sample-data-1.0/focus_sample.csv", "provider": "focus"},
    {"path": "focus/spec-1.2-commitment-discount-flexibility/"
             "one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv",
     "provider": "focus"},
    {"path": "focus/spec-1.2-saas-spend-agreements/saas_spend_agreements_b2.csv",
     "provider": "focus"},
    {"path": "focus/spec-1.2-virtual-currency/virtual_currency_pricing_model_b2.csv",
     "provider": "focus"},
    {"path": "aws_cur/focus-converters-anonymized-cur/sample-anonymous-aws-export-dataset.csv",
     "provider": "aws_cur"},
    {"path": "aws_cur/wa-labs-athena-cur/Step1CUR.gz", "provider": "aws_cur",
     "delimiter": "\x01", "quoting": "none"},
    {"path": "azure/finops-toolkit-ea-actual-small/EA_ActualCost_Small.csv",
     "provider": "azure"},
    {"path": "azure/focus-converters-ea-anonymized/sample-anonymous-ea-export-dataset.csv",
     "provider": "azure"},
    {"path": "azure/koku-legacy-pretaxcost/costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv",
     "provider": "azure"},
    {"path": "gcp/koku-bigquery-detailed-csv/"
             "202011_30c31bca571d9b7f3b2c8459dd8bc34a_2020-11-08_2020-11-11.csv",
     "provider": "gcp"},
    {"path": "gcp/billing-export-python-file-export-json/google-platform-demo-2014-02-21.json",
     "provider": "gcp", "format": "json_array"},
]


def is_null_literal(cell):
    return cell.strip().lower() == "null"


def dec_str(d):
    return format(d, "f")


def exact_sum(values):
    """Exact Decimal sum; raises if any value can't be parsed or rounding occurs."""
    with decimal.localcontext() as ctx:
        ctx.prec = 400
        ctx.traps[decimal.Inexact] = True
        ctx.traps[decimal.Rounded] = True
        total = decimal.Decimal(0)
        for v in values:
            total += decimal.Decimal(v.strip())
    return total


def byte_facts(raw):
    return {
        "bytes": len(raw),
        "utf8_bom": raw.startswith(b"\xef\xbb\xbf"),
        "crlf_count": raw.count(b"\r\n"),
        "lf_count": raw.count(b"\n"),
        "ends_with_newline": raw.endswith(b"\n"),
        "non_ascii_bytes": sum(1 for b in raw if b > 127),
    }


def analyse_table(header, rows, provider):
    roles = ROLES[provider]
    cols = {name: i for i, name in enumerate(header)}
    out = {}

    def column(name):
        i = cols[name]
        return [r[i] if i < len(r) else "" for r in rows]

    def present(v):
        return v != "" and not is_null_literal(v)

    # distinct accounts / subscriptions
    accounts = {}
    for name in roles["accounts"]:
        if name in cols:
            accounts[name] = sorted({v for v in column(name) if present(v)})
    out["distinct_accounts"] = accounts

    # billing periods
    periods = None
    for start, end in roles["period"]:
        if start in cols and (end is None or end in cols):
            s = column(start)
            e = column(end) if end else [None] * len(s)
            pairs = sorted({(a, b) for a, b in zip(s, e)}, key=lambda p: (p[0], p[1] or ""))
            periods = {"columns": [start] + ([end] if end else []),
                       "values": [[a, b] if end else a for a, b in pairs]}
            break
    if periods is None and roles.get("usage_date"):
        for name in roles["usage_date"]:
            if name in cols:
                vals = sorted({v for v in column(name) if present(v)})
                periods = {"columns": [], "note": "no billing-period columns; "
                           "distinct usage dates from " + name, "usage_dates": vals}
                break
    out["billing_periods"] = periods

    # cost sums (total and per currency)
    currency_col = next((c for c in roles["currency"] if c in cols), None)
    currency_vals = column(currency_col) if currency_col else None
    out["currency_column"] = currency_col
    out["currencies"] = sorted(set(currency_vals)) if currency_vals else []
    sums = {}
    for name in roles["costs"]:
        if name not in cols:
            continue
        vals = column(name)
        used = [v for v in vals if present(v)]
        entry = {
            "sum": dec_str(exact_sum(used)),
            "numeric_cells": len(used),
            "empty_cells": sum(1 for v in vals if v == ""),
            "null_literal_cells": sum(1 for v in vals if is_null_literal(v)),
        }
        if currency_vals and len(set(currency_vals)) > 1:
            by = {}
            for v, c in zip(vals, currency_vals):
                if present(v):
                    by.setdefault(c, []).append(v)
            entry["sum_by_currency"] = {c: dec_str(exact_sum(vs)) for c, vs in by.items()}
        sums[name] = entry
    out["cost_sums"] = sums

    extras = {}
    for name in roles.get("extra_distinct", []):
        if name in cols:
            extras[name] = sorted(set(column(name)))
    out["distinct_values"] = extras

    # null literals per column
    nulls, spellings = {}, {}
    for name, i in cols.items():
        n = 0
        for r in rows:
            if i < len(r) and is_null_literal(r[i]):
                n += 1
                spellings[r[i].strip()] = spellings.get(r[i].strip(), 0) + 1
        if n:
            nulls[name] = n
    out["null_literals"] = nulls
    out["null_literal_spellings"] = spellings
    return out


def analyse_csv(spec, raw):
    text = raw.decode("utf-8-sig")  # strips a leading BOM if present
    kwargs = {"delimiter": spec.get("delimiter", ",")}
    if spec.get("quoting") == "none":
        kwargs["quoting"] = csv.QUOTE_NONE
    records = list(csv.reader(io.StringIO(text, newline=""), **kwargs))
    header = records[0]
    body = records[1:]
    rows = [r for r in body if r != []]
    out = {
        "format": "csv",
        "delimiter": kwargs["delimiter"],
        "header_columns": len(header),
        "header_first_columns": header[:3],
        "data_rows": len(rows),
        "blank_lines": len(body) - len(rows),
        "rows_with_column_count_mismatch": sum(1 for r in rows if len(r) != len(header)),
        "duplicate_header_names": sorted({h for h in header if header.count(h) > 1}),
    }
    out.update(analyse_table(header, rows, spec["provider"]))
    return out


def analyse_gcp_json_array(raw):
    items = json.loads(raw.decode("utf-8"), parse_float=decimal.Decimal)
    amounts = [it["cost"]["amount"] for it in items]
    currencies = sorted({it["cost"]["currency"] for it in items})
    starts = sorted({it["startTime"] for it in items})
    ends = sorted({it["endTime"] for it in items})
    nulls = {}
    for it in items:
        for k, v in it.items():
            if v is None or (isinstance(v, str) and is_null_literal(v)):
                nulls[k] = nulls.get(k, 0) + 1
    return {
        "format": "json_array",
        "data_rows": len(items),
        "distinct_accounts": {"projectNumber": sorted({it["projectNumber"] for it in items})},
        "billing_periods": {"note": "legacy GCP file export has no billing-period or "
                            "billing-account field; distinct startTime/endTime values",
                            "startTime": starts, "endTime": ends},
        "currency_column": "cost.currency",
        "currencies": currencies,
        "cost_sums": {"cost.amount": {"sum": dec_str(exact_sum(amounts)),
                                      "numeric_cells": len(amounts)}},
        "distinct_values": {"lineItemId_count": len({it["lineItemId"] for it in items})},
        "null_literals": nulls,
        "null_literal_spellings": {},
    }


def main():
    result = {}
    for spec in FILES:
        full = os.path.join(HERE, spec["path"])
        with open(full, "rb") as f:
            stored = f.read()
        raw = gzip.decompress(stored) if spec["path"].endswith(".gz") else stored
        if spec.get("format") == "json_array":
            entry = analyse_gcp_json_array(raw)
        else:
            entry = analyse_csv(spec, raw)
        entry["provider"] = spec["provider"]
        entry["sha256_stored_file"] = hashlib.sha256(stored).hexdigest()
        entry["content_facts"] = byte_facts(raw)
        if raw is not stored:
            entry["content_facts"]["note"] = "facts of the decompressed content"
        result[spec["path"]] = entry
    out_path = os.path.join(HERE, "expected.json")
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(result, f, sort_keys=True, indent=1)
        f.write("\n")
    print("wrote", out_path, "for", len(result), "files")


if __name__ == "__main__":
    main()
