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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from reconcile import pipeline, queries
from reconcile.errors import ConfigError, ReconcileError, set_secret_tags
from reconcile.settings import REPORT_FORMATS, Settings


class Warehouse:
    """A warehouse file and the configuration that goes with it.

    Args:
        db: the DuckDB file (created by the first ``ingest``).
        config: a ``reconcile.toml`` (its ``[formats]``, ``[models]``, ``[estimate]`` and
            ``[[sources]]``, every section validated here); None: defaults.
        s3_endpoint_url: an S3-compatible endpoint (else ``RECONCILE_S3_ENDPOINT_URL``,
            ``[ingest] s3_endpoint_url``, or boto3's own ``AWS_ENDPOINT_URL``).

    Raises:
        ConfigError: the configuration is missing or invalid (named).
    """

    def __init__(
        self,
        db: str | Path,
        *,
        config: str | Path | None = None,
        s3_endpoint_url: str | None = None,
    ) -> None:
        self.db = Path(db)
        settings = (
            Settings.load(config, required=True, db=self.db)
            if config is not None
            else Settings.from_data({}, db=self.db)
        )
        if s3_endpoint_url:
            settings = settings.with_s3_endpoint_url(s3_endpoint_url)
        self.settings = settings
        # as the command line does: [logging] secret_tags never reach an error message
        set_secret_tags(settings.secret_tags)

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
        resolved = pipeline.open_sources(self.settings, sources)
        summary = pipeline.ingest(
            self.settings, resolved, format_name=format, retry_quarantined=retry_quarantined
        )
        return summary.as_dict()

    def estimate(self) -> dict[str, Any]:
        """(Re)compute estimates, lineage and statuses (``reconcile estimate``); returns
        runs, runs with a figure, matches and each model's status."""
        summary = pipeline.estimate(self.settings)
        return {
            "runs": summary.runs,
            "runs_with_estimate": summary.runs_with_estimate,
            "matches": summary.matches,
            "models": dict(summary.models),
        }

    def report(self, out: str | Path, formats: Sequence[str] = REPORT_FORMATS) -> list[Path]:
        """Write the audit report into the folder ``out``; returns the files written."""
        return [Path(p) for p in pipeline.report(self.settings, str(out), formats)]

    # -- reading ---------------------------------------------------------------------

    def status(self) -> pl.DataFrame:
        """One row per model, most urgent first: status, the figure and its band, the
        threshold and its basis, the share of it, flags and the explanation.

        Raises:
            ReconcileError: the statuses do not describe the evidence (never estimated,
                or evidence loaded since): run :meth:`estimate` first.
        """
        view = pipeline.status(self.settings)
        if view.stale:
            raise ReconcileError(view.stale)
        frame = pl.from_arrow(view.table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def query(self, name_or_sql: str, **params: Any) -> pl.DataFrame:
        """A shipped query (``per_model_totals``, ``checks/…``), a ``.sql`` file or SQL
        text, read-only, with ``$name`` parameters bound from ``params``."""
        selected = queries.resolve(name_or_sql)
        with pipeline.reading(self.settings) as con:
            table = queries.run(
                queries.lock_down(con), selected, {k: str(v) for k, v in params.items()}
            )
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
