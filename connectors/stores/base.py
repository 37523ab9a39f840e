"""The store contract every backend implements."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from reconcile.errors import StoreAccessError, StoreError

#: A URI inside free text (an SDK's error message): a scheme, ``://``, then up to the
#: next blank or quote.
_URI_IN_TEXT = re.compile(r"""\b[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>`]+""")


def redact_uri(uri: str) -> str:
    """``uri`` without user info, query string or fragment: safe to store and print.

    Signed URLs (S3 ``X-Amz-Signature``, GCS ``X-Goog-Signature``) and Azure SAS tokens
    carry their credentials in the query string; endpoints may carry ``user:password@``.
    Every source URI that is stored (ledger, quarantine), logged or put in an error
    message goes through here (or through ``redact_uris`` for free text).
    """
    if "://" not in uri:
        return uri  # a plain path: nothing to strip
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: keep only the scheme
        return uri.split("://", 1)[0] + "://"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact_uris(text: str) -> str:
    """``text`` with every URI in it passed through ``redact_uri``."""

    def redact(match: re.Match[str]) -> str:
        # Closing punctuation after a URI belongs to the sentence, not to the URI.
        uri = match.group(0)
        core = uri.rstrip(").,;]")
        return redact_uri(core) + uri[len(core) :]

    return _URI_IN_TEXT.sub(redact, text)


class UnreadableFoldersError(StoreAccessError):
    """A listing finished, but some folders below the root could not be read: their
    objects are missing from it. Raised after the last readable object was yielded, so
    a caller that wants the rest keeps what it received.

    Args:
        folders: keys of the unreadable folders relative to the store root.
        uris: their URIs (for the message).
    """

    def __init__(self, folders: Sequence[str], uris: Sequence[str]) -> None:
        self.folders = tuple(folders)
        self.uris = tuple(uris)
        shown = ", ".join(self.uris[:5]) + (
            f" and {len(self.uris) - 5} more" if len(self.uris) > 5 else ""
        )
        noun = "folder" if len(self.uris) == 1 else "folders"
        super().__init__(
            f"{shown}: permission denied: {noun} not listed",
            hint="grant read and execute permission on the folder, or exclude it",
        )


def redacted_error(error: StoreError) -> StoreError:
    """A copy of ``error`` (same class) whose message and hint went through
    ``redact_uris``: SDK texts quote endpoints and request URLs verbatim."""
    hint = redact_uris(error.hint) if error.hint is not None else None
    return type(error)(redact_uris(error.message), hint=hint)


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
