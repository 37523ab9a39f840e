"""Object stores: local folders, S3 (and S3-compatible), more to come."""

from connectors.stores.base import ObjectInfo, Store

__all__ = ["ObjectInfo", "Store"]
