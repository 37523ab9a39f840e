"""The pipeline — ingest → resolve → estimate → report — as one call per command.

The command line, the scheduled job (``reconcile.batch``) and the library
(``reconcile.api``) call these with the :class:`~reconcile.settings.Settings` in force.
Each opens the warehouse as its stage needs: the writer lock and a write connection, or
a reader (the published snapshot while a scheduled run writes). The stages themselves
(``ingest_into``, ``estimate_into``, ``write_report``) take an open connection, so the
scheduled job runs them all under one lock.
"""

from __future__ import annotations

import difflib
import filecmp
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from reconcile import estimate as estimate_module
from reconcile import headroom, resolve, warehouse
from reconcile import ingest as ingest_module
from reconcile.compliance import STATUS_SEVERITY
from reconcile.errors import ConfigError, ReconcileError
from reconcile.lock import writer_lock
from reconcile.settings import Settings

if TYPE_CHECKING:
    from connectors.registry import Source
    from reconcile.engines import Engine
    from reconcile.lake import ExportResult

log = logging.getLogger("reconcile")

#: Called with a sentence worth telling the user (a reader answering from the snapshot).
Note = Callable[[str], None]


def _log_note(text: str) -> None:
    log.info("warehouse.note", extra={"fields": {"note": text}})


