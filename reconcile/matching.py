"""Linking logical runs to the GPU-usage rows and billing lines that paid for them.

Strongest first, each with a confidence:

* ``job_id`` (0.95): a Slurm job id the run's tags carry (``slurm_job_id``, ...) equals a
  ``gpu_usage`` row's job key (array and het-job members included);
* ``resource_id`` (0.95): a billing line's resource id is the run's training-job ARN or
  job name;
* ``pod_name`` (0.8): a telemetry row's pod/job name starts with the run's job name
  (Kubernetes names pods ``<job>-worker-<n>``) and its window overlaps the run's;
* ``host_time_window`` (0.7): telemetry of a host in a matched Slurm job's node list,
  inside that job's window;
* ``tag`` (0.6): a billing line carries the run's value for one of the configured tag
  keys (``project`` by default), on the run's accelerator, inside the run's window;
* ``time_window`` (0.4): for a run no billing id or tag identifies, a billing line no id
  or tag ties to any run, of the run's cloud, on the run's accelerator, whose usage
  period overlaps the run's window (a run's own evidence rarely names the billing
  account, so the cloud stands for it).

A billing line counts for the runs that claim it at the strongest level any run claims
it (an id beats a tag beats a time window). A line one run claims by id or tag links to
that run (``billing_rollup``); a line several runs claim (concurrent runs of one project
on a tagged pool, concurrent runs of one cloud under a time window) is **allocated** to
them by their logged accelerator-time inside its usage period (accelerators x
overlapping seconds; equal shares when none logged any). Allocated shares, and every
time-window claim, are summed into one link per run and window (``billing_window``:
cloud, accelerator, month and method) carrying the run's accelerator-hours, so every
line's hours are counted once across runs and the links grow with runs, not with
runs x lines.

Matching works on groups (``usage_rollup`` and ``billing_rollup``, the stage results):
every row or line in a group shares each attribute looked at here, so linking a group is
linking each of its members. The links are set-based SQL (``queries/matching/links.sql``)
in DuckDB: equality joins on ids, tags and hours, never a loop over runs x groups.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import duckdb
import pyarrow as pa

from reconcile.schemas import ALLOCATION_KINDS

#: Run tag keys that carry a Slurm job id.
JOB_ID_TAGS = ("slurm_job_id", "slurm.job_id", "SLURM_JOB_ID", "job_id", "slurm_jobid")
#: Billing/run tag keys that identify a project by default (configurable).
DEFAULT_TAG_KEYS = ("project",)
#: Run platform -> billing provider, for time-window matching.
_PROVIDER_OF = {
    "aws-sagemaker": "aws",
    "aws": "aws",
    "gcp": "gcp",
    "azure": "azure",
    "azureml": "azure",
}


#: The links, one statement per ``;`` line (see the file's own documentation).
_LINKS_SQL = (resources.files("reconcile.sql") / "matching" / "links.sql").read_text("utf-8")
#: What one link row carries (``run_matches`` plus the allocation and the order).
LINK_COLUMNS = (
    "run_key, target_table, target_id, match_method, confidence, details, "
    "allocated_hours, allocated_lines"
)


#: Most hosts one node list may name (more than any cluster has): a damaged list names
#: none rather than exhausting memory.
MAX_NODELIST_HOSTS = 200_000


def expand_nodelist(text: str | None) -> frozenset[str]:
    """Slurm's compressed host list: ``gpu[001-003,007],cpu1`` -> the host names.

    Expanded once per distinct list (cached): matching asks for the same allocation's
    hosts for every telemetry window, and ``gpu[00000-65535]`` is 65,536 names.
    """
    if not text:
        return frozenset()
    return _expand_nodelist(text)


@functools.lru_cache(maxsize=4096)
def _expand_nodelist(text: str) -> frozenset[str]:
    hosts: set[str] = set()
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?", text):
        part = part.strip(",")
        match = re.fullmatch(r"(.*)\[(.*)\](.*)", part)
        if not match:
            if part:
                hosts.add(part)
            continue
        prefix, ranges, suffix = match.groups()
        for item in ranges.split(","):
            if "-" in item:
                start, end = item.split("-", 1)
                if not (start.isdigit() and end.isdigit()):
                    continue
                width = len(start)
                if int(end) - int(start) + len(hosts) > MAX_NODELIST_HOSTS:
                    return frozenset()
                for number in range(int(start), int(end) + 1):
                    hosts.add(f"{prefix}{number:0{width}d}{suffix}")
            elif item:
                hosts.add(f"{prefix}{item}{suffix}")
    return frozenset(hosts)


def _window(run: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    start, end = run.get("started_at"), run.get("ended_at")
    seconds = run.get("runtime_seconds")
    if start and not end and seconds:
        end = start + timedelta(seconds=float(seconds))
    if end and not start and seconds:
        start = end - timedelta(seconds=float(seconds))
    return start, end


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(k): str(v) for k, v in value}
    return {}


def match_runs(
    con: duckdb.DuckDBPyConnection,
    runs: Sequence[Mapping[str, Any]],
    usage: pa.Table,
    billing: pa.Table,
    arns: Mapping[str, set[str]],
    tag_keys: Iterable[str] = DEFAULT_TAG_KEYS,
) -> None:
    """Every link between ``runs`` and the usage / billing groups (see module doc), into
    the temporary tables ``m_links`` (one row per link, ``LINK_COLUMNS`` and the order
    columns ``section, ord1, ord2``) and ``m_window_members`` (the billing groups of each
    allocated window).

    Args:
        usage: the landed ``usage_rollup`` (in stage order).
        billing: the landed ``billing_rollup`` (in stage order); groups that do not count
            billed cost or carry no accelerator-hours link to nothing.
        arns: run key -> external ids (training-job ARNs) of its evidence.
    """
    keys = tuple(dict.fromkeys(tag_keys))
    run_rows, job_rows, id_rows, tag_rows = [], [], [], []
    for ord_, run in enumerate(runs):
        run_key = str(run["run_key"])
        start, end = _window(run)
        tags = _tags(run.get("tags"))
        job_name = run.get("job_name")
        prefix = (job_name or "").lower().split("/")[-1]
        run_rows.append(
            {
                "run_key": run_key,
                "run_ord": ord_,
                "started_at": start,
                "ended_at": end,
                "job_prefix": prefix or None,
                "accelerator": run.get("accelerator"),
                "accelerator_count": run.get("accelerator_count"),
                "provider": _PROVIDER_OF.get(str(run.get("platform"))),
            }
        )
        for tag_ord, tag in enumerate(JOB_ID_TAGS):
            if tags.get(tag):
                job_rows.append(
                    {"run_key": run_key, "job_id": tags[tag], "tag": tag, "tag_ord": tag_ord}
                )
        ids = {str(i) for i in arns.get(run_key, set()) if i}
        if job_name:
            ids.add(str(job_name))
        for value in sorted(ids):
            id_rows.append({"run_key": run_key, "id": value, "last_segment": value.split("/")[-1]})
        for key_ord, key in enumerate(keys):
            if tags.get(key):
                tag_rows.append(
                    {"run_key": run_key, "key": key, "key_ord": key_ord, "value": tags[key]}
                )
    tables = {
        "m_runs": pa.Table.from_pylist(run_rows, schema=_RUNS),
        "m_run_jobs": pa.Table.from_pylist(job_rows, schema=_JOBS),
        "m_run_ids": pa.Table.from_pylist(id_rows, schema=_IDS),
        "m_run_tags": pa.Table.from_pylist(tag_rows, schema=_RUN_TAGS),
        "m_tagsets": _tagsets(billing, keys),
        "m_job_hosts": _job_hosts(usage),
        "m_usage": usage.append_column("ord", pa.array(range(usage.num_rows), pa.int64())),
        "m_billing": billing.append_column("ord", pa.array(range(billing.num_rows), pa.int64())),
    }
    for name, table in tables.items():
        # Billing groups that do not count billed cost, or carry no accelerator-hours,
        # link to nothing.
        where = "counts_billed AND accelerator_hours <> 0" if name == "m_billing" else "true"
        con.register(f"_{name}", table)
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _{name} WHERE {where}"
            )
        finally:
            con.unregister(f"_{name}")
    for statement in _LINKS_SQL.split("\n;\n"):
        if statement.strip():
            con.execute(statement)


def drop_links(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables ``match_runs`` made."""
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE 'm\\_%' "
        "ESCAPE '\\'"
    ).fetchall()
    for (name,) in names:
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")


