"""Shared billing machinery: accelerator lookup (longest match, unknowns reported), tag
maps built per batch, CUR column names, options."""

from __future__ import annotations

import pyarrow as pa
import pytest

from connectors.formats.billing.kit import (
    data_kind,
)
from connectors.formats.billing.sql import (
    AcceleratorResolver,
    build_tags,
    snake_case,
)
from connectors.registry import get_parser
from reconcile.errors import ConfigError

SEP = "\x1f"


def key(mode: str, provider: str, text: str, spec: str = "") -> str:
    return SEP.join([mode, provider, text, spec])


@pytest.fixture(scope="module")
def resolve() -> AcceleratorResolver:
    return AcceleratorResolver()


@pytest.mark.parametrize(
    ("instance", "provider", "accelerator", "per_instance"),
    [
        ("p4d.24xlarge", "aws", "NVIDIA A100 SXM4-40GB", 8),
        ("p5.48xlarge", "aws", "NVIDIA H100 SXM5-80GB", 8),
        ("ml.p4d.24xlarge", "aws", "NVIDIA A100 SXM4-40GB", 8),
        ("ml.p5.48xlarge", "aws", "NVIDIA H100 SXM5-80GB", 8),
        ("p5en.48xlarge", "aws", "NVIDIA H200 SXM-141GB", 8),
        ("g6.xlarge", "aws", "NVIDIA L4 PCIe-24GB", 1),
        ("g6e.xlarge", "aws", "NVIDIA L40S PCIe-48GB", 1),
        ("g5.12xlarge", "aws", "NVIDIA A10G AWS custom 24GB", 4),
        ("Standard_ND96isr_H100_v5", "azure", "NVIDIA H100 SXM5-80GB", 8),
        ("Standard_NC24ads_A100_v4", "azure", "NVIDIA A100 PCIe-80GB", 1),
        ("Standard_NV36ads_A10_v5", "azure", "NVIDIA A10 PCIe-24GB", 1),
    ],
)
def test_instance_types_map_to_the_exact_accelerator(
    resolve, instance, provider, accelerator, per_instance
):
    assert resolve(key("instance", provider, instance)) == (accelerator, per_instance)


@pytest.mark.parametrize(
    ("description", "accelerator"),
    [
        ("Nvidia H100 80GB GPU running in EMEA", "NVIDIA H100 SXM5-80GB"),
        ("Nvidia H100 80GB Mega GPU running in Americas", "NVIDIA H100 SXM5-80GB"),
        ("Nvidia L4 GPU running in APAC", "NVIDIA L4 PCIe-24GB"),
        ("Spot Preemptible Nvidia Tesla A100 GPU running in Americas", "NVIDIA A100 SXM4-40GB"),
        ("Nvidia Tesla A100 80GB GPU running in EMEA", "NVIDIA A100 SXM4-80GB"),
        ("Commitment v1: Nvidia L4 GPU running in Americas for 1 Year", "NVIDIA L4 PCIe-24GB"),
        ("NVIDIA H200 GPU running in Americas", "NVIDIA H200 SXM-141GB"),
        ("NVIDIA H20 GPU", "NVIDIA H20 HGX-96GB"),
        ("NVIDIA L40S GPU running in Americas", "NVIDIA L40S PCIe-48GB"),
        ("NVIDIA A10 GPU", "NVIDIA A10 PCIe-24GB"),
        ("TPU v5p chip running in Americas", "Google TPU v5p per chip"),
    ],
)
def test_sku_names_match_the_longest_pattern(resolve, description, accelerator):
    # h20 never h200, l4 never l40s, a10 never a100 (and the other way round)
    assert resolve(key("sku", "gcp", description)) == (accelerator, 1.0)


