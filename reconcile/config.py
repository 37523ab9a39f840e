"""The project file ``reconcile.toml``: loading and validating it.

Precedence is flags > ``RECONCILE_*`` environment > this file > built-in defaults; the
CLI gets it from click by loading the file into ``ctx.default_map``. An unknown key
or a value of the wrong type is an error naming the key, never a silent fallback.
Secrets never belong in this file: credentials come from the cloud SDKs' own chains.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from reconcile.errors import ConfigError

DEFAULT_CONFIG = Path("reconcile.toml")
DEFAULT_DB = Path("reconcile.duckdb")

#: Marks a table whose keys are checked elsewhere (e.g. by the parser they configure).
FREE_FORM = object()

#: Known keys and their types: top level, then one table per command.
SCHEMA: dict[str, Any] = {
    "db": str,
    "log_format": str,
    # [[sources]]: what `reconcile run` ingests, validated by reconcile.batch.parse_sources.
    "sources": list,
    "report": {"out": str, "formats": list},
    "run": {"lock_timeout": int, "fail_on": str},
    "ingest": {"workers": int, "s3_endpoint_url": str, "format": str},
    # [formats.NAME]: options of one input format, validated by that format's parser.
    "formats": FREE_FORM,
    # [models]: aliases and base-model overrides, validated by reconcile.models.
    "models": FREE_FORM,
    # [estimate] and [lineage]: validated by reconcile.estimate.EstimateOptions.
    "estimate": FREE_FORM,
    "lineage": FREE_FORM,
    # [warehouse]: DuckDB settings of the warehouse connections.
    "warehouse": {"memory_limit": str},
    # [logging]: tag keys whose values never reach a log line or an error message.
    "logging": {"secret_tags": list},
    # [engine]: where the heavy stages run (reconcile.engines); [engine.spark].conf is free.
    "engine": {
        "name": str,
        "lake": str,
        "spark": {"master": str, "remote": str, "lake": str, "conf": FREE_FORM},
    },
}


def _check(table: dict[str, Any], schema: dict[str, Any], where: str, path: Path) -> None:
    for key, value in table.items():
        dotted = f"{where}{key}"
        if key not in schema:
            known = ", ".join(f"{where}{k}" for k in sorted(schema))
            raise ConfigError(f"{path}: unknown key {dotted!r}", hint=f"known: {known}")
        expected = schema[key]
        if expected is FREE_FORM:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {dotted!r} must be a table ([{dotted}])")
            continue
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {dotted!r} must be a table ([{dotted}])")
            _check(value, expected, f"{dotted}.", path)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{path}: {dotted!r} must be {expected.__name__}, got {type(value).__name__}"
            )


def load(path: Path, *, required: bool) -> dict[str, Any]:
    """Read and validate a config file; a missing optional file is an empty config.

    Raises:
        ConfigError: the file is missing (when ``required``), unreadable, not TOML, or
            has an unknown key or a mistyped value.
    """
    if not path.exists():
        if required:
            raise ConfigError(f"{path}: config file not found")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    _check(data, SCHEMA, "", path)
    return data
