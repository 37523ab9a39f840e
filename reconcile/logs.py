"""Structured logs: human lines on a terminal, JSON lines for collectors.

Events are logged as ``log.info("ingest.source", extra={"fields": {...}})``. URIs are
redacted before they are logged (no query strings: signed URLs carry credentials).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}) or {})
        return json.dumps(data, default=str, sort_keys=False)


class HumanFormatter(logging.Formatter):
    """``12:00:01 info  ingest.source uri=s3://b/p new=3 ...``"""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = getattr(record, "fields", {}) or {}
        rest = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{stamp} {record.levelname.lower():5} {record.getMessage()} {rest}".rstrip()


def configure(log_format: str) -> None:
    """Send the ``reconcile`` logger's events to stderr in ``log_format`` (human|json)."""
    logger = logging.getLogger("reconcile")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
