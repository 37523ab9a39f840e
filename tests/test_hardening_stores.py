"""Store hardening: no credentials kept or printed, no silently skipped folders, one
fingerprint per unit whatever the listing root, and store errors retried, not kept.

S3 runs on moto's server, behind a small fault proxy of this module's own where a
failure is needed; local folders on ``tmp_path``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from faultproxy import FaultyProxy, s3_error

from connectors.formats.base import Unit
from connectors.registry import Source, open_source
from connectors.stores.base import (
    ObjectInfo,
    UnreadableFoldersError,
    redact_uri,
    redact_uris,
    redacted_error,
)
from connectors.stores.local import LocalStore
from reconcile import ingest, warehouse
from reconcile.cli import cli
from reconcile.errors import StoreAccessError, StoreUnavailableError

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
FLOPS_METER = SAMPLE / "aws/acme-ml-artifacts/pipelines/1301/evaluation_results/flops_meter.json"
RUN_FOLDER = SAMPLE / "onprem/hpc-lustre/mistral-cpt/run1"
SECRET = "s3cr3tSIG"
PASSWORD = "hunter2pw"


def flops_meter(job: str) -> bytes:
    """A valid flops_meter.json for training job ``job``."""
    data = json.loads(FLOPS_METER.read_text())
    data["training_job_name"] = job
    return json.dumps(data).encode()


def run_ingest(db: Path, sources: list[Source], **kwargs: Any) -> ingest.IngestSummary:
    con = warehouse.open_for_write(db)
    try:
        return ingest.ingest(con, sources, **kwargs)
    finally:
        con.close()


def table_text(db: Path, table: str) -> str:
    """Every cell of ``table`` as one string (to look for leaked secrets)."""
    con = warehouse.open_for_read(db)
    try:
        return json.dumps(con.execute(f"SELECT * FROM {table}").fetchall(), default=str)
    finally:
        con.close()


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = warehouse.open_for_read(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def proxy(s3: Any, moto_endpoint: str) -> Iterator[FaultyProxy]:
    """A proxy that passes everything until a test sets its ``plan``."""
    with FaultyProxy(moto_endpoint, plan=lambda method, path, number: None).running() as running:
        yield running


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------------------------------------------------------------------------
# 1. Credentials are never kept or printed


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://b/p/?X-Amz-Credential=AKIA&X-Amz-Signature=abc", "s3://b/p/"),
        ("az://c/p?sv=2024-01-01&sig=abc%3D#frag", "az://c/p"),
        ("gs://b/p?X-Goog-Signature=abc", "gs://b/p"),
        ("http://user:pa%40ss@127.0.0.1:9000/b?x=1", "http://127.0.0.1:9000/b"),
        ("https://u:p@[::1]:443/x", "https://[::1]:443/x"),
        ("file:///tmp/a%3Fb/c", "file:///tmp/a%3Fb/c"),
        ("/plain/path", "/plain/path"),
    ],
)
def test_redact_uri_drops_query_fragment_and_userinfo(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_redact_uris_cleans_every_uri_in_an_sdk_message() -> None:
    text = (
        'Could not connect to the endpoint URL: "http://me:pw@127.0.0.1:1/b?list-type=2&'
        'X-Amz-Signature=zz" (then https://acct.blob.core.windows.net/c/k?sv=1&sig=zz)'
    )
    cleaned = redact_uris(text)
    assert "pw" not in cleaned and "zz" not in cleaned and "sig" not in cleaned
    assert '"http://127.0.0.1:1/b"' in cleaned
    assert "https://acct.blob.core.windows.net/c/k)" in cleaned
    error = redacted_error(StoreUnavailableError(text, hint="see http://a:b@h/x?t=1"))
    assert type(error) is StoreUnavailableError
    assert "pw" not in error.one_line() and "a:b" not in error.one_line()


def test_signed_s3_query_is_not_stored_or_printed(s3: Any, bucket: str, tmp_path: Path) -> None:
    s3.put_object(Bucket=bucket, Key="m/good/flops_meter.json", Body=flops_meter("job-good"))
    s3.put_object(Bucket=bucket, Key="m/bad/flops_meter.json", Body=b"{not json")
    db = tmp_path / "w.duckdb"
    source = f"s3://{bucket}/m/?X-Amz-Credential=AKIA{SECRET}&X-Amz-Signature={SECRET}"

    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", source])

    assert result.exit_code == 3, result.output  # the bad object is quarantined
    assert SECRET not in result.stdout + result.stderr
    assert rows(db, "SELECT DISTINCT source_root FROM ingest_ledger") == [(f"s3://{bucket}/m/",)]
    assert rows(db, "SELECT DISTINCT source_root FROM quarantine") == [(f"s3://{bucket}/m/",)]
    assert SECRET not in table_text(db, "ingest_ledger") + table_text(db, "quarantine")


@pytest.mark.emulator
def test_azure_sas_query_is_not_stored_or_printed(
    azure: Any, azure_container: str, tmp_path: Path
) -> None:
    container = azure.get_container_client(azure_container)
    container.upload_blob("m/good/flops_meter.json", flops_meter("job-good"))
    container.upload_blob("m/bad/flops_meter.json", b"{not json")
    db = tmp_path / "w.duckdb"
    source = f"az://{azure_container}/m/?sv=2024-08-04&sp=rl&sig={SECRET}%3D"

    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", source])

    assert result.exit_code == 3, result.output
    assert SECRET not in result.stdout + result.stderr
    root = f"az://{azure_container}/m/"
    assert rows(db, "SELECT DISTINCT source_root FROM ingest_ledger") == [(root,)]
    assert rows(db, "SELECT DISTINCT source_root FROM quarantine") == [(root,)]
    assert SECRET not in table_text(db, "ingest_ledger") + table_text(db, "quarantine")


def test_endpoint_password_is_not_in_the_error_line(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = f"http://user:{PASSWORD}@127.0.0.1:{closed_port()}"
    result = CliRunner().invoke(
        cli,
        ["--db", str(tmp_path / "w.duckdb"), "ingest", "--s3-endpoint-url", endpoint, "s3://b/"],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: s3://b: cannot reach the S3 endpoint")
    assert "127.0.0.1" in result.stderr
    assert PASSWORD not in result.output + result.stderr
    assert "user:" not in result.stderr


def test_userinfo_in_a_source_uri_is_dropped(s3: Any, bucket: str) -> None:
    source = open_source(f"s3://someone:{PASSWORD}@{bucket}/m/?sig={SECRET}")
    assert source.uri == f"s3://{bucket}/m/"
    assert source.prefix == "m/"
    assert source.store.uri("k") == f"s3://{bucket}/k"


# ---------------------------------------------------------------------------
# 2. Unreadable folders are access errors, never silence


class LockedLocalStore(LocalStore):
    """A real LocalStore whose ``scandir`` of the folders named in ``locked`` fails with
    EACCES, as it does for a non-root user on a ``chmod 000`` folder (root bypasses
    permission bits, so the tests cannot make a folder unreadable for root)."""

    def __init__(self, root: Path, locked: set[str]) -> None:
        super().__init__(root)
        self.locked = locked

    def _entries(self, folder: Path) -> list[os.DirEntry[str]]:
        key = folder.relative_to(self.root).as_posix() if folder != self.root else ""
        if key in self.locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
        return super()._entries(folder)


def make_tree(root: Path) -> None:
    """Two single-file units, a run folder holding a subfolder, and a folder to lock."""
    for name in ("a", "locked"):
        (root / name).mkdir(parents=True)
        (root / name / "flops_meter.json").write_bytes(flops_meter(f"job-{name}"))
    shutil.copytree(RUN_FOLDER, root / "run1")
    (root / "run1" / "extra").mkdir()
    (root / "run1" / "extra" / "notes.txt").write_text("x")


def test_store_reports_an_unreadable_folder_after_listing_the_rest(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    store = LockedLocalStore(tmp_path / "src", {"locked", "run1/extra"})
    seen: list[str] = []
    with pytest.raises(UnreadableFoldersError) as caught:
        for info in store.list_objects():
            seen.append(info.key)
    assert isinstance(caught.value, StoreAccessError)
    assert caught.value.folders == ("locked", "run1/extra")
    assert (tmp_path / "src" / "locked").as_uri() in caught.value.one_line()
    assert "permission denied" in caught.value.one_line()
    assert "a/flops_meter.json" in seen and seen == sorted(seen)
    assert not any(k.startswith(("locked/", "run1/extra/")) for k in seen)
    # A folder outside the prefix is not read at all, so not reported either.
    assert [i.key for i in store.list_objects("a/")] == ["a/flops_meter.json"]


def test_unreadable_start_folder_fails_the_listing(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    with pytest.raises(StoreAccessError, match="permission denied") as caught:
        list(LockedLocalStore(tmp_path / "src", {""}).list_objects())
    assert not isinstance(caught.value, UnreadableFoldersError)
    assert (tmp_path / "src").as_uri() in caught.value.one_line()
    with pytest.raises(StoreAccessError, match="locked"):
        list(LockedLocalStore(tmp_path / "src", {"locked"}).list_objects("locked/"))


def test_ingest_carries_unreadable_folders_and_leaves_their_units_alone(tmp_path: Path) -> None:
    root = tmp_path / "src"
    make_tree(root)
    db = tmp_path / "w.duckdb"
    first = run_ingest(db, [open_source(str(root))])
    assert first.counts["new"] == 3 and not first.errors

    store = LockedLocalStore(root, {"locked", "run1/extra"})
    second = run_ingest(db, [Source(root.as_uri(), store, "")])

    assert [e["uri"] for e in second.errors] == [
        (root / "locked").as_uri(),
        (root / "run1" / "extra").as_uri(),
    ]
    assert all(e["kind"] == "access" and "permission denied" in e["error"] for e in second.errors)
    assert second.as_dict()["errors"] == second.errors
    # The readable unit is unchanged; the run folder (listed without its subfolder) is not
    # replaced by an incomplete version; the ledger still has all three.
    assert second.counts["unchanged"] == 1
    assert second.counts["replaced"] == second.counts["new"] == 0
    assert len(rows(db, "SELECT uri FROM ingest_ledger")) == 3

    # Planning alone (the dry run) raises instead of passing off a partial listing.
    with pytest.raises(UnreadableFoldersError):
        ingest.plan(None, [Source(root.as_uri(), store, "")])


#: Capabilities that let root read any folder: without them, permission bits apply to
#: root too, so a ``chmod 000`` folder is unreadable whoever runs the tests.
_DAC_CAPS = "-dac_override,-dac_read_search"


def cli_without_dac_override(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m reconcile ARGS`` in a subprocess that cannot bypass permission bits
    (as root: ``setpriv`` drops the DAC capabilities from its bounding set)."""
    command = [sys.executable, "-m", "reconcile", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is missing")
        probe = subprocess.run(
            [setpriv, "--bounding-set", _DAC_CAPS, "true"], capture_output=True, check=False
        )
        if probe.returncode != 0:
            pytest.skip("running as root without CAP_SETPCAP: cannot drop DAC capabilities")
        command = [setpriv, "--bounding-set", _DAC_CAPS, *command]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=120, cwd=REPO
    )


