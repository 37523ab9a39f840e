"""The accelerator and instance catalog: peak throughput per precision, and how many
accelerators each cloud instance type carries.

Data: ``reconcile/data/accelerators.csv`` and ``instances.csv``, each row with its
source (vendor datasheets, cloud price lists; see the ``source`` column and the
project's reference notes). All tensor peaks are dense (2:4-sparsity figures halved).

Accelerator names are matched exactly or by the **longest** catalog pattern contained
in the text, so that ``h20`` never wins over ``h200``, ``l4`` over ``l40s`` or ``a10``
over ``a100``: every pattern is tested and the longest match is kept.

Two lookups exist:

- ``Catalog.match_accelerator(text)`` (the original): one accelerator or None, from an
  exact key or the longest name pattern. Made for tool output (nvidia-smi, DCGM,
  billing SKUs); it returns None for a bare family name such as ``"H100"``.
- ``Catalog.resolve_accelerator(text)`` returns an ``AcceleratorMatch`` for names as
  people write them. It tries, in order:

  1. an **instance** type (``p4d.24xlarge``, ``ml.p4d.24xlarge``,
     ``Standard_ND96asr_v4``, ``a2-highgpu-8g``) through ``instances.csv``: one
     candidate, ``count`` = accelerators per instance (times a written multiplier);
     a string shaped like an instance type but not in the catalog resolves to None;
  2. a multiplicity written in the name is taken off first (``"8x A100"``,
     ``"8 x H100"``, ``"A100 x8"`` -> ``count`` 8); a TPU slice suffix gives the chip
     count (``v4-256``, ``v5p-128``: TensorCores, 2 per chip -> 128, 64 chips;
     ``v5litepod-16``, ``v6e-8``: chips);
  3. **exact**: the text is a catalog key (``"NVIDIA H100 SXM5-80GB"``) or
     ``"model variant"``;
  4. **pattern**: the longest name pattern that names one variant
     (``"NVIDIA A100-SXM4-80GB"``, ``"Tesla V100-SXM2-32GB"``, ``"H100 PCIe"``),
     matched on word boundaries here (``nvidia a40`` does not match ``A4000``);
  5. **family**: a model name on word boundaries (``"A100"``, ``"H100"``,
     ``"V100"``, ``"MI300X"``, ``"TPUv4"``, ``"RTX 4090"``) -- also when the only
     pattern found is the bare model name, as ``nvidia h200`` -- gives every catalog
     variant of that model, narrowed by a memory size (``"A100 80GB"``,
     ``"A100 (40GB)"``) or form factor (``sxm``, ``pcie``, ``nvl``, ``hgx``,
     ``oam``) written in the text when that leaves at least one. Candidates keep
     catalog order (SXM before PCIe), the row a bare-model pattern names first.
     Two-character models (``A2``, ``T4``, ``L4``) are not read from text that
     also speaks of an instance, cores, RAM or a machine family, so that the GCP SKU
     ``"A2 Instance Core"`` is not an NVIDIA A2;
  6. otherwise the original substring rule (basis ``pattern``), so every string
     ``match_accelerator`` knows still resolves.

``reference_peak(acc, precision)`` gives the FLOP/s an upper bound should use: the
**dense BF16/FP16 tensor peak** (BF16 where the row has it, else FP16, else TF32, else
FP32), or the dense FP8 peak when -- and only when -- ``precision`` is fp8 and the row
has one; it returns the value with the CSV column it came from.
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
    "float8_e5m2": "fp8",
    "float8_e4m3fnuz": "fp8",
    "float8_e5m2fnuz": "fp8",
    "e4m3": "fp8",
    "e5m2": "fp8",
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


@dataclass(frozen=True)
class AcceleratorMatch:
    """What ``Catalog.resolve_accelerator`` made of a name.

    Attributes:
        candidates: the catalog rows the name can mean: one when it is exact, several
            when it is ambiguous ("H100" = SXM, PCIe or NVL); catalog order, the
            catalog's default reading first.
        count: a multiplicity written in the name ("8x A100" -> 8; an instance type ->
            its accelerators per instance; a TPU slice -> its chips), else None.
        basis: ``exact``, ``pattern``, ``family`` or ``instance``.
    """

    candidates: tuple[Accelerator, ...]
    count: int | None
    basis: str

    @property
    def unique(self) -> Accelerator | None:
        """The one candidate, or None when the name is ambiguous."""
        return self.candidates[0] if len(self.candidates) == 1 else None


def reference_peak(acc: Accelerator, precision: str | None) -> tuple[float, str]:
    """The dense peak (FLOP/s) an upper bound uses for ``acc``, and its CSV column.

    The reference is the dense BF16/FP16 tensor peak: BF16 where the row has it, else
    FP16, else TF32, else FP32. The dense FP8 peak is used only when ``precision`` is
    fp8 (any spelling ``normalize_precision`` knows) and the row has an FP8 figure.
    Raises ValueError when the row has no peak at all (Gaudi HL-205).
    """
    order = (
        ("fp8", *_REFERENCE_ORDER) if normalize_precision(precision) == "fp8" else _REFERENCE_ORDER
    )
    for name in order:
        value = acc.peak_tflops.get(name)
        if value:
            return value * 1e12, _PEAK_COLUMNS[name]
    raise ValueError(f"{acc.key}: the catalog has no peak throughput for it")


_REFERENCE_ORDER = ("bf16", "fp16", "tf32", "fp32")
_PLURAL = re.compile(r"[a-z]*\d+(?:gb)?s\b")
# "8x A100", "8 x H100", "8×H100", "8 * A100", "8 A100" / "A100 x8", "A100 x 8"
_COUNT_PREFIX = re.compile(
    r"^(\d{1,6})\s*(?:x|×|\*)?\s+(?=\S)(.+)$|^(\d{1,6})\s*(?:x|×|\*)\s*(.+)$"
)
_COUNT_SUFFIX = re.compile(r"^(.+?)(?:\s+(?:x|×|\*)\s*|(?<=\d)(?:x|×|\*))(\d{1,6})$")
# "GPU: 8 x A100", "node (8× H100)": a multiplier inside the text
_COUNT_INSIDE = re.compile(r"(?<=[\s:(,\[])(\d{1,6})\s*(?:x|×)\s+(?=[a-z])")
# TPU slices: v2/v3/v4/v5p count TensorCores (2 per chip), v5e/v6e count chips.
_TPU_SLICE = re.compile(
    r"(?<![a-z0-9])(?:tpu[\s_-]?)?(v2|v3|v4|v5p|v5litepod|v5lite|v5e|v6e)-(\d+)(?![0-9])"
)
_TPU_PER_CORE = {"v2", "v3", "v4", "v5p"}
_MEMORY = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*(?:gb|gib|g)(?![a-z0-9])")
_FORM_FACTORS = ("sxm", "pcie", "nvl", "hgx", "oam")
# Strings shaped like cloud instance types / machine types: never read as a GPU family.
_INSTANCE_LIKE = re.compile(
    r"^(?:ml\.)?[a-z][a-z0-9-]*\.(?:nano|micro|small|medium|large|\d*xlarge|metal(?:-[a-z0-9]+)?)$"
    r"|^[a-z]\d[a-z]?-(?:highgpu|megagpu|ultragpu|edgegpu|standard|highmem|highcpu)-\d+[a-z]?$"
    r"|^standard_[a-z0-9_]+$"
)
# Text about machines rather than accelerators: two-character model names are not read
# from it ("A2 Instance Core running in Americas" is GCP's A2 machine family).
_MACHINE_WORDS = re.compile(
    r"(?<![a-z])(?:instance|core|cores|ram|vcpu|machine|highgpu|megagpu|ultragpu|standard|highmem|highcpu)(?![a-z])"
)
_VENDOR_WORDS = ("nvidia ", "amd ", "intel ", "google ", "aws ", "habana ")
_BRAND_PREFIXES = ("geforce ", "instinct ", "quadro ", "rtx ")


def _words(text: str) -> str:
    """Lowercase, every run of non-alphanumerics one space."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _family_aliases(model: str) -> set[str]:
    """Spellings of a model name: "TPU v6e (Trillium)" -> tpu v6e, tpuv6e, trillium."""
    bases = [re.sub(r"\(.*?\)", " ", model)]
    bases += re.findall(r"\((.*?)\)", model)
    aliases: set[str] = set()
    for base in bases:
        words = _words(base)
        if not words:
            continue
        forms = {words}
        for prefix in _BRAND_PREFIXES:
            if words.startswith(prefix) and len(words) > len(prefix) + 2:
                forms.add(words[len(prefix) :])
        for form in list(forms):
            forms.add(form.replace(" ", ""))
            spaced = re.sub(r"^([a-z]{4,})(\d+)$", r"\1 \2", form)  # gaudi2 -> gaudi 2
            forms.add(spaced)
        aliases |= {f for f in forms if len(f) >= 2}
    return aliases