@contextmanager
def reading(settings: Settings, on_note: Note | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse, or to its published snapshot while a run
    writes (said through ``on_note``)."""
    con, note = warehouse.open_for_reading(settings.db, memory_limit=settings.memory_limit)
    if note:
        (on_note or _log_note)(note)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def writing(
    settings: Settings, command: str, *, wait_seconds: float = 0.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The writer lock and a write connection (the schema brought up to date)."""
    with writer_lock(settings.db, command=command, timeout_seconds=wait_seconds):
        con = warehouse.open_for_write(
            settings.db, wait_seconds=wait_seconds, memory_limit=settings.memory_limit
        )
        try:
            ingest_module.record_formats(con)  # what resolution ranks evidence by
            yield con
        finally:
            con.close()


# -- ingest ----------------------------------------------------------------------------


def open_sources(settings: Settings, uris: Sequence[str] = ()) -> list[Source]:
    """The sources named by ``uris``, else the configured ``[[sources]]``.

    Raises:
        ConfigError: none given and none configured.
    """
    from connectors.registry import open_source

    if uris:
        return [open_source(uri, s3_endpoint_url=settings.s3_endpoint_url) for uri in uris]
    if not settings.sources:
        raise ConfigError("no source given and no [[sources]] in the configuration")
    return [spec.open(settings.s3_endpoint_url) for spec in settings.sources]


def plan(
    settings: Settings,
    sources: Sequence[Source],
    *,
    format_name: str | None = None,
    retry_quarantined: bool = False,
) -> ingest_module.IngestSummary:
    """What ``ingest`` would do (a dry run): list and compare, read and write nothing."""
    con = (
        warehouse.open_for_read(settings.db, memory_limit=settings.memory_limit)
        if settings.db.exists()
        else None
    )
    notes = ingest_module.PlanNotes()
    try:
        planned, listed, ignored = ingest_module.plan(
            con,
            sources,
            format_name=format_name,
            retry_quarantined=retry_quarantined,
            format_options=settings.formats,
            notes=notes,
        )
    finally:
        if con is not None:
            con.close()
    summary = ingest_module.IngestSummary(dry_run=True, objects_listed=listed, ignored=ignored)
    summary.take_notes(notes)
    for item in planned:
        key = {"skip": "unchanged", "still_quarantined": "quarantined"}.get(
            item.action, "replaced" if item.replaces else "new"
        )
        summary.counts[key] += 1
    return summary


def ingest(
    settings: Settings,
    sources: Sequence[Source],
    *,
    format_name: str | None = None,
    retry_quarantined: bool = False,
    workers: int | None = None,
    progress: ingest_module.ProgressSink | None = None,
) -> ingest_module.IngestSummary:
    """Load ``sources`` exactly once and resolve logical runs, under the writer lock."""
    with writing(settings, "ingest") as con:
        return ingest_into(
            con,
            settings,
            sources,
            format_name=format_name,
            retry_quarantined=retry_quarantined,
            workers=workers,
            progress=progress,
            resolve_runs=True,
        )


def ingest_into(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    sources: Sequence[Source],
    *,
    format_name: str | None = None,
    retry_quarantined: bool = False,
    workers: int | None = None,
    progress: ingest_module.ProgressSink | None = None,
    resolve_runs: bool = False,
) -> ingest_module.IngestSummary:
    """The ingest stage on an open write connection; with ``resolve_runs``, logical runs
    are resolved when the training evidence or ``[models]`` changed
    (``resolve.needs_resolving``: the estimate then finds them current)."""
    summary = ingest_module.ingest(
        con,
        sources,
        format_name=format_name,
        retry_quarantined=retry_quarantined,
        workers=workers,
        progress=progress,
        format_options=settings.formats,
    )
    if resolve_runs and resolve.needs_resolving(con, settings.registry):
        summary.logical_runs = resolve.resolve_runs(con, settings.registry)
    return summary


# -- estimate --------------------------------------------------------------------------


def make_engine(
    settings: Settings, name: str | None = None, s3_endpoint_url: str | None = None
) -> Engine:
    """The engine ``name`` (``--engine``) names, else the settings' (``RECONCILE_ENGINE``
    over ``[engine] name``; DuckDB by default).

    Raises:
        ConfigError: an unknown engine or invalid ``[engine]`` settings.
    """
    from reconcile.engines import make_engine as make

    return make(
        name or settings.engine_name,
        settings.data,
        settings.db,
        s3_endpoint_url=s3_endpoint_url or settings.s3_endpoint_url,
    )


def estimate(settings: Settings, engine: Engine | None = None) -> estimate_module.EstimateSummary:
    """(Re)compute estimates, lineage and statuses under the writer lock, on ``engine``
    (default: the settings' ``[engine]``, as ``reconcile estimate`` without ``--engine``).

    Raises:
        ConfigError: the configured engine cannot run (e.g. Spark without Java).
    """
    engine = engine or make_engine(settings)
    with writing(settings, "estimate") as con:
        return estimate_into(con, settings, engine)


def estimate_into(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    engine: Engine | None = None,
    digest: str | None = None,
) -> estimate_module.EstimateSummary:
    """The estimate stage on an open write connection, with the settings' ``[estimate]``,
    ``[lineage]``, ``[energy]`` and registry, recording the inputs' digest
    (``estimate.inputs_digest``, unless given): the one way every caller estimates."""
    if digest is None:
        digest = estimate_module.inputs_digest(con, settings.data)
    return estimate_module.run_estimate(
        con, settings.registry, settings.estimate, engine, digest, settings.energy
    )


# -- reading ---------------------------------------------------------------------------


@dataclass
class StatusView:
    """What ``reconcile status`` shows: one row per model, most urgent first
    (``estimate.STATUS_SELECT``'s columns), why the statuses may be out of date, the last
    estimate's status changes and each model's headroom."""

    table: pa.Table
    stale: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    headroom: dict[str, headroom.Headroom] = field(default_factory=dict)


#: Most urgent first (``compliance.STATUS_SEVERITY``), then by model.
_URGENCY = (
    " ORDER BY CASE status "
    + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STATUS_SEVERITY))
    + " END, model_id"
)


def status(
    settings: Settings, model_id: str | None = None, on_note: Note | None = None
) -> StatusView:
    """Each model's status as of the last estimate (or ``model_id``'s alone).

    Raises:
        ReconcileError: ``model_id`` has no status.
    """
    with reading(settings, on_note) as con:
        sql = (
            estimate_module.STATUS_SELECT
            + (" WHERE model_id = $model" if model_id else "")
            + _URGENCY
        )
        table = con.sql(sql, params={"model": model_id} if model_id else None).to_arrow_table()
        view = StatusView(
            table,
            stale=estimate_module.staleness(con),
            changes=estimate_module.status_changes(con),
            headroom=headroom.headrooms(con),
        )
    if model_id and not table.num_rows:
        raise ReconcileError(
            f"no status for model {model_id!r}",
            hint="run `reconcile estimate`, or see `reconcile status`",
        )
    if model_id:
        view.changes = [c for c in view.changes if c["model_id"] == model_id]
    return view


# -- report ----------------------------------------------------------------------------


