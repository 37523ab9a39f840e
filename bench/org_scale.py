"""Organisation scale: ingest, estimate, report and an unchanged hourly run, 100 to 100 k runs.

Generates organisations with ``tests/orggen.py`` (Azure FOCUS billing, DCGM on Kubernetes
pods, Slurm jobs with ``sacct`` and node telemetry; a third of the runs billed by their
own VM, a third by a tagged pool VM, a third measured on premises) plus idle billing
lines nobody's run used, then times the real CLI, each step in a fresh interpreter, with
its peak resident memory (``ru_maxrss``):

* ``ingest``: every file of the organisation into a new warehouse;
* ``estimate``: stages, matching, estimates, statuses;
* ``report``: HTML, JSON, Markdown and the CSV/Parquet appendix (sizes printed);
* ``run``: the first ``reconcile run`` over the same sources (nothing new to ingest, the
  estimate unchanged, the report written to ``[report] out``);
* ``noop run``: the next one, when nothing changed (the hourly batch job's common case).

It prints one row per size and the growth factor of each step per 10x runs, and checks
between sizes what the generator keeps comparable (each size's runs are a superset of
the smaller size's first runs only in count, not content, so only invariants are
checked: every billing line counted once, every run with an estimate).

    python bench/org_scale.py --runs 100 1000 10000 --lines 1000000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Writes one organisation (tests/orggen.py) and prints its counts.
GENERATE = f"""
import json, sys
from pathlib import Path
sys.path.insert(0, {str(HERE.parent / "tests")!r})
import orggen
root, runs, idle = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print(json.dumps(orggen.generate(root, runs=runs, idle_lines=idle, slurm=True, dcgm_interval=900)))
"""

#: Runs one CLI command in this interpreter and writes its peak RSS (KiB) on exit.
WRAPPER = """
import atexit, json, resource, sys
PEAK = sys.argv[1]
def _peak():
    with open(PEAK, "w") as handle:
        handle.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
atexit.register(_peak)
from reconcile.cli import main
sys.argv = ["reconcile", *sys.argv[2:]]
main()
"""


STEPS = ("ingest", "estimate", "report", "run", "noop_run")


def step(args: list[str], peak_file: Path) -> tuple[float, float, str]:
    """(wall seconds, peak MiB, output) of one CLI command in a fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(peak_file), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    peak = int(peak_file.read_text()) / 1024 if peak_file.exists() else float("nan")
    return wall, peak, done.stdout


def measure(root: Path, runs: int, lines: int) -> dict[str, object]:
    org = root / f"org-{runs}"
    started = time.perf_counter()
    # In its own process: a child inherits its parent's peak RSS on Linux, and the
    # generator holds every line in memory.
    done = subprocess.run(
        [sys.executable, "-c", GENERATE, str(org), str(runs), str(max(0, lines - runs * 4))],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = json.loads(done.stdout)
    generated = time.perf_counter() - started
    db = root / f"w-{runs}.duckdb"
    config = root / f"reconcile-{runs}.toml"
    out = root / f"report-{runs}"
    config.write_text(
        '[estimate]\ntag_keys = ["project"]\n\n[[sources]]\n'
        f'uri = "{org.as_posix()}"\n\n[report]\nout = "{out.as_posix()}"\n',
        encoding="utf-8",
    )
    peak = root / "peak"
    base = ["--db", str(db), "--config", str(config)]
    row: dict[str, object] = {"runs": runs, **counts, "generate_s": round(generated, 1)}
    for name, args in (
        ("ingest", [*base, "ingest", str(org)]),
        ("estimate", [*base, "estimate"]),
        ("report", [*base, "report", "--out", str(out)]),
        ("run", [*base, "run", "--json"]),  # records the report it writes
        ("noop_run", [*base, "run", "--json"]),
    ):
        wall, mib, output = step(args, peak)
        row[f"{name}_s"] = round(wall, 2)
        row[f"{name}_mib"] = round(mib)
        if name == "noop_run":
            row["noop_summary"] = _noop(output)
    for suffix in ("html", "json", "md"):
        path = out / f"report.{suffix}"
        row[f"report_{suffix}_mb"] = round(path.stat().st_size / 1e6, 2) if path.exists() else None
    row.update(_invariants(db, counts))
    return row


def _noop(output: str) -> str:
    """What the unchanged run did: its estimate and report states."""
    start = output.find("{")
    try:
        summary = json.loads(output[start:])
    except ValueError:
        return "?"
    new = sum(s.get("new", 0) + s.get("replaced", 0) for s in summary.get("sources", []))
    return (
        f"new={new} estimate={summary.get('estimate', '?')} "
        f"report={summary.get('report_state', '?')}"
    )


def _invariants(db: Path, counts: dict[str, int]) -> dict[str, object]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        lines, matches, runs, estimated = con.execute(
            "SELECT (SELECT sum(line_count) FROM billing_rollup), "
            "(SELECT count(*) FROM run_matches), "
            "(SELECT count(*) FROM run_coverage), "
            "(SELECT count(DISTINCT run_id) FROM run_estimates WHERE method = 'combined')"
        ).fetchone()
    return {
        "lines_counted_once": int(lines or 0) == counts["billing_lines"],
        "run_matches": matches,
        "runs_with_estimate": f"{estimated}/{runs}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--lines", type=int, default=200_000, help="billing lines per org")
    parser.add_argument("--keep", type=Path, help="keep the data in this folder")
    args = parser.parse_args()
    print(
        f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for runs in args.runs:
            result = measure(root, runs, args.lines)
            results.append(result)
            print(json.dumps(result), flush=True)
    print()
    print(
        "| runs | lines | ingest s | estimate s | report s | run s | no-op run s | peak MiB | "
        "HTML MB | JSON MB | links |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        peak = max(int(r[f"{n}_mib"]) for n in STEPS)
        print(
            f"| {r['runs']:,} | {r['billing_lines']:,} | {r['ingest_s']} | {r['estimate_s']} | "
            f"{r['report_s']} | {r['run_s']} | {r['noop_run_s']} | {peak:,} | "
            f"{r['report_html_mb']} | {r['report_json_mb']} | {r['run_matches']:,} |"
        )
    for small, big in itertools.pairwise(results):
        factor = int(big["runs"]) / int(small["runs"])
        growth = {
            n: round(float(big[f"{n}_s"]) / max(float(small[f"{n}_s"]), 1e-9), 2) for n in STEPS
        }
        print(f"growth {small['runs']} -> {big['runs']} runs ({factor:g}x): {growth}")


if __name__ == "__main__":
    main()
