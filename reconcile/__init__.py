"""reconcile: rebuild fine-tuning compute from the evidence an organisation already has.

As a library: ``reconcile.Warehouse(db, config=...)`` (see ``reconcile.api``) ingests,
estimates, reports and answers queries as polars DataFrames.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("reconcile")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["Warehouse", "__version__"]


def __getattr__(name: str) -> Any:
    # The library loads on first use: `reconcile` on the command line stays quick.
    if name == "Warehouse":
        from reconcile.api import Warehouse

        return Warehouse
    raise AttributeError(f"module 'reconcile' has no attribute {name!r}")
