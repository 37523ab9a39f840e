"""The opt-in Hub look-up ([models] hub = true), against a local server that serves
config.json and model cards the way the Hugging Face Hub does (tests/hubserver.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hubserver import HubServer

from reconcile.cli import cli

# A community fine-tune the catalog lacks: its card names its base (Qwen2.5-0.5B, in the
# catalog); its config is Qwen2.5-0.5B's shape (tests/data/real/training/_bases).
CONFIG = json.loads(
    (Path(__file__).resolve().parent / "data/real/training/_bases/Qwen__Qwen2.5-0.5B.json")
    .read_text()
)
CARD = b"---\nbase_model: Qwen/Qwen2.5-0.5B\nlicense: apache-2.0\ntags:\n- sft\n---\n# card\n"
REPOS = {
    "acme-community/qwen-tiny-chat": {
        "config.json": json.dumps({k: v for k, v in CONFIG.items() if not k.startswith("_")})
        .encode(),
        "README.md": CARD,
    }
}


def _setup(tmp_path: Path, hub: bool) -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "team.runs.csv").write_text(
        "job_name,base_model,method,tokens,tokens_basis\n"
        "chat-sft,acme-community/qwen-tiny-chat,full,1000000000,logged\n"
    )
    config = tmp_path / "reconcile.toml"
    config.write_text(f"[models]\nhub = {'true' if hub else 'false'}\n")
    return runs, config


def _runs(db: Path) -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["--db", str(db), "query", "runs", "--format", "json"])
    assert result.exit_code == 0, result.output
    return {r["job_name"]: r for r in json.loads(result.stdout)}


def test_hub_lookup_counts_parameters_and_finds_the_base(tmp_path, monkeypatch):
    runs, config = _setup(tmp_path, hub=True)
    db = tmp_path / "w.duckdb"
    with HubServer(REPOS) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        runner = CliRunner()
        args = ["--db", str(db), "--config", str(config)]
        assert runner.invoke(cli, [*args, "ingest", str(runs)]).exit_code == 0
        result = runner.invoke(cli, [*args, "estimate"])
        assert result.exit_code == 0, result.output
        # only the two small files of the repository (huggingface_hub may also ask the
        # endpoint for its own registries; never for weights)
        fetched = sorted(
            path
            for method, path in server.requests
            if method == "GET" and path.startswith("/acme-community/")
        )
        assert not any("safetensors" in path or ".bin" in path for _, path in server.requests)
    assert fetched == [
        "/acme-community/qwen-tiny-chat/resolve/main/README.md",
        "/acme-community/qwen-tiny-chat/resolve/main/config.json",
    ]
    run = _runs(db)["chat-sft"]
    assert run["base_model_basis"] == "hub"
    revision = HubServer.commit("acme-community/qwen-tiny-chat")
    assert f"config.json from the Hub (acme-community/qwen-tiny-chat@{revision})" in run[
        "params_basis"
    ]
    # N_mm of Qwen2.5-0.5B (tests/data/real/training/expected.json _base_checks): 6·N·D
    assert run["flops"] == pytest.approx(6 * 493_961_216 * 1e9, rel=1e-3)
    status = CliRunner().invoke(
        cli, ["--db", str(db), "query", "per_model_totals", "--format", "json"]
    )
    (model,) = json.loads(status.stdout)
    # the threshold comes from the base the card names (Qwen2.5-0.5B's published compute)
    assert model["threshold_basis"] == "one_third_of_known"

    # Files are cached beside the warehouse: a re-estimate works with the server gone.
    cache = tmp_path / "reconcile-hub-cache"
    assert any(cache.rglob("config.json"))
    result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "estimate"])
    assert result.exit_code == 0, result.output
    assert _runs(db)["chat-sft"]["base_model_basis"] == "hub"


def test_hub_is_off_by_default_and_failures_are_flagged(tmp_path, monkeypatch):
    runs, config = _setup(tmp_path, hub=False)
    db = tmp_path / "w.duckdb"
    with HubServer({}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        args = ["--db", str(db), "--config", str(config)]
        assert CliRunner().invoke(cli, [*args, "ingest", str(runs)]).exit_code == 0
        assert CliRunner().invoke(cli, [*args, "estimate"]).exit_code == 0
        assert server.requests == []  # no network unless the user opts in
        run = _runs(db)["chat-sft"]
        assert run["flops"] is None and "base_model_not_in_catalog" in run["flags"]
        config.write_text("[models]\nhub = true\n")
        assert CliRunner().invoke(cli, [*args, "estimate"]).exit_code == 0
    run = _runs(db)["chat-sft"]
    assert "hub_lookup_failed" in run["flags"]
    assert "[models.base" in run["missing"] or "Hub" in run["missing"]


def test_counting_parameters_leaves_the_hub_online(tmp_path):
    """Completing a config (transformers, no network) must not switch huggingface_hub to
    offline mode: it reads HF_HUB_OFFLINE once, at import, so a run that counted a catalog
    model first would find the Hub 'unreachable' for the rest of the process."""
    from reconcile.params import complete_config

    before = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    completed = complete_config({k: v for k, v in CONFIG.items() if not k.startswith("_")})
    assert completed["hidden_size"] == CONFIG["hidden_size"]
    assert {k: os.environ.get(k) for k in before} == before


def test_a_hub_that_cannot_be_reached_is_named_as_such(tmp_path):
    """With the Hub unreachable (here: HF_HUB_OFFLINE=1 in the environment) the note says
    so, rather than that the repository has no config."""
    runs, config = _setup(tmp_path, hub=True)
    db = tmp_path / "w.duckdb"
    with HubServer(REPOS) as server:
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HUB_OFFLINE": "1"}
        for command in (["ingest", str(runs)], ["estimate"]):
            done = subprocess.run(
                [sys.executable, "-m", "reconcile", "--db", str(db), "--config", str(config),
                 *command],
                env=env, capture_output=True, text=True, timeout=300,
            )
            assert done.returncode == 0, done.stderr
        assert server.requests == []
    run = _runs(db)["chat-sft"]
    assert "hub_lookup_failed" in run["flags"]
    with duckdb.connect(str(db), read_only=True) as con:
        (notes,) = con.execute(
            "SELECT notes FROM resolved_runs WHERE job_name = 'chat-sft'"
        ).fetchone()
    assert any("Hub look-up failed" in n and "offline mode is enabled" in n for n in notes)
