"""The accelerator and instance catalog: exact SKUs, no substring traps."""

from __future__ import annotations

import pytest

from reconcile.catalog import (
    AcceleratorMatch,
    load_catalog,
    normalize_precision,
    reference_peak,
)


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


# --- rows added for real fleets, resolve_accelerator, reference_peak ---------------

A100_ALL = {
    "NVIDIA A100 SXM4-40GB",
    "NVIDIA A100 SXM4-80GB",
    "NVIDIA A100 PCIe-40GB",
    "NVIDIA A100 PCIe-80GB",
}
H100_ALL = {"NVIDIA H100 SXM5-80GB", "NVIDIA H100 PCIe-80GB", "NVIDIA H100 NVL-94GB"}
V100_ALL = {
    "NVIDIA V100 SXM2-16GB",
    "NVIDIA V100 SXM2-32GB",
    "NVIDIA V100 PCIe-16GB",
    "NVIDIA V100 PCIe-32GB",
}
NEW_ROWS = {
    # key: dense BF16-or-FP16 tensor peak in TFLOP/s (FP32 accumulate)
    "NVIDIA A2 PCIe-16GB": 18,
    "NVIDIA A16 per GPU (4 per board)": 17.9,
    "NVIDIA A30 PCIe-24GB": 165,
    "NVIDIA A40 PCIe-48GB": 149.7,
    "NVIDIA L20 PCIe-48GB": 119.5,
    "NVIDIA RTX A4000 PCIe-16GB": 76.7,
    "NVIDIA RTX A5000 PCIe-24GB": 111.1,
    "NVIDIA RTX 6000 Ada PCIe-48GB": 364.2,
    "NVIDIA Quadro RTX 8000 PCIe-48GB": 130.5,
    "NVIDIA GeForce RTX 3090 PCIe-24GB": 71,
    "NVIDIA GeForce RTX 3090 Ti PCIe-24GB": 80,
    "NVIDIA GeForce RTX 5090 PCIe-32GB": 209.5,
    "AMD Instinct MI210 PCIe 64GB": 181,
}


def _keys(match: AcceleratorMatch | None) -> set[str]:
    assert match is not None
    return {a.key for a in match.candidates}


@pytest.mark.parametrize(("key", "tflops"), sorted(NEW_ROWS.items()))
def test_new_rows_have_a_dense_16bit_peak_and_a_source(key, tflops):
    accelerator = load_catalog().accelerators[key]
    sixteen = accelerator.peak_tflops["bf16"] or accelerator.peak_tflops["fp16"]
    assert sixteen is not None and sixteen > 0
    assert sixteen == pytest.approx(tflops)
    assert len(accelerator.source) > 40 and accelerator.patterns


def test_every_row_is_sane():
    for accelerator in load_catalog().accelerators.values():
        assert accelerator.source.strip(), accelerator.key
        assert all(p == p.lower() for p in accelerator.patterns), accelerator.key
        peaks = accelerator.peak_tflops
        sixteen = peaks["bf16"] or peaks["fp16"]
        if accelerator.model.startswith("Gaudi (HL-205)"):
            assert sixteen is None  # Gaudi1: no published peak
            continue
        assert sixteen is not None and sixteen > 0, accelerator.key
        # dense FP8 is never below dense 16-bit; TF32 never above it
        if peaks["fp8"] is not None:
            assert peaks["fp8"] >= sixteen, accelerator.key
        if peaks["tf32"] is not None:
            assert peaks["tf32"] <= sixteen, accelerator.key


@pytest.mark.parametrize(
    "name",
    [
        "A2", "A10", "A10G", "A16", "A30", "A40", "L4", "L20", "L40", "L40S",
        "RTX A4000", "RTX A5000", "RTX A6000", "RTX 3090", "RTX 4090", "RTX 5090",
        "Quadro RTX 8000", "T4", "V100 16GB", "V100 32GB", "H20", "H800", "H200 NVL",
        "B100", "B200", "GB200", "MI210", "MI250X", "MI300X", "MI325X", "Gaudi 2",
        "Gaudi 3", "TPU v4", "TPU v5e", "TPU v5p", "TPU v6e", "Trainium1", "Trainium2",
    ],
)  # fmt: skip
def test_fleet_accelerators_resolve_with_a_reference_peak(name):
    match = load_catalog().resolve_accelerator(name)
    assert match is not None and match.candidates, name
    for accelerator in match.candidates:
        flops, column = reference_peak(accelerator, None)
        assert flops > 1e12 and column in ("peak_bf16_tflops_dense", "peak_fp16_tflops_dense")


