"""Structured logs: human lines on a terminal, JSON lines for collectors.

Events are logged as ``log.info("ingest.source", extra={"fields": {...}})``. URIs are
redacted before they are logged (no query strings: signed URLs carry credentials); the
values of tags configured as secret (``[logging] secret_tags``) are masked in every event
and field (``reconcile.errors.redact_secrets``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from reconcile.errors import redact_secrets, set_secret_tags

#: The format chosen by ``configure`` (the final error line follows it).
_FORMAT = "human"


class SecretFilter(logging.Filter):
    """Masks secret tag values in an event's message and string fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_secrets(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = {k: _redact_value(v) for k, v in fields.items()}
        return True


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


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


def configure(log_format: str, secret_tags: list[str] | None = None) -> None:
    """Send the ``reconcile`` logger's events to stderr in ``log_format`` (human|json),
    masking the values of ``secret_tags`` (also in error lines, see ``errors``)."""
    global _FORMAT
    _FORMAT = log_format
    set_secret_tags(secret_tags or [])
    logger = logging.getLogger("reconcile")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    # A host application's (or a library's) ``logging.config.dictConfig`` disables every
    # logger that existed before it by default: ours would go silent for good.
    logger.disabled = False
    for name, child in logging.root.manager.loggerDict.items():
        if name.startswith("reconcile.") and isinstance(child, logging.Logger):
            child.disabled = False


def error_line(message: str, *, log_format: str | None = None, code: int = 1) -> str:
    """The final line for an error that ends the command, masked like every event.

    ``Error: <message>`` for people; with JSON logs one more JSON object (``level``
    error, ``event`` ``"error"``, ``message``, ``exit_code``), so a collector parsing
    stderr line by line sees the failure as well.

    Args:
        message: the error's one-line text (``ReconcileError.one_line()``).
        log_format: human|json; default the one ``configure`` was given.
        code: the exit code the command ends with.
    """
    text = " ".join(redact_secrets(message).split())
    if (log_format or _FORMAT) != "json":
        return f"Error: {text}"
    return json.dumps(
        {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "error",
            "event": "error",
            "message": text,
            "exit_code": code,
        }
    )
