"""The store contract, run against every store: local folders, S3 on moto's server, GCS on
fake-gcs-server and Azure Blob on Azurite."""

from __future__ import annotations

import hashlib
from datetime import UTC

import pytest

from reconcile.errors import StoreNotFoundError


def test_lists_in_key_order_with_sizes_and_times(make_store):
    objects = {"b/2.json": b"{}", "a/1.json": b"[1, 2]", "a/0.txt": b"x" * 10, "c.csv": b""}
    store = make_store(objects)
    listed = list(store.list_objects())
    assert [o.key for o in listed] == ["a/0.txt", "a/1.json", "b/2.json", "c.csv"]
    assert {o.key: o.size for o in listed} == {k: len(v) for k, v in objects.items()}
    assert all(o.modified_at.tzinfo is not None for o in listed)
    assert all(o.modified_at.utcoffset() == UTC.utcoffset(None) for o in listed)
    assert all(o.etag for o in listed)


def test_prefix_selects_a_subtree(make_store):
    store = make_store({"runs/a/x.json": b"1", "runs/ab/y.json": b"2", "runs2/z": b"3", "r": b"4"})
    assert [o.key for o in store.list_objects("runs/")] == ["runs/a/x.json", "runs/ab/y.json"]
    assert [o.key for o in store.list_objects("runs/a")] == ["runs/a/x.json", "runs/ab/y.json"]
    assert [o.key for o in store.list_objects("runs")] == [
        "runs/a/x.json",
        "runs/ab/y.json",
        "runs2/z",
    ]
    assert list(store.list_objects("nothing/")) == []


@pytest.mark.slow  # 1,005 uploads: about 1 s locally, 2-5 s on the emulators, 10 s on moto
def test_pages_past_one_thousand_keys(make_store):
    objects = {f"p/{i:05d}.json": str(i).encode() for i in range(1005)}
    store = make_store(objects)
    keys = [o.key for o in store.list_objects("p/")]
    assert len(keys) == 1005
    assert keys == sorted(objects)


def test_reads_whole_objects_and_ranges(make_store):
    data = bytes(range(256)) * 4
    store = make_store({"blob.bin": data})
    assert store.read_bytes("blob.bin") == data
    assert store.read_range("blob.bin", 8, 16) == data[8:24]
    assert store.read_range("blob.bin", 1020, 100) == data[1020:]


def test_etag_changes_when_content_changes(make_store):
    store = make_store({"x.json": b'{"a": 1}', "y.json": b'{"a": 1}'})
    before = {o.key: o.etag for o in store.list_objects()}
    if make_store.kind == "s3":
        # S3 ETags of single-part uploads are the MD5 of the content.
        assert before["x.json"] == hashlib.md5(b'{"a": 1}').hexdigest()
    if make_store.kind == "gcs":
        # GCS versions are generation numbers: every write gets a new, larger one.
        assert before["x.json"].isdigit()
    make_store.put(store, "x.json", b'{"a": 22}')
    after = {o.key: o.etag for o in store.list_objects()}
    assert after["x.json"] != before["x.json"]
    assert after["y.json"] == before["y.json"]


def test_missing_object_is_a_store_not_found_error(make_store):
    store = make_store({"present.json": b"{}"})
    with pytest.raises(StoreNotFoundError, match=r"absent\.json"):
        store.read_bytes("absent.json")


def test_missing_bucket_or_folder_is_a_clear_error(s3, tmp_path):
    from connectors.stores.local import LocalStore
    from connectors.stores.s3 import S3Store

    with pytest.raises(StoreNotFoundError, match=r"s3://no-such-bucket-here: no such bucket"):
        list(S3Store("no-such-bucket-here").list_objects())
    with pytest.raises(StoreNotFoundError, match="no such file or folder"):
        LocalStore(tmp_path / "absent")


@pytest.mark.emulator
def test_missing_gcs_bucket_is_a_clear_error(gcs, gcs_bucket):
    from connectors.stores.gcs import GcsStore

    with pytest.raises(StoreNotFoundError, match=r"^gs://no-such-bucket-here: no such bucket$"):
        list(GcsStore("no-such-bucket-here").list_objects())
    # Reading an object: real GCS says which is missing, fake-gcs-server only "Not Found".
    with pytest.raises(StoreNotFoundError, match=r"^gs://no-such-bucket-here[:/]"):
        GcsStore("no-such-bucket-here").read_bytes("x.json")
    with pytest.raises(StoreNotFoundError, match=rf"^gs://{gcs_bucket}/x\.json: not found$"):
        GcsStore(gcs_bucket).read_bytes("x.json")


@pytest.mark.emulator
def test_missing_azure_container_is_a_clear_error(azure, azure_container):
    from connectors.stores.azure import AzureBlobStore

    message = r"^az://no-such-container: no such container$"
    with pytest.raises(StoreNotFoundError, match=message) as caught:
        list(AzureBlobStore("no-such-container").list_objects())
    assert type(caught.value.__cause__).__name__ == "ResourceNotFoundError"
    with pytest.raises(StoreNotFoundError, match=message):
        AzureBlobStore("no-such-container").read_bytes("x.json")
    with pytest.raises(StoreNotFoundError, match=rf"^az://{azure_container}/x\.json: not found$"):
        AzureBlobStore(azure_container).read_bytes("x.json")


def test_azure_without_an_account_says_how_to_configure_one():
    from connectors.stores.azure import AzureBlobStore
    from reconcile.errors import StoreAccessError

    with pytest.raises(StoreAccessError, match="no Azure storage account configured") as caught:
        AzureBlobStore("c")
    assert "AZURE_STORAGE_CONNECTION_STRING" in caught.value.one_line()


def test_local_store_does_not_follow_links_out_of_the_folder(tmp_path):
    from connectors.stores.local import LocalStore

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text("{}")
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.json").write_text("{}")
    (root / "link.json").symlink_to(outside / "secret.json")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    store = LocalStore(root)
    assert [o.key for o in store.list_objects()] == ["ok.json"]
    with pytest.raises(Exception, match="escapes the source folder"):
        store.read_bytes("../outside/secret.json")


def test_unit_reader_gives_a_local_path_and_cleans_up(make_store):
    import hashlib

    from connectors.formats.base import Unit, UnitReader

    data = b"line_id,cost\n" + b"x,1.5\n" * 50_000
    store = make_store({"exports/2025-03/part-0001.csv.gz": data})
    (info,) = list(store.list_objects())
    reader = UnitReader(store, Unit(uri=store.uri(info.key), key=info.key, members=(info,)))
    path = reader.path(info.key)
    assert path.read_bytes() == data
    assert path.name.endswith(".csv.gz")
    assert reader.bytes_read == len(data)
    expected = hashlib.sha256(info.key.encode() + b"\0" + hashlib.sha256(data).digest())
    assert reader.sha256 == expected.hexdigest()
    reader.close()
    if make_store.kind == "local":
        assert path.exists()  # the source file itself, read in place
    else:
        assert not path.exists()  # the temporary copy is gone