@pytest.mark.parametrize(
    ("text", "keys", "count", "basis"),
    [
        ("A100", A100_ALL, None, "family"),
        ("A100 80GB", {"NVIDIA A100 SXM4-80GB", "NVIDIA A100 PCIe-80GB"}, None, "family"),
        ("A100 (40GB)", {"NVIDIA A100 SXM4-40GB", "NVIDIA A100 PCIe-40GB"}, None, "family"),
        ("A100-SXM4-40GB", {"NVIDIA A100 SXM4-40GB"}, None, "pattern"),
        ("NVIDIA A100-SXM4-80GB", {"NVIDIA A100 SXM4-80GB"}, None, "pattern"),
        ("H100", H100_ALL, None, "family"),
        ("H100 SXM", {"NVIDIA H100 SXM5-80GB"}, None, "pattern"),
        ("H100 PCIe", {"NVIDIA H100 PCIe-80GB"}, None, "pattern"),
        ("NVIDIA H100 80GB HBM3", {"NVIDIA H100 SXM5-80GB"}, None, "pattern"),
        ("NVIDIA H100 SXM5-80GB", {"NVIDIA H100 SXM5-80GB"}, None, "exact"),
        ("Tesla V100-SXM2-32GB", {"NVIDIA V100 SXM2-32GB"}, None, "pattern"),
        ("V100", V100_ALL, None, "family"),
        ("RTX 4090", {"NVIDIA GeForce RTX 4090 PCIe-24GB"}, None, "family"),
        ("MI300X", {"AMD Instinct MI300X OAM 192GB"}, None, "family"),
        ("8x A100", A100_ALL, 8, "family"),
        ("8 x H100", H100_ALL, 8, "family"),
        ("A100 x8", A100_ALL, 8, "family"),
        ("GPU: 8 x NVIDIA A100-SXM4-80GB", {"NVIDIA A100 SXM4-80GB"}, 8, "pattern"),
        ("TPU v4", {"Google TPU v4 per chip"}, None, "family"),
        ("TPUv4-256", {"Google TPU v4 per chip"}, 128, "family"),  # 256 TensorCores
        ("v5litepod-16", {"Google TPU v5e per chip"}, 16, "pattern"),  # counts chips
        ("v5p-128", {"Google TPU v5p per chip"}, 64, "pattern"),
        ("ml.p4d.24xlarge", {"NVIDIA A100 SXM4-40GB"}, 8, "instance"),
        ("p4d.24xlarge", {"NVIDIA A100 SXM4-40GB"}, 8, "instance"),
        ("2 x p4d.24xlarge", {"NVIDIA A100 SXM4-40GB"}, 16, "instance"),
        ("Standard_ND96asr_v4", {"NVIDIA A100 SXM4-40GB"}, 8, "instance"),
        ("a2-highgpu-8g", {"NVIDIA A100 SXM4-40GB"}, 8, "instance"),
        ("a3-highgpu-8g", {"NVIDIA H100 SXM5-80GB"}, 8, "instance"),
        ("g5.12xlarge", {"NVIDIA A10G AWS custom 24GB"}, 4, "instance"),
    ],
)
def test_names_as_people_write_them(text, keys, count, basis):
    match = load_catalog().resolve_accelerator(text)
    assert match is not None
    assert _keys(match) == keys
    assert (match.count, match.basis) == (count, basis)
    assert (match.unique is not None) == (len(keys) == 1)