@contextmanager
def chmod_000(folder: Path) -> Iterator[None]:
    folder.chmod(0)
    try:
        yield
    finally:
        folder.chmod(0o755)


def test_chmod_000_subfolder_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "src"
    make_tree(root)
    with chmod_000(root / "locked"):
        result = cli_without_dac_override(
            "--db", str(tmp_path / "w.duckdb"), "ingest", "--json", str(root)
        )
    assert result.returncode in (0, 1), result.stderr  # 1 once the CLI checks ``errors``
    summary = json.loads(result.stdout)
    assert [e["uri"] for e in summary["errors"]] == [(root / "locked").as_uri()]
    assert "permission denied" in summary["errors"][0]["error"]
    assert summary["objects"]["new"] == 2  # a/ and run1/ still load


def test_chmod_000_source_root_fails_the_ingest(tmp_path: Path) -> None:
    root = tmp_path / "src"
    make_tree(root)
    with chmod_000(root):
        result = cli_without_dac_override("--db", str(tmp_path / "w.duckdb"), "ingest", str(root))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"Error: {root.as_uri()}: permission denied"), result.stderr


def test_cli_exits_non_zero_on_unreadable_folders(tmp_path: Path) -> None:
    root = tmp_path / "src"
    make_tree(root)
    with chmod_000(root / "locked"):
        result = cli_without_dac_override("--db", str(tmp_path / "w.duckdb"), "ingest", str(root))
    assert result.returncode == 1
    assert (root / "locked").as_uri() in result.stderr


