"""Amazon S3 and S3-compatible stores (MinIO, Ceph, moto, ...), read-only.

Credentials come from boto3's standard chain (environment, profile, SSO, instance
role). The endpoint comes from ``endpoint_url`` or boto3's own ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_S3`` settings. Only ListObjectsV2, GetObject and HeadObject are
called: the tool never writes to a source bucket.
"""

from __future__ import annotations

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

# Provider error codes -> our error classes (one table instead of scattered branches).
_ERROR_CODES: dict[str, type[StoreError]] = {
    "NoSuchBucket": StoreNotFoundError,
    "NoSuchKey": StoreNotFoundError,
    "NotFound": StoreNotFoundError,
    "404": StoreNotFoundError,
    "AccessDenied": StoreAccessError,
    "AllAccessDisabled": StoreAccessError,
    "InvalidAccessKeyId": StoreAccessError,
    "SignatureDoesNotMatch": StoreAccessError,
    "ExpiredToken": StoreAccessError,
    "InvalidToken": StoreAccessError,
    "403": StoreAccessError,
    "SlowDown": StoreUnavailableError,
    "ServiceUnavailable": StoreUnavailableError,
    "InternalError": StoreUnavailableError,
    "503": StoreUnavailableError,
    "500": StoreUnavailableError,
}

#: Retries (with exponential backoff and jitter) of throttling and 5xx answers, unless the
#: AWS configuration sets its own total (``AWS_MAX_ATTEMPTS``, ``max_attempts`` in a profile).
RETRY_ATTEMPTS = 8


class S3Store:
    """One S3 bucket.

    Args:
        bucket: bucket name.
        endpoint_url: an S3-compatible endpoint; None uses boto3's configuration.
        profile: a named profile of the AWS config files; None uses the default chain.
        client: a ready boto3 S3 client (tests, or callers with their own session).
    """

    scheme: ClassVar[str] = "s3"
    default_workers: ClassVar[int] = 8

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        if client is None:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import ProfileNotFound

            try:
                session = boto3.Session(profile_name=profile) if profile else boto3.Session()
            except ProfileNotFound as exc:
                # AWS_PROFILE, or `profile =` in a source, naming a profile nobody configured
                raise ConfigError(
                    f"AWS profile {exc.kwargs.get('profile') or profile!r} is not in "
                    "~/.aws/config or ~/.aws/credentials",
                    hint="create it with `aws configure --profile NAME`, or fix the name",
                ) from exc
            region = session.region_name or "us-east-1"
            # botocore's own resolution (env, then profile); boto3 has no public getter.
            configured = session._session.get_config_variable("max_attempts")
            retries = (
                {"total_max_attempts": int(configured), "mode": "standard"}
                if configured
                else {"max_attempts": RETRY_ATTEMPTS, "mode": "standard"}
            )
            client = session.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                config=Config(
                    retries=retries,
                    connect_timeout=10,
                    read_timeout=60,
                ),
            )
        self._client = client

    def uri(self, key: str) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{key}"

    def describe(self) -> str:
        """Where requests go and whose credentials sign them (never the secrets)."""
        meta = self._client.meta
        try:  # botocore keeps the resolved credentials on the request signer
            method = self._client._request_signer._credentials.method
        except AttributeError:
            method = None
        return (
            f"S3 endpoint {redact_uri(meta.endpoint_url)}, region {meta.region_name}, "
            f"credentials: {method or 'none found'}"
        )

    def _error(self, exc: Exception, key: str | None) -> StoreError:
        """The ``StoreError`` for an SDK error, its text free of credentials (an endpoint's
        ``user:password@``, a signed URL's query string)."""
        return redacted_error(self._classify(exc, key))

    def _classify(self, exc: Exception, key: str | None) -> StoreError:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        where = self.uri(key) if key is not None else f"s3://{self.bucket}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = error.get("Message") or code
            cls = _ERROR_CODES.get(code, StoreError)
            if code == "NoSuchBucket":
                return cls(f"s3://{self.bucket}: no such bucket")
            if cls is StoreNotFoundError:
                return cls(f"{where}: not found")
            return cls(f"{where}: {code}: {message}")
        if isinstance(exc, NoCredentialsError):
            return StoreAccessError(
                f"{where}: no AWS credentials found",
                hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            )
        if isinstance(exc, EndpointConnectionError):
            return StoreUnavailableError(f"{where}: cannot reach the S3 endpoint: {exc}")
        if isinstance(exc, BotoCoreError):
            return StoreUnavailableError(f"{where}: {exc}")
        raise exc

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` via paginated ListObjectsV2 (S3 returns key order)."""
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/") and item["Size"] == 0:
                        continue  # a "folder" marker written by consoles
                    yield ObjectInfo(
                        key=key,
                        size=int(item["Size"]),
                        modified_at=item["LastModified"].astimezone(UTC),
                        etag=item.get("ETag", "").strip('"') or None,
                    )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, None) from exc

    def read_bytes(self, key: str) -> bytes:
        """GetObject of the whole object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            return bytes(response["Body"].read())
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from exc

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """A ranged GetObject: only the bytes a header parser needs cross the network."""
        from botocore.exceptions import BotoCoreError, ClientError

        if length <= 0:
            return b""
        try:
            response = self._client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
            return bytes(response["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise self._error(exc, key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, key) from exc

    def local_path(self, key: str) -> Path | None:
        """Objects in S3 are never local."""
        return None

    def put_file(self, key: str, path: Path) -> None:
        """Upload ``path`` (multipart above the transfer threshold)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.upload_file(str(path), self.bucket, key)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from exc
        except Exception as exc:  # boto3's S3UploadFailedError wraps the ClientError
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError | BotoCoreError):
                raise self._error(cause, key) from exc
            raise

    def delete(self, key: str) -> None:
        """DeleteObject (S3 answers 204 for a missing key too)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from exc

    def copy_to(self, key: str, handle: ByteSink) -> None:
        """Stream GetObject into ``handle`` in 1 MiB chunks."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            for chunk in response["Body"].iter_chunks(1 << 20):
                handle.write(chunk)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from exc
