"""The audit report: built from the warehouse, rendered as HTML, Markdown, JSON and CSV.

The modules import downwards only (an import-linter contract checks it):

- ``model``: the dataclasses (``Report`` and its parts) and ``ReportError``;
  ``rows``: reading the warehouse into the model's values;
- ``links`` (each run's linked usage and billing), ``methods`` (the estimation methods
  as the report states them), ``timeline``, ``charts`` (inline SVG);
- ``build`` (the ``Report`` from the warehouse), ``render`` (HTML, Markdown, JSON, CSV
  and safe writing), ``schema`` (the JSON Schema of ``report.json``).

This package joins building and rendering (``write_report``) and re-exports the entry
points that the CLI, the batch job and ``reconcile.api`` use; none of its modules
imports it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from reconcile.models import ModelRegistry
from reconcile.report.build import accelerator_seconds, build_report
from reconcile.report.render import file_names, write_files
from reconcile.report.render import render as render_formats  # `render` stays the module
from reconcile.settings import REPORT_FORMATS, parse_report_formats

__all__ = [
    "accelerator_seconds",
    "build_report",
    "file_names",
    "write_files",
    "write_report",
]


def write_report(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    formats: Sequence[str] = REPORT_FORMATS,
    registry: ModelRegistry | None = None,
    generated_at: datetime | None = None,
) -> list[Path]:
    """Build the report from ``con`` and write it to ``out_dir``: every format is
    rendered and written to temporary files first, then all are moved into place.

    Args:
        con: a connection to the warehouse (only read from).
        out_dir: the output folder (created if missing).
        formats: any of html, md, json, csv.
        registry: as for ``build_report``.
        generated_at: as for ``build_report``.

    Returns:
        The files written (``report.html``, ``report.md``, ``report.json``, ``runs.csv``,
        ``links.csv``).

    Raises:
        ReportError: the report cannot be built or written; nothing is left behind.
    """
    chosen = parse_report_formats(formats)
    report = build_report(con, registry=registry, generated_at=generated_at)
    return write_files(out_dir, render_formats(report, chosen))