_RUNS = pa.schema(
    [
        ("run_key", pa.string()),
        ("run_ord", pa.int64()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("ended_at", pa.timestamp("us", tz="UTC")),
        ("job_prefix", pa.string()),
        ("accelerator", pa.string()),
        ("accelerator_count", pa.float64()),
        ("provider", pa.string()),
    ]
)
_JOBS = pa.schema(
    [
        ("run_key", pa.string()),
        ("job_id", pa.string()),
        ("tag", pa.string()),
        ("tag_ord", pa.int64()),
    ]
)
_IDS = pa.schema([("run_key", pa.string()), ("id", pa.string()), ("last_segment", pa.string())])
_RUN_TAGS = pa.schema(
    [
        ("run_key", pa.string()),
        ("key", pa.string()),
        ("key_ord", pa.int64()),
        ("value", pa.string()),
    ]
)


def _tagsets(billing: pa.Table, keys: Sequence[str]) -> pa.Table:
    """(tags_key, key, value) for each distinct tag set of the billing groups and each
    configured key it carries (``_tag``: the ``user:`` prefix AWS gives cost-allocation
    tags, ...): tag sets are few where lines are many."""
    rows = []
    for tags_key in set(billing["tags_key"].to_pylist()) - {None}:
        tags = _tags(json.loads(tags_key or "{}"))
        for key in keys:
            value = _tag(tags, key)
            if value:
                rows.append({"tags_key": tags_key, "key": key, "value": value})
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema([("tags_key", pa.string()), ("key", pa.string()), ("value", pa.string())]),
    )


def _job_hosts(usage: pa.Table) -> pa.Table:
    """(usage_id, host) for each scheduler row: its node list (or host) expanded once."""
    rows: list[dict[str, str]] = []
    for usage_id, kind, node_list, host in zip(
        usage["rollup_id"].to_pylist(),
        usage["source_kind"].to_pylist(),
        usage["node_list"].to_pylist(),
        usage["host"].to_pylist(),
        strict=True,
    ):
        if kind in ALLOCATION_KINDS:
            rows.extend(
                {"usage_id": usage_id, "host": h} for h in expand_nodelist(node_list or host)
            )
    return pa.Table.from_pylist(
        rows, schema=pa.schema([("usage_id", pa.string()), ("host", pa.string())])
    )


def _tag(tags: Mapping[str, str], key: str) -> str | None:
    """A tag by key, accepting the ``user:`` prefix AWS gives cost-allocation tags."""
    for candidate in (key, f"user:{key}", f"user_{key}", f"label:{key}"):
        if candidate in tags:
            return tags[candidate]
    lowered = {k.strip().lower(): v for k, v in tags.items()}
    return lowered.get(key.lower())