def _bounded(pattern: str) -> re.Pattern[str]:
    """``pattern`` as a regex that may not run into letters or digits on either side."""
    left = r"(?<![a-z0-9])" if pattern[:1].isalnum() else ""
    right = r"(?![a-z0-9])" if pattern[-1:].isalnum() else ""
    return re.compile(left + re.escape(pattern) + right)


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
        # resolve_accelerator: families (vendor, model) -> variants in catalog order,
        # their name spellings (longest first) and word-bounded patterns.
        self._families: dict[tuple[str, str], list[Accelerator]] = {}
        for accelerator in accelerators:
            family = (accelerator.vendor, accelerator.model)
            self._families.setdefault(family, []).append(accelerator)
        aliases = {
            (alias, family) for family in self._families for alias in _family_aliases(family[1])
        }
        self._aliases = sorted(
            ((alias, _bounded(alias), family) for alias, family in aliases),
            key=lambda item: (-len(item[0]), item[0]),
        )
        self._bounded_patterns = [(p, _bounded(p), a) for p, a in self._patterns]
        # every word of a catalog name or pattern ("l40s"), which is never a plural
        self._words = {
            word
            for a in accelerators
            for text in (a.model, a.variant, *a.patterns)
            for word in re.split(r"[\s\-_/()]+", text.lower())
            if word
        }
        self._exact = {a.key.lower(): a for a in accelerators}
        self._exact.update({f"{a.model} {a.variant}".lower(): a for a in accelerators})

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
        for _, regex, accelerator in self._bounded_patterns:
            if regex.search(lowered):  # never a40 inside a400, h20 inside h200
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

    def resolve_accelerator(self, text: str | None) -> AcceleratorMatch | None:
        """The catalog rows a name as people write it can mean (see the module
        docstring): instance types, exact keys, name patterns, bare family names
        (every variant), with any multiplicity written in the name.
        """
        if not text:
            return None
        # plurals as papers write them: "A100s", "H100s", "A100-40GBs", "80GB A100s"
        # (never a name that ends in s itself: "L40S")
        lowered = _PLURAL.sub(
            lambda m: m[0] if m[0] in self._words else m[0][:-1],
            " ".join(text.lower().split()),
        )
        if not lowered:
            return None
        multiplier, rest = _take_count(lowered)
        found = self._resolve_instance(rest, multiplier or 1)
        if found is not None:
            return found
        if _INSTANCE_LIKE.match(rest):
            return None
        match = self._resolve_name(rest)
        if match is None:
            return None
        count = multiplier
        chips = _tpu_chips(rest) if match.candidates[0].model.startswith("TPU") else None
        if chips is not None:
            count = chips * (multiplier or 1)
        return AcceleratorMatch(match.candidates, count, match.basis)

    def _resolve_instance(self, text: str, multiplier: int) -> AcceleratorMatch | None:
        for token in [text, *re.split(r"[\s,;()]+", text)]:
            if not token:
                continue
            instance = self.instance(token)
            if instance is not None:
                per = instance.accelerators_per_instance
                # a multiplier counts instances only when it was written on the type itself
                times = multiplier if token == text else 1
                count = int(per) * times if float(per).is_integer() else None
                return AcceleratorMatch((self.accelerator_of(instance),), count, "instance")
        return None

    def _resolve_name(self, text: str) -> AcceleratorMatch | None:
        exact = self._exact.get(text)
        if exact is not None:
            return AcceleratorMatch((exact,), None, "exact")
        words = _words(text)
        pattern_hit = next(
            ((p, a) for p, regex, a in self._bounded_patterns if regex.search(text)), None
        )
        family_hit = self._family_in(words)
        if pattern_hit is not None:
            pattern, accelerator = pattern_hit
            family = (accelerator.vendor, accelerator.model)
            generic = _strip_vendor(_words(pattern)) in _family_aliases(accelerator.model)
            # A longer model name elsewhere in the text wins over a short pattern.
            if (
                family_hit is not None
                and family_hit[0] != family
                and len(family_hit[1]) > len(_words(pattern))
            ):
                return self._family_match(family_hit[0], words, None)
            if not generic:
                return AcceleratorMatch((accelerator,), None, "pattern")
            return self._family_match(family, words, accelerator)
        if family_hit is not None:
            return self._family_match(family_hit[0], words, None)
        slice_ = _TPU_SLICE.search(text)  # "v4-8", "v5p-128": a TPU slice name alone
        if slice_ is not None:
            version = "v5e" if slice_.group(1).startswith("v5lite") else slice_.group(1)
            tpu = self._family_in(f"tpu {version}")
            if tpu is not None:
                return self._family_match(tpu[0], words, None)
        fallback = self.match_accelerator(text)  # the original substring rule
        if fallback is not None:
            return AcceleratorMatch((fallback,), None, "pattern")
        return None

    def _family_in(self, words: str) -> tuple[tuple[str, str], str] | None:
        """The (vendor, model) whose longest spelling appears in ``words``."""
        machine_text = _MACHINE_WORDS.search(words) is not None
        for alias, regex, family in self._aliases:
            if len(alias) <= 2 and machine_text:
                continue
            if regex.search(words):
                return family, alias
        return None

    def _family_match(
        self, family: tuple[str, str], words: str, default: Accelerator | None
    ) -> AcceleratorMatch:
        variants = list(self._families[family])
        sizes = {float(m) for m in _MEMORY.findall(words)}
        if sizes:
            narrowed = [v for v in variants if v.memory_gb in sizes]
            variants = narrowed or variants
        for form in _FORM_FACTORS:
            if re.search(rf"(?<![a-z]){form}(?![a-z])|(?<![a-z]){form}\d", words):
                narrowed = [v for v in variants if form in v.variant.lower()]
                variants = narrowed or variants
        if default is not None and default in variants:
            variants.remove(default)
            variants.insert(0, default)
        return AcceleratorMatch(tuple(variants), None, "family")

    def accelerator_of(self, instance: InstanceType) -> Accelerator:
        """The accelerator an instance type carries."""
        return self.accelerators[instance.accelerator_key]


