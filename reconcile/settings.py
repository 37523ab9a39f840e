"""The settings: ``reconcile.toml``, the ``RECONCILE_*`` environment and the defaults,
read once and validated whole into one :class:`Settings` that every command, the
scheduled job and the library are handed (no module reads the file or the environment
for itself).

Precedence is flags > ``RECONCILE_*`` environment > this file > built-in defaults; the
CLI gets it from click by loading the file into ``ctx.default_map``. An unknown key
or a value of the wrong type, in any section, is an error naming the file and the key
when the settings are loaded, before any command starts: never a silent fallback, never
a failure halfway through a run. Secrets never belong in this file: credentials come
from the cloud SDKs' own chains.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconcile.energy import EnergyOptions
from reconcile.errors import ConfigError
from reconcile.estimate import EstimateOptions
from reconcile.models import ModelRegistry
from reconcile.warehouse import DEFAULT_MEMORY_LIMIT, check_memory_limit

if TYPE_CHECKING:
    from connectors.registry import Source

DEFAULT_CONFIG = Path("reconcile.toml")
DEFAULT_DB = Path("reconcile.duckdb")

#: Marks a table whose keys are checked elsewhere (e.g. by the parser they configure).
FREE_FORM = object()

#: Every format the report renders, in canonical order; also the default
#: (``--format``, ``[report] formats``).
REPORT_FORMATS = ("html", "md", "json", "csv")


def parse_report_formats(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"html,md"`` (or ``["html", "md"]``) → ``("html", "md")``, in canonical order.

    Raises:
        ConfigError: an unknown or empty format list.
    """
    parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    wanted = {part.strip().lower() for part in parts if part.strip()}
    unknown = sorted(wanted - set(REPORT_FORMATS))
    if unknown or not wanted:
        raise ConfigError(
            f"unknown report format {', '.join(unknown) or '(none)'}",
            hint=f"choose from {', '.join(REPORT_FORMATS)}, comma-separated",
        )
    return tuple(f for f in REPORT_FORMATS if f in wanted)


