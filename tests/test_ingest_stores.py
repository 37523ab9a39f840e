"""Ingest from every store (a local folder, S3 on moto's server, GCS on fake-gcs-server,
Azure Blob on Azurite), through the command line and the store's own URI: exactly once,
read-only, nothing downloaded again, a changed object replacing exactly its rows.

One test over the store contract's fixture (``make_store``), so that every backend is
held to the same promise; what is particular to one backend (S3's API calls, ranged
reads, a missing bucket or container) stays in ``test_ingest_<store>.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

#: The one object the test changes: the SFT run's trainer state (its token count).
SFT_STATE = (
    "acme/aws/acme-ml-artifacts/sagemaker/qwen7b-sft-20250304-1301/output/trainer_state.json"
)
#: num_input_tokens_seen of the five runs the test leaves unchanged (their trainer states).
OTHER_TOKENS = 2_411_724_800


def _keys(store: Any) -> list[str]:
    return sorted(info.key for info in store.list_objects("acme/"))


def test_ingest_is_exactly_once_and_read_only_on_every_store(
    make_store, hf_runs_copy: Path, tmp_path: Path, ingest_json
):
    objects = {
        "acme/" + path.relative_to(hf_runs_copy).as_posix(): path.read_bytes()
        for path in sorted(hf_runs_copy.rglob("*"))
        if path.is_file()
    }
    store = make_store(objects)
    source = store.uri("acme/")
    db = tmp_path / "w.duckdb"

    first = ingest_json(db, source)
    assert first["objects"]["listed"] == len(objects)
    assert first["objects"]["new"] == 6
    assert first["rows"]["training_runs"] == 6
    assert first["bytes_read"] > 0

    # Second run: listing only. Nothing is downloaded and nothing changes.
    second = ingest_json(db, source)
    assert second["objects"]["unchanged"] == 6
    assert second["objects"]["new"] == second["objects"]["replaced"] == 0
    assert second["bytes_read"] == 0

    # One changed object (a new ETag, generation or mtime): only its run is re-read.
    state = json.loads(objects[SFT_STATE])
    state["num_input_tokens_seen"] = 123_456_789
    make_store.put(store, SFT_STATE, json.dumps(state).encode())
    third = ingest_json(db, source)
    assert (third["objects"]["replaced"], third["objects"]["unchanged"]) == (1, 5)
    assert third["rows_deleted"]["training_runs"] == 1

    con = duckdb.connect(str(db), read_only=True)
    runs, tokens = con.execute("SELECT count(*), sum(tokens) FROM training_runs").fetchall()[0]
    uris = [r[0] for r in con.execute("SELECT uri FROM ingest_ledger").fetchall()]
    con.close()
    assert runs == 6
    assert tokens == 123_456_789 + OTHER_TOKENS
    assert uris and all(uri.startswith(source) for uri in uris)

    # Read-only: the store holds exactly the objects written to it.
    assert _keys(store) == sorted(objects)
