"""Coverage on the real public training folders (tests/data/real/training).

Ingests the corpus into a fresh warehouse, estimates, and compares every run's figure
(the architecture method's central value without the attention term) with the hand count
of ``expected.json`` (made by ``expected.py``, which imports nothing of the project).
Prints a Markdown table per tool, per method and per objective: runs, runs a hand count
can settle, runs with a figure, and runs within 3 % of the hand count.

    python bench/real_corpus.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import duckdb
from click.testing import CliRunner

from reconcile.cli import cli

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "real" / "training"
TOLERANCE = 0.03


def _family(text: str, words: dict[str, str]) -> str:
    lowered = text.lower()
    return next((name for key, name in words.items() if key in lowered), "other")


TOOLS = {
    "llama-factory": "LLaMA-Factory",
    "unsloth": "unsloth",
    "axolotl": "axolotl",
    "ludwig": "Ludwig",
    "trl": "TRL",
    "alignment-handbook": "TRL",
    "hf trainer": "HF Trainer",
    "chatglm": "HF Trainer",
    "qlora": "HF Trainer",
}
METHODS = {"qlora": "QLoRA", "prefix": "prefix tuning", "lora": "LoRA", "full": "full"}
OBJECTIVES = {
    "orpo": "ORPO",
    "grpo": "GRPO",
    "dpo": "DPO",
    "reward": "reward model",
    "pre-training": "continued pre-training",
    "sft": "SFT",
}


def main() -> int:
    expected = json.loads((CORPUS / "expected.json").read_text())["runs"]
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "w.duckdb"
        runner = CliRunner()
        for args in (["ingest", str(CORPUS)], ["estimate"]):
            result = runner.invoke(cli, ["--db", str(db), *args])
            if result.exit_code != 0:
                print(result.output, file=sys.stderr)
                return 1
        con = duckdb.connect(str(db), read_only=True)
        rows = con.sql(
            """
            SELECT r.job_name, r.evidence_uris, c.has_figure,
                   CAST(json_extract(a.assumptions, '$.central_without_attention') AS DOUBLE) AS f
            FROM resolved_runs r JOIN run_coverage c ON c.run_id = r.run_key
            LEFT JOIN run_estimates a ON a.run_id = r.run_key AND a.method = 'architecture'
            """
        ).fetchall()
        con.close()
    ours: dict[str, list[tuple[str, bool, float | None]]] = defaultdict(list)
    for job, uris, has_figure, flops in rows:
        slug = Path(uris[0].removeprefix("file://")).relative_to(CORPUS).parts[0]
        ours[slug].append((job or "", has_figure, flops))
    tables: dict[str, dict[str, list[int]]] = {
        "tool": defaultdict(lambda: [0, 0, 0, 0]),
        "method": defaultdict(lambda: [0, 0, 0, 0]),
        "objective": defaultdict(lambda: [0, 0, 0, 0]),
    }
    for slug, exp in sorted(expected.items()):
        cases = [{**exp, **run} for run in exp["runs"]] if exp.get("runs") else [exp]
        for case in cases:
            if exp.get("tokens") == 0:
                continue  # evaluation-only folders: no training run
            found = ours.get(slug, [])
            if case.get("path"):
                found = [f for f in found if f[0].endswith("@" + case["path"])]
            settled = bool(case["enough_evidence"])
            figure = any(f[1] for f in found)
            within = (
                settled
                and len(found) == 1
                and found[0][2] is not None
                and abs(found[0][2] / case["flops"] - 1) <= TOLERANCE
            )
            keys = {
                "tool": _family(exp["tool"], TOOLS),
                "method": _family(str(exp["method"]), METHODS),
                "objective": _family(str(case["objective"]), OBJECTIVES),
            }
            for table, key in keys.items():
                cell = tables[table][key]
                cell[0] += 1
                cell[1] += settled
                cell[2] += figure
                cell[3] += within
    for table, cells in tables.items():
        print(f"\n| {table} | runs | a hand count settles | with a figure | within 3 % |")
        print("|---|--:|--:|--:|--:|")
        total = [0, 0, 0, 0]
        for key, (runs, settled, figure, within) in sorted(cells.items(), key=lambda i: -i[1][0]):
            print(f"| {key} | {runs} | {settled} | {figure} | {within} of {settled} |")
            total = [a + b for a, b in zip(total, (runs, settled, figure, within), strict=True)]
        print(f"| **all** | {total[0]} | {total[1]} | {total[2]} | {total[3]} of {total[1]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
