"""The documentation site builds (MkDocs, strict): every page in the navigation, no
broken link inside the site, no stray page."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_docs_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).with_name("mkdocs"))
    if not Path(mkdocs).exists():
        pytest.skip("mkdocs is not installed (test extra)")
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for page in (
        "index.html",
        "commands/index.html",
        "configuration/index.html",
        "formats/index.html",
        "development/index.html",
        "shared-sql/index.html",
    ):
        assert (tmp_path / "site" / page).is_file(), page
    commands = (tmp_path / "site" / "commands" / "index.html").read_text(encoding="utf-8")
    assert "reconcile export model-card" in commands
