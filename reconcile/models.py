"""Base models: the shipped catalog, and resolving what logs say to a Hub repo id.

Logs name base models in many ways: a Hub id (``Qwen/Qwen2.5-7B``), a post-trained
variant (``Qwen/Qwen2.5-7B-Instruct``), a local path (``/mnt/models/Qwen2.5-7B-Instruct``,
``/data/meta-llama/Llama-3.1-8B``), a Hub cache folder
(``.../models--Qwen--Qwen2.5-7B/snapshots/<sha>``). ``ModelRegistry.resolve`` maps each to
a catalog entry when it can, and always says how (``basis``).

The catalog (``reconcile/data/base_models.csv``) records each model's pretraining compute
with its basis (published, 6ND estimate, hardware estimate, unknown), training tokens and
systemic-risk presumption, each row with its sources; users can add or override entries
and aliases in the config (``[models]``). Configs of the catalog models
(``reconcile/data/model_configs``) give parameter counts when a run's own folder has none.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from reconcile.errors import ConfigError
from reconcile.hub import HubClient
from reconcile.params import ConfigCompletions, transformers_version

# Suffixes of post-trained releases, removed (anywhere before a "-" or the end) to find
# the base: -Instruct, -Chat, -it, -chat-hf's "chat", -SFT, -DPO, -RLHF.
_VARIANT_TOKENS = re.compile(r"-(instruct|chat|it|sft|dpo|rlhf)(?=-|$)", re.IGNORECASE)
# Repackaging and quantisation suffixes: re-uploads of the same architecture in another
# file format or precision (unsloth, TheBloke, bartowski, mlx-community, ...).
_REPACK_SUFFIX = re.compile(
    r"[-_.](?:unsloth(?:-bnb)?(?:-[48]bit)?|bnb-[48]bit|[48]bit|gptq(?:-int[48])?|awq(?:-int4)?"
    r"|gguf|ggml|exl2|mlx|hqq|nf4|int[48]|bf16|fp16|fp8(?:-dynamic)?|w[48]a(?:8|16)|"
    r"quantized(?:\.w[48]a(?:8|16))?|dynamic)$",
    re.IGNORECASE,
)
#: Organisations that re-upload other publishers' models; the name decides the model.
REPACKAGERS = frozenset(
    {
        "unsloth",
        "thebloke",
        "bartowski",
        "mlx-community",
        "lmstudio-community",
        "maziyarpanahi",
        "hugging-quants",
        "neuralmagic",
        "redhatai",
        "casperhansen",
        "modelcloud",
        "nousresearch",
        "huggyllama",
        "unsloth-community",
        "solidrust",
        "turboderp",
        "quantfactory",
    }
)
_HF_CACHE = re.compile(r"models--([^/\\]+?)--([^/\\]+)")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Path segments that never name a model: mounts, notebook platforms' input folders,
# framework and version folders, snapshot hashes.
_NOISE_SEGMENT = re.compile(
    r"^(?:\d+|v\d+|[0-9a-f]{40}|snapshots|main|refs|transformers|pytorch|jax|flax|keras|"
    r"hf|huggingface|hub|safetensors|models?|weights|checkpoints?|pretrained|base_?models?|"
    r"input|kaggle|working|content|drive|mydrive|mnt|data|datasets?|root|home|opt|ml|tmp|"
    r"workspace|scratch|shared|share|autodl-tmp|autodl-fs|cache|\.cache|llm|llms|~|\.|\.\.)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BaseModel:
    """One catalog entry."""

    repo_id: str
    family: str
    params_total: int | None
    params_active: int | None
    training_tokens: float | None
    pretraining_flops: float | None
    flops_basis: str  # published | 6ND-estimate | epoch-estimate | user | unknown
    systemic_risk: bool | None
    source: str


@dataclass(frozen=True)
class Resolution:
    """How a raw base-model string was resolved.

    Attributes:
        repo_id: the Hub id the run started from (None when unresolvable).
        catalog_id: the catalog entry whose compute applies (a variant's base, or the
            repo itself); None when not in the catalog.
        basis: alias | catalog | variant | path_tail | hf_cache | repo_id | unresolved.
        note: a sentence for the report.
    """

    raw: str | None
    repo_id: str | None
    catalog_id: str | None
    basis: str
    note: str


def _optional_float(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def _shipped_rows() -> tuple[BaseModel, ...]:
    data = (resources.files("reconcile.data") / "base_models.csv").read_text("utf-8")
    rows = []
    for row in csv.DictReader(data.splitlines()):
        risk = row["systemic_risk_presumed"].strip().lower()
        rows.append(
            BaseModel(
                repo_id=row["hf_repo_id"],
                family=row["family"],
                params_total=int(row["params_total"]) if row["params_total"] else None,
                params_active=int(row["params_active"]) if row["params_active"] else None,
                training_tokens=_optional_float(row["training_tokens"]),
                pretraining_flops=_optional_float(row["pretraining_flops"]),
                flops_basis=row["flops_basis"] or "unknown",
                systemic_risk={"true": True, "false": False}.get(risk),
                source=row["source"],
            )
        )
    return tuple(rows)


@cache
def shipped_digest() -> str:
    """One sha256 over the catalog the package ships (base models, aliases, configs): a
    tool whose catalog changed resolves again what an older one resolved."""
    data = resources.files("reconcile.data")
    digest = hashlib.sha256()
    for name in ("base_models.csv", "model_aliases.csv"):
        digest.update((data / name).read_bytes())
    configs = data / "model_configs"
    for entry in sorted(configs.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()


@cache
def _shipped_config(repo_id: str) -> dict[str, Any] | None:
    name = repo_id.replace("/", "__") + ".json"
    path = resources.files("reconcile.data") / "model_configs" / name
    if not path.is_file():
        return None
    config: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return config


@dataclass(frozen=True)
class Link:
    """A shipped alias: another id for a catalog model, and how the two relate.

    ``relation``: renamed (the same model under an earlier or later id), repackaged (a
    re-upload of the same weights), variant (a post-trained release of the base),
    derivative (a community fine-tune whose model card names the base).
    """

    alias: str
    target: str
    relation: str
    source: str


_RELATIONS = {"renamed": "renamed", "repackaged": "repackaged", "post_trained": "variant"}
_RELATIONS["derivative"] = "derivative"


@cache
def _shipped_links() -> tuple[Link, ...]:
    path = resources.files("reconcile.data") / "model_aliases.csv"
    if not path.is_file():
        return ()
    links = []
    for row in csv.DictReader(path.read_text("utf-8").splitlines()):
        relation = _RELATIONS.get(row["relation"].strip())
        if relation is None:
            raise ValueError(f"model_aliases.csv: unknown relation {row['relation']!r}")
        links.append(Link(row["alias"].strip(), row["target"].strip(), relation, row["source"]))
    return tuple(links)


def _strip_repack(name: str) -> str:
    """``name`` without repackaging/quantisation suffixes (``-bnb-4bit``, ``-GPTQ``, ...)."""
    while True:
        stripped = _REPACK_SUFFIX.sub("", name)
        if stripped == name or not stripped:
            return name
        name = stripped


def name_key(name: str) -> str:
    """A model name reduced to what identifies it: case, separators, repackaging suffixes
    and the conversion suffix ``-hf`` removed (``Llama-2-7b-hf`` and ``llama_2_7b`` meet)."""
    name = _strip_repack(name.strip())
    name = re.sub(r"[-_]hf$", "", name, flags=re.IGNORECASE)
    return re.sub(r"[-_\s]+", "", name.lower())


def _name_keys(repo_id: str) -> set[str]:
    """Every key a catalog or alias id is found under by name alone."""
    name = repo_id.split("/")[-1]
    keys = {name_key(name)}
    # "Meta-Llama-3-8B" is written "llama-3-8b" by re-uploaders and notebook platforms.
    for prefix in ("meta-", "Meta-"):
        if name.startswith(prefix):
            keys.add(name_key(name[len(prefix) :]))
    return keys


@dataclass(frozen=True)
class _Match:
    catalog_id: str
    repo_id: str
    relation: str  # catalog | renamed | repackaged | variant | derivative
    note: str


class ModelRegistry:
    """The catalog plus the user's aliases and overrides.

    Args:
        options: the config file's ``[models]`` table:
            ``aliases = {"<raw string or path>" = "<org/name>"}`` and
            ``[models.base."org/name"]`` with ``pretraining_flops``, ``source`` (required
            with a figure), ``systemic_risk``, ``config`` (the name of a shipped config
            to count parameters with, e.g. for a private fork); ``hub = true`` to fetch
            configs and model cards of ids the catalog lacks (reconcile/hub.py).
        hub_cache: where Hub files are cached (beside the warehouse).
        hub_endpoint: the Hub or a company mirror (``HF_ENDPOINT``); None: the public Hub.

    Raises:
        ConfigError: an unknown key or a badly typed value (named).
    """

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        hub_cache: Path | None = None,
        hub_endpoint: str | None = None,
    ) -> None:
        options = dict(options or {})
        self.check_options(options)
        aliases = options.get("aliases", {})
        hub = options.get("hub", False)
        #: what resolution depends on beyond the evidence: the ``[models]`` table, the
        #: shipped catalog (rows, aliases, configs) and the transformers version that
        #: completes configs (``resolve.resolution_digest``); with the Hub look-up on,
        #: the Hub's answers can change besides (``resolve.ensure_resolved``)
        self.digest: str = hashlib.sha256(
            json.dumps(
                [options, shipped_digest(), transformers_version()], sort_keys=True, default=str
            ).encode()
        ).hexdigest()
        self.hub: HubClient | None = (
            HubClient(hub_cache or Path("reconcile-hub-cache"), hub_endpoint) if hub else None
        )
        #: configs completed with their class defaults (resolve_runs keeps them in the
        #: warehouse), so transformers is imported only for a config not seen before
        self.completions = ConfigCompletions()
        self.aliases = {k.strip(): v.strip() for k, v in aliases.items()}
        self.entries = {m.repo_id.lower(): m for m in _shipped_rows()}
        self.links = {
            link.alias.lower(): link
            for link in _shipped_links()
            if link.alias.lower() not in self.entries
        }
        self.config_aliases: dict[str, str] = {}
        for repo_id, spec in (options.get("base") or {}).items():
            self._override(repo_id, spec)
        self._by_key: dict[str, set[str]] = {}
        self._names = [e.repo_id for e in self.entries.values()] + [
            link.alias for link in self.links.values()
        ]
        for repo_id in self._names:
            for key in _name_keys(repo_id):
                self._by_key.setdefault(key, set()).add(repo_id)

    @staticmethod
    def check_options(options: Mapping[str, Any] | None) -> None:
        """Validate a ``[models]`` table without building a registry.

        Raises:
            ConfigError: an unknown key or a badly typed value (named).
        """
        options = dict(options or {})
        for key in options:
            if key not in ("aliases", "base", "hub"):
                raise ConfigError(f"unknown key 'models.{key}'", hint="known: aliases, base, hub")
        aliases = options.get("aliases", {})
        if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
        ):
            raise ConfigError("'models.aliases' must map strings to Hub ids")
        if not isinstance(options.get("hub", False), bool):
            raise ConfigError("'models.hub' must be true or false")
        for repo_id, spec in (options.get("base") or {}).items():
            _check_base(repo_id, spec)

    def _override(self, repo_id: str, spec: Any) -> None:
        flops = spec.get("pretraining_flops")
        risk = spec.get("systemic_risk")
        if "config" in spec:
            self.config_aliases[repo_id.lower()] = spec["config"]
        current = self.entries.get(repo_id.lower()) or BaseModel(
            repo_id=repo_id,
            family="",
            params_total=None,
            params_active=None,
            training_tokens=None,
            pretraining_flops=None,
            flops_basis="unknown",
            systemic_risk=None,
            source="",
        )
        if flops is not None:
            current = replace(
                current,
                pretraining_flops=float(flops),
                flops_basis="user",
                source=f"user config: {spec['source']}",
            )
        if risk is not None:
            current = replace(current, systemic_risk=risk)
        self.entries[repo_id.lower()] = current

    def base(self, repo_id: str | None) -> BaseModel | None:
        """The catalog entry for a resolved id."""
        return self.entries.get(repo_id.lower()) if repo_id else None

    def config(self, repo_id: str | None) -> dict[str, Any] | None:
        """A shipped config.json for ``repo_id`` (or the config named in an override)."""
        if not repo_id:
            return None
        name = self.config_aliases.get(repo_id.lower())
        if name:
            return _shipped_config(name)
        entry = self.entries.get(repo_id.lower())
        if entry is None and repo_id.lower() in self.links:
            entry = self.entries.get(self.links[repo_id.lower()].target.lower())
        return _shipped_config(entry.repo_id if entry else repo_id)

    def _exact(self, repo_id: str) -> _Match | None:
        """A catalog row or a shipped alias with exactly this id (any case)."""
        entry = self.entries.get(repo_id.lower())
        if entry:
            return _Match(entry.repo_id, entry.repo_id, "catalog", "")
        link = self.links.get(repo_id.lower())
        if link:
            target = self.entries.get(link.target.lower())
            if target is None:
                return None
            note = {
                "renamed": f"{link.alias} is the same model as {target.repo_id} (renamed)",
                "repackaged": f"{link.alias} is a re-upload of {target.repo_id}",
                "variant": f"{link.alias} is a post-trained variant of {target.repo_id}",
                "derivative": (
                    f"{link.alias} is a community fine-tune of {target.repo_id} "
                    "(its model card names that base)"
                ),
            }[link.relation]
            repo = target.repo_id if link.relation == "renamed" else link.alias
            return _Match(target.repo_id, repo, link.relation, f"{note} [{link.source}]")
        return None

    def _by_name(self, org: str | None, name: str) -> _Match | None:
        """A catalog row or alias found by its name alone (re-uploads, local folders)."""
        found: set[str] = set()
        for key in _name_keys(name):
            found |= self._by_key.get(key, set())
        if org and len(found) > 1:
            same_org = {f for f in found if f.split("/")[0].lower() == org.lower()}
            found = same_org or found
        if len(found) > 1:
            # re-uploads of one model share its name: not ambiguous
            hits = [self._exact(f) for f in found]
            same = {h.catalog_id for h in hits if h} if all(hits) else set()
            if len(same) == 1 and all(
                h and h.relation in ("catalog", "renamed", "repackaged") for h in hits
            ):
                found = same
        if len(found) != 1:
            return None
        hit = self._exact(next(iter(found)))
        if hit is None:
            return None
        if (
            org
            and org.lower() == hit.catalog_id.split("/")[0].lower()
            and (hit.relation == "catalog")
        ):
            if name.lower() == hit.catalog_id.split("/")[-1].lower():
                return hit
            return _Match(
                hit.catalog_id,
                hit.catalog_id,
                "renamed",
                f"{org}/{name} is {hit.catalog_id} under another name",
            )
        if org is None:
            return hit
        # Another organisation's upload of a model with this name: a re-upload, or a
        # fine-tune that kept the name; either way the architecture is the catalog's.
        relation = hit.relation if hit.relation != "catalog" else "repackaged"
        note = f"{org}/{name} carries the name of {hit.catalog_id}: taken as a re-upload of it"
        return _Match(hit.catalog_id, f"{org}/{name}", relation, note)

    def _lookup(self, org: str | None, name: str) -> _Match | None:
        """Resolve one ``org/name`` (org may be unknown) to the catalog, or None."""
        name = name.strip()
        if not name:
            return None
        if org:
            hit = self._exact(f"{org}/{name}")
            if hit:
                return hit
        clean = _strip_repack(name)
        if org and clean != name:
            hit = self._exact(f"{org}/{clean}")
            if hit:
                return _Match(
                    hit.catalog_id,
                    f"{org}/{name}",
                    hit.relation if hit.relation != "catalog" else "repackaged",
                    f"{org}/{name} is a quantised or converted copy of {hit.catalog_id}",
                )
        repackager = bool(org) and str(org).lower() in REPACKAGERS
        hit = self._by_name(None if repackager else org, clean)
        if hit:
            if repackager:
                return _Match(
                    hit.catalog_id,
                    f"{org}/{name}",
                    hit.relation if hit.relation != "catalog" else "repackaged",
                    f"{org}/{name} is {org}'s re-upload of {hit.catalog_id}"
                    + (f"; {hit.note}" if hit.note else ""),
                )
            return hit
        # Post-trained releases: drop -Instruct/-Chat/-it..., or the base is published
        # with a -Base suffix (Qwen3-8B is the post-trained model, Qwen3-8B-Base the base).
        stripped = _VARIANT_TOKENS.sub("", clean)
        tries = [stripped] if stripped != clean else []
        tries += [
            f"{stripped}-Base",
            f"{stripped}-pt",  # Gemma 3 publishes its pretrained models as -pt
            re.sub(r"(?i)-(chat|instruct)(?=-|$)", "-base", clean),
        ]
        for candidate in dict.fromkeys(tries):
            if candidate == clean:
                continue
            hit = self._by_name(None if repackager else org, candidate)
            if hit:
                variant_id = f"{org}/{name}" if org else name
                return _Match(
                    hit.catalog_id,
                    variant_id,
                    "variant",
                    f"{variant_id} is a post-trained variant of {hit.catalog_id}",
                )
        return self._by_prefix(org, clean)

    def _by_prefix(self, org: str | None, name: str) -> _Match | None:
        """A name that extends a catalog model's name (``SmolLM2-135M-SFT-Only``): a
        fine-tune named after its base. The longest such catalog name decides; two of
        the same length are ambiguous."""
        lowered = name.lower()
        found: dict[int, set[str]] = {}
        for repo_id in self._names:
            base = repo_id.split("/")[-1].lower()
            if (
                len(base) >= 4
                and lowered[len(base) : len(base) + 1] in ("-", "_", ".")
                and (lowered.startswith(base))
            ):
                found.setdefault(len(base), set()).add(repo_id)
        if not found:
            return None
        longest = found[max(found)]
        if len(longest) != 1:
            return None
        hit = self._exact(next(iter(longest)))
        if hit is None:
            return None
        derived = f"{org}/{name}" if org else name
        return _Match(
            hit.catalog_id,
            derived,
            "derivative",
            f"{derived} is named after {hit.catalog_id}: taken as a fine-tune of it",
        )

    def resolve(self, raw: str | None) -> Resolution:
        """Resolve a base-model string from a log (see the module docstring)."""
        if raw is None or not str(raw).strip():
            return Resolution(raw, None, None, "unresolved", "no base model in the evidence")
        text = str(raw).strip()
        if text in self.aliases:
            target = self.aliases[text]
            hit = self._lookup(*_split(target))
            return Resolution(
                text,
                target,
                hit.catalog_id if hit else None,
                "alias",
                f"{text!r} mapped to {target} by the config's aliases",
            )
        cache_match = _HF_CACHE.search(text)
        if cache_match:
            org, name = cache_match[1], cache_match[2]
            hit = self._lookup(org, name)
            return self._result(text, f"{org}/{name}", hit, "hf_cache", "Hub cache folder")
        if _REPO_ID.match(text) and not text.startswith((".", "/", "~")):
            hit = self._lookup(*_split(text))
            return self._result(text, text, hit, "catalog", "")
        for org, name in _path_candidates(text):
            hit = self._lookup(org, name)
            if hit and org and hit.relation == "repackaged" and org.lower() not in REPACKAGERS:
                continue  # a folder above the model is not its publisher: try the name alone
            if hit:
                return self._result(
                    text,
                    hit.repo_id
                    if "/" in hit.repo_id
                    else f"{hit.catalog_id.split('/')[0]}/{hit.repo_id}",
                    hit,
                    "path_tail",
                    f"local path {text!r} matched by its tail",
                )
        return Resolution(
            text,
            None,
            None,
            "unresolved",
            f"{text!r} is not a Hub id and matches no catalog model or alias; "
            f'add it to [models.aliases] ("{text}" = "<org>/<name>")',
        )

    def _result(
        self, raw: str, repo_id: str, hit: _Match | None, parsed_as: str, note: str
    ) -> Resolution:
        if hit is None:
            return Resolution(
                raw,
                repo_id,
                None,
                "repo_id" if parsed_as == "catalog" else parsed_as,
                (f"{note}; " if note else "")
                + f'{repo_id} is not in the catalog: add [models.base."{repo_id}"] with its '
                "pretraining compute and source, or a config.json to the run's folder",
            )
        notes = [n for n in (note, hit.note) if n]
        if hit.relation in ("variant", "derivative"):
            notes.append(
                f"its own training compute is not in the catalog, so {hit.catalog_id}'s "
                "pretraining compute is used (a lower bound of the original model's compute, "
                "hence a conservative threshold)"
            )
        if hit.relation == "catalog":
            repo = hit.catalog_id if parsed_as != "path_tail" else repo_id
            return Resolution(raw, repo, hit.catalog_id, parsed_as, "; ".join(notes))
        if hit.relation == "renamed":
            repo_id = hit.catalog_id
        elif parsed_as != "path_tail":
            repo_id = hit.repo_id if "/" in hit.repo_id else repo_id
        return Resolution(raw, repo_id, hit.catalog_id, hit.relation, "; ".join(notes))


def _split(repo_id: str) -> tuple[str | None, str]:
    if "/" in repo_id:
        org, name = repo_id.rsplit("/", 1)
        return org.split("/")[-1], name
    return None, repo_id


def _path_candidates(text: str) -> list[tuple[str | None, str]]:
    """(org, name) pairs a local path or URI may name, most specific first.

    The meaningful part of a path is what is left once mounts, notebook platforms' input
    folders, framework and version folders and snapshot hashes are dropped:
    ``/kaggle/input/llama-3/transformers/8b-hf/1`` -> ``llama-3`` + ``8b-hf``.
    """
    path = text.split("://", 1)[-1]
    parts = [p for p in re.split(r"[\\/]", path) if p]
    meaningful = [p for p in parts if not _NOISE_SEGMENT.match(p)]
    if not meaningful:
        return []
    last = meaningful[-1]
    out: list[tuple[str | None, str]] = []
    if len(meaningful) >= 2:
        out.append((meaningful[-2], last))
    out.append((None, last))
    if len(meaningful) >= 2:
        # notebook platforms: <model>/<framework>/<variation>/<version>
        out.append((None, f"{meaningful[-2]}-{last}"))
    return out


def _check_base(repo_id: str, spec: Any) -> None:
    """Validate one ``[models.base."org/name"]`` table."""
    where = f"models.base.{repo_id}"
    if not isinstance(spec, dict):
        raise ConfigError(f"'{where}' must be a table")
    for key in spec:
        if key not in ("pretraining_flops", "source", "systemic_risk", "config"):
            raise ConfigError(
                f"unknown key '{where}.{key}'",
                hint="known: pretraining_flops, source, systemic_risk, config",
            )
    flops = spec.get("pretraining_flops")
    if flops is not None and (not isinstance(flops, (int, float)) or flops <= 0):
        raise ConfigError(f"'{where}.pretraining_flops' must be a positive number")
    if flops is not None and not isinstance(spec.get("source"), str):
        raise ConfigError(
            f"'{where}.source' is required with a compute figure",
            hint="say where the figure comes from",
        )
    risk = spec.get("systemic_risk")
    if risk is not None and not isinstance(risk, bool):
        raise ConfigError(f"'{where}.systemic_risk' must be true or false")
    if "config" in spec and (
        not isinstance(spec["config"], str) or _shipped_config(spec["config"]) is None
    ):
        raise ConfigError(f"'{where}.config' must name a shipped model config")


@cache
def default_registry() -> ModelRegistry:
    """The registry with no user configuration."""
    return ModelRegistry()