def _take_count(text: str) -> tuple[int | None, str]:
    """("8x a100" -> 8, "a100"); (None, text) when no multiplicity is written."""
    match = _COUNT_PREFIX.match(text)
    if match:
        number = match.group(1) or match.group(3)
        rest = match.group(2) or match.group(4)
        if (
            number
            and rest
            and int(number) > 0
            and re.match(r"[a-z]", rest)
            and not re.match(r"(?:gb|gib|g|tb)(?![a-z0-9])", rest)
        ):
            return int(number), rest.strip()
    match = _COUNT_INSIDE.search(text)
    if match and int(match.group(1)) > 0:
        return int(match.group(1)), (text[: match.start(1)] + text[match.end() :]).strip()
    match = _COUNT_SUFFIX.match(text)
    if match and int(match.group(2)) > 0 and not match.group(1).endswith("-"):
        return int(match.group(2)), match.group(1).strip()
    return None, text


def _tpu_chips(text: str) -> int | None:
    """Chips in a TPU slice name (``v4-256`` -> 128, ``v5litepod-16`` -> 16)."""
    match = _TPU_SLICE.search(text)
    if not match:
        return None
    version, number = match.group(1), int(match.group(2))
    if version in _TPU_PER_CORE:
        return number // 2 if number % 2 == 0 else None
    return number


def _strip_vendor(words: str) -> str:
    for vendor in _VENDOR_WORDS:
        if words.startswith(vendor):
            return words[len(vendor) :]
    return words


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
