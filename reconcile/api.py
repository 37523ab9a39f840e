"""The library: what the command line does, as methods; tables come back as polars
DataFrames (DuckDB hands Arrow to polars without a copy).

    import reconcile

    wh = reconcile.Warehouse("acme.duckdb", config="reconcile.toml")
    wh.ingest("s3://acme-billing/cur/", "runs/")   # or, with no argument, [[sources]]
    wh.estimate()
    wh.status()                                     # one row per model, most urgent first
    wh.query("per_model_totals")
    wh.query("SELECT * FROM billing_lines_once WHERE provider = $p", p="aws")
    wh.report("out/")

The command line is a thin layer over the same modules; writers take the same lock as
``reconcile ingest`` / ``estimate`` (one writer at a time), readers read a consistent
snapshot while a scheduled run writes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from reconcile import batch, queries, warehouse
from reconcile import config as config_module
from reconcile import estimate as estimate_module
from reconcile import ingest as ingest_module
from reconcile import resolve as resolve_module
from reconcile.compliance import STATUS_SEVERITY
from reconcile.errors import ConfigError
from reconcile.lock import writer_lock
from reconcile.models import ModelRegistry, registry_for


class Warehouse:
    """A warehouse file and the configuration that goes with it.

    Args:
        db: the DuckDB file (created by the first ``ingest``).
        config: a ``reconcile.toml`` (its ``[formats]``, ``[models]``, ``[estimate]`` and
            ``[[sources]]``); None: defaults.
        s3_endpoint_url: an S3-compatible endpoint (else ``RECONCILE_S3_ENDPOINT_URL`` or
            boto3's own ``AWS_ENDPOINT_URL``).
    """

    def __init__(
        self,
        db: str | Path,
        *,
        config: str | Path | None = None,
        s3_endpoint_url: str | None = None,
    ) -> None:
        self.db = Path(db)
        self.config: dict[str, Any] = (
            config_module.load(Path(config), required=True) if config is not None else {}
        )
        self.s3_endpoint_url = s3_endpoint_url or os.environ.get("RECONCILE_S3_ENDPOINT_URL")

    def __repr__(self) -> str:
        return f"Warehouse({str(self.db)!r})"

    # -- writing ---------------------------------------------------------------------

    def ingest(
        self, *sources: str, format: str | None = None, retry_quarantined: bool = False
    ) -> dict[str, Any]:
        """Load new or changed evidence from ``sources`` (local folders, ``s3://``,
        ``gs://``, ``az://``; none: the config's ``[[sources]]``), exactly once, and
        resolve logical runs. Returns the ingest summary (``reconcile ingest --json``).

        Raises:
            ConfigError: no source given and none configured.
        """
        from connectors.registry import open_source

        if sources:
            resolved = [open_source(s, s3_endpoint_url=self.s3_endpoint_url) for s in sources]
        else:
            specs = batch.parse_sources(self.config.get("sources"))
            if not specs:
                raise ConfigError("no source given and no [[sources]] in the configuration")
            resolved = [spec.open(self.s3_endpoint_url) for spec in specs]
        with writer_lock(self.db, command="ingest"):
            con = warehouse.open_for_write(self.db)
            try:
                summary = ingest_module.ingest(
                    con,
                    resolved,
                    format_name=format,
                    retry_quarantined=retry_quarantined,
                    format_options=self.config.get("formats", {}),
                )
                changed = summary.counts["new"] + summary.counts["replaced"]
                if changed or resolve_module.needs_resolving(con):
                    summary.logical_runs = resolve_module.resolve_runs(con, self._registry())
            finally:
                con.close()
        return summary.as_dict()

    def estimate(self) -> dict[str, Any]:
        """(Re)compute estimates, lineage and statuses (``reconcile estimate``); returns
        runs, runs with a figure, matches and each model's status."""
        with writer_lock(self.db, command="estimate"):
            con = warehouse.open_for_write(self.db)
            try:
                summary = estimate_module.run_configured(con, self.config, self._registry())
            finally:
                con.close()
        return {
            "runs": summary.runs,
            "runs_with_estimate": summary.runs_with_estimate,
            "matches": summary.matches,
            "models": dict(summary.models),
        }

    def report(
        self, out: str | Path, formats: Sequence[str] = ("html", "md", "json", "csv")
    ) -> list[Path]:
        """Write the audit report into the folder ``out``; returns the files written."""
        from reconcile.report import write_report

        con = self._reader()
        try:
            return write_report(con, Path(out), formats=formats, registry=self._registry())
        finally:
            con.close()

    # -- reading ---------------------------------------------------------------------

    def status(self) -> pl.DataFrame:
        """One row per model, most urgent first: status, the figure and its band, the
        threshold and its basis, the share of it, flags and the explanation.

        Raises:
            ReconcileError: the statuses do not describe the evidence (never estimated,
                or evidence loaded since): run :meth:`estimate` first.
        """
        con = self._reader()
        try:
            stale = estimate_module.staleness(con)
            if stale:
                from reconcile.errors import ReconcileError

                raise ReconcileError(stale)
            table = con.sql(estimate_module.STATUS_SELECT).to_arrow_table()
        finally:
            con.close()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        severity = pl.col("status").replace_strict(
            {s: i for i, s in enumerate(STATUS_SEVERITY)}, return_dtype=pl.Int8
        )
        return frame.sort(severity, pl.col("model_id"))

    def query(self, name_or_sql: str, **params: Any) -> pl.DataFrame:
        """A shipped query (``per_model_totals``, ``checks/…``), a ``.sql`` file or SQL
        text, read-only, with ``$name`` parameters bound from ``params``."""
        selected = queries.resolve(name_or_sql)
        con = self._reader()
        try:
            queries.lock_down(con)
            table = queries.run(con, selected, {k: str(v) for k, v in params.items()})
        finally:
            con.close()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def table(self, name: str) -> pl.DataFrame:
        """A whole warehouse table or view (``billing_lines_once``, ``resolved_runs``, …)."""
        known = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        )["table_name"].to_list()
        if name not in known:
            raise ConfigError(f"no table or view {name!r}", hint=f"known: {', '.join(known)}")
        return self.query(f'SELECT * FROM "{name}"')

    # -- internals -------------------------------------------------------------------

    def _registry(self) -> ModelRegistry:
        return registry_for(self.config, self.db, os.environ.get("HF_ENDPOINT"))

    def _reader(self) -> Any:
        con, _ = warehouse.open_for_reading(self.db)
        return con
