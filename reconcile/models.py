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
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from reconcile.errors import ConfigError

# Suffixes of post-trained releases, removed (anywhere before a "-" or the end) to find
# the base: -Instruct, -Chat, -it, -chat-hf's "chat", -SFT, -DPO, -RLHF.
_VARIANT_TOKENS = re.compile(r"-(instruct|chat|it|sft|dpo|rlhf)(?=-|$)", re.IGNORECASE)
_HF_CACHE = re.compile(r"models--([^/]+?)--([^/]+)")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


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
def _shipped_config(repo_id: str) -> dict[str, Any] | None:
    name = repo_id.replace("/", "__") + ".json"
    path = resources.files("reconcile.data") / "model_configs" / name
    if not path.is_file():
        return None
    config: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return config


class ModelRegistry:
    """The catalog plus the user's aliases and overrides.

    Args:
        options: the config file's ``[models]`` table:
            ``aliases = {"<raw string or path>" = "<org/name>"}`` and
            ``[models.base."org/name"]`` with ``pretraining_flops``, ``source`` (required
            with a figure), ``systemic_risk``, ``config`` (the name of a shipped config
            to count parameters with, e.g. for a private fork).

    Raises:
        ConfigError: an unknown key or a badly typed value (named).
    """

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        for key in options:
            if key not in ("aliases", "base"):
                raise ConfigError(f"unknown key 'models.{key}'", hint="known: aliases, base")
        aliases = options.get("aliases", {})
        if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
        ):
            raise ConfigError("'models.aliases' must map strings to Hub ids")
        self.aliases = {k.strip(): v.strip() for k, v in aliases.items()}
        self.entries = {m.repo_id.lower(): m for m in _shipped_rows()}
        self.config_aliases: dict[str, str] = {}
        for repo_id, spec in (options.get("base") or {}).items():
            self._override(repo_id, spec)
        self._by_name: dict[str, list[str]] = {}
        for entry in self.entries.values():
            self._by_name.setdefault(entry.repo_id.split("/")[-1].lower(), []).append(entry.repo_id)

    def _override(self, repo_id: str, spec: Any) -> None:
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
        if "config" in spec:
            if not isinstance(spec["config"], str) or _shipped_config(spec["config"]) is None:
                raise ConfigError(f"'{where}.config' must name a shipped model config")
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
        return _shipped_config(entry.repo_id if entry else repo_id)

    def _catalog_match(self, candidate: str) -> tuple[str | None, str | None]:
        """(catalog id, variant-of) for an ``org/name`` or a bare ``name``."""
        candidate = candidate.strip().strip("/")
        if "/" in candidate:
            entry = self.entries.get(candidate.lower())
            if entry:
                return entry.repo_id, None
            org, name = candidate.rsplit("/", 1)
            stripped = _VARIANT_TOKENS.sub("", name)
            if stripped != name:
                entry = self.entries.get(f"{org}/{stripped}".lower())
                if entry:
                    return entry.repo_id, entry.repo_id
                found, _ = self._catalog_match(stripped)
                if found and found.split("/")[0].lower() == org.lower():
                    return found, found
            return None, None
        matches = self._by_name.get(candidate.lower(), [])
        if len(matches) == 1:
            return matches[0], None
        stripped = _VARIANT_TOKENS.sub("", candidate)
        if stripped != candidate:
            matches = self._by_name.get(stripped.lower(), [])
            if len(matches) == 1:
                return matches[0], matches[0]
            # e.g. "Mistral-7B-Instruct-v0.1" -> "Mistral-7B-v0.1"
        return None, None

    def resolve(self, raw: str | None) -> Resolution:
        """Resolve a base-model string from a log (see the module docstring)."""
        if raw is None or not str(raw).strip():
            return Resolution(raw, None, None, "unresolved", "no base model in the evidence")
        text = str(raw).strip()
        if text in self.aliases:
            target = self.aliases[text]
            catalog_id, variant = self._catalog_match(target)
            return Resolution(
                text,
                target,
                catalog_id or (target if self.base(target) else None),
                "alias",
                f"{text!r} mapped to {target} by the config's aliases",
            )
        cache_match = _HF_CACHE.search(text)
        if cache_match:
            repo_id = f"{cache_match[1]}/{cache_match[2]}"
            catalog_id, variant = self._catalog_match(repo_id)
            return self._result(
                text, repo_id, catalog_id, variant, "hf_cache", f"Hub cache folder of {repo_id}"
            )
        if _REPO_ID.match(text) and not text.startswith((".", "/")):
            catalog_id, variant = self._catalog_match(text)
            return self._result(
                text,
                text,
                catalog_id,
                variant,
                "catalog" if catalog_id and not variant else "repo_id",
                "",
            )
        # A local path or URI: try its last two components, then its last one.
        parts = [p for p in re.split(r"[\\/]", text.split("://")[-1]) if p]
        for candidate in (
            ("/".join(parts[-2:]) if len(parts) >= 2 else None),
            parts[-1] if parts else None,
        ):
            if not candidate:
                continue
            catalog_id, variant = self._catalog_match(candidate)
            if catalog_id:
                repo_id = (
                    candidate
                    if "/" in candidate and not variant
                    else (
                        candidate
                        if "/" in candidate
                        else catalog_id.split("/")[0] + "/" + candidate
                    )
                )
                return self._result(
                    text,
                    repo_id,
                    catalog_id,
                    variant,
                    "path_tail",
                    f"local path {text!r} matched by its tail",
                )
        return Resolution(
            text,
            None,
            None,
            "unresolved",
            f"{text!r} is not a Hub id and matches no catalog model or alias; "
            "add it to [models.aliases]",
        )

    def _result(
        self,
        raw: str,
        repo_id: str,
        catalog_id: str | None,
        variant: str | None,
        basis: str,
        note: str,
    ) -> Resolution:
        if variant:
            note = (f"{note}; " if note else "") + (
                f"{repo_id} is a post-trained variant of {variant}: its own training compute "
                f"is not in the catalog, so {variant}'s pretraining compute is used "
                "(a lower bound of the original model's compute, hence a conservative threshold)"
            )
            return Resolution(raw, repo_id, catalog_id, "variant", note)
        if catalog_id is None:
            return Resolution(
                raw,
                repo_id,
                None,
                basis,
                (f"{note}; " if note else "") + f"{repo_id} is not in the catalog",
            )
        return Resolution(
            raw, catalog_id if basis == "catalog" else repo_id, catalog_id, basis, note
        )


@cache
def default_registry() -> ModelRegistry:
    """The registry with no user configuration."""
    return ModelRegistry()
