"""``reconcile run``: the scheduled batch job.

Ingest every configured source, estimate, write the report, publish a snapshot for
readers — under the warehouse's writer lock, so cron or a Kubernetes CronJob can start
it every hour: a second run waits (up to a timeout) or stops with a message naming the
running one; a lock left by a killed run is taken over (the OS released it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.stores.base import redact_uri
from reconcile import estimate as estimate_module
from reconcile import headroom, notify, pipeline, warehouse
from reconcile.errors import ConfigError
from reconcile.lock import writer_lock
from reconcile.settings import REPORT_FORMATS, Settings

if TYPE_CHECKING:
    from reconcile.engines import Engine

log = logging.getLogger("reconcile")


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
    settings: Settings,
    *,
    lock_timeout_seconds: float = 0.0,
    report_out: Path | None = None,
    report_formats: Sequence[str] = REPORT_FORMATS,
    engine: Engine | None = None,
    retry_quarantined: bool = False,
) -> RunSummary:
    """Ingest all ``[[sources]]``, estimate, report and publish a snapshot, under the lock.

    ``retry_quarantined`` re-reads quarantined objects even if they have not changed
    (``reconcile run --retry-quarantined``, as ``ingest`` has it).
    """
    if not settings.sources:
        raise ConfigError("no sources configured", hint="add [[sources]] to the config file")
    started = time.monotonic()
    summary = RunSummary()
    db = settings.db
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
        log.info("run.start", extra={"fields": {"db": str(db), "sources": len(settings.sources)}})
        con = warehouse.open_for_write(
            db, wait_seconds=lock_timeout_seconds, memory_limit=settings.memory_limit
        )
        try:
            for spec in settings.sources:
                source = spec.open(settings.s3_endpoint_url)
                result = pipeline.ingest_into(
                    con,
                    settings,
                    [source],
                    format_name=spec.format,
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
            digest = estimate_module.inputs_digest(con, settings.data)
            current = (
                digest is not None
                and digest == warehouse.stored_digest(con, "estimate")
                and estimate_module.staleness(con) is None
            )
            if current:
                # nothing the estimate depends on changed: the stored one stands
                summary.estimate = "unchanged"
                summary.models = estimate_module.statuses(con)
                log.info("estimate.unchanged", extra={"fields": {"digest": (digest or "")[:12]}})
            else:
                _estimate(con, settings, engine, digest, summary)
            summary.headroom = {
                model: room.as_dict() for model, room in headroom.headrooms(con).items()
            }
            _notify(settings.section("notify"), db, summary)
            if report_out is not None:
                _report_if_changed(
                    con, settings, report_out, report_formats, digest, current, summary
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
    settings: Settings,
    engine: Engine | None,
    digest: str | None,
    summary: RunSummary,
) -> None:
    outcome = pipeline.estimate_into(con, settings, engine, digest)
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
    settings: Settings,
    out: Path,
    formats: Sequence[str],
    digest: str | None,
    estimate_current: bool,
    summary: RunSummary,
) -> None:
    """Write the report, unless the one in ``out`` was made from the same estimate with
    the same formats and options and is still there (nothing to rewrite)."""
    from reconcile.report import file_names

    options = settings.section("report")
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
        and warehouse.stored_digest(con, name) == wanted
        and all((folder / f).is_file() for f in file_names(formats))
    ):
        summary.report_state = "unchanged"
        log.info("report.unchanged", extra={"fields": {"out": str(out)}})
        return
    summary.report = pipeline.write_report(con, settings, out, formats)
    summary.report_state = "written" if summary.report else "unchanged"
    warehouse.record_digest(con, name, wanted)
    log.info("report.written", extra={"fields": {"files": summary.report}})
