"""The one place stores and formats are named.

``STORES`` maps URI schemes to store classes, ``PARSERS`` maps format names to parser
classes. Cloud SDKs are imported inside the store modules, never here.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from connectors.formats.base import Parser
from connectors.formats.billing.aws_cur import AwsCurParser
from connectors.formats.billing.azure_cost import AzureCostParser
from connectors.formats.billing.focus import FocusParser
from connectors.formats.billing.gcp_billing import GcpBillingParser
from connectors.formats.training.flops_meter import FlopsMeterParser
from connectors.formats.training.hf_checkpoint import HfCheckpointParser
from connectors.formats.training.ludwig import LudwigParser
from connectors.formats.training.mlflow import MlflowParser
from connectors.formats.training.run_table import RunTableParser
from connectors.formats.training.sagemaker import SageMakerJobParser
from connectors.formats.training.wandb import WandbParser
from connectors.formats.usage.dcgm import DcgmParser
from connectors.formats.usage.nvidia_smi import NvidiaSmiParser
from connectors.formats.usage.slurm_sacct import SlurmSacctParser
from connectors.stores.base import Store, redact_uri
from reconcile.errors import ConfigError

#: scheme -> "module:Class"; imported lazily so a missing cloud SDK only matters when used.
STORES: dict[str, str] = {
    "file": "connectors.stores.local:LocalStore",
    "s3": "connectors.stores.s3:S3Store",
    "gs": "connectors.stores.gcs:GcsStore",
    "az": "connectors.stores.azure:AzureBlobStore",
}

#: format name -> parser class, in detection order.
PARSERS: dict[str, type[Parser]] = {
    # Ludwig folders hold a PEFT adapter folder too: Ludwig claims its folders first.
    LudwigParser.name: LudwigParser,
    HfCheckpointParser.name: HfCheckpointParser,
    # Billing: layouts first (CUR before Azure: both use yyyymmdd-yyyymmdd folders),
    # FOCUS last (recognised by content when no layout claims it).
    AwsCurParser.name: AwsCurParser,
    AzureCostParser.name: AzureCostParser,
    GcpBillingParser.name: GcpBillingParser,
    FocusParser.name: FocusParser,
    WandbParser.name: WandbParser,
    MlflowParser.name: MlflowParser,
    SlurmSacctParser.name: SlurmSacctParser,
    DcgmParser.name: DcgmParser,
    NvidiaSmiParser.name: NvidiaSmiParser,
    SageMakerJobParser.name: SageMakerJobParser,
    FlopsMeterParser.name: FlopsMeterParser,
    RunTableParser.name: RunTableParser,
}


def evidence_priority() -> dict[str, tuple[str, ...]]:
    """Which training format's value wins, per kind of field: the format names, best
    first, from each parser's ``priority`` ranks (formats that rank none are left out).
    """
    ranked: dict[str, list[tuple[int, str]]] = {}
    for name, parser in PARSERS.items():
        for kind, rank in parser.priority.items():
            ranked.setdefault(kind, []).append((rank, name))
    return {kind: tuple(name for _, name in sorted(pairs)) for kind, pairs in ranked.items()}


@dataclass(frozen=True)
class Source:
    """A resolved SOURCE argument: a store, the prefix to list, and its display URI.

    ``exact_key`` is set when the source names a single object.
    """

    uri: str
    store: Store
    prefix: str
    exact_key: str | None = None
    #: shell globs on the key below the prefix: only matching objects are considered
    include: tuple[str, ...] = ()
    #: shell globs on the key below the prefix: matching objects are skipped
    exclude: tuple[str, ...] = ()

    def wants(self, key: str) -> bool:
        """Whether ``key`` passes the source's include/exclude globs."""
        relative = key[len(self.prefix) :].lstrip("/") if key.startswith(self.prefix) else key
        if self.include and not any(fnmatch.fnmatchcase(relative, g) for g in self.include):
            return False
        return not any(fnmatch.fnmatchcase(relative, g) for g in self.exclude)


