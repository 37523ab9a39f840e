"""The project's error hierarchy, and the one place error texts are made safe to show.

Every error a user can cause (bad input, bad configuration, an unreachable store)
is a ``ReconcileError``; anything else is a bug and shows a traceback.

Error texts are often built from data (a parser quoting a value, DuckDB quoting a CSV
line); ``redact_secrets`` is applied wherever such a text becomes a log event, an error
line, a quarantine entry or a report cell, so no reader has to remember it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Tag keys whose values are secret (``[logging] secret_tags``): their values are masked
#: in every error line, quarantine entry and log event.
_SECRET: re.Pattern[str] | None = None
#: Whether a text names a secret key at all (then a quoted ``got <value>`` is masked too).
_SECRET_KEY: re.Pattern[str] | None = None
#: Secret values already seen next to their key: masked wherever they appear later,
#: keyed or not (a value quoted twice, once without its key). Bounded.
_SEEN: set[str] = set()
_SEEN_LIMIT = 1000
MASK = "***"

#: A value after ``key:`` / ``key=`` / ``key =>``: a CSV-doubled ``""quoted""`` string, a
#: quoted string, a JSON/Python list or object (to its first closing bracket), or a bare
#: word. An unterminated quote or bracket runs to the end of the text (never half-masked).
_VALUE = (
    r'""(?:[^"]|"")*?""'
    r'|"(?:[^"\\]|\\.)*"?'
    r"|'(?:[^'\\]|\\.)*'?"
    r"|\[[^\]]*\]?"
    r"|\{[^}]*\}?"
    r"|[^,;}\]\s)]*"
)
#: A value a type error quotes: ``expected a string, got ['…']``.
_GOT = re.compile(r"(\bgot\s+)(" + _VALUE + r")")

#: DuckDB quotes the whole offending CSV line ("Original Line: …") in its errors; the
#: line is data (any column, secret tags included). It is dropped: DuckDB's "CSV Error on
#: Line: N" before it keeps the line number. In a text already folded onto one line the
#: excerpt ends where DuckDB's next section starts, else at the end of the text.
_ORIGINAL_LINE = re.compile(
    r"\s*Original Line:.*?(?=\n|\s(?:Expected Number of Columns|Invalid unicode|"
    r"Possible (?:fixes|Solution)|Value with unterminated quote|Maximum line size|"
    r"Error when converting|Could not convert)|\Z)"
)


def set_secret_tags(keys: Iterable[str]) -> None:
    """Mask the values of these tag keys from now on (case-insensitive; the ``user:``,
    ``user_``, ``label:`` and ``tag:`` prefixes that exports add are covered too)."""
    global _SECRET, _SECRET_KEY
    _SEEN.clear()
    names = sorted({k.strip() for k in keys if k and k.strip()}, key=len, reverse=True)
    if not names:
        _SECRET = _SECRET_KEY = None
        return
    alternatives = "|".join(re.escape(n) for n in names)
    _SECRET = re.compile(
        r"""(["']{0,2}(?:user:|user_|label:|tag:|tags\.)?(?:"""
        + alternatives
        + r""")["']{0,2}\s*(?:=>|=|:)\s*)("""
        + _VALUE
        + ")",
        re.IGNORECASE,
    )
    _SECRET_KEY = re.compile(r"(?<![A-Za-z0-9])(?:" + alternatives + r")(?![A-Za-z0-9])",
                             re.IGNORECASE)


def drop_line_excerpts(text: str) -> str:
    """``text`` without DuckDB's "Original Line: …" quote of a CSV line."""
    return _ORIGINAL_LINE.sub("", text) if "Original Line:" in text else text


def _remember(value: str) -> str:
    """Mask ``value`` and remember it, to mask it wherever it appears again. Only a whole
    scalar value of four characters or more is remembered: pieces of a list or an object
    (a key name, a short word) would mask unrelated text later (an event name, a path)."""
    text = value.strip().strip('"').strip("'").strip()
    if (
        len(text) >= 4
        and MASK not in text
        and not text.startswith(("[", "{"))
        and len(_SEEN) < _SEEN_LIMIT
    ):
        _SEEN.add(text)
    return MASK


def redact_secrets(text: str) -> str:
    """``text`` with the values of secret tags replaced by ``***`` wherever they appear,
    and without DuckDB's "Original Line: …" excerpt (kept: the line number)."""
    if not text:
        return text
    text = drop_line_excerpts(text)
    if _SECRET is None or _SECRET_KEY is None:
        return text
    text = _SECRET.sub(lambda m: m.group(1) + _remember(m.group(2)), text)
    if _SECRET_KEY.search(text):
        # The key is named (``'customer' should be a string, got ['…']``): the quoted
        # value is the secret's, unless it is an object whose keys were masked above.
        key = _SECRET_KEY
        text = _GOT.sub(
            lambda m: m[0] if key.search(m[2]) else m[1] + _remember(m[2]), text
        )
    for value in sorted(_SEEN, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


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
        # Masked before folding: DuckDB's excerpts end at a line break.
        return " ".join(redact_secrets(text).split())


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


class UnsafePathError(ReconcileError):
    """A file reconcile writes is a symbolic link (or not a plain file): writing would
    change the file it points to."""


class WarehouseCorruptError(WarehouseError):
    """The database file is truncated or fails DuckDB's block checksums."""


class WarehouseInUseError(WarehouseError):
    """Another process holds the warehouse file (a reader's connection or a writer)."""


class WriteRefusedError(WarehouseError):
    """The file system refused a write: disk full, quota, a read-only folder."""
