"""Azure Blob Storage containers, read-only.

A source is ``az://CONTAINER/PREFIX``; the storage account and the credentials come from
(first match wins):

1. a connection string (``AZURE_STORAGE_CONNECTION_STRING``): it names the account, its
   key or SAS and, for emulators such as Azurite, the ``BlobEndpoint``;
2. an account name (``AZURE_STORAGE_ACCOUNT``) with
   ``azure.identity.DefaultAzureCredential`` (environment, workload or managed identity,
   ``az login``): install the optional extra ``reconcile[azure]`` for it.

Only List Blobs and Get Blob are called: the tool never writes to a source container.
The version of a blob (``ObjectInfo.etag``) is its ETag.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any, ClassVar

from connectors.stores.base import ByteSink, ObjectInfo, redact_uri, redacted_error
from reconcile.errors import (
    ConfigError,
    StoreAccessError,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
)

# Storage error codes (x-ms-error-code), then HTTP statuses -> our error classes.
_ERROR_CODES: dict[str, type[StoreError]] = {
    "ContainerNotFound": StoreNotFoundError,
    "BlobNotFound": StoreNotFoundError,
    "ResourceNotFound": StoreNotFoundError,
    "AuthenticationFailed": StoreAccessError,
    "AuthorizationFailure": StoreAccessError,
    "AuthorizationPermissionMismatch": StoreAccessError,
    "InsufficientAccountPermissions": StoreAccessError,
    "AccountIsDisabled": StoreAccessError,
    "ServerBusy": StoreUnavailableError,
    "InternalError": StoreUnavailableError,
    "OperationTimedOut": StoreUnavailableError,
}
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

#: The SDK's exponential retry (on 408, 429, 5xx and connection errors): waits of about
#: 1, 3, 5, 9 and 17 s (± 1 s jitter) instead of the default 15, 18, 24 s.
RETRY_ATTEMPTS = 5
#: Blobs up to this size come in one GET; larger ones in chunks of the same size.
CHUNK_BYTES = 4 << 20
#: List Blobs page size: 1,000 like S3 and GCS (the API allows 5,000), so the store contract
#: suite's 1,005 keys cross a page boundary here too.
PAGE_SIZE = 1000

_CREDENTIAL_HINT = (
    "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with credentials that "
    "azure-identity's DefaultAzureCredential finds (pip install 'reconcile[azure]', az login)"
)


class AzureBlobStore:
    """One Azure Blob Storage container.

    Args:
        container: container name.
        account: storage account name, used with ``DefaultAzureCredential``.
        connection_string: a storage connection string (wins over ``account``).
            With neither, the environment is read as described above.
        client: a ready ``azure.storage.blob.ContainerClient`` (tests, or callers with
            their own credentials).

    Raises:
        StoreAccessError: no account or connection string, or no credential for the account.
        ConfigError: the connection string cannot be parsed.
    """

    scheme: ClassVar[str] = "az"
    default_workers: ClassVar[int] = 8

    def __init__(
        self,
        container: str,
        *,
        account: str | None = None,
        connection_string: str | None = None,
        client: Any = None,
    ) -> None:
        self.container = container
        if client is None:
            client = self._make_client(container, account, connection_string)
        self._client = client

    @staticmethod
    def _make_client(container: str, account: str | None, connection_string: str | None) -> Any:
        from azure.storage.blob import ContainerClient, ExponentialRetry

        options: dict[str, Any] = {
            "retry_policy": ExponentialRetry(
                initial_backoff=1,
                increment_base=2,
                retry_total=RETRY_ATTEMPTS,
                random_jitter_range=1,
            ),
            "connection_timeout": 10,
            "read_timeout": 60,
            "max_single_get_size": CHUNK_BYTES,
            "max_chunk_get_size": CHUNK_BYTES,
        }
        if connection_string is None and account is None:
            connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
            account = os.environ.get("AZURE_STORAGE_ACCOUNT")
        if connection_string:
            try:
                return ContainerClient.from_connection_string(
                    connection_string, container_name=container, **options
                )
            except ValueError as exc:  # the SDK's word for a malformed connection string
                raise ConfigError(
                    f"az://{container}: AZURE_STORAGE_CONNECTION_STRING is not a valid "
                    f"connection string: {exc}"
                ) from exc
        if not account:
            raise StoreAccessError(
                f"az://{container}: no Azure storage account configured", hint=_CREDENTIAL_HINT
            )
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as exc:
            raise StoreAccessError(
                f"az://{container}: no credential for storage account {account}: "
                "azure-identity is not installed",
                hint=_CREDENTIAL_HINT,
            ) from exc
        return ContainerClient(
            f"https://{account}.blob.core.windows.net",
            container_name=container,
            credential=DefaultAzureCredential(),
            **options,
        )

    def describe(self) -> str:
        """The account endpoint, and whether a connection string or Azure AD signs."""
        try:
            endpoint = redact_uri(self._client.url.split("?")[0])
            credential = type(self._client.credential).__name__
        except AttributeError:
            endpoint, credential = "unknown", "unknown"
        return f"Azure Blob {endpoint}, credentials: {credential}"

    def uri(self, key: str) -> str:
        """``az://container/key``."""
        return f"az://{self.container}/{key}"

    def _error(self, exc: Exception, key: str | None) -> StoreError:
        """The ``StoreError`` for an SDK error, its text free of credentials
        (a SAS token in a request URL, an endpoint's ``user:password@``)."""
        return redacted_error(self._classify(exc, key))

    def _classify(self, exc: Exception, key: str | None) -> StoreError:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = self.uri(key) if key is not None else f"az://{self.container}"
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            code = str(getattr(exc, "error_code", None) or "")
            cls = _ERROR_CODES.get(code) or _ERROR_STATUS.get(exc.status_code, StoreError)
            if code == "ContainerNotFound" or (key is None and cls is StoreNotFoundError):
                return StoreNotFoundError(f"az://{self.container}: no such container")
            if cls is StoreNotFoundError:
                return cls(f"{where}: not found")
            reason = exc.reason or ""
            return cls(f"{where}: {exc.status_code} {code or reason}".rstrip())
        if isinstance(exc, ClientAuthenticationError):
            # No status: a credential of the DefaultAzureCredential chain failed.
            first_line = str(exc.message or exc).splitlines()[0]
            return StoreAccessError(f"{where}: {first_line}", hint=_CREDENTIAL_HINT)
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return StoreUnavailableError(f"{where}: cannot reach Azure Blob Storage: {exc}")
        raise exc

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Blobs under ``prefix`` via paginated List Blobs (Azure returns key order)."""
        from azure.core.exceptions import AzureError

        blobs = self._client.list_blobs(
            name_starts_with=prefix or None, include=["metadata"], results_per_page=PAGE_SIZE
        )
        try:
            for blob in blobs:
                key = blob.name
                size = int(blob.size or 0)
                if size == 0 and (
                    key.endswith("/") or (blob.metadata or {}).get("hdi_isfolder") == "true"
                ):
                    continue  # a "folder": a console marker or an ADLS Gen2 directory
                yield ObjectInfo(
                    key=key,
                    size=size,
                    modified_at=blob.last_modified.astimezone(UTC),
                    etag=(blob.etag or "").strip('"') or None,
                )
        except AzureError as exc:
            raise self._error(exc, None) from exc

    def read_bytes(self, key: str) -> bytes:
        """Get Blob of the whole blob."""
        from azure.core.exceptions import AzureError

        try:
            return bytes(self._client.download_blob(key).readall())
        except AzureError as exc:
            raise self._error(exc, key) from exc

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """A ranged Get Blob: only the bytes a header parser needs cross the network."""
        from azure.core.exceptions import AzureError, HttpResponseError

        if length <= 0:
            return b""
        try:
            return bytes(self._client.download_blob(key, offset=start, length=length).readall())
        except HttpResponseError as exc:
            if exc.status_code == 416 or getattr(exc, "error_code", None) == "InvalidRange":
                return b""  # start is at or past the end of the blob
            raise self._error(exc, key) from exc
        except AzureError as exc:
            raise self._error(exc, key) from exc

    def local_path(self, key: str) -> Path | None:
        """Blobs are never local."""
        return None

    def put_file(self, key: str, path: Path) -> None:
        """Upload ``path`` as a block blob (replacing it)."""
        from azure.core.exceptions import AzureError

        try:
            with path.open("rb") as data:
                self._client.upload_blob(key, data, overwrite=True, max_concurrency=2)
        except AzureError as exc:
            raise self._error(exc, key) from exc

    def delete(self, key: str) -> None:
        """Delete the blob; a missing one is not an error."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            self._client.delete_blob(key)
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise self._error(exc, key) from exc

    def copy_to(self, key: str, handle: ByteSink) -> None:
        """Stream the blob into ``handle`` in 4 MiB chunks."""
        from azure.core.exceptions import AzureError

        try:
            for chunk in self._client.download_blob(key, max_concurrency=1).chunks():
                handle.write(chunk)
        except AzureError as exc:
            raise self._error(exc, key) from exc
