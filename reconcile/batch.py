"""``reconcile run``: the scheduled batch job.

Ingest every configured source, estimate, write the report, publish a snapshot for
readers — under the warehouse's writer lock, so cron or a Kubernetes CronJob can start
it every hour: a second run waits (up to a timeout) or stops with a message naming the
running one; a lock left by a killed run is taken over (the OS released it).
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.stores.base import redact_uri
from reconcile import estimate as estimate_module
from reconcile import headroom, notify, warehouse
from reconcile import ingest as ingest_module
from reconcile.errors import ConfigError
from reconcile.lock import writer_lock
from reconcile.models import ModelRegistry, registry_for

if TYPE_CHECKING:
    from connectors.registry import Source

log = logging.getLogger("reconcile")

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


def redact(uri: str) -> str:
    """A URI safe to log: no user info, no query string (signed URLs carry secrets)."""
    return redact_uri(uri)


@dataclass
class RunSummary:
    """What a batch run did."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    quarantined: int = 0
    models: dict[str, str] = field(default_factory=dict)
    #: models whose status this run changed ({"model_id", "before", "now"})
    changes: list[dict[str, Any]] = field(default_factory=list)
    report: list[str] = field(default_factory=list)
    #: "done", or "unchanged" when nothing it depends on changed since the last estimate
    estimate: str = "done"
    #: "written", "unchanged" (the data and options of the report in place), or "none"
    report_state: str = "none"
    #: per model: compute left before review and provider, in accelerator-hours, crossings
    headroom: dict[str, Any] = field(default_factory=dict)
    #: the webhook's answer to this run's status changes: "sent", a failure, or "none"
    notified: str = "none"
    seconds: float = 0.0
    took_over_stale_lock: bool = False
    #: folders a store could not read (their objects were not seen): the run fails
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sources": self.sources,
            "errors": self.errors,
            "quarantined": self.quarantined,
            "models": self.models,
            "changes": self.changes,
            "report": self.report,
            "estimate": self.estimate,
            "report_state": self.report_state,
            "headroom": self.headroom,
            "notified": self.notified,
            "seconds": round(self.seconds, 3),
            "took_over_stale_lock": self.took_over_stale_lock,
        }


def run_batch(
    db: Path,
    sources: Sequence[SourceSpec],
    *,
    config: Mapping[str, Any],
    lock_timeout_seconds: float = 0.0,
    s3_endpoint_url: str | None = None,
    report_out: Path | None = None,
    report_formats: Sequence[str] = ("html", "md", "json", "csv"),
    engine: Any = None,
    retry_quarantined: bool = False,
) -> RunSummary:
    """Ingest all sources, estimate, report and publish a snapshot, under the lock.

    ``retry_quarantined`` re-reads quarantined objects even if they have not changed
    (``reconcile run --retry-quarantined``, as ``ingest`` has it).
    """
    if not sources:
        raise ConfigError("no sources configured", hint="add [[sources]] to the config file")
    started = time.monotonic()
    summary = RunSummary()
    registry = registry_for(config, db, os.environ.get("HF_ENDPOINT"))
    estimate_module.check_config(config)  # a bad value stops before the lock
    format_options = config.get("formats") or {}
    with writer_lock(db, command="run", timeout_seconds=lock_timeout_seconds) as lock:
        if lock.get("took_over_from"):
            summary.took_over_stale_lock = True
            log.warning(
                "lock.taken_over",
                extra={
                    "fields": {
                        "previous_pid": lock["took_over_from"].get("pid"),
                        "previous_since": lock["took_over_from"].get("since"),
                    }
                },
            )
        log.info("run.start", extra={"fields": {"db": str(db), "sources": len(sources)}})
        con = warehouse.open_for_write(db, wait_seconds=lock_timeout_seconds)
        try:
            for spec in sources:
                source = spec.open(s3_endpoint_url)
                result = ingest_module.ingest(
                    con,
                    [source],
                    format_name=spec.format,
                    format_options=format_options,
                    retry_quarantined=retry_quarantined,
                )
                record = {
                    "uri": redact(spec.uri),
                    **result.as_dict()["objects"],
                    "rows": sum(result.rows.values()),
                    "bytes_read": result.bytes_read,
                    "seconds": round(result.seconds, 3),
                }
                summary.sources.append(record)
                summary.quarantined += result.counts["quarantined"]
                summary.errors += result.errors
                for item in result.errors:
                    log.error("ingest.unreadable", extra={"fields": dict(item)})
                for item in result.quarantined:
                    log.warning(
                        "ingest.quarantined",
                        extra={"fields": {"uri": redact(item["uri"]), "error": item["error"]}},
                    )
                log.info("ingest.source", extra={"fields": record})
            digest = estimate_module.inputs_digest(con, config)
            current = (
                digest is not None
                and digest == estimate_module.stored_digest(con, "estimate")
                and estimate_module.staleness(con) is None
            )
            if current:
                # nothing the estimate depends on changed: the stored one stands
                summary.estimate = "unchanged"
                summary.models = dict(
                    con.execute(
                        "SELECT model_id, status FROM compliance_status ORDER BY model_id"
                    ).fetchall()
                )
                log.info("estimate.unchanged", extra={"fields": {"digest": (digest or "")[:12]}})
            else:
                _estimate(con, registry, config, engine, digest, summary)
            summary.headroom = {
                model: room.as_dict() for model, room in headroom.headrooms(con).items()
            }
            _notify(config.get("notify") or {}, db, summary)
            if report_out is not None:
                _report_if_changed(
                    con, report_out, report_formats, registry, config, digest, current, summary
                )
        except BaseException:
            con.close()
            raise
        warehouse.publish_snapshot(con, db)
        # recorded in the lock when the run ends well: readers then know the snapshot
        # holds everything, and answer from it without touching the warehouse file
        lock["snapshot_published"] = True
    summary.seconds = time.monotonic() - started
    log.info(
        "run.done",
        extra={
            "fields": {
                "seconds": round(summary.seconds, 3),
                "quarantined": summary.quarantined,
                "statuses": summary.models,
            }
        },
    )
    return summary


