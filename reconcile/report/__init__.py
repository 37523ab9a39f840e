"""The audit report: built from the warehouse, rendered as HTML, Markdown, JSON and CSV.

The callers (the CLI, the batch job, ``reconcile.api``) need only the entry points
re-exported here.
"""

from reconcile.report.build import accelerator_seconds, build_report, write_report
from reconcile.report.render import file_names, parse_formats, write_files

__all__ = [
    "accelerator_seconds",
    "build_report",
    "file_names",
    "parse_formats",
    "write_files",
    "write_report",
]
