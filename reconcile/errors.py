"""The project's error hierarchy.

Every error a user can cause (bad input, bad configuration, an unreachable store)
is a ``ReconcileError``; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Tag keys whose values are secret (``[logging] secret_tags``): their values are masked
#: in every error line, quarantine entry and log event.
_SECRET: re.Pattern[str] | None = None
MASK = "***"


def set_secret_tags(keys: Iterable[str]) -> None:
    """Mask the values of these tag keys from now on (case-insensitive; the ``user:``,
    ``user_``, ``label:`` and ``tag:`` prefixes that exports add are covered too)."""
    global _SECRET
    names = sorted({k.strip() for k in keys if k and k.strip()}, key=len, reverse=True)
    if not names:
        _SECRET = None
        return
    alternatives = "|".join(re.escape(n) for n in names)
    _SECRET = re.compile(
        r"""(["']?(?:user:|user_|label:|tag:|tags\.)?(?:"""
        + alternatives
        + r""")["']?\s*(?:=>|=|:)\s*)("(?:[^"\\]|\\.)*"?|'[^']*'?|[^,;}\]\s)]*)""",
        re.IGNORECASE,
    )


def redact_secrets(text: str) -> str:
    """``text`` with the values of secret tags replaced by ``***``."""
    if _SECRET is None or not text:
        return text
    return _SECRET.sub(lambda m: m.group(1) + MASK, text)


class ReconcileError(Exception):
    """Base of all errors the CLI reports as one ``Error: ...`` line.

    Args:
        message: what went wrong and where (file, key, row).
        hint: optional next step for the user.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message (and hint) folded onto a single line."""
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return redact_secrets(" ".join(text.split()))


class ConfigError(ReconcileError):
    """Invalid configuration, flag value or parameter."""


class WarehouseError(ReconcileError):
    """The DuckDB warehouse is missing, locked, or at an unexpected schema version."""


class StoreError(ReconcileError):
    """A storage backend failed; the SDK exception is kept as ``__cause__``."""


class StoreNotFoundError(StoreError):
    """The bucket, container, folder or object does not exist."""


class StoreAccessError(StoreError):
    """Credentials are missing or do not grant read access."""


class StoreUnavailableError(StoreError):
    """The store could not be reached or kept failing after retries."""


class ParseError(ReconcileError):
    """An input object could not be parsed into its canonical table.

    Args:
        source: URI of the object (or unit) that failed.
        reason: what is wrong with it.
        location: optional line, row or key inside the object.
    """

    def __init__(self, source: str, reason: str, location: str | None = None) -> None:
        where = f"{source}:{location}" if location else source
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.reason = reason
        self.location = location


class QueryError(ReconcileError):
    """A query name, file or parameter is invalid, or the query failed."""


class CheckError(ReconcileError):
    """A consistency check could not be evaluated."""
