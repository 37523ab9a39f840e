"""The accelerator and instance catalog: exact SKUs, no substring traps."""

from __future__ import annotations

import pytest

from reconcile.catalog import load_catalog, normalize_precision


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5-80GB"),
        ("NVIDIA H200", "NVIDIA H200 SXM-141GB"),
        ("NVIDIA H20", "NVIDIA H20 HGX-96GB"),
        ("NVIDIA L4", "NVIDIA L4 PCIe-24GB"),
        ("NVIDIA L40S", "NVIDIA L40S PCIe-48GB"),
        ("NVIDIA A10", "NVIDIA A10 PCIe-24GB"),
        ("NVIDIA A10G", "NVIDIA A10G AWS custom 24GB"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 SXM4-80GB"),
        ("NVIDIA  a100-sxm4-40gb", "NVIDIA A100 SXM4-40GB"),
        ("Nvidia H100 80GB GPU running in Americas", "NVIDIA H100 SXM5-80GB"),
        ("NVIDIA GB200", "NVIDIA GB200 per GPU (NVL72/NVL4)"),
        ("NVIDIA B200", "NVIDIA B200 HGX-180GB"),
    ],
)
def test_accelerator_names_match_the_longest_pattern(text, key):
    accelerator = load_catalog().match_accelerator(text)
    assert accelerator is not None and accelerator.key == key


def test_unknown_names_do_not_match():
    catalog = load_catalog()
    assert catalog.match_accelerator("Intel(R) Xeon(R) Platinum 8480C") is None
    assert catalog.match_accelerator("t4g.large") is None
    assert catalog.match_accelerator("") is None


def test_dense_peaks_per_precision():
    catalog = load_catalog()
    h100 = catalog.accelerators["NVIDIA H100 SXM5-80GB"]
    assert h100.peak_flops("bfloat16") == pytest.approx(989.5e12)
    a100 = catalog.accelerators["NVIDIA A100 SXM4-40GB"]
    assert a100.peak_flops("bf16") == pytest.approx(312e12)
    assert catalog.accelerators["NVIDIA V100 SXM2-16GB"].peak_flops("bf16") is None
    assert normalize_precision("torch.bfloat16") == "bf16"


@pytest.mark.parametrize(
    ("name", "provider", "key", "count"),
    [
        ("p4d.24xlarge", "aws", "NVIDIA A100 SXM4-40GB", 8),
        ("ml.p4d.24xlarge", "aws-sagemaker", "NVIDIA A100 SXM4-40GB", 8),
        ("ml.g5.12xlarge", "aws", "NVIDIA A10G AWS custom 24GB", 4),  # via the EC2 type
        ("p5.48xlarge", "aws", "NVIDIA H100 SXM5-80GB", 8),
        ("a3-highgpu-8g", "gcp", "NVIDIA H100 SXM5-80GB", 8),
        ("Standard_ND96isr_H100_v5", "azure", "NVIDIA H100 SXM5-80GB", 8),
        ("nd96isr_h100_v5", "azure", "NVIDIA H100 SXM5-80GB", 8),
    ],
)
def test_instance_types(name, provider, key, count):
    instance = load_catalog().instance(name)
    assert instance is not None
    assert (instance.provider, instance.accelerator_key) == (provider, key)
    assert instance.accelerators_per_instance == count


def test_every_instance_names_a_catalog_accelerator():
    catalog = load_catalog()
    for rows in catalog._instances.values():
        for row in rows:
            assert row.accelerator_key in catalog.accelerators
    assert catalog.instance("m5.large") is None
