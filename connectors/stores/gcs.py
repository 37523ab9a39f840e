"""Google Cloud Storage buckets, read-only.

Credentials come from Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``,
``gcloud auth application-default login``, the metadata server). ``STORAGE_EMULATOR_HOST``
(e.g. ``http://127.0.0.1:4443``) points the client at an emulator such as
fake-gcs-server and needs no credentials. Only objects.list and object media downloads
are called: the tool never writes to a source bucket.

The version of an object (``ObjectInfo.etag``) is its generation number: GCS gives
every write of an object a new one. Downloads are raw (no decompressive transcoding of
``Content-Encoding: gzip`` objects), so the bytes read are the bytes stored, the listed
size holds and ranged reads address the stored object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any, ClassVar

from connectors.stores.base import ByteSink, ObjectInfo, redact_uri, redacted_error
from reconcile.errors import (
    StoreAccessError,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
)

# HTTP status of a google.api_core error -> our error classes.
_ERROR_STATUS: dict[int, type[StoreError]] = {
    401: StoreAccessError,
    403: StoreAccessError,
    404: StoreNotFoundError,
    408: StoreUnavailableError,
    429: StoreUnavailableError,
    500: StoreUnavailableError,
    502: StoreUnavailableError,
    503: StoreUnavailableError,
    504: StoreUnavailableError,
}

#: How long the client's own retry policy (exponential backoff with jitter on 408, 429,
#: 5xx and connection errors) keeps trying one call, in seconds.
RETRY_TIMEOUT_S = 120.0
#: Connect and read timeouts of one HTTP request, in seconds.
TIMEOUT = (10.0, 60.0)
#: objects.list page size (the API's maximum).
PAGE_SIZE = 1000


class GcsStore:
    """One GCS bucket.

    Args:
        bucket: bucket name.
        project: project to bill requests to (requester-pays buckets); None needs none.
        client: a ready ``google.cloud.storage.Client`` (tests, or callers with their own
            credentials).

    Raises:
        StoreAccessError: no client given and no Application Default Credentials found.
    """

    scheme: ClassVar[str] = "gs"
    default_workers: ClassVar[int] = 8

    def __init__(self, bucket: str, *, project: str | None = None, client: Any = None) -> None:
        from google.api_core.retry import Retry
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.bucket = bucket
        self._retry: Retry = DEFAULT_RETRY.with_delay(
            initial=0.5, multiplier=2.0, maximum=20.0
        ).with_timeout(RETRY_TIMEOUT_S)
        if client is None:
            from google.auth.exceptions import DefaultCredentialsError
            from google.cloud import storage

            try:
                client = storage.Client(project=project)
            except DefaultCredentialsError as exc:
                raise StoreAccessError(
                    f"gs://{bucket}: no Google Cloud credentials found",
                    hint="run 'gcloud auth application-default login' or set "
                    "GOOGLE_APPLICATION_CREDENTIALS",
                ) from exc
        self._client = client
        self._bucket = client.bucket(bucket, user_project=project)

    def describe(self) -> str:
        """Where requests go (an emulator's STORAGE_EMULATOR_HOST, else Google)."""
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        where = f"emulator {redact_uri(emulator)}" if emulator else "storage.googleapis.com"
        return f"GCS {where}, credentials: Google application default"

    def uri(self, key: str) -> str:
        """``gs://bucket/key``."""
        return f"gs://{self.bucket}/{key}"

    def _error(self, exc: Exception, key: str | None) -> StoreError:
        """The ``StoreError`` for an SDK error, its text free of credentials
        (an emulator host's ``user:password@``, a signed URL's query string)."""
        return redacted_error(self._classify(exc, key))

    def _classify(self, exc: Exception, key: str | None) -> StoreError:
        from google.api_core.exceptions import GoogleAPICallError, RetryError
        from google.auth.exceptions import RefreshError, TransportError
        from google.cloud.storage.exceptions import DataCorruption
        from requests.exceptions import RequestException

        where = self.uri(key) if key is not None else f"gs://{self.bucket}"
        if isinstance(exc, GoogleAPICallError):
            cls = _ERROR_STATUS.get(int(exc.code or 0), StoreError)
            if cls is StoreNotFoundError:
                # A listing only fails with 404 when the bucket is missing; an object read
                # says which (GCS: "The specified bucket does not exist.").
                if key is None or "bucket does not exist" in str(exc.message):
                    return cls(f"gs://{self.bucket}: no such bucket")
                return cls(f"{where}: not found")
            return cls(f"{where}: {exc.code}: {exc.message}")
        if isinstance(exc, RefreshError):
            return StoreAccessError(
                f"{where}: Google Cloud credentials were refused: {exc}",
                hint="run 'gcloud auth application-default login' again",
            )
        if isinstance(exc, DataCorruption):
            return StoreUnavailableError(f"{where}: downloaded bytes fail their checksum: {exc}")
        if isinstance(exc, RetryError | TransportError | RequestException):
            return StoreUnavailableError(f"{where}: cannot reach Google Cloud Storage: {exc}")
        raise exc

    @staticmethod
    def _sdk_errors() -> tuple[type[Exception], ...]:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
        from google.cloud.storage.exceptions import DataCorruption
        from requests.exceptions import RequestException

        return (GoogleAPIError, GoogleAuthError, DataCorruption, RequestException)

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` via paginated objects.list (GCS returns key order)."""
        blobs = self._client.list_blobs(
            self._bucket,
            prefix=prefix or None,
            page_size=PAGE_SIZE,
            fields="items(name,size,updated,generation),nextPageToken",
            retry=self._retry,
            timeout=TIMEOUT,
        )
        try:
            for blob in blobs:
                key = blob.name
                size = int(blob.size or 0)
                if key.endswith("/") and size == 0:
                    continue  # a "folder" marker written by consoles
                yield ObjectInfo(
                    key=key,
                    size=size,
                    modified_at=blob.updated.astimezone(UTC),
                    etag=str(blob.generation) if blob.generation is not None else None,
                )
        except self._sdk_errors() as exc:
            raise self._error(exc, None) from exc

    def read_bytes(self, key: str) -> bytes:
        """The whole object in one download."""
        try:
            data = self._bucket.blob(key).download_as_bytes(
                raw_download=True, retry=self._retry, timeout=TIMEOUT
            )
        except self._sdk_errors() as exc:
            raise self._error(exc, key) from exc
        return bytes(data)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """A ranged download: only the bytes a header parser needs cross the network."""
        from google.api_core.exceptions import RequestRangeNotSatisfiable

        if length <= 0:
            return b""
        try:
            data = self._bucket.blob(key).download_as_bytes(
                start=start,
                end=start + length - 1,
                raw_download=True,
                retry=self._retry,
                timeout=TIMEOUT,
            )
        except RequestRangeNotSatisfiable:
            return b""  # start is at or past the end of the object
        except self._sdk_errors() as exc:
            raise self._error(exc, key) from exc
        return bytes(data)

    def local_path(self, key: str) -> Path | None:
        """Objects in GCS are never local."""
        return None

    def put_file(self, key: str, path: Path) -> None:
        """Upload ``path`` (resumable above the client's chunk size)."""
        try:
            self._bucket.blob(key).upload_from_filename(
                str(path), retry=self._retry, timeout=TIMEOUT
            )
        except self._sdk_errors() as exc:
            raise self._error(exc, key) from exc

    def delete(self, key: str) -> None:
        """Delete the object; a missing one is not an error."""
        from google.api_core.exceptions import NotFound

        try:
            self._bucket.blob(key).delete(retry=self._retry, timeout=TIMEOUT)
        except NotFound:
            return
        except self._sdk_errors() as exc:
            raise self._error(exc, key) from exc

    def copy_to(self, key: str, handle: ByteSink) -> None:
        """Stream the object into ``handle`` (the client writes it in small chunks)."""
        try:
            self._bucket.blob(key).download_to_file(
                handle, raw_download=True, retry=self._retry, timeout=TIMEOUT
            )
        except self._sdk_errors() as exc:
            raise self._error(exc, key) from exc
