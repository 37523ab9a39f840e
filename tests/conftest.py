"""Shared fixtures: a clean environment, a real moto S3 server, stores to contract-test."""

from __future__ import annotations

import shutil
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The committed sample organisation (read-only: copy it before changing anything)."""
    return SAMPLE_DATA


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RECONCILE_* or AWS settings leak in from the machine; HOME is a temp folder."""
    import os

    for name in list(os.environ):
        if name.startswith(("RECONCILE_", "AWS_")):
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


@pytest.fixture(params=["local", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Builds a store of each kind holding the given objects (the store contract suite)."""
    kind = request.param

    def build(objects: dict[str, bytes]) -> Any:
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

        client = request.getfixturevalue("s3")
        name = request.getfixturevalue("bucket")
        for key, data in objects.items():
            client.put_object(Bucket=name, Key=key, Body=data)
        return S3Store(name)

    build.kind = kind  # type: ignore[attr-defined]
    return build