# ---------------------------------------------------------------------------
# 3. Overlapping sources settle: one fingerprint per unit, whatever the listing root


def test_fingerprint_does_not_depend_on_the_listing_root() -> None:
    from datetime import UTC, datetime

    when = datetime(2025, 1, 1, tzinfo=UTC)

    def unit(prefix: str) -> Unit:
        members = tuple(
            ObjectInfo(f"{prefix}{name}", 10, when, "e1")
            for name in ("ckpt/config.json", "ckpt/sub/model.safetensors")
        )
        return Unit(uri="x", key=f"{prefix}ckpt", members=members)

    assert unit("").fingerprint() == unit("p/").fingerprint() == unit("g/p/").fingerprint()
    # A unit keyed by a file (members beside it): relative to their common folder.
    files = [ObjectInfo(f"{p}d/a.json", 1, when, None) for p in ("", "q/")]
    assert Unit("x", files[0].key, (files[0],)).fingerprint() == (
        Unit("x", files[1].key, (files[1],)).fingerprint()
    )
    # Content still counts: a re-delivered member changes it.
    same = unit("p/")
    redelivered = ObjectInfo(same.members[1].key, 11, when, "e2")
    changed = Unit(same.uri, same.key, (same.members[0], redelivered))
    assert changed.fingerprint() != same.fingerprint()