def _notify(options: Mapping[str, Any], db: Path, summary: RunSummary) -> None:
    """Post this run's status changes to ``[notify] webhook`` (when set and any changed)."""
    url = options.get("webhook")
    if not url or not summary.changes:
        return
    event = {
        "event": "status_changed",
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "warehouse": Path(db).name,
        "changes": summary.changes,
        "models": {
            model: {"status": status, "headroom": summary.headroom.get(model)}
            for model, status in summary.models.items()
        },
    }
    problem = notify.post_event(url, event, float(options.get("timeout", notify.DEFAULT_TIMEOUT)))
    summary.notified = problem or "sent"
    if problem:
        log.warning("notify.failed", extra={"fields": {"error": problem}})
    else:
        log.info("notify.sent", extra={"fields": {"changes": len(summary.changes)}})


def _estimate(
    con: Any,
    registry: ModelRegistry,
    config: Mapping[str, Any],
    engine: Any,
    digest: str | None,
    summary: RunSummary,
) -> None:
    outcome = estimate_module.run_configured(con, config, registry, engine, digest)
    summary.models = dict(outcome.models)
    summary.changes = estimate_module.status_changes(con)
    for change in summary.changes:
        log.warning("status.changed", extra={"fields": dict(change)})
    log.info(
        "estimate.done",
        extra={
            "fields": {
                "runs": outcome.runs,
                "models": len(outcome.models),
                "matches": outcome.matches,
            }
        },
    )


def _report_if_changed(
    con: Any,
    out: Path,
    formats: Sequence[str],
    registry: ModelRegistry,
    config: Mapping[str, Any],
    digest: str | None,
    estimate_current: bool,
    summary: RunSummary,
) -> None:
    """Write the report, unless the one in ``out`` was made from the same estimate with
    the same formats and options and is still there (nothing to rewrite)."""
    from reconcile.report import file_names

    options = config.get("report") or {}
    name = f"report:{out.resolve()}"
    wanted = (
        hashlib.sha256(
            json.dumps([digest, list(formats), options], sort_keys=True, default=str).encode()
        ).hexdigest()
        if digest is not None
        else None
    )
    folder = out / "latest" if options.get("history") else out
    if (
        estimate_current
        and wanted is not None
        and estimate_module.stored_digest(con, name) == wanted
        and all((folder / f).is_file() for f in file_names(formats))
    ):
        summary.report_state = "unchanged"
        log.info("report.unchanged", extra={"fields": {"out": str(out)}})
        return
    summary.report = _report(con, out, formats, registry, options)
    summary.report_state = "written" if summary.report else "unchanged"
    estimate_module.record_digest(con, name, wanted)
    log.info("report.written", extra={"fields": {"files": summary.report}})


def _report(
    con: Any,
    out: Path,
    formats: Sequence[str],
    registry: ModelRegistry,
    options: Mapping[str, Any],
) -> list[str]:
    """Write the audit report (HTML, Markdown, JSON, the CSV appendix) into ``out``; the
    files written.

    ``[report] stamp = true`` states the generation time. ``[report] history = true`` keeps
    every report that differs from the previous one in ``out/<YYYYMMDDTHHMMSSZ>/`` and a
    copy of the newest in ``out/latest/`` (replaced as a whole); a report identical to
    ``latest`` (the same data, no stamp) writes nothing.
    """
    from reconcile.report import write_report

    now = datetime.now(UTC)
    stamp = now if options.get("stamp") else None
    if not options.get("history"):
        return [
            str(p)
            for p in write_report(
                con, out, formats=list(formats), registry=registry, generated_at=stamp
            )
        ]
    out.mkdir(parents=True, exist_ok=True)
    latest = out / "latest"
    with tempfile.TemporaryDirectory(prefix=".report-", dir=out) as staging:
        written = write_report(
            con, Path(staging), formats=list(formats), registry=registry, generated_at=stamp
        )
        if (
            latest.is_dir()
            and sorted(p.name for p in latest.iterdir()) == sorted(p.name for p in written)
            and all(filecmp.cmp(p, latest / p.name, shallow=False) for p in written)
        ):
            log.info("report.unchanged", extra={"fields": {"latest": str(latest)}})
            return []
        name = now.strftime("%Y%m%dT%H%M%SZ")
        dated, n = out / name, 1
        while dated.exists():  # two runs within a second
            dated, n = out / f"{name}-{n}", n + 1
        shutil.copytree(staging, dated)
        fresh = out / f".latest-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
        shutil.copytree(staging, fresh)
        if latest.exists():
            retired = out / f".retired-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
            latest.rename(retired)
            fresh.rename(latest)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            fresh.rename(latest)
    return [str(dated / p.name) for p in written]
