"""Shared by the GPU-usage formats (Slurm ``sacct``, DCGM exporter, nvidia-smi).

Not a format itself: option checks (time zones, accelerator names), the time-basis
vocabulary, deterministic usage ids, MIG slice fractions, and the telemetry integrator
that turns samples into ``gpu_usage`` windows inside DuckDB (never a Python loop per
sample).

Telemetry windows. Samples of one *series* (cluster, host, GPU/MIG instance, job or
pod) are sorted by time. Each sample stands for the time until the next one; a step
longer than the series' maximum gap (``max_gap_seconds``, or ``gap_factor`` × the
median step of the series, default 5×) is a gap: it closes the window and is not
integrated — the GPU may have been idle, gone or unobserved. The last sample of a
window stands for one nominal step (the median). Activity averages are weighted by
those durations; the energy counter's increase is summed with Prometheus' reset rule
(a decrease means the counter restarted from zero).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from connectors.formats import duck
from connectors.formats.duck import sql_string
from reconcile.catalog import load_catalog
from reconcile.errors import ConfigError, ParseError
from reconcile.schemas import GPU_USAGE

# How a row's timestamps became UTC (the ``time_basis`` column).
TIME_UTC = "utc"  # epoch seconds or an explicit UTC offset in the source
TIME_CONFIGURED_ZONE = "configured_timezone"  # local wall clock + [formats.X] timezone
TIME_UNKNOWN_ZONE = "unknown_timezone_read_as_utc"  # local wall clock, zone not configured
TIME_OBJECT_MODIFIED = "object_modified_at"  # the source has no time: the file's mtime

DEFAULT_GAP_FACTOR = 5.0

_MIG_PROFILE = re.compile(r"^(?:(\d+)c\.)?(\d+)g\.\d+gb(?:\+\w+)*$", re.IGNORECASE)
_HOSTLIST_RANGE = re.compile(r"\[[0-9,\-]+\]")


def connect() -> duckdb.DuckDBPyConnection:
    """The DuckDB that parses one telemetry unit (``duck.connect``), allowed a quarter of
    physical memory (at least 1 GiB) before it spills: telemetry parsing windows and
    pivots every sample, and is slower held to the billing kit's 1 GB (the DCGM scrapes of
    10,000 generated runs: 3.7 s at a quarter of 23 GB, 4.5 s at 1 GB)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 * 2**30
    return duck.connect(memory_limit=f"{max(1024, total // 4 // 2**20)}MiB")


# ---------------------------------------------------------------------------
# Options


def option_error(fmt: str, key: str, reason: str, hint: str | None = None) -> ConfigError:
    """A ConfigError naming ``formats.FMT.KEY``."""
    return ConfigError(f"'formats.{fmt}.{key}' {reason}", hint=hint)


def check_timezone(fmt: str, key: str, value: Any) -> str:
    """An IANA zone name (``Europe/Berlin``), checked with zoneinfo."""
    if not isinstance(value, str) or not value.strip():
        raise option_error(fmt, key, "must be an IANA time zone name such as 'Europe/Berlin'")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise option_error(
            fmt, key, f"is not a known time zone: {value!r}", hint="use an IANA name"
        ) from exc
    return value