def test_a_folder_ingested_through_parent_and_grandparent_settles(tmp_path: Path) -> None:
    grandparent = tmp_path / "gp"
    parent = grandparent / "parent"
    shutil.copytree(RUN_FOLDER, parent / "run1")
    db = tmp_path / "w.duckdb"
    orders = [
        [str(parent), str(grandparent)],
        [str(grandparent), str(parent)],
        [str(parent), str(grandparent)],
        [str(grandparent)],
        [str(parent)],
    ]
    summaries = [run_ingest(db, [open_source(s) for s in order]) for order in orders]
    assert dict(summaries[0].counts) == {"new": 1}
    for later in summaries[1:]:
        assert dict(later.counts) == {"unchanged": 1}
        assert later.bytes_read == 0
    assert rows(db, "SELECT count(*) FROM training_runs") == [(1,)]


# ---------------------------------------------------------------------------
# 4. Store errors are retried by the next run; only content errors stay quarantined


@pytest.mark.parametrize(("status", "code"), [(503, "ServiceUnavailable"), (403, "AccessDenied")])
def test_a_store_error_on_get_is_retried_by_the_next_run(
    s3: Any,
    bucket: str,
    proxy: FaultyProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    code: str,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the fault outlasts botocore's retries
    s3.put_object(Bucket=bucket, Key="m/a/flops_meter.json", Body=flops_meter("job-a"))
    s3.put_object(Bucket=bucket, Key="m/b/flops_meter.json", Body=flops_meter("job-b"))
    broken = f"/{bucket}/m/b/flops_meter.json"
    proxy.plan = lambda method, path, number: (
        s3_error(status, code, f"injected {code}")
        if method == "GET" and path.split("?")[0] == broken
        else None
    )
    db = tmp_path / "w.duckdb"
    args = [
        "--db",
        str(db),
        "ingest",
        "--json",
        "--s3-endpoint-url",
        proxy.url,
        f"s3://{bucket}/m/",
    ]

    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 3, first.output
    assert proxy.failed
    summary = json.loads(first.stdout)
    assert (summary["objects"]["new"], summary["objects"]["quarantined"]) == (1, 1)
    assert summary["quarantine"][0]["kind"] == "store"
    assert rows(db, "SELECT uri, error_kind FROM quarantine") == [
        (f"s3://{bucket}/m/b/flops_meter.json", "store")
    ]

    proxy.plan = lambda method, path, number: None  # the store recovered
    second = CliRunner().invoke(cli, args)  # no --retry-quarantined
    assert second.exit_code == 0, second.output
    objects = json.loads(second.stdout)["objects"]
    assert (objects["new"], objects["unchanged"], objects["quarantined"]) == (1, 1, 0)
    assert rows(db, "SELECT count(*) FROM quarantine") == [(0,)]
    assert rows(db, "SELECT count(*) FROM ingest_ledger") == [(2,)]

    third = CliRunner().invoke(cli, args)
    assert third.exit_code == 0
    assert json.loads(third.stdout)["objects"]["unchanged"] == 2


def test_a_content_error_stays_quarantined_until_the_object_changes(
    s3: Any, bucket: str, tmp_path: Path
) -> None:
    key = "m/b/flops_meter.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b"{not json")
    db = tmp_path / "w.duckdb"
    source = f"s3://{bucket}/m/"

    first = run_ingest(db, [open_source(source)])
    assert first.quarantined[0]["kind"] == "content"
    assert rows(db, "SELECT error_kind, attempts FROM quarantine") == [("content", 1)]

    second = run_ingest(db, [open_source(source)])
    assert second.counts["quarantined"] == 1
    assert second.quarantined[0]["seen"] == "before"
    assert rows(db, "SELECT attempts FROM quarantine") == [(1,)]  # not read again

    # A row from before the kind was recorded (NULL) is retried once, then kept.
    con = warehouse.open_for_write(db)
    con.execute("UPDATE quarantine SET error_kind = NULL")
    con.close()
    third = run_ingest(db, [open_source(source)])
    assert third.quarantined[0]["seen"] == "now"
    assert rows(db, "SELECT error_kind, attempts FROM quarantine") == [("content", 2)]

    s3.put_object(Bucket=bucket, Key=key, Body=flops_meter("job-b"))
    fourth = run_ingest(db, [open_source(source)])
    assert fourth.counts["new"] == 1
    assert rows(db, "SELECT count(*) FROM quarantine") == [(0,)]


def test_a_local_read_error_is_recorded_as_a_store_error(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    path = root / "a" / "flops_meter.json"
    path.write_bytes(flops_meter("job-a"))
    listed = path.stat()

    class VanishingStore(LocalStore):
        """Lists the file, then finds it gone when reading (deleted in between)."""

        def read_bytes(self, key: str) -> bytes:
            (self.root / key).unlink()
            return super().read_bytes(key)

    db = tmp_path / "w.duckdb"
    first = run_ingest(db, [Source(root.as_uri(), VanishingStore(root), "")])
    assert first.quarantined[0]["kind"] == "store"
    assert "no such file" in first.quarantined[0]["error"]
    # The same file back, same size and time: the same fingerprint, so only the error's
    # kind makes the next run read it again.
    path.write_bytes(flops_meter("job-a"))
    os.utime(path, ns=(listed.st_atime_ns, listed.st_mtime_ns))
    second = run_ingest(db, [open_source(str(root))])
    assert second.counts["new"] == 1 and second.counts["quarantined"] == 0


def test_migration_0007_scrubs_credentials_stored_before_and_keeps_rows_retryable() -> None:
    import duckdb

    con = duckdb.connect()
    for migration in warehouse.migrations():
        if migration.version == 7:
            con.execute(
                "INSERT INTO ingest_ledger (uri, source_root, format, parser_version, "
                "fingerprint, size_bytes, sha256, members, target_table, row_count, "
                "loaded_at) VALUES ('s3://b/p/k', $root, 'f', 1, 'e', 1, 'h', '[]', "
                "'training_runs', 1, now())",
                {"root": f"s3://b/p/?X-Amz-Signature={SECRET}"},
            )
            con.execute(
                "INSERT INTO quarantine (uri, source_root, format, parser_version, "
                "fingerprint, error, first_seen_at, last_seen_at, attempts) VALUES "
                "('az://c/p/k', $root, 'f', 1, 'e', $error, now(), now(), 1)",
                {
                    "root": f"az://c/p?sv=1&sig={SECRET}",
                    "error": f'az://c/p/k: cannot reach "http://u:{PASSWORD}@h:1/c?sig={SECRET}"',
                },
            )
        con.execute(migration.sql)
    assert con.execute("SELECT source_root FROM ingest_ledger").fetchall() == [("s3://b/p/",)]
    assert con.execute("SELECT source_root, error, error_kind FROM quarantine").fetchall() == [
        ("az://c/p", 'az://c/p/k: cannot reach "http://h:1/c"', None)
    ]
