"""The house's import rules (ARCHITECTURE.md, contracts in pyproject.toml), checked with
import-linter on the installed packages."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept(capsys):
    from importlinter.cli import lint_imports

    before = os.getcwd()
    os.chdir(ROOT)
    try:
        code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    finally:
        os.chdir(before)
    output = capsys.readouterr().out
    assert code == 0, output
    assert "7 kept, 0 broken" in output


def test_every_core_module_is_under_the_no_click_rule():
    """A new module of reconcile/ or connectors/ is covered the day it is added."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    (no_click,) = [c for c in contracts if "click" in c.get("forbidden_modules", [])]
    listed = set(no_click["source_modules"])
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "reconcile").rglob("*.py")
        if p.stem not in ("__init__", "__main__", "cli")
    }
    # a subpackage (reconcile.report, reconcile.methods) is listed whole: import-linter
    # applies a package's entry to every module in it, a new one included
    modules |= {m.rpartition(".")[0] for m in modules if m.count(".") > 1}

    def covered(module: str) -> bool:
        parts = module.split(".")
        return any(".".join(parts[:n]) in listed for n in range(2, len(parts) + 1))

    assert all(covered(m) for m in modules), sorted(m for m in modules if not covered(m))
    assert "connectors" in listed


def _distribution(requirement: str) -> str:
    """``"pyarrow>=18,<27"`` → ``pyarrow``; ``"pyspark[connect]>=4"`` → ``pyspark``."""
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_what_is_imported_is_declared_and_what_is_declared_is_imported():
    """Every third-party module the package imports comes from a distribution that
    pyproject.toml declares (the base or an extra), and every base dependency is
    imported somewhere: no undeclared transitive import, no dead dependency."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_distribution(r) for r in project["dependencies"]}
    extras = {_distribution(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    imported: set[str] = set()
    for path in [*(ROOT / "reconcile").rglob("*.py"), *(ROOT / "connectors").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"reconcile", "connectors"}
    providers = packages_distributions()
    used: set[str] = set()
    for module in sorted(third_party):
        names = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert names & (base | extras), f"{module} (from {sorted(names)}) is not declared"
        used |= names
    assert base <= used, f"declared, never imported: {sorted(base - used)}"
