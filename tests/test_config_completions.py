"""Configs completed once per config and transformers version: a run whose evidence did
not change never imports transformers, and the counts are the same either way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from reconcile import warehouse
from reconcile.params import ConfigCompletions, count_parameters

CONFIGS = sorted(
    p.name for p in resources.files("reconcile.data").joinpath("model_configs").iterdir()
)


def test_counts_from_kept_completions_equal_fresh_counts(tmp_path):
    """Every eighth shipped config (all architectures' kinds: dense, MoE, multimodal), counted
    fresh and from completions that went through the warehouse and back."""
    picked = CONFIGS[::8]
    configs = [
        json.loads(resources.files("reconcile.data").joinpath("model_configs", n).read_text())
        for n in picked
    ]
    first = ConfigCompletions()
    fresh = [count_parameters(c) for c in configs]
    assert [count_parameters(c, completions=first) for c in configs] == fresh
    con = warehouse.open_for_write(tmp_path / "w.duckdb")
    try:
        first.save(con)
        kept = ConfigCompletions()
        kept.load(con)
    finally:
        con.close()
    assert len(kept.known) == len(picked)
    assert [count_parameters(c, completions=kept) for c in configs] == fresh
    assert not kept.new  # nothing completed again


def test_a_run_that_changed_nothing_does_not_import_transformers(tmp_path, sample_data):
    root = tmp_path / "org"
    shutil.copytree(sample_data, root)
    config = root / "reconcile.toml"
    config.write_text(config.read_text() + f'\n[[sources]]\nuri = "{root}"\n')
    db = tmp_path / "w.duckdb"
    probe = (
        "import sys\n"
        "from reconcile.cli import cli\n"
        "try:\n"
        f"    cli(['--db', {str(db)!r}, '--config', {str(config)!r}, 'run'],\n"
        "        prog_name='reconcile')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
        "print('transformers' in sys.modules, file=sys.stderr)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))

    def imported() -> bool:
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
        )
        return done.stderr.strip().splitlines()[-1] == "True"

    assert imported() is True  # the first run completes the configs
    assert imported() is False  # the next one finds them kept
