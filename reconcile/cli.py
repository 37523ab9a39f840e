"""The ``reconcile`` command line: parse flags, call the core, print.

Exit codes (also in docs/commands.md):
  0 ok · 1 error · 2 usage · 3 finished, but some inputs were quarantined ·
  4 a ``--fail-on`` condition was met.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import duckdb

from reconcile import __version__, batch, headroom, logs, output, pipeline, queries, warehouse
from reconcile import ingest as ingest_module
from reconcile import settings as settings_module
from reconcile.compliance import STATUS_SEVERITY, gate_failures, sci
from reconcile.errors import ReconcileError
from reconcile.flags import flag_text
from reconcile.lake import is_store_uri
from reconcile.numbers import percent
from reconcile.settings import Settings

EXIT_CODES = {
    "ok": 0,
    "error": 1,
    "usage": 2,
    "quarantined": 3,
    "fail_on": 4,
}


def _s3_endpoint_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--s3-endpoint-url`` (env RECONCILE_S3_ENDPOINT_URL), described for one command."""
    return click.option(
        "--s3-endpoint-url", metavar="URL", envvar="RECONCILE_S3_ENDPOINT_URL", help=text
    )


#: ``--engine`` (env RECONCILE_ENGINE) of the commands that run the heavy stages.
_engine_option = click.option(
    "--engine",
    "engine_name",
    type=click.Choice(["duckdb", "spark"]),
    envvar="RECONCILE_ENGINE",
    help="Where the heavy stages run (default: [engine] name in the config, else duckdb).",
)


#: The group's own options, accepted after the command too (``status --db X``).
_GLOBAL_VALUED = ("--db", "--config", "--log-format")
_GLOBAL_FLAGS = ("--debug",)


def _globals_first(args: list[str]) -> list[str]:
    """``args`` with the group's options moved before the command, where click wants them
    (only whole tokens move: an SQL text or a parameter value is never taken apart)."""
    moved: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        if arg in _GLOBAL_FLAGS or arg.startswith(tuple(f"{o}=" for o in _GLOBAL_VALUED)):
            moved.append(arg)
        elif arg in _GLOBAL_VALUED and index + 1 < len(args):
            moved += args[index : index + 2]
            index += 1
        else:
            rest.append(arg)
        index += 1
    return moved + rest


class ReconcileGroup(click.Group):
    """The one error boundary: a ``ReconcileError`` becomes ``Error: ...`` and exit 1;
    so does a write the file system refused (disk full): the user's to fix, not a bug."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Global options may follow the command (``reconcile status --db X``)."""
        # help asked for anywhere: a broken configuration must not hide it
        ctx.meta["reconcile.help"] = any(a in ("-h", "--help") for a in args)
        return super().parse_args(ctx, _globals_first(list(args)))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReconcileError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(
                logs.error_line(output.terminal_safe(exc.one_line()), code=EXIT_CODES["error"]),
                err=True,
            )
            ctx.exit(EXIT_CODES["error"])
        except duckdb.Error as exc:
            refused = warehouse.write_failure(exc)
            if refused is None or (ctx.obj and ctx.obj.get("debug")):
                raise
            db = ctx.obj.get("db") if ctx.obj else None
            click.echo(
                logs.error_line(
                    f"{db}: a write was refused: {refused} (free disk space and run again: "
                    "what was committed stays, the rest is redone)",
                    code=EXIT_CODES["error"],
                ),
                err=True,
            )
            ctx.exit(EXIT_CODES["error"])


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Eager callback: read the project file into click's default_map before other options."""
    source = ctx.get_parameter_source(param.name or "config")
    explicit = source in (
        click.core.ParameterSource.COMMANDLINE,
        click.core.ParameterSource.ENVIRONMENT,
    )
    path = Path(value) if value else settings_module.DEFAULT_CONFIG
    try:
        data = settings_module.load(path, required=explicit)
        # every section validated here; a command stops on the error before it starts
        # (``cli``), while --help and --version still answer
        ctx.meta["reconcile.settings"] = Settings.from_data(data, path)
    except ReconcileError as exc:
        ctx.meta["reconcile.settings"] = exc
        return str(path)
    # Each file value goes under every option that takes it (settings.SETTINGS), so the
    # commands sharing a setting (the S3 endpoint, say) read it the same way.
    ctx.default_map = {**(ctx.default_map or {}), **settings_module.default_map(data)}
    return str(path)


