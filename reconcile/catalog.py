"""The accelerator and instance catalog: peak throughput per precision, and how many
accelerators each cloud instance type carries.

Data: ``reconcile/data/accelerators.csv`` and ``instances.csv``, each row with its
source (vendor datasheets, cloud price lists; see the ``source`` column and the
project's reference notes). All tensor peaks are dense (2:4-sparsity figures halved).

Accelerator names are matched exactly or by the **longest** catalog pattern contained
in the text, so that ``h20`` never wins over ``h200``, ``l4`` over ``l40s`` or ``a10``
over ``a100``: every pattern is tested and the longest match is kept.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

#: Precisions with a peak column, in the catalog's column names.
PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")
_PEAK_COLUMNS = {
    "fp32": "peak_fp32_tflops",
    "tf32": "peak_tf32_tflops_dense",
    "bf16": "peak_bf16_tflops_dense",
    "fp16": "peak_fp16_tflops_dense",
    "fp8": "peak_fp8_tflops_dense",
    "int8": "peak_int8_tops_dense",
}
# dtype spellings in configs and logs -> catalog precision
_PRECISION_ALIASES = {
    "bfloat16": "bf16",
    "bf16": "bf16",
    "float16": "fp16",
    "fp16": "fp16",
    "half": "fp16",
    "float32": "fp32",
    "fp32": "fp32",
    "float": "fp32",
    "tf32": "tf32",
    "fp8": "fp8",
    "float8": "fp8",
    "float8_e4m3fn": "fp8",
    "int8": "int8",
}


@dataclass(frozen=True)
class Accelerator:
    """One accelerator SKU/variant."""

    vendor: str
    model: str
    variant: str
    memory_gb: float | None
    peak_tflops: dict[str, float | None] = field(hash=False, compare=False)
    tdp_w: float | None
    release_year: int | None
    patterns: tuple[str, ...]
    source: str = field(compare=False)

    @property
    def key(self) -> str:
        """The canonical identifier stored in ``accelerator`` columns."""
        return f"{self.vendor} {self.model} {self.variant}"

    def peak_flops(self, precision: str) -> float | None:
        """Dense peak in FLOP/s for ``precision`` (bf16, fp16, fp8, tf32, fp32, int8)."""
        value = self.peak_tflops.get(normalize_precision(precision) or "")
        return value * 1e12 if value is not None else None


@dataclass(frozen=True)
class InstanceType:
    """A cloud instance type, VM size or TPU unit and the accelerators it carries."""

    provider: str
    instance_type: str
    accelerator_key: str
    accelerators_per_instance: float
    vcpus: float | None
    memory_gib: float | None
    on_demand_usd_per_hour: float | None
    price_region: str
    price_as_of: str
    source: str = field(compare=False)


def normalize_precision(text: str | None) -> str | None:
    """``bfloat16`` → ``bf16`` etc.; None when unknown."""
    if not text:
        return None
    return _PRECISION_ALIASES.get(text.strip().lower().removeprefix("torch."))


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


class Catalog:
    """Lookups over the shipped catalog (use ``load_catalog()``)."""

    def __init__(
        self, accelerators: list[Accelerator], instances: list[InstanceType], version: str
    ) -> None:
        self.version = version
        self.accelerators = {a.key: a for a in accelerators}
        self._patterns = sorted(
            ((p, a) for a in accelerators for p in a.patterns), key=lambda pa: -len(pa[0])
        )
        self._instances: dict[str, list[InstanceType]] = {}
        for item in instances:
            self._instances.setdefault(item.instance_type.lower(), []).append(item)

    def match_accelerator(self, text: str | None) -> Accelerator | None:
        """The accelerator named in ``text`` (nvidia-smi name, DCGM modelName, billing SKU
        description, GRES type): an exact key, else the longest pattern it contains.
        """
        if not text:
            return None
        lowered = " ".join(text.lower().split())
        for accelerator in self.accelerators.values():
            if lowered == accelerator.key.lower():
                return accelerator
        for pattern, accelerator in self._patterns:
            if pattern in lowered:
                return accelerator
        return None

    def instance(
        self, instance_type: str | None, provider: str | None = None
    ) -> InstanceType | None:
        """The catalog row for an instance type (``p4d.24xlarge``, ``ml.p5.48xlarge``,
        ``a3-highgpu-8g``, ``Standard_ND96isr_H100_v5``), case-insensitively.

        SageMaker ``ml.`` types fall back to the EC2 type of the same hardware.
        """
        if not instance_type:
            return None
        name = instance_type.strip().lower()
        candidates = self._instances.get(name)
        if not candidates and name.startswith("ml."):
            candidates = self._instances.get(name[3:])
        if not candidates and not name.startswith("standard_"):
            candidates = self._instances.get("standard_" + name)  # Azure sizes without prefix
        if not candidates:
            return None
        if provider:
            preferred = [c for c in candidates if c.provider == provider]
            if preferred:
                return preferred[0]
        return candidates[0]

    def accelerator_of(self, instance: InstanceType) -> Accelerator:
        """The accelerator an instance type carries."""
        return self.accelerators[instance.accelerator_key]


def _read_csv(name: str) -> tuple[list[dict[str, str]], bytes]:
    data = (resources.files("reconcile.data") / name).read_bytes()
    return list(csv.DictReader(data.decode("utf-8").splitlines())), data


@cache
def load_catalog() -> Catalog:
    """The shipped catalog (parsed once per process)."""
    accelerator_rows, a_bytes = _read_csv("accelerators.csv")
    instance_rows, i_bytes = _read_csv("instances.csv")
    accelerators = [
        Accelerator(
            vendor=row["vendor"],
            model=row["model"],
            variant=row["variant"],
            memory_gb=_number(row["memory_gb"]),
            peak_tflops={p: _number(row[c]) for p, c in _PEAK_COLUMNS.items()},
            tdp_w=_number(row["tdp_w"]),
            release_year=int(row["release_year"]) if row["release_year"].strip() else None,
            patterns=tuple(p.strip() for p in row["name_patterns"].split("|") if p.strip()),
            source=row["source"],
        )
        for row in accelerator_rows
    ]
    by_model = {(a.model, a.variant): a.key for a in accelerators}
    instances = [
        InstanceType(
            provider=row["provider"],
            # TPU rows name a per-chip price unit, e.g. "tpu-v4 (per chip-hour)".
            instance_type=re.sub(r"\s*\(per chip-hour\)$", "", row["instance_type"]),
            accelerator_key=by_model[(row["accelerator_model"], row["accelerator_variant"])],
            accelerators_per_instance=float(row["accelerators_per_instance"]),
            vcpus=_number(row["vcpus"]),
            memory_gib=_number(row["memory_gib"]),
            on_demand_usd_per_hour=_number(row["on_demand_usd_per_hour"]),
            price_region=row["price_region"],
            price_as_of=row["price_as_of"],
            source=row["source"],
        )
        for row in instance_rows
    ]
    version = hashlib.sha256(a_bytes + i_bytes).hexdigest()[:12]
    return Catalog(accelerators, instances, version)
