#!/usr/bin/env python3
"""Recompute expected.json for the real GPU-usage files under this folder.

Standard library only; does not import the project. Run from anywhere:

    python3 tests/data/real/usage/expected.py          # writes expected.json
    python3 tests/data/real/usage/expected.py --check  # exits 1 if expected.json differs

Conventions (see SOURCES.md for the files themselves):

sacct
  * A row is an allocation when its JobID has no '.' (``123``, ``123_4``, ``123+0``);
    ``123.batch``, ``123.extern``, ``123.0`` are steps and are never counted.
  * GPUs: AllocTRES ``gres/gpu=N`` when present (a typed ``gres/gpu:TYPE=N`` next to it is
    the same GPUs and is not added); else the sum of typed ``gres/gpu:TYPE=N``; else
    AllocGRES ``gpu:N`` / ``gpu:TYPE:N`` (``(IDX:..)`` suffix ignored); else 0.
  * Elapsed seconds: ElapsedRaw, else Elapsed ``[D-]HH:MM:SS``; None when neither column
    exists (or the value is empty/Unknown).
  * GPU-seconds = elapsed x GPUs; 0 when GPUs is 0 even if elapsed is unknown; None when
    GPUs > 0 and elapsed is unknown. total_gpu_hours sums the known GPU-seconds / 3600.
  * GPU types: the TYPE of typed AllocTRES entries and of AllocGRES ``gpu:TYPE:N``.
  * A header line is required except for files listed in HEADERLESS (field order taken
    from the producing tool's source; recorded in SOURCES.md).
nvidia-smi (``--format=csv``)
  * The first line is the header; later lines equal to it (repeated headers) are not samples.
  * Device key: uuid, else index, else pci.bus_id column.
  * first/last timestamp are the raw strings of the first/last sample (None if no column).
dcgm (Prometheus text from dcgm-exporter)
  * Sample lines are non-empty lines not starting with '#'.
  * GPU key: UUID label, else gpu label + Hostname/hostname label; samples with neither
    carry no GPU. ``gpu_instances`` also counts MIG instances (UUID + GPU_I_ID).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# sacct files written with --noheader: the field list from the producing tool.
HEADERLESS = {
    # NordicHPC/sonar src/slurmjobs.rs (same list at the commit recorded in SOURCES.md);
    # sacct -aP -s CANCELLED,COMPLETED,DEADLINE,FAILED,OUT_OF_MEMORY,TIMEOUT --noheader -o ...
    "sacct/sonar-fox-noheader-typed-gpus/sacct_output.txt": [
        "JobID", "JobIDRaw", "User", "Account", "State", "Start", "End", "AveCPU",
        "AveDiskRead", "AveDiskWrite", "AveRSS", "AveVMSize", "ElapsedRaw", "ExitCode",
        "Layout", "MaxRSS", "MaxVMSize", "MinCPU", "ReqCPUS", "ReqMem", "ReqNodes",
        "Reservation", "Submit", "Suspended", "SystemCPU", "TimelimitRaw", "UserCPU",
        "NodeList", "Partition", "AllocTRES", "Priority", "JobName",
    ],
}

_ELAPSED = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_elapsed(text: str) -> int | None:
    text = text.strip()
    m = _ELAPSED.match(text)
    if not m:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def gpus_from_tres(tres: str) -> tuple[int | None, list[str]]:
    generic = None
    typed: dict[str, int] = {}
    for item in filter(None, (p.strip() for p in tres.split(","))):
        key, _, value = item.partition("=")
        if key == "gres/gpu":
            generic = int(value)
        elif key.startswith("gres/gpu:"):
            typed[key[len("gres/gpu:"):]] = typed.get(key[len("gres/gpu:"):], 0) + int(value)
    if generic is not None:
        return generic, sorted(typed)
    if typed:
        return sum(typed.values()), sorted(typed)
    return None, []


def gpus_from_gres(gres: str) -> tuple[int | None, list[str]]:
    total = None
    types = []
    for item in filter(None, (p.strip() for p in gres.split(","))):
        item = re.sub(r"\(.*\)$", "", item)
        parts = item.split(":")
        if parts[0] != "gpu":
            continue
        if len(parts) == 2 and parts[1].isdigit():
            total = (total or 0) + int(parts[1])
        elif len(parts) == 3 and parts[2].isdigit():
            total = (total or 0) + int(parts[2])
            types.append(parts[1])
    return total, sorted(set(types))


def sacct_expected(rel: str, data: bytes) -> dict:
    text = data.decode("utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if rel in HEADERLESS:
        header = HEADERLESS[rel]
        rows = lines
        header_in_file = False
    else:
        header = lines[0].split("|")
        if header and header[-1] == "":  # sacct -p trailing delimiter
            header = header[:-1]
        rows = lines[1:]
        header_in_file = True
    n = len(header)
    allocations = []
    step_rows = 0
    gpu_types: set[str] = set()
    for line in rows:
        fields = line.split("|")
        if len(fields) > n:
            if fields[n:] == [""] * (len(fields) - n):
                fields = fields[:n]
            else:  # JobName last and containing '|': join the excess back
                fields = fields[: n - 1] + ["|".join(fields[n - 1:])]
        row = dict(zip(header, fields))
        job_id = row["JobID"]
        if "." in job_id:
            step_rows += 1
            continue
        gpus, types = (None, [])
        if row.get("AllocTRES"):
            gpus, types = gpus_from_tres(row["AllocTRES"])
        if gpus is None and row.get("AllocGRES"):
            gpus, types = gpus_from_gres(row["AllocGRES"])
        gpus = gpus or 0
        gpu_types.update(types)
        elapsed = None
        if row.get("ElapsedRaw", "").strip().isdigit():
            elapsed = int(row["ElapsedRaw"])
        elif row.get("Elapsed"):
            elapsed = parse_elapsed(row["Elapsed"])
        if gpus == 0:
            gpu_seconds = 0
        else:
            gpu_seconds = None if elapsed is None else elapsed * gpus
        allocations.append(
            {
                "job_id": job_id,
                "state": row.get("State"),
                "gpus": gpus,
                "elapsed_seconds": elapsed,
                "gpu_seconds": gpu_seconds,
            }
        )
    known = [a["gpu_seconds"] for a in allocations if a["gpu_seconds"] is not None]
    return {
        "kind": "sacct",
        "header_in_file": header_in_file,
        "fields": len(header),
        "data_rows": len(rows),
        "step_rows": step_rows,
        "allocations": len(allocations),
        "allocations_with_gpus": sum(1 for a in allocations if a["gpus"] > 0),
        "allocations_elapsed_unknown": sum(1 for a in allocations if a["elapsed_seconds"] is None),
        "total_gpu_seconds": sum(known),
        "total_gpu_hours": round(sum(known) / 3600.0, 6),
        "gpu_types": sorted(gpu_types),
        "jobs": allocations,
    }


def nvidia_smi_expected(rel: str, data: bytes) -> dict:
    text = data.decode("utf-8")
    lines = text.splitlines()
    header_line = lines[0]
    header = [h.strip() for h in next(csv.reader([header_line], skipinitialspace=True))]
    samples = []
    repeated_headers = 0
    for line in lines[1:]:
        if not line.strip():
            continue
        if line.strip() == header_line.strip():
            repeated_headers += 1
            continue
        values = [v.strip() for v in next(csv.reader([line], skipinitialspace=True))]
        samples.append(dict(zip(header, values)))
    key_col = next((c for c in ("uuid", "index", "pci.bus_id") if c in header), None)
    devices = sorted({s[key_col] for s in samples}) if key_col else []
    ts = "timestamp" in header
    return {
        "kind": "nvidia_smi",
        "columns": header,
        "samples": len(samples),
        "repeated_header_lines": repeated_headers,
        "device_key": key_col,
        "devices": devices,
        "distinct_devices": len(devices),
        "first_timestamp": samples[0]["timestamp"] if ts and samples else None,
        "last_timestamp": samples[-1]["timestamp"] if ts and samples else None,
        "gpu_names": sorted({s["name"] for s in samples if "name" in s}),
        "trailing_newline": data.endswith(b"\n"),
    }


def dcgm_expected(rel: str, data: bytes) -> dict:
    text = data.decode("utf-8")
    metrics: set[str] = set()
    gpus: set[str] = set()
    instances: set[str] = set()
    models: set[str] = set()
    util_samples = 0
    samples = 0
    unlabelled = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        samples += 1
        m = re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\S+)?$", line)
        if not m:
            raise ValueError(f"{rel}: unparsable sample line: {line[:80]}")
        name, label_text, _value = m.groups()
        metrics.add(name)
        labels = dict(_LABEL.findall(label_text or ""))
        if not labels:
            unlabelled += 1
        if "modelName" in labels:
            models.add(labels["modelName"])
        host = labels.get("Hostname", labels.get("hostname"))
        if "UUID" in labels:
            gpu = labels["UUID"]
        elif "gpu" in labels and host is not None:
            gpu = f"{host}/gpu{labels['gpu']}"
        else:
            gpu = None
        if gpu is not None:
            gpus.add(gpu)
            instances.add(gpu + (f"/GI{labels['GPU_I_ID']}" if "GPU_I_ID" in labels else ""))
        if name == "DCGM_FI_DEV_GPU_UTIL":
            util_samples += 1
    return {
        "kind": "dcgm",
        "samples": samples,
        "unlabelled_samples": unlabelled,
        "metric_names": sorted(metrics),
        "distinct_metric_names": len(metrics),
        "gpus": sorted(gpus),
        "distinct_gpus": len(gpus),
        "gpu_instances": len(instances),
        "model_names": sorted(models),
        "gpu_util_samples": util_samples,
    }


KINDS = {"sacct": sacct_expected, "nvidia_smi": nvidia_smi_expected, "dcgm": dcgm_expected}


def compute() -> dict:
    files = {}
    for kind, fn in KINDS.items():
        for path in sorted((HERE / kind).rglob("*")):
            if path.is_file():
                rel = path.relative_to(HERE).as_posix()
                data = path.read_bytes()
                entry = fn(rel, data)
                entry["bytes"] = len(data)
                entry["lines"] = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
                files[rel] = entry
    return {"files": files}


def main() -> int:
    out = HERE / "expected.json"
    text = json.dumps(compute(), sort_keys=True, indent=1) + "\n"
    if "--check" in sys.argv:
        ok = out.exists() and out.read_text() == text
        print("expected.json up to date" if ok else "expected.json differs")
        return 0 if ok else 1
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