def test_family_candidates_keep_catalog_order_sxm_first():
    catalog = load_catalog()
    assert catalog.resolve_accelerator("H100").candidates[0].key == "NVIDIA H100 SXM5-80GB"
    h200 = catalog.resolve_accelerator("NVIDIA H200")  # the bare-model pattern's row first
    assert [a.key for a in h200.candidates] == ["NVIDIA H200 SXM-141GB", "NVIDIA H200 NVL-141GB"]


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("H20", {"NVIDIA H20 HGX-96GB"}),
        ("NVIDIA H20", {"NVIDIA H20 HGX-96GB"}),
        ("H200", {"NVIDIA H200 SXM-141GB", "NVIDIA H200 NVL-141GB"}),
        ("GH200 144G", {"NVIDIA GH200 Grace Hopper 144GB HBM3e"}),
        ("L4", {"NVIDIA L4 PCIe-24GB"}),
        ("L40", {"NVIDIA L40 PCIe-48GB"}),
        ("L40S", {"NVIDIA L40S PCIe-48GB"}),
        ("NVIDIA L40", {"NVIDIA L40 PCIe-48GB"}),
        ("L20", {"NVIDIA L20 PCIe-48GB"}),
        ("A10", {"NVIDIA A10 PCIe-24GB"}),
        ("A10G", {"NVIDIA A10G AWS custom 24GB"}),
        ("A100", A100_ALL),
        ("A2", {"NVIDIA A2 PCIe-16GB"}),
        ("NVIDIA A4000", {"NVIDIA RTX A4000 PCIe-16GB"}),  # not the A40
        ("A40", {"NVIDIA A40 PCIe-48GB"}),
        ("MI300X", {"AMD Instinct MI300X OAM 192GB"}),
        ("MI325X", {"AMD Instinct MI325X OAM 256GB"}),
        ("TPU v5e", {"Google TPU v5e per chip"}),
        ("TPU v5p", {"Google TPU v5p per chip"}),
        ("B200", {"NVIDIA B200 HGX-180GB"}),
        ("GB200", {"NVIDIA GB200 per GPU (NVL72/NVL4)"}),
        ("RTX 3090", {"NVIDIA GeForce RTX 3090 PCIe-24GB"}),
        ("RTX 3090 Ti", {"NVIDIA GeForce RTX 3090 Ti PCIe-24GB"}),
    ],
)
def test_no_substring_traps(text, keys):
    assert _keys(load_catalog().resolve_accelerator(text)) == keys


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "Intel(R) Xeon(R) Platinum 8480C",
        "t4g.large",  # Graviton, not a T4
        "m5.large",
        "a2-highgpu-16g",  # shaped like a GCP machine type, not in the catalog
        "A2 Instance Core running in Americas",  # GCP's A2 machine family
    ],
)
def test_resolve_unknown(text):
    assert load_catalog().resolve_accelerator(text) is None


def test_match_accelerator_still_returns_one_row():
    catalog = load_catalog()
    assert catalog.match_accelerator("NVIDIA RTX A4000").key == "NVIDIA RTX A4000 PCIe-16GB"
    assert catalog.match_accelerator("NVIDIA A30").key == "NVIDIA A30 PCIe-24GB"
    assert catalog.match_accelerator("NVIDIA GeForce RTX 3090 Ti").model == "GeForce RTX 3090 Ti"
    assert catalog.match_accelerator("H100") is None  # bare family: use resolve_accelerator


def test_reference_peak_is_dense_16bit_unless_fp8():
    catalog = load_catalog()
    h100 = catalog.accelerators["NVIDIA H100 SXM5-80GB"]
    assert reference_peak(h100, None) == (pytest.approx(989.5e12), "peak_bf16_tflops_dense")
    assert reference_peak(h100, "bfloat16")[1] == "peak_bf16_tflops_dense"
    assert reference_peak(h100, "fp32")[1] == "peak_bf16_tflops_dense"
    assert reference_peak(h100, "fp8") == (pytest.approx(1979e12), "peak_fp8_tflops_dense")
    assert reference_peak(h100, "torch.float8_e4m3fn")[1] == "peak_fp8_tflops_dense"
    v100 = catalog.accelerators["NVIDIA V100 SXM2-16GB"]  # no BF16, no FP8
    assert reference_peak(v100, "fp8") == (pytest.approx(125e12), "peak_fp16_tflops_dense")
    rtx4090 = catalog.accelerators["NVIDIA GeForce RTX 4090 PCIe-24GB"]
    assert reference_peak(rtx4090, None)[0] == pytest.approx(165.2e12)  # FP32 accumulate
    with pytest.raises(ValueError):
        reference_peak(catalog.accelerators["Intel Gaudi (HL-205) DL1 OAM 32GB"], None)


@pytest.mark.parametrize(
    ("text", "model", "variants"),
    [
        ("A100s", "A100", 4),
        ("80GB A100s", "A100", 2),
        ("A100-40GBs", "A100", 2),
        ("H100s", "H100", 3),
        ("NVIDIA A40s", "A40", 1),
        ("NVIDIA L40S", "L40S", 1),  # a name that ends in s is not a plural
        ("8x L40S", "L40S", 1),
    ],
)
def test_plurals_as_papers_write_them(text, model, variants):
    found = load_catalog().resolve_accelerator(text)
    assert found is not None
    assert {a.model for a in found.candidates} == {model}
    assert len(found.candidates) == variants
