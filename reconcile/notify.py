"""Telling someone when a model's status changes: a JSON event posted to a webhook.

``[notify] webhook = "https://…"`` (opt-in; the only request ``reconcile run`` makes that
the user did not point it at as a source). When a run's estimate changes a model's status
(``estimate.status_changes``: a new model, a model gone, or review → provider...), one
``POST`` carries every change, each model's status and headroom, and when it happened::

    {"event": "status_changed", "at": "2026-12-05T14:00:00Z", "warehouse": "w.duckdb",
     "changes": [{"model_id": "m", "before": "review", "now": "provider"}],
     "models": {"m": {"status": "provider", "headroom": {...}}}}

A webhook that fails (unreachable, timeout, an answer other than 2xx) does not fail the
run: the statuses are stored and the change stays in ``status_history``; the failure is
one warning line naming the host and the reason. Only the URL's scheme and host reach a
log line: webhooks carry their secret in the path or the query string.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from reconcile import __version__

DEFAULT_TIMEOUT = 10.0


def post_event(url: str, event: Mapping[str, Any], timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """POST ``event`` as JSON to ``url``; None on a 2xx answer, else why not (one line)."""
    if not url.startswith(("https://", "http://")):
        return f"{_where(url)}: a webhook must be an http(s) URL"
    request = urllib.request.Request(
        url,
        data=json.dumps(event, default=str).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": f"reconcile/{__version__}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read(1 << 16)
            return None
    except urllib.error.HTTPError as exc:
        return f"{_where(url)}: the webhook answered HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{_where(url)}: the webhook could not be reached: {reason}"


def _where(url: str) -> str:
    """The scheme and host of ``url``: what a log line may say of a webhook."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(webhook)"
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}" if parts.scheme and host else "(webhook)"