@click.group(cls=ReconcileGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="RECONCILE_CONFIG",
    is_eager=True,
    callback=_load_config,
    expose_value=True,
    metavar="PATH",
    help="Project file (env RECONCILE_CONFIG; default ./reconcile.toml when present).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="RECONCILE_DB",
    default=settings_module.DEFAULT_DB,
    show_default=True,
    help="DuckDB warehouse file (env RECONCILE_DB).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--log-format",
    type=click.Choice(["human", "json"]),
    default="human",
    envvar="RECONCILE_LOG_FORMAT",
    show_default=True,
    help="Progress events on stderr: human lines or JSON lines (env RECONCILE_LOG_FORMAT).",
)
@click.version_option(__version__, prog_name="reconcile")
@click.pass_context
def cli(ctx: click.Context, config_path: str, db: Path, debug: bool, log_format: str) -> None:
    """Rebuild how much compute went into each fine-tuned model, from the evidence you have.

    reconcile pulls training logs (Hugging Face checkpoints, SageMaker, W&B, MLflow),
    billing exports (AWS CUR, FOCUS, GCP, Azure) and GPU-hour data (Slurm, DCGM,
    nvidia-smi) from local folders and object stores into one DuckDB file, estimates
    each run's FLOPs by independent methods, cross-checks them, and tells for each
    released model whether the EU AI Act's one-third rule makes you its provider.

    \b
    The pipeline:
      check     can every source be listed, what is recognised
      ingest    load sources into the warehouse, exactly once
      estimate  per-run FLOPs, lineage, statuses
      status    compliance status per model, --fail-on for CI
      query     a shipped query, your own SQL file or SQL text
      report    the audit report: HTML, Markdown, JSON
      run       the scheduled batch job: ingest, estimate, report
      config    show the effective configuration and its origins
      lake      export billing and GPU usage as Parquet for Spark

    Exit codes: 0 ok, 1 error, 2 usage, 3 some inputs quarantined, 4 --fail-on met.
    """
    ctx.ensure_object(dict)
    ctx.obj.update({"db": db, "debug": debug, "config": config_path, "log_format": log_format})
    loaded: Settings | ReconcileError = ctx.meta["reconcile.settings"]
    if isinstance(loaded, ReconcileError):
        if ctx.meta.get("reconcile.help"):
            return  # the command's help needs no configuration
        click.echo(f"Error: {loaded.one_line()}", err=True)
        ctx.exit(EXIT_CODES["error"])
    ctx.obj["settings"] = loaded.with_db(db)  # --db (or RECONCILE_DB, or the file's db)
    logs.configure(log_format, list(loaded.secret_tags))


