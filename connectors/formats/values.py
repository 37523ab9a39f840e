"""Checks on values that every kind of evidence shares: a whole number must fit the INT64
columns of the canonical tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile.errors import ParseError

#: The largest whole number an INT64 column holds; a count above it is damage, not data.
INT64_MAX = 2**63 - 1


def check_int64(row: Mapping[str, Any], uri: str, where: str | None = None) -> None:
    """Refuse a row with a whole number no INT64 column holds (e.g. a product of
    damaged counts), naming the column.

    Raises:
        ParseError: the first such column.
    """
    for column, value in row.items():
        if isinstance(value, int) and not isinstance(value, bool):
            if not -INT64_MAX - 1 <= value <= INT64_MAX:
                raise ParseError(uri, f"{column} is out of range ({value:.3e})", where)
