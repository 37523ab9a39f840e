"""The store contract every backend implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable


class ByteSink(Protocol):
    """Anything bytes can be written to (a binary file, a hashing wrapper)."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``; return the number of bytes written."""
        ...


@dataclass(frozen=True, order=True)
class ObjectInfo:
    """One object as listed by a store.

    Attributes:
        key: path of the object relative to the store root, '/'-separated.
        size: size in bytes.
        modified_at: last modification time, UTC.
        etag: the store's version identifier (S3 ETag, GCS generation, a size and
            mtime fingerprint for local files); None when the store has none.
    """

    key: str
    size: int
    modified_at: datetime
    etag: str | None


@runtime_checkable
class Store(Protocol):
    """Read-only access to a bucket, container or folder.

    Implementations list lazily and in key order, keep pagination inside, and turn
    provider errors into ``StoreError`` subclasses with the SDK error as ``__cause__``.
    """

    scheme: ClassVar[str]
    #: Objects worth fetching in parallel: network stores hide latency with threads; for
    #: local files threads only add GIL contention to parsing.
    default_workers: ClassVar[int]

    def uri(self, key: str) -> str:
        """The URI of ``key`` in this store (e.g. ``s3://bucket/key``)."""
        ...

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, ordered by key."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The whole object."""
        ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from offset ``start`` (fewer at the end of the object)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's path on this machine, if it already is a local file."""
        ...

    def copy_to(self, key: str, handle: ByteSink) -> None:
        """Stream the object into ``handle`` in chunks (bounded memory)."""
        ...


@runtime_checkable
class WritableStore(Store, Protocol):
    """A store the lake export may write to. Sources are only ever read; writing is
    for ``reconcile lake export`` and happens under keys the export chose."""

    def put_file(self, key: str, path: Path) -> None:
        """Upload the local file ``path`` as ``key`` (replacing it)."""
        ...

    def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""
        ...