def store_class(scheme: str) -> type[Store]:
    """The store class for ``scheme``.

    Raises:
        ConfigError: the scheme is unknown.
    """
    if scheme not in STORES:
        known = ", ".join(f"{s}://" for s in sorted(STORES))
        raise ConfigError(f"unsupported source scheme {scheme}://", hint=f"known: {known}")
    module_name, _, class_name = STORES[scheme].partition(":")
    cls: type[Store] = getattr(importlib.import_module(module_name), class_name)
    return cls


def get_parser(name: str, options: Mapping[str, Any] | None = None) -> Parser:
    """A parser instance by format name, configured with its ``[formats.NAME]`` options.

    Raises:
        ConfigError: the name is unknown (the message lists the known ones), or an
            option is invalid.
    """
    if name not in PARSERS:
        raise ConfigError(f"unknown format {name!r}", hint=f"known: {', '.join(sorted(PARSERS))}")
    return PARSERS[name](options)


def all_parsers(options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Parser]:
    """One instance of every parser, in detection order.

    Raises:
        ConfigError: options for an unknown format, or an invalid option.
    """
    options = options or {}
    for name in options:
        if name not in PARSERS:
            raise ConfigError(
                f"unknown key 'formats.{name}'", hint=f"known formats: {', '.join(sorted(PARSERS))}"
            )
    return [get_parser(name, options.get(name)) for name in PARSERS]


def open_source(
    text: str,
    *,
    s3_endpoint_url: str | None = None,
    profile: str | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> Source:
    """Resolve a SOURCE, with optional include/exclude globs and a credentials profile.

    The source's ``uri`` (stored in the ledger, printed) never keeps credentials: a
    query string (signed URL, SAS token), a fragment or ``user:password@`` is dropped.
    """
    source = _open_source(text, s3_endpoint_url=s3_endpoint_url, profile=profile)
    if include or exclude:
        source = dataclasses.replace(source, include=tuple(include), exclude=tuple(exclude))
    return source


def _open_source(
    text: str, *, s3_endpoint_url: str | None = None, profile: str | None = None
) -> Source:
    """Resolve a SOURCE argument (local path, ``file://``, ``s3://bucket/prefix``,
    ``gs://bucket/prefix``, ``az://container/prefix``).

    GCS and Azure take their endpoint and account from the SDKs' own settings
    (``STORAGE_EMULATOR_HOST``; ``AZURE_STORAGE_CONNECTION_STRING`` or
    ``AZURE_STORAGE_ACCOUNT``), see their store modules.

    Raises:
        ConfigError: unknown scheme or malformed URI.
        StoreNotFoundError: a local path that does not exist.
    """
    parsed = urlparse(text)
    scheme = parsed.scheme if len(parsed.scheme) > 1 else "file"  # "C:" is a drive
    if scheme == "file":
        path = Path(parsed.path if parsed.scheme == "file" else text).expanduser()
        cls = store_class("file")
        if path.is_file() and not path.is_symlink():
            store = cls(path.parent)  # type: ignore[call-arg]
            return Source(
                uri=path.resolve().as_uri(), store=store, prefix=path.name, exact_key=path.name
            )
        store = cls(path)  # type: ignore[call-arg]
        return Source(uri=path.resolve().as_uri(), store=store, prefix="")
    cls = store_class(scheme)
    uri = redact_uri(text)
    # user:password@ is never a credential these stores use: the bucket is what follows.
    bucket = parsed.netloc.rpartition("@")[2]
    if not bucket:
        raise ConfigError(f"{uri}: missing bucket name", hint=f"use {scheme}://BUCKET/PREFIX")
    prefix = parsed.path.lstrip("/")
    if scheme == "s3":
        store = cls(  # type: ignore[call-arg]
            bucket, endpoint_url=s3_endpoint_url, profile=profile
        )
    else:
        store = cls(bucket)  # type: ignore[call-arg]
    return Source(uri=uri, store=store, prefix=prefix)