#: Known keys and their types: top level, then one table per command.
SCHEMA: dict[str, Any] = {
    "db": str,
    "log_format": str,
    # [[sources]]: what `reconcile run` ingests, validated by parse_sources.
    "sources": list,
    "report": {"out": str, "formats": list, "history": bool, "stamp": bool},
    "run": {"lock_timeout": int, "fail_on": str},
    "ingest": {"workers": int, "s3_endpoint_url": str, "format": str},
    # [query]: limits of `reconcile query` (seconds; 0 means none).
    "query": {"timeout": float},
    # [formats.NAME]: options of one input format, validated by that format's parser.
    "formats": FREE_FORM,
    # [models]: aliases and base-model overrides, validated by reconcile.models.
    "models": FREE_FORM,
    # [energy]: PUE, host overhead, grid intensity; validated by reconcile.energy.
    "energy": FREE_FORM,
    # [estimate] and [lineage]: validated by reconcile.estimate.EstimateOptions.
    "estimate": FREE_FORM,
    "lineage": FREE_FORM,
    # [warehouse]: DuckDB settings of the warehouse connections.
    "warehouse": {"memory_limit": str},
    # [notify]: a webhook `reconcile run` posts a JSON event to when a status changes.
    "notify": {"webhook": str, "timeout": float},
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
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue  # TOML writes whole seconds as integers
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
    _check_ranges(data, path)
    return data


#: Numeric settings and the range they must lie in (inclusive; None: unbounded).
_RANGES: dict[str, tuple[float, float | None]] = {
    "ingest.workers": (1, 64),
    "run.lock_timeout": (0, None),
    "query.timeout": (0, None),
    "notify.timeout": (0.1, 300),
}


def _check_ranges(data: Mapping[str, Any], path: Path) -> None:
    for key, (low, high) in _RANGES.items():
        value = lookup(data, key)
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{path}: {key!r} must be {bound}, got {value}")


def lookup(data: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key`` (``"ingest.workers"``) of a loaded config, or None."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@dataclass(frozen=True)
class Setting:
    """One setting that a flag, an environment variable or the file can give.

    Attributes:
        key: the dotted key in the file (``"ingest.s3_endpoint_url"``).
        envvar: the ``RECONCILE_*`` variable the commands' options read, if any.
        default: the built-in value used when nothing else gives one.
        options: every ``(command path, parameter name)`` the setting is the default of,
            e.g. ``("lake export", "s3_endpoint_url")``; ``""`` is the top-level group.
        to_option: turns the file's value into the option's (e.g. a list into ``a,b``).
        default_text: what the default means, where ``default`` is None.
    """

    key: str
    envvar: str | None = None
    default: Any = None
    options: tuple[tuple[str, str], ...] = ()
    to_option: Callable[[Any], Any] | None = None
    default_text: str | None = None


#: The one table of settings: the CLI's options take their file defaults from here
#: (``default_map``) and ``reconcile config show`` reports from here, so the two
#: cannot disagree. Commands reaching the same store share one key: every command
#: that talks to S3 uses ``[ingest] s3_endpoint_url``.
SETTINGS: tuple[Setting, ...] = (
    Setting("db", "RECONCILE_DB", str(DEFAULT_DB), (("", "db"),)),
    Setting("log_format", "RECONCILE_LOG_FORMAT", "human", (("", "log_format"),)),
    Setting(
        "ingest.workers",
        None,
        None,
        (("ingest", "workers"),),
        default_text="(1 for local folders, 8 for object stores)",
    ),
    Setting(
        "ingest.s3_endpoint_url",
        "RECONCILE_S3_ENDPOINT_URL",
        None,
        (
            ("ingest", "s3_endpoint_url"),
            ("check", "s3_endpoint_url"),
            ("run", "s3_endpoint_url"),
            ("estimate", "s3_endpoint_url"),
            ("lake export", "s3_endpoint_url"),
        ),
        default_text="(none: AWS)",
    ),
    Setting(
        "ingest.format",
        None,
        None,
        (("ingest", "format_name"),),
        default_text="(detected per object)",
    ),
    Setting("run.lock_timeout", "RECONCILE_LOCK_TIMEOUT", 60.0, (("run", "lock_timeout"),)),
    Setting("run.fail_on", None, None, (("run", "fail_on"),), default_text="(none)"),
    Setting("report.out", None, None, (("report", "out_dir"),), default_text="(no report)"),
    Setting(
        "report.formats",
        None,
        list(REPORT_FORMATS),
        (("report", "formats"),),
        lambda value: ",".join(str(v) for v in value),
    ),
    Setting("report.history", None, False),
    Setting("report.stamp", None, False),
    Setting("query.timeout", "RECONCILE_QUERY_TIMEOUT", 300.0, (("query", "timeout"),)),
    Setting("notify.webhook", None, None, default_text="(none)"),
    Setting("notify.timeout", None, 10.0),
    Setting("warehouse.memory_limit", "RECONCILE_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT),
    Setting("engine.name", "RECONCILE_ENGINE", "duckdb"),
)

#: Looked up by key.
SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def default_map(data: Mapping[str, Any]) -> dict[str, Any]:
    """Click's ``default_map`` for a loaded config: each file value under every option
    that takes it (click then applies command line > environment > this > default)."""
    result: dict[str, Any] = {}
    for setting in SETTINGS:
        value = lookup(data, setting.key)
        if value is None:
            continue
        if setting.to_option is not None:
            value = setting.to_option(value)
        for command, param in setting.options:
            node = result
            for part in command.split():
                node = node.setdefault(part, {})
            node[param] = value
    return result


@dataclass(frozen=True)
class Effective:
    """A setting's value in force and where it came from: ``env``, ``file PATH`` or
    ``default`` (``flag`` is for the options a command line can give)."""

    key: str
    value: Any
    origin: str


def effective(
    data: Mapping[str, Any], environ: Mapping[str, str], path: Path | str
) -> list[Effective]:
    """Every setting of :data:`SETTINGS` resolved environment > file > default.

    Args:
        data: the loaded config file (empty without one).
        environ: the environment as the commands see it (before the CLI changes it).
        path: the config file's path, named in the ``file`` origin.
    """
    found = []
    for setting in SETTINGS:
        if setting.envvar and environ.get(setting.envvar):
            found.append(Effective(setting.key, environ[setting.envvar], "env"))
            continue
        value = lookup(data, setting.key)
        if value is not None:
            found.append(Effective(setting.key, value, f"file {path}"))
        elif setting.default is None and setting.default_text:
            found.append(Effective(setting.key, setting.default_text, "default"))
        else:
            found.append(Effective(setting.key, setting.default, "default"))
    return found


_SOURCE_KEYS = ("uri", "format", "include", "exclude", "profile")


@dataclass(frozen=True)
class SourceSpec:
    """One configured source (``[[sources]]`` in the config)."""

    uri: str
    format: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    profile: str | None = None

    def open(self, s3_endpoint_url: str | None = None) -> Source:
        """The source, with its profile and include/exclude globs."""
        from connectors.registry import open_source

        return open_source(
            self.uri,
            s3_endpoint_url=s3_endpoint_url,
            profile=self.profile,
            include=self.include,
            exclude=self.exclude,
        )


def parse_sources(value: Any) -> list[SourceSpec]:
    """Validate the config's ``[[sources]]`` array.

    Raises:
        ConfigError: naming the entry and key.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError("'sources' must be an array of tables ([[sources]])")
    specs = []
    for index, entry in enumerate(value):
        where = f"sources[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"'{where}' must be a table")
        for key in entry:
            if key not in _SOURCE_KEYS:
                raise ConfigError(
                    f"unknown key '{where}.{key}'", hint="known: " + ", ".join(_SOURCE_KEYS)
                )
        if not isinstance(entry.get("uri"), str) or not entry["uri"].strip():
            raise ConfigError(f"'{where}.uri' is required (a folder, s3://, gs:// or az:// URI)")
        for key in ("include", "exclude"):
            globs = entry.get(key, [])
            if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
                raise ConfigError(f"'{where}.{key}' must be a list of glob patterns")
        for key in ("format", "profile"):
            if key in entry and not isinstance(entry[key], str):
                raise ConfigError(f"'{where}.{key}' must be a string")
        specs.append(
            SourceSpec(
                entry["uri"].strip(),
                entry.get("format"),
                tuple(entry.get("include", [])),
                tuple(entry.get("exclude", [])),
                entry.get("profile"),
            )
        )
    return specs


@dataclass(frozen=True)
class Settings:
    """Every setting in force, validated: the one object the commands, the batch job and
    the library are handed.

    ``data`` is the file as read; the typed fields are what the modules use. Sections a
    module validates (``[estimate]``/``[lineage]``, ``[energy]``, ``[models]``,
    ``[formats]``, ``[engine]``, ``[[sources]]``) are validated here, when the settings
    are loaded, with the error naming the file.

    Attributes:
        path: the config file named (or the default one, which may be absent).
        data: the file's content (empty without one).
        effective: each setting of :data:`SETTINGS` with its value and origin.
        db: the warehouse file.
        memory_limit: DuckDB's memory ceiling for warehouse connections.
        s3_endpoint_url: an S3-compatible endpoint, or None (AWS, or boto3's variables).
        hub_endpoint: the Hub or its mirror (``HF_ENDPOINT``), used only with
            ``[models] hub = true``.
        sources: ``[[sources]]``.
        formats: ``[formats.NAME]`` options, checked by the parsers they configure.
        estimate: ``[estimate]`` and ``[lineage]``.
        energy: ``[energy]``.
        secret_tags: ``[logging] secret_tags``.
        engine_name: where the heavy stages run (``RECONCILE_ENGINE`` or ``[engine] name``).
    """

    path: Path
    data: Mapping[str, Any]
    effective: tuple[Effective, ...]
    db: Path
    memory_limit: str
    s3_endpoint_url: str | None
    hub_endpoint: str | None
    sources: tuple[SourceSpec, ...]
    formats: Mapping[str, Mapping[str, Any]]
    estimate: EstimateOptions
    energy: EnergyOptions
    secret_tags: tuple[str, ...] = field(default=())
    engine_name: str = "duckdb"

    @classmethod
    def load(
        cls,
        path: Path | str | None = None,
        *,
        required: bool = False,
        environ: Mapping[str, str] | None = None,
        db: Path | str | None = None,
    ) -> Settings:
        """Read ``path`` (default ``reconcile.toml``; a missing file is defaults unless
        ``required``) and the environment, and validate every section.

        Raises:
            ConfigError: the file is missing (when ``required``) or unreadable, or any
                section has an unknown key or a bad value (named with the file).
        """
        path = Path(path) if path is not None else DEFAULT_CONFIG
        return cls.from_data(load(path, required=required), path, environ=environ, db=db)

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        path: Path | str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        db: Path | str | None = None,
    ) -> Settings:
        """The settings of an already loaded (schema-checked) file ``data``.

        Raises:
            ConfigError: a section its module validates is invalid (named with the file).
        """
        environ = os.environ if environ is None else environ
        path = Path(path) if path is not None else DEFAULT_CONFIG
        in_force = tuple(effective(data, environ, path))
        value = {item.key: item.value for item in in_force if item.origin != "default"}
        try:
            sources = tuple(parse_sources(data.get("sources")))
            estimate = EstimateOptions.from_config(data.get("estimate"), data.get("lineage"))
            energy = EnergyOptions.from_config(data.get("energy"))
            ModelRegistry.check_options(data.get("models"))
            formats = dict(data.get("formats") or {})
            _check_formats(formats)
            _check_engine(data.get("engine"), value.get("engine.name"))
            secret = (data.get("logging") or {}).get("secret_tags")
            if secret is not None and not all(isinstance(k, str) for k in secret):
                raise ConfigError("'logging.secret_tags' must be a list of tag keys")
            _check_values(data, value)
        except ConfigError as exc:
            if not data:
                raise
            raise ConfigError(f"{path}: {exc.message}", hint=exc.hint) from exc
        return cls(
            path=path,
            data=data,
            effective=in_force,
            db=Path(db) if db is not None else Path(value.get("db") or DEFAULT_DB),
            memory_limit=str(value.get("warehouse.memory_limit") or DEFAULT_MEMORY_LIMIT),
            s3_endpoint_url=value.get("ingest.s3_endpoint_url"),
            hub_endpoint=environ.get("HF_ENDPOINT") or None,
            sources=sources,
            formats=formats,
            estimate=estimate,
            energy=energy,
            secret_tags=tuple(secret or ()),
            engine_name=str(value.get("engine.name") or "duckdb").strip().lower(),
        )

    def with_db(self, db: Path | str) -> Settings:
        """The same settings on another warehouse file (``--db``)."""
        return replace(self, db=Path(db))

    def with_s3_endpoint_url(self, url: str | None) -> Settings:
        """The same settings with another S3-compatible endpoint (``--s3-endpoint-url``)."""
        return replace(self, s3_endpoint_url=url)

    @cached_property
    def registry(self) -> ModelRegistry:
        """The base-model registry of ``[models]``, its Hub cache beside the warehouse:
        built once, here, for every stage that resolves or reports."""
        return ModelRegistry(
            self.data.get("models"),
            hub_cache=self.db.resolve().parent / "reconcile-hub-cache",
            hub_endpoint=self.hub_endpoint,
        )

    def section(self, name: str) -> Mapping[str, Any]:
        """A table of the file (``report``, ``notify``, ``engine`` …), empty when absent."""
        value = self.data.get(name)
        return value if isinstance(value, Mapping) else {}


#: Settings that take one of a few words, and those words.
_CHOICES = {"log_format": ("human", "json"), "run.fail_on": ("provider", "review")}


def _check_values(data: Mapping[str, Any], in_force: Mapping[str, Any]) -> None:
    """The values the commands would refuse halfway (a report format, a memory size, a
    choice), refused now: from the file, or from the environment where it gives one."""
    formats = lookup(data, "report.formats")
    if formats is not None:
        parse_report_formats(formats)
    for key, words in _CHOICES.items():
        chosen = in_force.get(key)
        if chosen is not None and chosen not in words:
            raise ConfigError(f"'{key}' must be one of {', '.join(words)}, got {chosen!r}")
    limit = in_force.get("warehouse.memory_limit")
    if limit is not None:
        check_memory_limit(str(limit))


def _check_formats(formats: Mapping[str, Any]) -> None:
    """Each ``[formats.NAME]`` table, checked by the parser it configures."""
    from connectors.registry import all_parsers

    all_parsers(formats)


def _check_engine(section: Mapping[str, Any] | None, in_force: Any) -> None:
    """``[engine]``: a known engine (the one in force: ``RECONCILE_ENGINE`` or the file's)
    and valid ``[engine.spark]`` settings."""
    from reconcile.engines import ENGINES, SparkSettings

    section = section or {}
    name = str(in_force or section.get("name") or "duckdb").strip().lower()
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}", hint="known: " + ", ".join(ENGINES))
    if section.get("spark") is not None:
        SparkSettings.from_config(section.get("spark"))
