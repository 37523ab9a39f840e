"""Slurm accounting dumps (``sacct -P`` / ``--parsable2``, with or without ``-X``) →
one ``gpu_usage`` row per job allocation.

GPU-seconds come from the allocation row only: ``ElapsedRaw`` (or ``Elapsed``, or
End − Start) × the GPUs in ``AllocTRES`` (``gres/gpu=8``, typed ``gres/gpu:h100=8``, or
both forms), or, on old Slurm, ``AllocGRES`` (``gpu:h100:8``, per node). Step rows
(``.batch``, ``.extern``, ``.0``) repeat or subdivide the allocation and are never
counted again; they are kept as evidence in the row's tags (step names, longest step)
and checked against their allocation. Array tasks (``123_4``) and heterogeneous-job
components (``123+0``) are separate allocations, each a row; ``--duplicates`` rows of a
requeued job (same JobID, different Start) are each a row. PENDING jobs and jobs that
never started hold no GPUs and give no row; RUNNING jobs end at Start + Elapsed at the
time of the dump (``tags.ended_at_basis``).

Times: epoch seconds (``SLURM_TIME_FORMAT=%s``) and ISO times with an offset are UTC
already; the default ``2025-05-02T08:14:05`` is the cluster's local wall clock, turned
into UTC with ``[formats.slurm_sacct] timezone`` (repeated DST hours resolved with
ElapsedRaw). Without it, see docs/formats.md: rows are kept, read as UTC, and marked
``time_basis = unknown_timezone_read_as_utc``.

GPU model, best first: ``gres_types`` option for the TRES type, the TRES type itself when
the catalog knows it (``nvidia_h100_80gb_hbm3`` from AutoDetect=nvml), the ``partitions``
option, the ``nodes`` option. A TRES type that is a MIG profile (``1g.10gb``) makes each
GPU that fraction of a whole one.

Reference: sacct(1) (``--parsable2``, field list, Elapsed format), Slurm TRES and GRES docs.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pyarrow as pa

from connectors.formats.base import Parser, Sample
from connectors.formats.text import read_text
from connectors.formats.usage.kit import (
    TIME_CONFIGURED_ZONE,
    TIME_UNKNOWN_ZONE,
    TIME_UTC,
    NodeMap,
    check_accelerator_table,
    check_str,
    check_timezone,
    expand_hostlist,
    mig_fraction,
    option_error,
    unknown_accelerator,
    usage_id,
)
from connectors.formats.values import check_int64
from reconcile.catalog import load_catalog
from reconcile.errors import ParseError
from reconcile.schemas import GPU_USAGE, conform

_ELAPSED = re.compile(
    r"^(?:(\d{1,9})-)?(?:(\d{1,9}):)?(\d{1,9}):(\d{1,9})(?:\.(\d{1,9}))?$", re.ASCII
)
_JOB_ID = re.compile(r"^(\d+)(?:_(\d+|\[[^\]]*\]))?(?:\+(\d+))?$")
_UNKNOWN = {"", "unknown", "none", "n/a"}
_HEADER_HINT = (
    "JobID|JobName|User|Account|Partition|State|Start|End|ElapsedRaw|NNodes|NodeList|AllocTRES"
)


@dataclass
class _Job:
    """One allocation row and the step rows that belong to it."""

    line: int
    row: dict[str, str]
    steps: list[tuple[int, dict[str, str]]] = field(default_factory=list)


class SlurmSacctParser(Parser):
    """``sacct --parsable2`` dumps → one row per job allocation."""

    name: ClassVar[str] = "slurm_sacct"
    version: ClassVar[int] = 1
    table: ClassVar[str] = "gpu_usage"
    schema: ClassVar[pa.Schema] = GPU_USAGE
    patterns: ClassVar[tuple[str, ...]] = (
        "sacct*.txt",
        "sacct*.psv",
        "sacct*.txt.gz",
        "*.sacct",
    )
    sniff_suffixes: ClassVar[tuple[str, ...]] = (".txt", ".psv", ".log", ".out", ".csv", ".txt.gz")
    OPTIONS: ClassVar[tuple[str, ...]] = (
        "cluster",
        "timezone",
        "partitions",
        "nodes",
        "gres_types",
        "gpus_per_node",
        "allocgres",
        "columns",
    )

    def check_options(self) -> None:
        """Options: ``cluster``, ``timezone`` (IANA), ``partitions``/``nodes``/``gres_types``
        (tables → accelerator), ``gpus_per_node`` (partition → GPUs, for sites that do
        not track GPUs as TRES), ``allocgres`` (``per_node`` or ``per_job``), ``columns``
        (the ``-o`` field list of dumps written with ``--noheader``, as a list or a
        comma-separated text)."""
        super().check_options()
        fmt = self.name
        opts = self.options
        self.cluster = check_str(fmt, "cluster", opts["cluster"]) if "cluster" in opts else None
        self.timezone = (
            zoneinfo.ZoneInfo(check_timezone(fmt, "timezone", opts["timezone"]))
            if "timezone" in opts
            else None
        )
        self.partitions = check_accelerator_table(fmt, "partitions", opts.get("partitions", {}))
        self.gres_types = check_accelerator_table(fmt, "gres_types", opts.get("gres_types", {}))
        self.nodes = NodeMap.build(fmt, "nodes", opts.get("nodes", {}))
        per_node = opts.get("gpus_per_node", {})
        if not isinstance(per_node, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in per_node.values()
        ):
            raise option_error(
                fmt, "gpus_per_node", "must be a table of partition = positive integer"
            )
        self.gpus_per_node: dict[str, int] = dict(per_node)
        self.allocgres = opts.get("allocgres", "per_node")
        if self.allocgres not in ("per_node", "per_job"):
            raise option_error(fmt, "allocgres", "must be 'per_node' or 'per_job'")
        columns = opts.get("columns")
        if isinstance(columns, str):
            columns = [c.strip() for c in columns.split(",")]
        if columns is not None and (
            not isinstance(columns, list)
            or not all(isinstance(c, str) and c for c in columns)
            or "JobID" not in columns
        ):
            raise option_error(
                fmt, "columns", "must be the sacct -o field list (with JobID), e.g. 'JobID,State'"
            )
        self.columns: list[str] | None = columns

    def sniff(self, sample: Sample) -> bool:
        """A header line naming JobID (parsable, or the fixed-width form, to explain it)."""
        first = sample.first_line()
        if "|" in first:
            return "JobID" in first.split("|") or "JobIDRaw" in first.split("|")
        return first.split()[:1] == ["JobID"] and "JobName" in first

    # -- parsing ---------------------------------------------------------------

    def parse(self, data: bytes, *, source: str) -> pa.Table:
        """Parse one dump."""
        text = read_text(data, source)  # gunzipped within bounds, no enormous line
        lines = text.splitlines()
        numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
        if not numbered:
            raise ParseError(source, "empty file")
        header_no, header_line = numbered[0]
        if self.columns is not None and "JobID" not in header_line.split("|"):
            # written with --noheader: the configured field list is the header
            header_line, header_no = "|".join(self.columns), 0
            numbered.insert(0, (0, header_line))
        header = self._header(header_line, source, header_no)
        jobs: dict[str, _Job] = {}
        order: list[str] = []
        latest: dict[str, str] = {}  # JobID -> key of its latest allocation row
        for number, line in numbered[1:]:
            if line == header_line:  # concatenated dumps repeat the header
                continue
            values = line.split("|")
            if len(values) == len(header) + 1 and values[-1] == "":  # -p trailing pipe
                values.pop()
            if len(values) != len(header):
                raise ParseError(
                    source,
                    f"expected {len(header)} '|'-separated fields, found {len(values)}",
                    f"line {number}",
                )
            row = dict(zip(header, (v.strip() for v in values), strict=True))
            job_id = row["JobID"]
            if not job_id:
                raise ParseError(source, "empty JobID", f"line {number}")
            if "." in job_id:
                parent = latest.get(job_id.split(".", 1)[0])
                if parent is not None:
                    jobs[parent].steps.append((number, row))
                continue  # a step whose allocation is outside the dump's window
            key = f"{job_id}\x1f{row.get('Start', '')}"
            if key not in jobs:
                order.append(key)
            jobs[key] = _Job(number, row, jobs[key].steps if key in jobs else [])
            latest[job_id] = key
        rows = []
        for key in order:
            out = self._row(jobs[key], source)
            if out is not None:
                rows.append(out)
        # The same allocation listed twice (overlapping concatenated dumps) is one row.
        unique = {r["usage_id"]: r for r in rows}
        return conform(list(unique.values()), GPU_USAGE)

    def _header(self, line: str, source: str, number: int) -> list[str]:
        if "|" not in line:
            if line.split()[:1] == ["JobID"]:
                raise ParseError(
                    source,
                    "fixed-width sacct output (columns are truncated with '+'): "
                    "export with -P/--parsable2",
                    f"line {number}",
                )
            raise ParseError(
                source, f"no sacct header line; expected e.g. {_HEADER_HINT}", f"line {number}"
            )
        fields = line.split("|")
        if fields and fields[-1] == "":
            fields.pop()
        fields = [f.strip() for f in fields]
        if "JobID" not in fields:
            if _JOB_ID.match(fields[0].split(".")[0]):
                raise ParseError(
                    source,
                    "no header line: export without -n/--noheader, or set "
                    "[formats.slurm_sacct] columns to the -o field list",
                    f"line {number}",
                )
            raise ParseError(
                source, f"no JobID column in the header {fields[:8]}", f"line {number}"
            )
        if not {"ElapsedRaw", "Elapsed"} & set(fields) and not {"Start", "End"} <= set(fields):
            raise ParseError(
                source, "no ElapsedRaw, Elapsed or Start+End columns", f"line {number}"
            )
        if not {"AllocTRES", "AllocGRES"} & set(fields) and not self.gpus_per_node:
            raise ParseError(
                source,
                "no AllocTRES or AllocGRES column: GPU counts unknown (add AllocTRES to "
                "--format, or set [formats.slurm_sacct] gpus_per_node)",
                f"line {number}",
            )
        if len(set(fields)) != len(fields):
            raise ParseError(source, "duplicate columns in the header", f"line {number}")
        return fields

    def _row(self, job: _Job, source: str) -> dict[str, Any] | None:
        """The gpu_usage row of one allocation, or None when it held no GPUs."""
        row, where = job.row, f"line {job.line}"
        state_text = row.get("State", "")
        state = state_text.split(" ")[0].upper() or None
        tags: dict[str, str] = {}
        if state_text.upper().startswith("CANCELLED BY "):
            tags["cancelled_by"] = state_text.split(" ", 2)[2]
        if state == "PENDING":
            return None
        elapsed = self._elapsed(row, source, where)
        nodes = self._int(row.get("NNodes"), "NNodes", source, where)
        gpus, gpu_types, basis = self._gpus(row, nodes, source, where)
        if not gpus:
            return None  # no GPUs (a CPU job), or nothing allocated yet
        start_text, end_text = row.get("Start", ""), row.get("End", "")
        start_raw = self._time(start_text, source, where, "Start")
        end_raw = self._time(end_text, source, where, "End")
        if start_raw is None and not elapsed:
            return None  # never started
        try:
            started, ended, time_basis = self._utc(start_raw, end_raw, elapsed)
            if elapsed is None and started and ended:
                elapsed = (ended - started).total_seconds()
            if ended is None and started is not None and elapsed is not None:
                ended = started + timedelta(seconds=elapsed)
                tags["ended_at_basis"] = "start_plus_elapsed"
            elif started and ended and elapsed is not None:
                drift = (ended - started).total_seconds() - elapsed
                if abs(drift) > 1:
                    tags["elapsed_vs_start_end_seconds"] = f"{drift:.0f}"
        except OverflowError:  # a time near the year 1 or 9999, or an absurd elapsed time
            raise ParseError(source, "Start, End or Elapsed out of range", where) from None

        job_id = row["JobID"]
        match = _JOB_ID.match(job_id)
        if match and match[2]:
            tags["array_job_id"], tags["array_task_id"] = match[1], match[2]
        if match and match[3]:
            tags["het_job_id"], tags["het_job_offset"] = match[1], match[3]
        if row.get("JobIDRaw") and row["JobIDRaw"] != job_id:
            tags["job_id_raw"] = row["JobIDRaw"]
        node_list = row.get("NodeList", "")
        try:
            hosts = expand_hostlist(node_list)
        except ValueError as exc:
            raise ParseError(source, f"NodeList {node_list!r}: {exc}", where) from exc
        if node_list and hosts:
            tags["node_list"] = node_list
        partition = row.get("Partition") or None
        accelerator, accel_basis, mig_profile, fraction = self._accelerator(
            gpu_types, partition, hosts
        )
        if accel_basis:
            tags["accelerator_basis"] = accel_basis
        if len(gpu_types) > 1:
            tags["gpu_types"] = ",".join(f"{t}:{n}" for t, n in sorted(gpu_types.items()))
        tags["gpu_count_basis"] = basis
        for key in ("QOS", "ExitCode", "Submit", "ReqTRES", "AllocTRES", "AllocGRES"):
            if row.get(key):
                tags[key.lower()] = row[key]
        self._steps(job, gpus, elapsed, tags, source)
        if time_basis == TIME_CONFIGURED_ZONE and self.timezone is not None:
            tags["timezone"] = self.timezone.key
        cluster = row.get("Cluster") or self.cluster
        out = {
            "usage_id": usage_id(
                "slurm",
                cluster,
                job_id,
                row.get("JobIDRaw"),
                started.isoformat() if started else start_text,
            ),
            "source_kind": "slurm",
            "cluster": cluster,
            "job_key": job_id,
            "job_name": row.get("JobName") or None,
            "user_name": row.get("User") or None,
            "account": row.get("Account") or None,
            "partition": partition,
            "job_state": state,
            "host": hosts[0] if len(hosts) == 1 else None,
            "gpu_uuid": None,
            "accelerator": accelerator,
            "gpu_count": gpus,
            "gpu_fraction": fraction,
            "mig_profile": mig_profile,
            "started_at": started,
            "ended_at": ended,
            "time_basis": time_basis,
            "elapsed_seconds": elapsed,
            "gpu_seconds": None if elapsed is None else elapsed * gpus * fraction,
            "samples": None,
            "confidence": "allocation",
            "tags": sorted(tags.items()),
            "source_uri": source,
            "source_format": self.name,
        }
        check_int64(out, source, where)
        return out

    # -- fields ----------------------------------------------------------------

    @staticmethod
    def _int(text: str | None, name: str, source: str, where: str) -> int | None:
        if text is None or text.strip().lower() in _UNKNOWN:
            return None
        if not _whole(text.strip()):
            raise ParseError(source, f"{name} is not a whole number: {text!r:.40}", where)
        return int(text)

    def _elapsed(self, row: dict[str, str], source: str, where: str) -> float | None:
        raw = row.get("ElapsedRaw")
        if raw is not None and raw.strip().lower() not in _UNKNOWN:
            value = self._int(raw, "ElapsedRaw", source, where)
            return None if value is None else float(value)
        text = row.get("Elapsed")
        if text is None or text.strip().lower() in _UNKNOWN:
            return None
        match = _ELAPSED.match(text.strip())
        if not match:
            raise ParseError(source, f"Elapsed is not [D-]HH:MM:SS: {text!r}", where)
        days, hours, minutes, seconds, fraction = match.groups()
        total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
        return total + (float(f"0.{fraction}") if fraction else 0.0)

    def _gpus(
        self, row: dict[str, str], nodes: int | None, source: str, where: str
    ) -> tuple[int, dict[str, int], str]:
        """(GPU count, count per GRES type, basis)."""
        tres = row.get("AllocTRES", "")
        total: int | None = None
        typed: dict[str, int] = {}
        for item in filter(None, (p.strip() for p in tres.split(","))):
            key, _, value = item.partition("=")
            if key == "gres/gpu" or key.startswith("gres/gpu:"):
                count = self._tres_count(value, key, source, where)
                if key == "gres/gpu":
                    total = count
                else:
                    typed[key.split(":", 1)[1]] = count
        if total is not None or typed:
            return (total if total is not None else sum(typed.values())), typed, "alloc_tres"
        gres = row.get("AllocGRES", "")
        per_node = 0
        for item in filter(None, (p.strip() for p in re.split(r",(?![^(]*\))", gres))):
            parts = re.sub(r"\(.*\)$", "", item).split(":")
            if parts[0] != "gpu":
                continue
            if len(parts) == 2 and _whole(parts[1]):
                count, kind = int(parts[1]), None
            elif len(parts) == 3 and _whole(parts[2]):
                count, kind = int(parts[2]), parts[1]
            else:
                raise ParseError(source, f"AllocGRES entry {item!r} is not gpu[:type]:count", where)
            per_node += count
            if kind:
                typed[kind] = typed.get(kind, 0) + count
        if per_node:
            factor = (nodes or 1) if self.allocgres == "per_node" else 1
            typed = {k: v * factor for k, v in typed.items()}
            return per_node * factor, typed, f"alloc_gres_{self.allocgres}"
        partition = row.get("Partition", "")
        if partition in self.gpus_per_node and nodes:
            return self.gpus_per_node[partition] * nodes, {}, "nodes_x_gpus_per_node"
        return 0, {}, "none"

    @staticmethod
    def _tres_count(value: str, key: str, source: str, where: str) -> int:
        if not _whole(value):
            raise ParseError(source, f"AllocTRES {key}={value!r:.40} is not a whole number", where)
        return int(value)

    @staticmethod
    def _time(text: str, source: str, where: str, name: str) -> datetime | None:
        text = text.strip()
        if text.lower() in _UNKNOWN:
            return None
        try:
            if text.isdigit():
                return datetime.fromtimestamp(int(text), UTC)
            return datetime.fromisoformat(text)
        except (ValueError, OverflowError, OSError) as exc:  # also past the year 9999
            raise ParseError(source, f"{name} is not a time: {text!r:.40}", where) from exc

    def _utc(
        self, start: datetime | None, end: datetime | None, elapsed: float | None
    ) -> tuple[datetime | None, datetime | None, str]:
        """Both times in UTC, and how they got there."""
        naive = [t for t in (start, end) if t is not None and t.tzinfo is None]
        if not naive:
            return _as_utc(start), _as_utc(end), TIME_UTC
        if self.timezone is None:
            return _as_utc(start), _as_utc(end), TIME_UNKNOWN_ZONE
        zone = self.timezone
        starts = _folds(start, zone)
        ends = _folds(end, zone)
        # In a repeated DST hour, keep the reading whose span matches ElapsedRaw.
        best = min(
            ((s, e) for s in starts for e in ends),
            key=lambda pair: (
                abs((pair[1] - pair[0]).total_seconds() - elapsed)
                if pair[0] and pair[1] and elapsed is not None
                else 0.0
            ),
        )
        return best[0], best[1], TIME_CONFIGURED_ZONE

    def _accelerator(
        self, gpu_types: dict[str, int], partition: str | None, hosts: list[str]
    ) -> tuple[str | None, str | None, str | None, float]:
        """(accelerator key, basis, MIG profile, GPU fraction)."""
        catalog = load_catalog()
        accelerator, basis, mig, fraction = None, None, None, 1.0
        if len(gpu_types) == 1:
            (kind,) = gpu_types
            found = mig_fraction(kind)
            if found is not None:
                mig, fraction = kind, found
            elif kind in self.gres_types:
                accelerator, basis = self.gres_types[kind], "gres_type_option"
            else:
                match = catalog.match_accelerator(
                    kind.replace("_", " ")
                ) or catalog.match_accelerator(kind)
                if match is not None:
                    accelerator, basis = match.key, "gres_type"
        if accelerator is None and partition and partition in self.partitions:
            accelerator, basis = self.partitions[partition], "partition_option"
        if accelerator is None and hosts:
            found_on = {self.nodes.lookup(h) for h in hosts}
            if len(found_on) == 1 and None not in found_on:
                accelerator, basis = found_on.pop(), "nodes_option"
        if accelerator is None and mig is None and len(gpu_types) == 1:
            # A typed GRES nothing maps (a site's own name, or a device the catalog
            # lacks): kept as ``unknown:<type>``, listed by the usage_unknown_accelerators
            # check; the ``gres_types`` option names it.
            (kind,) = gpu_types
            accelerator, basis = unknown_accelerator(kind), "gres_type_unknown"
        return accelerator, basis, mig, fraction

    def _steps(
        self, job: _Job, gpus: int, elapsed: float | None, tags: dict[str, str], source: str
    ) -> None:
        """Record the steps as evidence and check them against their allocation."""
        if not job.steps:
            return
        names, longest, problems = [], 0.0, []
        for number, step in job.steps:
            suffix = step["JobID"].split(".", 1)[1]
            names.append(suffix)
            step_elapsed = self._elapsed(step, source, f"line {number}")
            step_gpus, _, _ = self._gpus(step, None, source, f"line {number}")
            if suffix not in ("batch", "extern") and step_elapsed:
                longest = max(longest, step_elapsed)
            if elapsed is not None and step_elapsed and step_elapsed > elapsed + 60:
                problems.append(f"{suffix} runs longer than its allocation")
            if step_gpus > gpus:
                problems.append(f"{suffix} has more GPUs than its allocation")
        tags["steps"] = ",".join(names)
        if longest:
            tags["step_elapsed_max_seconds"] = f"{longest:.0f}"
        if problems:
            tags["step_check"] = "; ".join(problems)


def _whole(text: str) -> bool:
    """ASCII digits that fit a 64-bit count (``"²".isdigit()`` is true; int() refuses it)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _as_utc(value: datetime | None) -> datetime | None:
    """An aware time in UTC; a naive one is read as UTC (the caller records that)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _folds(value: datetime | None, zone: zoneinfo.ZoneInfo) -> list[datetime | None]:
    """The UTC readings of a local wall-clock time (two inside a repeated DST hour)."""
    if value is None:
        return [None]
    if value.tzinfo is not None:
        return [value.astimezone(UTC)]
    readings = {value.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    return list(sorted(readings))
