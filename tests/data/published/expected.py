#!/usr/bin/env python3
"""Independent expected values for the published fine-tuning runs in runs.csv.

Standalone (standard library only; does not import ``reconcile`` or ``connectors``).
Reads ``runs.csv`` and the shapes in ``_bases/`` and writes ``expected.json`` with, per row:

* ``n_mm``               parameters in matrix multiplies: every linear layer of every block plus
                         the output head; the input-embedding lookup is not counted; a tied head
                         is counted once (as the head). Biases and norms are not matmul weights.
* ``n_trainable``        full fine-tuning: ``n_total`` (all parameters, from the catalog's
                         ``_formula_params_total`` when present); LoRA/QLoRA: ``"unknown"``
                         unless the source states rank AND target modules (none of these do).
* ``tokens_used``        the row's ``tokens`` (basis as in the row) or, for ``zephyr-7b-beta-dpo``,
                         an explicit upper bound (see ``UPPER_BOUND_TOKENS``).
* ``flops_architecture`` 6·N_mm·D (full), (4·N_mm + 6·N_adapter)·D (LoRA/QLoRA), plus
                         2·N_mm·D for a frozen reference forward (DPO/IPO/KTO); none for SimPO.
                         No attention term. ``None`` when D or N_adapter is unknown.
* ``attention_flops_noncausal_info``  12·L·s·(H·d_head)·D (QKᵀ and AV, forward+backward, no causal
                         saving) — INFORMATION ONLY, never added; a causal kernel does about half.
* ``gpu_seconds``        accelerator_count × runtime_seconds when both are given, else
                         accelerator_hours × 3600 (the alternative is kept when a source gives both).
* ``hardware_max_bf16``  gpu_seconds × dense BF16/FP16 tensor peak of the accelerator (table
                         ``PEAKS`` below, copied from reconcile/data/accelerators.csv; the row used
                         is named per run and re-checked against the catalog file when present).
* ``implied_utilisation`` flops_architecture ÷ hardware_max_bf16, with a sanity verdict.

Run:  python3 tests/data/published/expected.py
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASES = os.path.join(HERE, "_bases")
CATALOG = os.path.normpath(os.path.join(HERE, "..", "..", "..", "reconcile", "data", "accelerators.csv"))

# accelerator as spelled in runs.csv -> (catalog row "vendor,model,variant", dense BF16/FP16 TFLOP/s, why)
A100_NOTE = "all A100 rows of the catalog carry 312 dense BF16 (40/80 GB, SXM/PCIe)"
PEAKS: dict[str, tuple[str, float, str]] = {
    "80GB A100s": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "A100 40GB": ("NVIDIA,A100,SXM4-40GB", 312.0, A100_NOTE),
    "A100 80GB": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "A100-40GBs": ("NVIDIA,A100,SXM4-40GB", 312.0, A100_NOTE),
    "A100-80GBs": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "A100 40GB GPUs": ("NVIDIA,A100,SXM4-40GB", 312.0, A100_NOTE),
    "A100 80GB GPUs": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "A100-80GB": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "A100-80G": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "8x A100-80G": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "32x A100-80GB": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "8xA100 80GB": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "8x a100 80GB": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "4 x A100 (80GB)": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "8xH100": ("NVIDIA,H100,SXM5-80GB", 989.5, "form factor not stated: SXM assumed (PCIe would be 756)"),
    "8x L40S": ("NVIDIA,L40S,PCIe-48GB", 362.0, "single catalog row"),
    "10x L40S": ("NVIDIA,L40S,PCIe-48GB", 362.0, "single catalog row"),
    "8x A6000": ("NVIDIA,RTX A6000,PCIe-48GB", 154.8, "'A6000' read as RTX A6000 (Ampere); the Ada 'RTX 6000 Ada' would be different"),
    "A100 (80GB)": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "a100 80GB": ("NVIDIA,A100,SXM4-80GB", 312.0, A100_NOTE),
    "A100": ("NVIDIA,A100,SXM4-40GB", 312.0, A100_NOTE + "; memory not stated"),
    "A100s": ("NVIDIA,A100,SXM4-40GB", 312.0, A100_NOTE + "; source: '160 A100s with a total of 40GB memory'"),
    "Tesla A100": ("NVIDIA,A100,SXM4-40GB", 312.0, A100_NOTE + "; memory not stated"),
    "A800 GPUs": ("NVIDIA,A800,SXM4-80GB", 312.0, "A800 rows (SXM4/PCIe) both 312; form factor not stated"),
    "H100s": ("NVIDIA,H100,SXM5-80GB", 989.5, "form factor not stated: SXM assumed (PCIe would be 756)"),
    "H100": ("NVIDIA,H100,SXM5-80GB", 989.5, "form factor not stated: SXM assumed (PCIe would be 756)"),
    "NVIDIA L40S": ("NVIDIA,L40S,PCIe-48GB", 362.0, "single catalog row"),
    "L40S": ("NVIDIA,L40S,PCIe-48GB", 362.0, "single catalog row"),
    "A6000": ("NVIDIA,RTX A6000,PCIe-48GB", 154.8, "'A6000' read as RTX A6000 (Ampere); the Ada 'RTX 6000 Ada' would be different"),
    "NVIDIA A10G": ("NVIDIA,A10G,AWS custom 24GB", 125.0, "catalog copies the A10 datasheet as an UPPER BOUND for A10G"),
    "NVIDIA A40s": ("NVIDIA,A40,PCIe-48GB", 149.7, "A40 datasheet 149.7 dense (299.4 sparse)"),
    "NVidia GH200": ("NVIDIA,GH200,Grace Hopper 96GB HBM3", 989.5, "GH200 rows (96/144 GB) both 989.5; memory variant not stated"),
    "AMD Instinct™ MI300X Accelerators": ("AMD,Instinct MI300X,OAM 192GB", 1307.4, "single catalog row"),
}

# Methods with a frozen backbone and a trainable adapter.
ADAPTER_METHODS = {"lora", "qlora", "dora"}
# Objectives that run a frozen reference model forward (2·N·D); SimPO/ORPO/CPO do not.
REFERENCE_FORWARD = {"dpo", "ipo", "kto"}

# Rows whose token count the source does not give but which the brief asks us to bound.
UPPER_BOUND_TOKENS = {
    "zephyr-7b-beta-dpo": (
        5806 * 32 * 2 * 1024,
        "UPPER BOUND: ~5806 steps (step 1800 at epoch 0.93, 3 epochs) x 32 pairs x 2 sequences x "
        "max_length 1024 (handbook recipe cap; the card states no max_length)",
    ),
}


def load_config(model_id: str, base_model: str) -> tuple[dict, str]:
    aliases = json.load(open(os.path.join(BASES, "_aliases.json")))
    for name, why in ((model_id, "model_id (trained architecture)"), (base_model, "base_model")):
        if not name:
            continue
        path = os.path.join(BASES, name.replace("/", "__") + ".json")
        if os.path.exists(path):
            return json.load(open(path)), f"{os.path.basename(path)} via {why}"
    if base_model in aliases:
        f, why = aliases[base_model]
        return json.load(open(os.path.join(BASES, f + ".json"))), f"{f}.json via alias ({why})"
    raise SystemExit(f"no config for base_model={base_model!r}")


def g(cfg: dict, *keys, default=None):
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    return default


def shapes(cfg: dict) -> dict:
    """Matmul weights per architecture, from config shapes. Returns n_mm and attention dims."""
    mt = cfg["model_type"]
    V = cfg["vocab_size"]
    if mt in ("llama", "mistral", "qwen2", "gemma2"):
        h = cfg["hidden_size"]; L = cfg["num_hidden_layers"]; H = cfg["num_attention_heads"]
        KV = g(cfg, "num_key_value_heads", default=H); hd = g(cfg, "head_dim", default=h // H)
        i = cfg["intermediate_size"]
        per = h * H * hd + 2 * h * KV * hd + H * hd * h + 3 * h * i
        return {"n_mm": L * per + V * h, "L": L, "d_attn": H * hd}
    if mt == "mpt":
        d = cfg["d_model"]; L = cfg["n_layers"]; e = cfg.get("expansion_ratio", 4)
        per = 3 * d * d + d * d + 2 * d * (e * d)
        return {"n_mm": L * per + V * d, "L": L, "d_attn": d}
    if mt == "bloom":
        h = cfg["hidden_size"]; L = cfg["n_layer"]
        per = 3 * h * h + h * h + 2 * h * 4 * h
        return {"n_mm": L * per + V * h, "L": L, "d_attn": h}
    if mt == "gptj":
        h = cfg["n_embd"]; L = cfg["n_layer"]; i = cfg.get("n_inner") or 4 * h
        per = 4 * h * h + 2 * h * i
        return {"n_mm": L * per + V * h, "L": L, "d_attn": h}
    if mt == "gpt_neox":
        h = cfg["hidden_size"]; L = cfg["num_hidden_layers"]; i = cfg["intermediate_size"]
        per = 3 * h * h + h * h + 2 * h * i
        return {"n_mm": L * per + V * h, "L": L, "d_attn": h}
    if mt == "falcon":
        h = cfg["hidden_size"]; L = cfg["num_hidden_layers"]; H = cfg["num_attention_heads"]; hd = h // H
        if cfg.get("new_decoder_architecture"):
            KV = cfg["num_kv_heads"]
        elif cfg.get("multi_query"):
            KV = 1
        else:
            KV = H
        per = h * (H * hd + 2 * KV * hd) + h * h + 2 * h * 4 * h
        return {"n_mm": L * per + V * h, "L": L, "d_attn": h}
    if mt == "gpt_bigcode":
        h = cfg["n_embd"]; L = cfg["n_layer"]; H = cfg["n_head"]; hd = h // H
        i = cfg.get("n_inner") or 4 * h
        KV = 1 if cfg.get("multi_query") else H
        per = h * (h + 2 * KV * hd) + h * h + 2 * h * i
        return {"n_mm": L * per + V * h, "L": L, "d_attn": h}
    raise SystemExit(f"unsupported model_type {mt}")


def num(s: str):
    if s is None or s == "":
        return None
    v = float(s)
    return int(v) if v.is_integer() else v


def catalog_check(row_key: str, peak: float) -> str:
    if not os.path.exists(CATALOG):
        return "catalog file not found; embedded value used"
    with open(CATALOG, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if f"{r['vendor']},{r['model']},{r['variant']}" == row_key:
                v = r.get("peak_bf16_tflops_dense") or r.get("peak_fp16_tflops_dense")
                if v and abs(float(v) - peak) < 1e-6:
                    return "matches catalog"
                return f"CATALOG NOW SAYS {v} (embedded {peak})"
    return "row not in catalog"


def verdict(u: float | None) -> str | None:
    if u is None:
        return None
    if u > 1:
        return "IMPOSSIBLE (>1): tokens or hours wrong, or more hardware than stated"
    if u < 0.05:
        return "LOW (<0.05): likely multiple epochs / padding / idle time, or tokens understated"
    if u > 0.6:
        return "HIGH (>0.6): check hours and token count"
    return "plausible (0.05-0.6)"


def main() -> int:
    rows = list(csv.DictReader(open(os.path.join(HERE, "runs.csv"), newline="", encoding="utf-8")))
    out = {"_doc": __doc__.strip().split("\n")[0], "_formulas": {
        "full": "6*N_mm*D", "lora/qlora": "(4*N_mm + 6*N_adapter)*D",
        "dpo_reference_forward": "+2*N_mm*D", "simpo": "no reference forward",
        "gpu_seconds": "count*runtime_seconds, else gpu_hours*3600",
        "hardware_max_bf16": "gpu_seconds*dense_bf16_peak", "attention": "not included"},
        "runs": {}}
    for r in rows:
        job = r["job_name"]
        cfg, cfg_from = load_config(r["model_id"], r["base_model"])
        sh = shapes(cfg)
        n_mm = sh["n_mm"]
        n_total = cfg.get("_formula_params_total")
        method, objective = r["method"], r["objective"]
        n_trainable = "unknown" if method in ADAPTER_METHODS else (n_total if n_total is not None else "unknown")
        tokens = num(r["tokens"])
        tokens_note = r["tokens_basis"] or None
        if tokens is None and job in UPPER_BOUND_TOKENS:
            tokens, tokens_note = UPPER_BOUND_TOKENS[job]
        flops = None
        if tokens is not None:
            if method in ADAPTER_METHODS:
                flops = None  # N_adapter unknown for every adapter row here
            else:
                flops = 6 * n_mm * tokens
                if objective in REFERENCE_FORWARD:
                    flops += 2 * n_mm * tokens
        seq = num(r["seq_len"])
        attn = 12 * sh["L"] * seq * sh["d_attn"] * tokens if (seq and tokens) else None
        count = num(r["accelerator_count"]); rt = num(r["runtime_seconds"]); gh = num(r["accelerator_hours"])
        gpu_s = gpu_s_alt = None; gpu_basis = None
        if count and rt:
            gpu_s, gpu_basis = count * rt, "accelerator_count x runtime_seconds"
            if gh:
                gpu_s_alt = gh * 3600
        elif gh:
            gpu_s, gpu_basis = gh * 3600, "stated GPU-hours x 3600"
        acc = r["accelerator"]
        peak = PEAKS.get(acc)
        hw = None
        if gpu_s is not None and peak:
            hw = gpu_s * peak[1] * 1e12
        util = flops / hw if (flops is not None and hw) else None
        out["runs"][job] = {
            "model_id": r["model_id"], "base_model": r["base_model"], "config": cfg_from,
            "model_type": cfg["model_type"], "method": method, "objective": objective,
            "n_mm": n_mm, "n_total_catalog_formula": n_total, "n_trainable": n_trainable,
            "tokens_used": tokens, "tokens_note": tokens_note,
            "flops_architecture": flops,
            "flops_basis": ("upper bound" if job in UPPER_BOUND_TOKENS and flops is not None else
                            ("unknown: N_adapter not stated" if (tokens is not None and flops is None) else
                             ("unknown: tokens not stated" if tokens is None else "architecture"))),
            "attention_flops_noncausal_info": attn,
            "gpu_seconds": gpu_s, "gpu_seconds_basis": gpu_basis, "gpu_seconds_alt_from_stated_gpu_hours": gpu_s_alt,
            "accelerator": acc or None,
            "accelerator_catalog_row": peak[0] if peak else None,
            "peak_bf16_tflops_dense": peak[1] if peak else None,
            "peak_note": (peak[2] + "; " + catalog_check(peak[0], peak[1])) if peak else None,
            "hardware_max_bf16": hw,
            "implied_utilisation": util,
            "utilisation_verdict": verdict(util),
        }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    # short table on stdout
    def e(x):
        return "-" if x is None else (f"{x:.3g}" if isinstance(x, (int, float)) else str(x))
    for job, v in out["runs"].items():
        print(f"{job:36s} N_mm={e(v['n_mm']):>9s} D={e(v['tokens_used']):>9s} F={e(v['flops_architecture']):>9s} "
              f"HW={e(v['hardware_max_bf16']):>9s} u={e(v['implied_utilisation']):>7s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