def report(
    settings: Settings,
    out: str,
    formats: Sequence[str],
    *,
    stamp: bool = False,
    on_note: Note | None = None,
) -> list[str]:
    """Write the audit report from a reader into the folder ``out``, or into
    ``s3://``/``gs://``/``az://`` ``out`` (written locally, then uploaded); the files (or
    object URIs) written. Nothing is written unless every format rendered.

    Raises:
        ReconcileError: ``out`` is not a store this tool can write to (before any work).
    """
    from reconcile.lake import Target, is_store_uri
    from reconcile.report import write_report as render

    target = (
        Target.open(out, s3_endpoint_url=settings.s3_endpoint_url) if is_store_uri(out) else None
    )
    with (
        reading(settings, on_note) as con,
        tempfile.TemporaryDirectory(prefix="reconcile-report-") as staging,
    ):
        written = render(
            con,
            Path(staging) if target is not None else Path(out),
            formats=list(formats),
            registry=settings.registry,
            generated_at=datetime.now(UTC) if stamp else None,
        )
        if target is None:
            return [str(p) for p in written]
        for path in written:
            target.put_file(path.name, path)
        return [target.store.uri(target.prefix + p.name) for p in written]


def write_report(
    con: duckdb.DuckDBPyConnection, settings: Settings, out: Path, formats: Sequence[str]
) -> list[str]:
    """The report stage of the scheduled job: the audit report into the folder ``out``,
    with ``[report]``'s options; the files written.

    ``[report] stamp = true`` states the generation time. ``[report] history = true`` keeps
    every report that differs from the previous one in ``out/<YYYYMMDDTHHMMSSZ>/`` and a
    copy of the newest in ``out/latest/`` (replaced as a whole); a report identical to
    ``latest`` (the same data, no stamp) writes nothing.
    """
    from reconcile.report import write_report as render

    options = settings.section("report")
    now = datetime.now(UTC)
    stamp = now if options.get("stamp") else None
    if not options.get("history"):
        return [
            str(p)
            for p in render(
                con, out, formats=list(formats), registry=settings.registry, generated_at=stamp
            )
        ]
    out.mkdir(parents=True, exist_ok=True)
    latest = out / "latest"
    with tempfile.TemporaryDirectory(prefix=".report-", dir=out) as staging:
        written = render(
            con,
            Path(staging),
            formats=list(formats),
            registry=settings.registry,
            generated_at=stamp,
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


def model_card(
    settings: Settings, model_id: str, out_dir: Path, on_note: Note | None = None
) -> list[Path]:
    """Write ``model_id``'s Hugging Face model-card metadata block and the same facts as
    JSON into ``out_dir``; the files written.

    Raises:
        ReconcileError: no such model (with the closest names).
    """
    from reconcile import documentation
    from reconcile.report import accelerator_seconds, build_report, write_files

    with reading(settings, on_note) as con:
        built = build_report(con, registry=settings.registry)
        seconds = accelerator_seconds(con)
    model = next((m for m in built.models if m.model_id == model_id), None)
    if model is None:
        known = [m.model_id for m in built.models]
        close = difflib.get_close_matches(model_id, known, n=3, cutoff=0.6)
        raise ReconcileError(
            f"no model {model_id!r} in the warehouse",
            hint=f"did you mean {', '.join(close)}?" if close else "see `reconcile status`",
        )
    doc = documentation.document(model, {r.run_id: r for r in built.runs}, seconds)
    block, facts = documentation.model_card(doc, settings.section("energy").get("location"))
    return write_files(out_dir, {"model-card.yaml": block, "model-card.json": facts})


# -- the lake --------------------------------------------------------------------------


def export_lake(
    settings: Settings,
    dest: str | None,
    datasets: Sequence[str] = (),
    *,
    s3_endpoint_url: str | None = None,
    on_note: Note | None = None,
) -> tuple[str, ExportResult]:
    """Write the warehouse's billing lines and GPU usage to the lake at ``dest`` (default:
    ``[engine] lake``, else beside the warehouse), both from one snapshot; the lake's
    URI and what was written."""
    from reconcile import lake
    from reconcile.engines import default_lake

    target = dest or settings.section("engine").get("lake") or default_lake(settings.db)
    with reading(settings, on_note) as con:
        con.execute("BEGIN TRANSACTION")  # both datasets from one snapshot
        result = lake.export_lake(
            con,
            target,
            datasets=datasets or tuple(lake.PROJECTIONS),
            s3_endpoint_url=s3_endpoint_url or settings.s3_endpoint_url,
        )
        con.execute("COMMIT")
    return target, result