class _RichProgress(ingest_module.ProgressSink):
    """A progress bar of units and bytes, drawn only on a terminal."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("objects"),
            DownloadColumn(),
            TimeElapsedColumn(),
            transient=True,
        )
        self._task: Any = None
        self._bytes = 0

    def start(self, units: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("ingest", total=units)

    def advance(self, units: int, bytes_read: int) -> None:
        self._progress.update(self._task, advance=units)
        self._bytes += bytes_read

    def finish(self) -> None:
        self._progress.stop()


@cli.command()
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "--format",
    "format_name",
    metavar="NAME",
    help="Parse every object as this format instead of detecting it.",
)
@click.option("--dry-run", is_flag=True, help="List and compare only: download and write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@click.option(
    "--retry-quarantined",
    is_flag=True,
    help="Re-read quarantined objects even if they have not changed.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Units fetched and parsed in parallel (default: 1 for local folders, "
    "8 for object stores).",
)
@_s3_endpoint_option("S3-compatible endpoint (default: boto3's AWS_ENDPOINT_URL or AWS).")
@click.pass_context
def ingest(
    ctx: click.Context,
    sources: tuple[str, ...],
    format_name: str | None,
    dry_run: bool,
    as_json: bool,
    retry_quarantined: bool,
    workers: int | None,
    s3_endpoint_url: str | None,
) -> None:
    """Load SOURCE... into the warehouse, exactly once.

    SOURCE is a local folder or file, s3://BUCKET/PREFIX (any S3-compatible store),
    gs://BUCKET/PREFIX or az://CONTAINER/PREFIX. Unchanged objects are skipped without
    downloading; a changed object replaces exactly the rows it produced; an object that
    cannot be parsed is quarantined with its error and the rest still load (exit code 3).
    """
    from connectors.registry import get_parser, open_source

    settings: Settings = ctx.obj["settings"]
    if format_name:  # fail fast on an unknown format name
        get_parser(format_name, settings.formats.get(format_name))
    resolved = [open_source(s, s3_endpoint_url=s3_endpoint_url) for s in sources]
    if dry_run:
        summary = pipeline.plan(
            settings, resolved, format_name=format_name, retry_quarantined=retry_quarantined
        )
    else:
        summary = pipeline.ingest(
            settings,
            resolved,
            format_name=format_name,
            retry_quarantined=retry_quarantined,
            workers=workers,
            progress=_RichProgress() if sys.stdout.isatty() and not as_json else None,
        )
    _print_summary(summary, as_json)
    if summary.errors:  # folders the store could not read: their objects were not seen
        ctx.exit(EXIT_CODES["error"])
    if summary.counts["quarantined"]:
        ctx.exit(EXIT_CODES["quarantined"])


def _print_summary(summary: ingest_module.IngestSummary, as_json: bool) -> None:
    data = summary.as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    objects = data["objects"]
    verb = "would load" if summary.dry_run else "loaded"
    click.echo(
        f"objects: {objects['new']} new, {objects['replaced']} replaced, "
        f"{objects['unchanged']} unchanged, {objects['quarantined']} quarantined, "
        f"{objects['ignored']} not recognised ({objects['listed']} listed)"
        + ("  [dry run: nothing read or written]" if summary.dry_run else "")
    )
    if not summary.dry_run:
        rows = ", ".join(f"{n} {t}" for t, n in data["rows"].items() if n) or "no rows"
        click.echo(f"{verb}: {rows}; read {data['bytes_read']:,} bytes in {data['seconds']:.2f} s")
        if summary.logical_runs is not None:
            click.echo(
                f"resolved: {summary.logical_runs} logical training runs "
                "(evidence of the same job merged)"
            )
    for item in summary.overlaps:
        click.echo(f"overlap: {output.terminal_safe(item['text'])}")
    shown = summary.not_recognised[:5]
    for uri in shown:
        click.echo(f"not recognised: {output.terminal_safe(uri)}")
    if summary.ignored > len(shown):
        click.echo(f"not recognised: … and {summary.ignored - len(shown)} more (--json lists them)")
    for item in summary.warnings:
        click.echo(f"warning: {output.terminal_safe(item['warning'])}", err=True)
    for item in summary.quarantined:
        prefix = "quarantined" if item.get("seen") == "now" else "still quarantined"
        click.echo(f"{prefix}: {output.terminal_safe(item['error'])}", err=True)
    for item in summary.errors:
        click.echo(logs.error_line(output.terminal_safe(item["error"])), err=True)


@cli.command()
@_engine_option
@_s3_endpoint_option("S3-compatible endpoint for an s3:// lake (Spark engine).")
@click.pass_context
def estimate(ctx: click.Context, engine_name: str | None, s3_endpoint_url: str | None) -> None:
    """(Re)compute estimates, lineage and compliance status from the warehouse.

    Merges evidence into logical runs, estimates each run's FLOPs by every method the
    evidence allows (architecture, hardware, reported), cross-checks them, builds each
    model's lineage and decides its status. Idempotent: results are rebuilt in one
    transaction.

    With --engine spark the heavy stages (billing and GPU-usage rollups) run on Apache
    Spark over the lake ([engine] lake), exported first; their results come back here.
    """
    settings: Settings = ctx.obj["settings"]
    engine = pipeline.make_engine(settings, engine_name, s3_endpoint_url)
    summary = pipeline.estimate(settings, engine)
    counts: dict[str, int] = {}
    for status in summary.models.values():
        counts[status] = counts.get(status, 0) + 1
    click.echo(
        f"runs: {summary.runs} ({summary.runs_with_estimate} with an estimate); models: "
        + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none")
    )


@cli.command()
@click.option("--model", "model_id", metavar="ID", help="Show one model only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option(
    "--fail-on",
    type=click.Choice(["provider", "review"]),
    help="Exit 4 naming the models if any is provider (with review: provider, review or "
    "insufficient_evidence), or if the statuses are not current (no estimate since the "
    "last ingest).",
)
@click.pass_context
def status(ctx: click.Context, model_id: str | None, as_json: bool, fail_on: str | None) -> None:
    """Compliance status per model, as of the last `reconcile estimate`.

    Each status explains itself: the modification compute to 2 significant figures with
    its method and band, the threshold and its basis, and the flags; then the headroom
    (compute left before review and provider, in accelerator-hours at the utilisation
    your runs reached) and the dates the model crossed into review or provider.
    """
    view = pipeline.status(ctx.obj["settings"], model_id, on_note=_note)
    stale, changes, room = view.stale, view.changes, view.headroom
    rows = output.rows(view.table)
    for row in rows:
        row["headroom"] = room[row["model_id"]].as_dict() if row["model_id"] in room else None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        safe = output.terminal_safe  # model ids and run names come from the evidence
        counts = [
            f"{n} {s.replace('_', ' ')}"
            for s in STATUS_SEVERITY
            if (n := sum(1 for r in rows if r["status"] == s))
        ]
        if rows:
            click.echo(f"{len(rows)} model{'s' if len(rows) != 1 else ''}: {', '.join(counts)}")
        for change in changes:
            click.echo(f"changed by the last estimate: {_change_text(change)}")
        for row in rows:
            click.echo(
                f"{safe(row['model_id'])}: {row['status'].upper()}  "
                f"{sci(row['flops_central'])} FLOP of {sci(row['threshold_flops'])} "
                f"threshold ({percent(row['share_of_threshold'])})"
            )
            click.echo(f"    {safe(row['explanation'] or '')}")
            if row["model_id"] in room:
                for line in headroom.describe(room[row["model_id"]]):
                    click.echo(f"    {safe(line)}")
            for flag in row["flags"] or []:
                run, sep, code = flag.rpartition(": ")
                click.echo(
                    f"    flag: {safe(run + sep) if sep else ''}{safe(flag_text(code))} "
                    f"[{safe(code)}]"
                )
    if stale:
        click.echo(f"warning: {stale}", err=True)
    _gate(ctx, fail_on, {row["model_id"]: row["status"] for row in rows}, stale)


def _change_text(change: dict[str, Any]) -> str:
    """``model: review → provider`` (new and dropped models said so)."""
    before = (change["before"] or "new").replace("_", " ")
    now = (change["now"] or "no longer in the evidence").replace("_", " ")
    return f"{output.terminal_safe(change['model_id'])}: {before} → {now}"


def _gate(
    ctx: click.Context, fail_on: str | None, statuses: dict[str, str], stale: str | None
) -> None:
    """Exit 4 naming why, when ``--fail-on`` is met; statuses nobody assessed meet it."""
    if not fail_on:
        return
    if stale:
        click.echo(f"--fail-on {fail_on}: not assessed: {stale}", err=True)
        ctx.exit(EXIT_CODES["fail_on"])
    failures = gate_failures(statuses, fail_on)
    if failures:
        names = ", ".join(f"{output.terminal_safe(m)} ({s})" for m, s in failures)
        click.echo(f"--fail-on {fail_on}: {len(failures)} model(s): {names}", err=True)
        ctx.exit(EXIT_CODES["fail_on"])


@cli.command()
@click.argument("name_or_file", metavar="NAME_OR_SQL_FILE_OR_SQL", required=False)
@click.option("--sql", "sql_text", metavar="SQL", help="Run this SQL text (read-only).")
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the result to this file instead of the terminal (needed for parquet).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Bind $KEY in the SQL to VALUE (repeatable; values are bound, never pasted).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "markdown", "parquet"]),
    default="table",
    show_default=True,
    help="Output format: table and markdown show readable numbers (3 significant "
    "figures, thousands separators); csv, json and parquet keep the raw values.",
)
@click.option("--list", "list_queries", is_flag=True, help="List the shipped queries and exit.")
@click.option(
    "--timeout",
    type=click.FloatRange(0),
    default=queries.DEFAULT_TIMEOUT_SECONDS,
    show_default=True,
    envvar="RECONCILE_QUERY_TIMEOUT",
    metavar="SECONDS",
    help="Stop the query after this many seconds, 0 for no limit "
    "(env RECONCILE_QUERY_TIMEOUT, [query] timeout).",
)
@click.pass_context
def query(
    ctx: click.Context,
    name_or_file: str | None,
    sql_text: str | None,
    output_path: Path | None,
    params: tuple[str, ...],
    fmt: str,
    list_queries: bool,
    timeout: float,
) -> None:
    """Run a shipped query (see --list) or your own .sql file, read-only.

    Shipped queries live in queries/*.sql and can also be run from the duckdb CLI.
    Parameters appear in the SQL as $name and are passed with --param name=value.
    The SQL sees only the warehouse's tables: it cannot read or write files, load
    extensions or change settings (COPY ... TO, ATTACH, INSTALL, SET are refused).
    A query running past --timeout is interrupted (exit 1). CSV and JSON are written
    as the rows arrive; text cells a spreadsheet would run as formulas get a leading '.
    """
    if list_queries:
        for item in queries.available():
            click.echo(f"{item.name:28} {item.description}")
        return
    if sql_text and name_or_file:
        raise click.UsageError("give a query name, a .sql file or --sql, not two")
    if not (name_or_file or sql_text):
        raise click.UsageError("missing NAME_OR_SQL_FILE_OR_SQL (or --sql, or --list)")
    if fmt == "parquet" and output_path is None:
        raise click.UsageError("--format parquet writes a file: give -o FILE")
    selected = (
        queries.QueryFile("sql", "--sql", sql_text)
        if sql_text
        else queries.resolve(str(name_or_file))
    )
    bound = queries.parse_params(params)
    table = None
    sink = (
        output_path.open("w", encoding="utf-8", newline="")
        if (output_path is not None and fmt in ("csv", "json"))
        else None
    )
    try:
        with (
            pipeline.reading(ctx.obj["settings"], _note) as con,
            queries.time_limit(queries.lock_down(con), timeout, selected.origin),
        ):
            if fmt in ("table", "markdown", "parquet"):  # laid out (or written) whole
                table = queries.run(con, selected, bound)
            else:
                names, batches = queries.stream(con, selected, bound)
                pieces = (
                    output.iter_json(batches) if fmt == "json" else output.iter_csv(names, batches)
                )
                for piece in pieces:
                    click.echo(piece, nl=False, file=sink)
                if fmt == "json":
                    click.echo(file=sink)
    finally:
        if sink is not None:
            sink.close()
    if table is None:
        return
    title = f"{selected.name} ({table.num_rows} rows)"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert output_path is not None
        pq.write_table(table, output_path)
        click.echo(f"wrote {table.num_rows} rows to {output_path}", err=True)
    elif fmt == "markdown":
        text = output.markdown_table(table)
        if output_path is not None:
            output_path.write_text(text, encoding="utf-8")
        else:
            click.echo(text, nl=False)
    else:
        from rich.console import Console

        # Off a terminal (pipes, CI logs) rich would squeeze columns into 80 characters.
        console = Console(
            width=None if sys.stdout.isatty() and output_path is None else 250,
            file=output_path.open("w", encoding="utf-8") if output_path else None,
        )
        if table.num_columns and console.width // table.num_columns < 10:
            # too many columns for the width: one block per row instead of letters
            console.print(output.vertical_text(title, table), markup=False, highlight=False)
        else:
            console.print(output.rich_table(title, table))
        if output_path is not None:
            console.file.close()


def _note(text: str) -> None:
    """A reader's note (answering from the published snapshot), on stderr."""
    click.echo(f"Note: {text}", err=True)


@cli.command()
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    envvar="RECONCILE_LOCK_TIMEOUT",
    help="Seconds to wait for a running job to finish before giving up.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["provider", "review"]),
    help="Exit 4 if a model ends at this status (review includes provider and "
    "insufficient_evidence), naming the models.",
)
@click.option(
    "--report-out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the audit report (default: [report] out in the config).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.option(
    "--retry-quarantined",
    is_flag=True,
    help="Re-read quarantined objects even if they have not changed.",
)
@_s3_endpoint_option("S3-compatible endpoint for s3:// sources.")
@_engine_option
@click.pass_context
def run(
    ctx: click.Context,
    lock_timeout: float,
    fail_on: str | None,
    report_out: Path | None,
    as_json: bool,
    retry_quarantined: bool,
    s3_endpoint_url: str | None,
    engine_name: str | None,
) -> None:
    """The scheduled batch job: ingest every configured source, estimate, report.

    Sources come from [[sources]] in the config file. One run at a time: a second run
    waits up to --lock-timeout for the lock, then stops with a message naming the running
    one; a lock left by a killed run is taken over. When the run completes, a snapshot
    of the warehouse is published, from which `query` and `status` answer while the next
    run writes. Safe to start from cron or a Kubernetes CronJob every hour. A run that
    finds nothing new keeps the estimate and the report as they are; with [notify]
    webhook, a status change is posted to it.

    With --engine spark (or [engine] name = "spark") the heavy stages run on Apache
    Spark over the lake; see docs/commands.md, "Running on a Spark cluster".
    """
    settings: Settings = ctx.obj["settings"]
    if s3_endpoint_url:
        settings = settings.with_s3_endpoint_url(s3_endpoint_url)
    engine = pipeline.make_engine(settings, engine_name)
    report = settings.section("report")
    out_text = str(ctx.params.get("report_out") or report.get("out") or "") or None
    if out_text and (is_store_uri(out_text) or out_text.startswith(("s3:/", "gs:/", "az:/"))):
        # (click has already folded "s3://b/p" into the path "s3:/b/p")
        raise ReconcileError(
            f"{out_text}: `run` writes its report to a folder",
            hint="give a local folder, then `reconcile report --out s3://…` to publish it",
        )
    out = report_out or (Path(report["out"]) if report.get("out") else None)
    summary = batch.run_batch(
        settings,
        lock_timeout_seconds=lock_timeout,
        report_out=out,
        report_formats=settings_module.parse_report_formats(
            report.get("formats") or settings_module.REPORT_FORMATS
        ),
        engine=engine,
        retry_quarantined=retry_quarantined,
    )
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        for record in summary.sources:
            click.echo(
                f"{output.terminal_safe(record['uri'])}: {record['new']} new, "
                f"{record['replaced']} replaced, "
                f"{record['unchanged']} unchanged, {record['quarantined']} quarantined"
            )
        counts: dict[str, int] = {}
        for value in summary.models.values():
            counts[value] = counts.get(value, 0) + 1
        click.echo(
            "models: "
            + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none")
            + f"; {summary.seconds:.1f} s"
            + (
                "; nothing changed since the last run: estimate and report as they were"
                if summary.estimate == "unchanged" and summary.report_state != "written"
                else ""
            )
        )
        for change in summary.changes:
            click.echo(f"changed: {_change_text(change)}")
        for path in summary.report:
            click.echo(f"report: {path}")
    for item in summary.errors:
        click.echo(logs.error_line(output.terminal_safe(item["error"])), err=True)
    if summary.errors:  # folders a store could not read: the run did not see everything
        ctx.exit(EXIT_CODES["error"])
    _gate(ctx, fail_on, dict(summary.models), None)
    if summary.quarantined:
        ctx.exit(EXIT_CODES["quarantined"])


@cli.command("report")
@click.option(
    "--out",
    "out_dir",
    required=True,
    metavar="DIR_OR_URI",
    help="Folder for report.html / .md / .json and runs.csv / links.csv (created if missing), or "
    "s3://, gs://, az:// BUCKET/PREFIX to write them there.",
)
@click.option(
    "--format",
    "formats",
    default=",".join(settings_module.REPORT_FORMATS),
    show_default=True,
    metavar="LIST",
    help="Comma-separated formats: html, md, json, csv (the appendix: runs.csv, links.csv).",
)
@click.option(
    "--stamp",
    is_flag=True,
    help="State the generation time (the files then differ from run to run).",
)
@click.pass_context
def report_command(ctx: click.Context, out_dir: str, formats: str, stamp: bool) -> None:
    """Write the audit report from the warehouse (read-only): HTML, Markdown, JSON, CSV.

    Per model: status, cumulative modification FLOPs against the threshold, the figure
    as a notification states it, flags. Per run: every method side by side, linked GPU
    usage and billing, evidence files. Over time, methods, evidence digest. The same
    data gives byte-identical files; nothing is written unless every format rendered.
    """
    try:
        chosen = settings_module.parse_report_formats(formats)
    except ReconcileError as exc:
        raise click.BadParameter(exc.one_line(), param_hint="'--format'") from exc
    written = pipeline.report(ctx.obj["settings"], out_dir, chosen, stamp=stamp, on_note=_note)
    for path in written:
        click.echo(f"wrote {path}")


@cli.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per source.")
@_s3_endpoint_option("S3-compatible endpoint for s3:// sources.")
@click.pass_context
def check(
    ctx: click.Context, sources: tuple[str, ...], as_json: bool, s3_endpoint_url: str | None
) -> None:
    """Check every source (the config's [[sources]], or SOURCE...) without loading it.

    For each: where requests go and with which credentials, whether it can be listed,
    how many objects, which formats recognise which units (content sampled as ingest
    does), and which objects nothing recognises. Exits 1 if a source fails or lists no
    objects: run it after changing a bucket, a profile or a prefix.
    """
    settings: Settings = ctx.obj["settings"]
    specs = [settings_module.SourceSpec(uri) for uri in sources] or list(settings.sources)
    if not specs:
        raise click.UsageError("no SOURCE given and no [[sources]] in the configuration")
    results = []
    for spec in specs:
        result: dict[str, Any] = {"uri": spec.uri, "ok": False}
        results.append(result)
        try:
            source = spec.open(s3_endpoint_url)
            result["uri"] = source.uri
            result["store"] = getattr(source.store, "describe", lambda: "")()
            notes = ingest_module.PlanNotes()
            errors: list[Any] = []
            planned, listed, _ = ingest_module.plan(
                None,
                [source],
                format_name=spec.format,
                format_options=settings.formats,
                listing_errors=errors,
                notes=notes,
            )
        except ReconcileError as exc:
            result["error"] = exc.one_line()
            continue
        units: dict[str, int] = {}
        for item in planned:
            units[item.parser.name] = units.get(item.parser.name, 0) + 1
        result |= {
            "objects": listed,
            "units": dict(sorted(units.items())),
            "not_recognised": notes.ignored,
            "unreadable": [e.one_line() for e in errors],
        }
        if errors:
            result["error"] = result["unreadable"][0]
        elif not listed:
            result["error"] = "lists no objects (a typo in the prefix, or the wrong bucket?)"
        else:
            result["ok"] = True
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        safe = output.terminal_safe
        for result in results:
            click.echo(safe(result["uri"]))
            if result.get("store"):
                click.echo(f"  store: {safe(result['store'])}")
            if "objects" in result:
                found = ", ".join(f"{n} {fmt}" for fmt, n in result["units"].items()) or "none"
                click.echo(
                    f"  {result['objects']} objects; units: {found}; "
                    f"{len(result['not_recognised'])} not recognised"
                )
                for uri in result["not_recognised"][:5]:
                    click.echo(f"  not recognised: {safe(uri)}")
            click.echo("  ok" if result["ok"] else f"  FAILED: {safe(result['error'])}")
    if not all(r["ok"] for r in results):
        ctx.exit(EXIT_CODES["error"])


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print each effective setting and where it came from (flag, env, file, default).

    The values are those in force for the other commands: an environment variable
    beats the file, the file beats the default.
    """
    root = ctx.find_root()
    settings: Settings = ctx.obj["settings"]
    path = root.params.get("config_path")
    file_note = f"file {path}"
    safe = output.terminal_safe

    def origin(name: str) -> str:
        source = root.get_parameter_source(name)
        if source is None:
            return "default"
        return {
            click.core.ParameterSource.COMMANDLINE: "flag",
            click.core.ParameterSource.ENVIRONMENT: "env",
            click.core.ParameterSource.DEFAULT_MAP: file_note,
        }.get(source, "default")

    def shown(value: Any) -> str:
        if value is None:
            return "(none)"
        return safe(json.dumps(value) if isinstance(value, (list, dict)) else str(value))

    click.echo(
        f"config = {safe(str(path))}  ({origin('config_path')}; "
        f"{'found' if settings.data else 'no file: defaults'})"
    )
    # The group's own options: click knows whether they came from the command line.
    click.echo(f"db = {safe(str(root.params['db']))}  ({origin('db')})")
    click.echo(f"log_format = {root.params['log_format']}  ({origin('log_format')})")
    for item in settings.effective:
        if item.key in ("db", "log_format"):
            continue
        value, where = item.value, item.origin
        if item.key == "ingest.s3_endpoint_url" and where == "default":
            # Without one of ours, boto3 reads its own variables (the S3 store's docstring).
            for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
                if os.environ.get(name):
                    value, where = os.environ[name], f"env {name}, read by boto3"
                    break
        click.echo(f"{item.key} = {shown(value)}  ({where})")
    for spec in settings.sources:
        click.echo(
            f"sources = {safe(batch.redact(spec.uri))}"
            + (f" format={safe(spec.format)}" if spec.format else "")
            + (f" include={safe(str(list(spec.include)))}" if spec.include else "")
            + (f" exclude={safe(str(list(spec.exclude)))}" if spec.exclude else "")
            + f"  ({file_note})"
        )
    # Tables read whole by their modules (keys shown above are left out).
    for table in ("formats", "models", "lineage", "estimate", "energy", "engine", "logging"):
        rest = {
            key: value
            for key, value in settings.section(table).items()
            if f"{table}.{key}" not in settings_module.SETTINGS_BY_KEY
        }
        if rest:
            click.echo(f"{table} = {shown(dict(sorted(rest.items())))}  ({file_note})")
        else:
            click.echo(f"{table} = (defaults)  (default)")


@cli.group()
def lake() -> None:
    """The lake: billing lines and GPU usage as hive-partitioned Parquet for other engines."""


@lake.command("export")
@click.argument("dest", required=False, metavar="[DEST]")
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    type=click.Choice(["billing_lines", "gpu_usage"]),
    help="Export only this dataset (repeatable; default: all).",
)
@_s3_endpoint_option("S3-compatible endpoint for an s3:// destination.")
@click.pass_context
def lake_export(
    ctx: click.Context, dest: str | None, datasets: tuple[str, ...], s3_endpoint_url: str | None
) -> None:
    """Write the warehouse's billing_lines and gpu_usage to DEST (a folder, s3://, gs:// or
    az://; default: [engine] lake, else DB.lake beside the warehouse).

    Layout: DATASET/provider=P/month=YYYY-MM/data_N.parquet (gpu_usage: source_kind=),
    microsecond UTC timestamps, DECIMAL hours and money, string ids and partitions, and
    _reconcile_lake.json with row counts and schemas. A re-export replaces the datasets.
    """
    target, result = pipeline.export_lake(
        ctx.obj["settings"], dest, datasets, s3_endpoint_url=s3_endpoint_url, on_note=_note
    )
    for name, info in result.datasets.items():
        click.echo(f"{name}: {info['rows']:,} rows in {info['files']} files")
    click.echo(
        f"lake: {target} ({result.files_written} files written, {result.files_deleted} "
        f"removed, {result.seconds:.2f} s)"
    )


@cli.group()
def export() -> None:
    """What to publish about a model."""


@export.command("model-card")
@click.argument("model_id", metavar="MODEL")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for model-card.yaml (the metadata block) and model-card.json.",
)
@click.pass_context
def export_model_card(ctx: click.Context, model_id: str, out_dir: Path) -> None:
    """Write MODEL's Hugging Face model-card metadata block and the same facts as JSON.

    The block (YAML front matter for the model's README.md) has base_model and, where the
    emissions are known ([energy] grid_intensity), co2_eq_emissions: emissions in grams,
    source, training type, hardware used, geographical location ([energy] location).
    The JSON carries the EU AI Act Annex XI 2(d)-(e) facts: dependencies, training time,
    accelerator-hours by type, compute with its band and method, energy, evidence ids.
    """
    for path in pipeline.model_card(ctx.obj["settings"], model_id, out_dir, on_note=_note):
        click.echo(f"wrote {path}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="reconcile")