def check_str(fmt: str, key: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise option_error(fmt, key, f"must be a non-empty string, got {value!r}")
    return value


def check_positive(fmt: str, key: str, value: Any, *, minimum: float = 0.0) -> float:
    """A number greater than ``minimum`` (or equal, for ``minimum`` > 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise option_error(fmt, key, f"must be a number, got {type(value).__name__}")
    if value <= 0 or value < minimum:
        bound = f">= {minimum:g}" if minimum > 0 else "> 0"
        raise option_error(fmt, key, f"must be {bound}, got {value!r}")
    return float(value)


def unknown_accelerator(name: Any) -> str | None:
    """``unknown:<name>`` for a device name the catalog does not know; None for no name."""
    text = " ".join(str(name).split()) if name is not None else ""
    return f"unknown:{text}" if text else None


def check_accelerator(fmt: str, key: str, value: Any) -> str:
    """An accelerator name the catalog knows; returns its catalog key."""
    if not isinstance(value, str) or not value.strip():
        raise option_error(fmt, key, f"must be an accelerator name, got {value!r}")
    found = load_catalog().match_accelerator(value)
    if found is None:
        raise option_error(
            fmt,
            key,
            f"names no accelerator in the catalog: {value!r}",
            hint="use a catalog name such as 'NVIDIA H100 SXM5-80GB'",
        )
    return found.key


def check_accelerator_table(fmt: str, key: str, value: Any) -> dict[str, str]:
    """A table of NAME = accelerator (``partitions = {h100 = "NVIDIA H100 SXM5-80GB"}``)."""
    if not isinstance(value, dict):
        raise option_error(fmt, key, 'must be a table, e.g. {h100 = "NVIDIA H100 SXM5-80GB"}')
    return {str(k): check_accelerator(fmt, f"{key}.{k}", v) for k, v in value.items()}


# ---------------------------------------------------------------------------
# Identity and hardware


def usage_id(source_kind: str, *parts: object) -> str:
    """A deterministic row id: the same allocation or window always gets the same id,
    whichever file (or re-delivery) it came from, so overlapping dumps can be deduplicated.
    """
    text = "\x1f".join("" if p is None else str(p) for p in (source_kind, *parts))
    return f"{source_kind}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def mig_fraction(profile: str, model_name: str | None = None) -> float | None:
    """Share of a whole GPU that a MIG profile (``1g.10gb``, ``3g.40gb``, ``1c.3g.40gb``)
    gives: compute slices ÷ the GPU's slices (7 on A100/H100/H200/B200, 4 on A30).
    None when ``profile`` is not a MIG profile name.
    """
    match = _MIG_PROFILE.match(profile.strip())
    if not match:
        return None
    slices = int(match[1] or match[2])
    total = 4 if model_name and re.search(r"\ba30\b", model_name, re.IGNORECASE) else 7
    return min(1.0, slices / total)


#: Most hosts one hostlist may name: more than any cluster has, few enough that a
#: damaged range (``gpu[1-99999999999]``) cannot exhaust memory.
MAX_HOSTS = 1 << 16


def expand_hostlist(text: str) -> list[str]:
    """Expand a Slurm hostlist (``gpu[001-003,007],login1``) into host names.

    Raises:
        ValueError: a malformed range, or more than ``MAX_HOSTS`` hosts.
    """
    text = text.strip()
    if not text or text.lower() in {"none assigned", "(null)", "none"}:
        return []
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        current += char
    parts.append(current)
    hosts: list[str] = []
    for part in parts:
        hosts += _expand_one(part.strip(), MAX_HOSTS - len(hosts))
    return hosts


def _expand_one(part: str, budget: int) -> list[str]:
    match = _HOSTLIST_RANGE.search(part)
    if not match:
        return [part] if part else []
    head, tail = part[: match.start()], part[match.end() :]
    out: list[str] = []
    for item in match.group()[1:-1].split(","):
        low, _, high = item.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or len(low + high) > 36:
            raise ValueError(f"bad hostlist range {item!r}")
        width = len(low)
        rests = _expand_one(tail, budget) if tail else [""]
        first, last = int(low), int(high or low)
        if len(out) + (last - first + 1) * len(rests) > budget:
            raise ValueError(f"more than {MAX_HOSTS:,} hosts")
        for number in range(first, last + 1):
            out += [f"{head}{number:0{width}d}{rest}" for rest in rests]
    return out


@dataclass(frozen=True)
class NodeMap:
    """``nodes`` option: host patterns → accelerator key. A key that is a Slurm hostlist
    (``gpu[001-016]``) is expanded; any other key is a shell glob (``gpu*``)."""

    exact: dict[str, str]
    globs: tuple[tuple[str, str], ...]

    @classmethod
    def build(cls, fmt: str, key: str, value: Any) -> NodeMap:
        """Validate and build from the option's table."""
        table = check_accelerator_table(fmt, key, value)
        exact: dict[str, str] = {}
        globs = []
        for pattern, accelerator in table.items():
            if _HOSTLIST_RANGE.search(pattern):
                try:
                    hosts = expand_hostlist(pattern)
                except ValueError as exc:
                    raise option_error(fmt, f"{key}.{pattern}", f"bad hostlist: {exc}") from exc
                exact.update(dict.fromkeys(hosts, accelerator))
            else:
                globs.append((pattern, accelerator))
        return cls(exact, tuple(globs))

    def lookup(self, host: str) -> str | None:
        """The accelerator of ``host``, or None."""
        if host in self.exact:
            return self.exact[host]
        for pattern, accelerator in self.globs:
            if fnmatch.fnmatchcase(host, pattern):
                return accelerator
        return None


# ---------------------------------------------------------------------------
# SQL


def local_to_epoch_sql(naive: str, timezone: str, series: str, order: str) -> tuple[str, str]:
    """SQL turning a naive local TIMESTAMP column into epoch seconds in ``timezone``.

    Returns (a SELECT-list expression for helper columns, the final expression), to be
    used in two stacked SELECTs. Times inside the repeated hour of a DST fall-back are
    ambiguous: a sample is put in the second occurrence when an earlier row of the same
    series (in file order) showed a later wall-clock time, i.e. the clock went back.
    Non-existent spring-forward times are shifted forward (ICU's rule). Assumes one-hour
    DST shifts.
    """
    tz = sql_string(timezone)
    helpers = (
        f"timezone({tz}, {naive}) AS _u, "
        f"max({naive}) OVER (PARTITION BY {series} ORDER BY {order} "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _seen"
    )
    hour = "INTERVAL 1 HOUR"
    early = f"CASE WHEN timezone({tz}, _u - {hour}) = {naive} THEN _u - {hour} ELSE _u END"
    late = f"CASE WHEN timezone({tz}, _u + {hour}) = {naive} THEN _u + {hour} ELSE _u END"
    final = f"epoch(CASE WHEN _seen > {naive} THEN {late} ELSE {early} END)"
    return helpers, final


#: Columns of the ``points`` relation the integrator reads: one row per series and time.
POINT_LABELS = (
    "cluster",
    "host",
    "gpu_index",
    "gpu_uuid",
    "pci_bus_id",
    "model_name",
    "mig_profile",
    "mig_instance",
    "namespace",
    "pod",
    "container",
    "hpc_job",
    "job_key",
    "job_name",
)
POINT_METRICS = ("gpu_util", "tensor_active", "sm_active", "dram_active", "power_w", "energy_mj")
#: The labels that tell one series from another (the model and job name only describe it).
SERIES_KEYS = tuple(c for c in POINT_LABELS if c not in ("model_name", "job_name"))


def series_id_sql(columns: Sequence[str] = SERIES_KEYS) -> str:
    """SQL for a 64-bit series id: a hash of the series' label columns."""
    return f"hash({', '.join(columns)})" if columns else "CAST(0 AS UBIGINT)"


@dataclass(frozen=True)
class Windowing:
    """How samples become windows (options ``max_gap_seconds``, ``gap_factor``,
    ``scrape_interval_seconds``)."""

    max_gap_seconds: float | None = None
    gap_factor: float = DEFAULT_GAP_FACTOR
    scrape_interval_seconds: float | None = None

    @classmethod
    def from_options(cls, fmt: str, options: Mapping[str, Any]) -> Windowing:
        """Validate the windowing options of ``[formats.FMT]``."""
        max_gap = options.get("max_gap_seconds")
        interval = options.get("scrape_interval_seconds")
        return cls(
            max_gap_seconds=None
            if max_gap is None
            else check_positive(fmt, "max_gap_seconds", max_gap),
            gap_factor=check_positive(
                fmt, "gap_factor", options.get("gap_factor", DEFAULT_GAP_FACTOR), minimum=1.0
            ),
            scrape_interval_seconds=None
            if interval is None
            else check_positive(fmt, "scrape_interval_seconds", interval),
        )


WINDOW_OPTIONS = ("max_gap_seconds", "gap_factor", "scrape_interval_seconds")


def integrate(
    con: duckdb.DuckDBPyConnection,
    points: str,
    *,
    source_kind: str,
    source_uri: str,
    source_format: str,
    windowing: Windowing,
    time_basis: str,
    extra_tags: Mapping[str, str] | None = None,
) -> pa.Table:
    """Turn the ``points`` relation into ``gpu_usage`` rows, one per window.

    ``points`` is a SQL relation (view name or subquery) with ``sid`` (any value that
    identifies the series, e.g. ``series_id_sql()`` of its labels), ``t`` (epoch seconds,
    UTC), the ``POINT_LABELS`` columns (VARCHAR, NULL when unknown) and the
    ``POINT_METRICS`` columns (DOUBLE in canonical units: ratios 0–1, W, mJ; NULL when
    not sampled). Duplicate (sid, t) rows are averaged.

    Raises:
        ParseError: a MIG profile label that is not a MIG profile name.
    """
    any_labels = ", ".join(f"any_value({c}) AS {c}" for c in POINT_LABELS)
    metric_avgs = ", ".join(f"avg({m}) AS {m}" for m in POINT_METRICS)
    default_step = (
        "NULL"
        if windowing.scrape_interval_seconds is None
        else repr(windowing.scrape_interval_seconds)
    )
    max_gap = (
        repr(windowing.max_gap_seconds)
        if windowing.max_gap_seconds is not None
        else f"{windowing.gap_factor!r} * step"
    )

    def weighted(metric: str) -> str:
        return (
            f"CASE WHEN sum(dt) FILTER ({metric} IS NOT NULL) > 0 "
            f"THEN sum({metric} * dt) / sum(dt) FILTER ({metric} IS NOT NULL) "
            f"ELSE avg({metric}) END"
        )

    # The per-point work sorts and groups numbers; labels are looked up once per series.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _series AS
        SELECT sid, {any_labels} FROM {points} GROUP BY sid
        """
    )
    has_counter = bool(con.execute(f"SELECT count(energy_mj) FROM {points}").fetchall()[0][0])
    if has_counter:
        # The counter's increase within a window: the step from the previous reading,
        # or the reading itself after a reset (Prometheus' rule).
        energy = """,
            energy_mj - lag(energy_mj IGNORE NULLS)
                OVER (PARTITION BY sid, window_no ORDER BY t) AS energy_step"""
    else:
        energy = ", NULL::DOUBLE AS energy_step"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _windows AS
        WITH p AS (
            SELECT sid, t, {metric_avgs} FROM {points} GROUP BY sid, t
        ),
        d AS (
            SELECT *, lead(t) OVER s - t AS dt_next, t - lag(t) OVER s AS dt_prev
            FROM p WINDOW s AS (PARTITION BY sid ORDER BY t)
        ),
        steps AS (SELECT sid, median(dt_next) AS series_step FROM d GROUP BY sid),
        overall AS (SELECT median(dt_next) AS file_step FROM d),
        g AS (
            SELECT d.*, coalesce(series_step, file_step, {default_step}, 0.0) AS step
            FROM d JOIN steps USING (sid) CROSS JOIN overall
        ),
        w AS (
            SELECT *,
                sum(CASE WHEN dt_prev IS NULL OR dt_prev > gap THEN 1 ELSE 0 END)
                    OVER (PARTITION BY sid ORDER BY t ROWS UNBOUNDED PRECEDING) AS window_no,
                CASE WHEN dt_next IS NOT NULL AND dt_next <= gap THEN dt_next
                     ELSE least(step, gap) END AS dt
            FROM (SELECT *, {max_gap} AS gap FROM g)
        ),
        e AS (SELECT *{energy} FROM w),
        agg AS (
            SELECT sid, window_no,
                min(t) AS t0, max(t + dt) AS t1, sum(dt) AS elapsed, count(*) AS samples,
                any_value(step) AS step, any_value(gap) AS gap,
                {weighted("gpu_util")} AS gpu_util_avg,
                {weighted("tensor_active")} AS tensor_active_avg,
                {weighted("sm_active")} AS sm_active_avg,
                {weighted("dram_active")} AS dram_active_avg,
                {weighted("power_w")} AS power_avg_watts,
                sum(power_w * dt) AS power_joules,
                count(energy_step) AS energy_steps,
                sum(CASE WHEN energy_step >= 0 THEN energy_step ELSE energy_mj END)
                    FILTER (energy_step IS NOT NULL) / 1000.0 AS counter_joules,
                count(*) FILTER (energy_step < 0) AS counter_resets
            FROM e GROUP BY sid, window_no
        )
        SELECT concat_ws('\x1f', {", ".join(f"coalesce({c}, '')" for c in SERIES_KEYS)})
                AS series,
            agg.*, {", ".join(POINT_LABELS)}
        FROM agg JOIN _series USING (sid)
        """
    )
    # MIG fractions and accelerators per distinct (model, profile): a handful of rows.
    hardware = con.execute("SELECT DISTINCT model_name, mig_profile FROM _windows").fetchall()
    catalog = load_catalog()
    mapping: dict[str, list[Any]] = {
        "model_name": [],
        "mig_profile": [],
        "accelerator": [],
        "gpu_fraction": [],
    }
    for model, profile in hardware:
        fraction = 1.0
        if profile:
            found = mig_fraction(profile, model)
            if found is None:
                raise ParseError(source_uri, f"unknown MIG profile {profile!r}")
            fraction = found
        accelerator = catalog.match_accelerator(model)
        mapping["model_name"].append(model)
        mapping["mig_profile"].append(profile)
        # A device the catalog lacks stays visible as ``unknown:<name>`` (as in billing):
        # its time is counted and listed by the usage_unknown_accelerators check.
        mapping["accelerator"].append(
            accelerator.key if accelerator else unknown_accelerator(model)
        )
        mapping["gpu_fraction"].append(fraction)
    con.register(
        "_hardware",
        pa.table(
            mapping,
            schema=pa.schema(
                [
                    ("model_name", pa.string()),
                    ("mig_profile", pa.string()),
                    ("accelerator", pa.string()),
                    ("gpu_fraction", pa.float64()),
                ]
            ),
        ),
    )
    tag_pairs = [
        ("model_name", "w.model_name"),
        ("gpu_index", "gpu_index"),
        ("pci_bus_id", "pci_bus_id"),
        ("mig_instance", "mig_instance"),
        ("namespace", "namespace"),
        ("pod", "pod"),
        ("container", "container"),
        ("hpc_job", "hpc_job"),
        ("interval_seconds", "CAST(round(step, 3) AS VARCHAR)"),
        ("max_gap_seconds", "CAST(round(gap, 3) AS VARCHAR)"),
        (
            "energy_basis",
            "CASE WHEN energy_steps > 0 THEN 'energy_counter' "
            "WHEN power_joules IS NOT NULL THEN 'power_integral' END",
        ),
        ("counter_resets", "CASE WHEN counter_resets > 0 THEN CAST(counter_resets AS VARCHAR) END"),
    ]
    tag_pairs += [(k, sql_string(v)) for k, v in sorted((extra_tags or {}).items())]
    entries = ", ".join(f"{{'key': {sql_string(k)}, 'value': {v}}}" for k, v in tag_pairs)
    kind = sql_string(source_kind)
    result = con.sql(
        f"""
        SELECT
            {kind} || ':' || substr(sha256(concat_ws('\x1f', {kind}, series,
                CAST(CAST(round(t0 * 1000) AS BIGINT) AS VARCHAR))), 1, 32) AS usage_id,
            {kind} AS source_kind, cluster, job_key, job_name,
            NULL AS user_name, NULL AS account, NULL AS "partition", NULL AS job_state,
            host, gpu_uuid, h.accelerator, 1 AS gpu_count, h.gpu_fraction,
            w.mig_profile, to_timestamp(t0) AS started_at, to_timestamp(t1) AS ended_at,
            {sql_string(time_basis)} AS time_basis, elapsed AS elapsed_seconds,
            elapsed * h.gpu_fraction AS gpu_seconds, samples,
            gpu_util_avg, tensor_active_avg, sm_active_avg, dram_active_avg, power_avg_watts,
            CASE WHEN energy_steps > 0 THEN counter_joules ELSE power_joules END AS energy_joules,
            'measured' AS confidence,
            map_from_entries(list_filter([{entries}],
                lambda e: e.value IS NOT NULL AND e.value <> '')) AS tags,
            {sql_string(source_uri)} AS source_uri, {sql_string(source_format)} AS source_format
        FROM _windows w
        JOIN _hardware h ON h.model_name IS NOT DISTINCT FROM w.model_name
            AND h.mig_profile IS NOT DISTINCT FROM w.mig_profile
        ORDER BY host, gpu_uuid, gpu_index, mig_instance, t0, job_key
        """
    ).to_arrow_table()
    con.unregister("_hardware")
    return result.cast(GPU_USAGE)
