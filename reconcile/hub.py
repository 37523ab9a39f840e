"""Opt-in look-up of model configs on the Hugging Face Hub or a company mirror.

Only with ``[models] hub = true``. For a base model the catalog lacks, fetch exactly two
small files — ``config.json`` (to count parameters) and ``README.md`` (the model card's
front matter names a derivative's base) — never weights. Files are cached beside the
warehouse, so each id is fetched once and later runs work offline; the repository
revision (commit) is recorded with what was read.

The endpoint and token are the standard Hugging Face ones, read by ``huggingface_hub``
itself: ``HF_ENDPOINT`` (a mirror, e.g. ``https://hf-mirror.example.com``) and
``HF_TOKEN``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_SNAPSHOT = re.compile(r"[\\/]snapshots[\\/]([0-9a-f]{7,64})[\\/]")


@dataclass(frozen=True)
class HubModel:
    """What the Hub says about one repository."""

    repo_id: str
    revision: str | None
    config: dict[str, Any] | None
    card: dict[str, Any]
    problem: str | None = None

    @property
    def base_models(self) -> list[str]:
        """The base models the model card names (``base_model``, a string or a list)."""
        value = self.card.get("base_model")
        values = value if isinstance(value, list) else [value]
        return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _front_matter(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        return {}
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


class HubClient:
    """Fetches and caches ``config.json`` and the model card of repositories.

    Args:
        cache_dir: where fetched files are kept (beside the warehouse).
        endpoint: the Hub or mirror URL; None takes ``HF_ENDPOINT`` as it is now (read
            here, not when ``huggingface_hub`` was first imported) or the public Hub.
    """

    def __init__(self, cache_dir: Path, endpoint: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
        self._seen: dict[str, HubModel] = {}

    def _download(self, repo_id: str, filename: str, offline: bool) -> Path | None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
        )

        try:
            path = hf_hub_download(
                repo_id,
                filename,
                cache_dir=self.cache_dir,
                endpoint=self.endpoint,
                local_files_only=offline,
            )
        except LocalEntryNotFoundError as exc:  # a subclass of EntryNotFoundError: first
            if offline:  # not in the cache: ask the Hub next
                return None
            # Online and still "not found locally": the Hub was not reached (no connection,
            # or HF_HUB_OFFLINE set); say why rather than "the Hub has no such file".
            cause = exc.__cause__ or exc
            raise OSError(str(cause).splitlines()[0] if str(cause) else str(exc)) from exc
        except (EntryNotFoundError, RepositoryNotFoundError):
            return None
        return Path(str(path))

    def model(self, repo_id: str) -> HubModel:
        """The repository's config and card, from the cache when fetched before.

        Network and HTTP errors are not raised: the result says what went wrong, and the
        run stays without a Hub figure (flagged by the caller).
        """
        if repo_id in self._seen:
            return self._seen[repo_id]
        from huggingface_hub.errors import HfHubHTTPError

        result: HubModel
        try:
            config_path = self._download(repo_id, "config.json", offline=True)
            if config_path is None:
                config_path = self._download(repo_id, "config.json", offline=False)
            card_path = self._download(repo_id, "README.md", offline=True) or self._download(
                repo_id, "README.md", offline=False
            )
        except (HfHubHTTPError, OSError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            result = HubModel(repo_id, None, None, {}, f"Hub look-up failed: {reason}")
        else:
            config = None
            if config_path is not None:
                try:
                    loaded = json.loads(config_path.read_text("utf-8"))
                    config = loaded if isinstance(loaded, dict) else None
                except (json.JSONDecodeError, UnicodeDecodeError):
                    config = None
            card = (
                _front_matter(card_path.read_text("utf-8", errors="replace")) if card_path else {}
            )
            found = _SNAPSHOT.search(str(config_path or card_path or ""))
            result = HubModel(
                repo_id,
                found[1] if found else None,
                config,
                card,
                None if (config or card) else "the Hub has no config.json or model card for it",
            )
        self._seen[repo_id] = result
        return result