def test_unknown_accelerator_instances_and_skus_are_reported(resolve):
    assert resolve(key("instance", "aws", "p7.48xlarge")) == ("unknown:p7.48xlarge", None)
    assert resolve(key("instance", "aws", "ml.g7.2xlarge")) == ("unknown:ml.g7.2xlarge", None)
    assert resolve(key("instance", "azure", "Standard_ND128isr_NDR_GB300_v6")) == (
        "unknown:Standard_ND128isr_NDR_GB300_v6",
        None,
    )
    assert resolve(key("sku", "gcp", "Nvidia Tesla P100 GPU running in Americas")) == (
        "unknown:Nvidia Tesla P100 GPU running in Americas",
        None,
    )
    # not accelerators at all
    assert resolve(key("instance", "aws", "m5.xlarge")) == (None, None)
    assert resolve(key("instance", "aws", "db.r5.large")) == (None, None)
    assert resolve(key("instance", "azure", "Standard_D4s_v3")) == (None, None)
    assert resolve(key("sku", "gcp", "N2 Instance Core running in Americas")) == (None, None)
    assert resolve(None) == (None, None)


def test_machine_spec_attributes_vm_lines_without_hours(resolve):
    # GCP core/RAM lines of an A3 VM: the accelerator for cost attribution, no hours.
    assert resolve(key("sku", "gcp", "A3 Instance Core running in EMEA", "a3-highgpu-8g")) == (
        "NVIDIA H100 SXM5-80GB",
        None,
    )
    # the GPU line itself carries the hours even with the spec present
    assert resolve(key("sku", "gcp", "Nvidia H100 80GB GPU running in EMEA", "a3-highgpu-8g")) == (
        "NVIDIA H100 SXM5-80GB",
        1.0,
    )


@pytest.mark.parametrize(
    ("column", "snake"),
    [
        ("lineItem/UsageType", "line_item_usage_type"),
        ("identity/LineItemId", "identity_line_item_id"),
        ("reservation/ReservationARN", "reservation_reservation_a_r_n"),
        ("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_savings_plan_effective_cost"),
        ("resourceTags/user:Cost-Center", "resource_tags_user_cost_center"),
        ("product/instanceType", "product_instance_type"),
        ("line_item_usage_type", "line_item_usage_type"),
    ],
)
def test_cur_column_names_become_the_parquet_snake_case(column, snake):
    assert snake_case(column) == snake


def test_data_kind_by_suffix():
    assert data_kind("a/b-00001.snappy.parquet") == "parquet"
    assert data_kind("a/report-1.csv.gz") == "csv"
    assert data_kind("a/report-1.csv.zip") == "csv"
    assert data_kind("a/export-000.json.gz") == "json"
    assert data_kind("a/report-Manifest.json") == "json"
    assert data_kind("a/readme.md") is None


def test_tags_are_trimmed_deduplicated_and_aws_prefixes_removed():
    entry = pa.struct([("key", pa.string()), ("value", pa.string())])
    entries = pa.array(
        [
            [{"key": "user_project", "value": "a"}, {"key": "aws_created_by", "value": "ci"}],
            [{"key": " team", "value": "ml"}, {"key": "team", "value": "other"}],
            [{"key": "empty", "value": ""}, {"key": "", "value": "x"}],
            None,
            [],
            [{"key": "user:Project", "value": "b"}],
        ],
        pa.list_(entry),
    )
    strip = pa.array([True, False, False, False, False, False])
    tags = build_tags(entries, strip).to_pylist()
    assert tags == [
        [("project", "a"), ("aws_created_by", "ci")],
        [("team", "ml")],  # first of a repeated key wins
        None,
        None,
        None,
        [("user:Project", "b")],  # only AWS rows lose the prefix
    ]


def test_billing_formats_validate_their_options():
    assert get_parser("aws_cur", {"stream_threshold_mb": 0}).stream_threshold_bytes == 0
    with pytest.raises(ConfigError, match=r"formats\.focus\.nope"):
        get_parser("focus", {"nope": 1})
    with pytest.raises(ConfigError, match=r"stream_threshold_mb"):
        get_parser("gcp_billing", {"stream_threshold_mb": "big"})
    with pytest.raises(ConfigError, match=r"formats\.azure_cost\.dataset"):
        get_parser("azure_cost", {"dataset": "both"})
