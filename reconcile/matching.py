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
* ``time_window`` (0.4): a billing line of the run's cloud, on the run's accelerator,
  whose usage period overlaps the run's window (a run's own evidence rarely names the
  billing account, so the cloud stands for it).

Matching works on groups (``usage_rollup`` and ``billing_rollup``, the stage results):
every row or line in a group shares each attribute looked at here, so linking a group is
linking each of its members.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
#: Slack around a run's window for billing lines (provisioning before, upload after).
WINDOW_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Match:
    """One link between a run and a usage row or billing line."""

    run_key: str
    target_table: str
    target_id: str
    method: str
    confidence: float
    details: Mapping[str, Any]


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


def _overlaps(
    a_start: datetime | None,
    a_end: datetime | None,
    b_start: datetime | None,
    b_end: datetime | None,
    slack: timedelta = timedelta(0),
) -> bool:
    if None in (a_start, a_end, b_start, b_end):
        return False
    assert a_start and a_end and b_start and b_end
    return a_start - slack < b_end and b_start < a_end + slack


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
    runs: Sequence[Mapping[str, Any]],
    usage: Sequence[Mapping[str, Any]],
    billing: Sequence[Mapping[str, Any]],
    arns: Mapping[str, set[str]],
    tag_keys: Iterable[str] = DEFAULT_TAG_KEYS,
) -> list[Match]:
    """All links between ``runs`` and the usage rows / billing lines (see module doc).

    Args:
        arns: run key -> external ids (training-job ARNs) of its evidence.
    """
    matches: list[Match] = []
    slurm_by_job: dict[str, list[Mapping[str, Any]]] = {}
    for row in usage:
        if row.get("source_kind") == "slurm" and row.get("job_key"):
            key = str(row["job_key"])
            slurm_by_job.setdefault(re.split(r"[_+]", key)[0], []).append(row)
    telemetry = [u for u in usage if u.get("source_kind") != "slurm"]
    keys = tuple(tag_keys)
    for run in runs:
        run_key = str(run["run_key"])
        start, end = _window(run)
        tags = _tags(run.get("tags"))
        job_name = (run.get("job_name") or "").lower()
        matched_jobs: list[Mapping[str, Any]] = []
        for tag in JOB_ID_TAGS:
            job_id = tags.get(tag)
            for row in slurm_by_job.get(str(job_id), []) if job_id else []:
                matched_jobs.append(row)
                matches.append(
                    Match(
                        run_key,
                        "usage_rollup",
                        row["usage_id"],
                        "job_id",
                        0.95,
                        {"job_id": job_id, "tag": tag},
                    )
                )
        seen_usage = {m.target_id for m in matches if m.run_key == run_key}
        for row in telemetry:
            if row["usage_id"] in seen_usage:
                continue
            pod = str(row.get("job_name") or row.get("job_key") or "").lower().split("/")[-1]
            if (
                job_name
                and pod.startswith(job_name.split("/")[-1])
                and (
                    start is None
                    or _overlaps(
                        start, end, row.get("started_at"), row.get("ended_at"), WINDOW_SLACK
                    )
                )
            ):
                matches.append(
                    Match(run_key, "usage_rollup", row["usage_id"], "pod_name", 0.8, {"pod": pod})
                )
                continue
            for job in matched_jobs:
                hosts = expand_nodelist(_tags(job.get("tags")).get("node_list") or job.get("host"))
                if row.get("host") in hosts and _overlaps(
                    job.get("started_at"),
                    job.get("ended_at"),
                    row.get("started_at"),
                    row.get("ended_at"),
                ):
                    matches.append(
                        Match(
                            run_key,
                            "usage_rollup",
                            row["usage_id"],
                            "host_time_window",
                            0.7,
                            {"host": row.get("host"), "job_key": job["job_key"]},
                        )
                    )
                    break
        ids = {i for i in arns.get(run_key, set()) if i} | ({run.get("job_name")} - {None})
        for line in billing:
            resource = str(line.get("resource_id") or "")
            if resource and any(resource == i or resource.endswith("/" + str(i)) for i in ids):
                matches.append(
                    Match(
                        run_key,
                        "billing_rollup",
                        line["line_id"],
                        "resource_id",
                        0.95,
                        {"resource_id": resource},
                    )
                )
                continue
            line_tags = _tags(line.get("tags"))
            shared = [k for k in keys if tags.get(k) and _tag(line_tags, k) == tags[k]]
            same_accelerator = not run.get("accelerator") or line.get("accelerator") == run.get(
                "accelerator"
            )
            overlaps = _overlaps(
                start, end, line.get("usage_start_at"), line.get("usage_end_at"), WINDOW_SLACK
            )
            if shared and same_accelerator and overlaps:
                matches.append(
                    Match(
                        run_key,
                        "billing_rollup",
                        line["line_id"],
                        "tag",
                        0.6,
                        {"tags": {k: tags[k] for k in shared}},
                    )
                )
            elif (
                overlaps
                and run.get("accelerator")
                and line.get("accelerator") == run.get("accelerator")
                and _PROVIDER_OF.get(str(run.get("platform"))) == line.get("provider")
            ):
                matches.append(
                    Match(
                        run_key,
                        "billing_rollup",
                        line["line_id"],
                        "time_window",
                        0.4,
                        {"provider": line.get("provider")},
                    )
                )
    return matches


def _tag(tags: Mapping[str, str], key: str) -> str | None:
    """A tag by key, accepting the ``user:`` prefix AWS gives cost-allocation tags."""
    for candidate in (key, f"user:{key}", f"user_{key}", f"label:{key}"):
        if candidate in tags:
            return tags[candidate]
    lowered = {k.strip().lower(): v for k, v in tags.items()}
    return lowered.get(key.lower())
