#!/usr/bin/env python3
"""Hand count of training compute for the real training-output folders in this directory.

Standalone on purpose: Python standard library only (no `reconcile`, no `connectors`,
no transformers).  It reads each slug's files and the base configs in `_bases/` and
writes `expected.json` next to this file (sorted keys, indent 1).

Conventions (see SOURCES.md for the per-folder story):

* n_mm        parameters in matrix multiplies: every Linear weight of the decoder
              (all experts for MoE) plus the output head (vocab x hidden, or the
              reward/classification head for sequence-classification models).  The
              input-embedding lookup is not counted; a tied head counts once (as the
              head).  Biases, norms, sinks and other non-matmul tensors are excluded.
* n_mm_active MoE: attention + router + the top-k routed experts + head; dense: = n_mm.
* n_trainable full FT: every parameter of the model (embeddings included, tied counted
              once); LoRA: sum over matched modules of r*(in+out) (+ modules_to_save);
              prefix tuning: the prefix embedding table.
* flops       central figure, no attention (sequence-length-squared) term:
              full: 6*N*D; LoRA/QLoRA/prefix: (4*N + 6*A)*D  [= 2(N+A) fwd + 2(N+A) act-grad
              + 2A weight-grad];  DPO: policy cost + reference forward 2*N per token;
              ORPO: policy only;  GRPO: policy on the processed tokens + 2*N per generated
              token + 2*N per token reference forward when beta>0 (a `kl` metric is logged).
* D (tokens)  the tokens the model processed, padding included: compute runs on padded
              positions.  Where HF total_flos gives the token count as an exact integer
              and it exceeds a logged non-padding count (TRL's num_tokens), the padded
              count is D; the logged count stays in `checks`.
* enough_evidence  judged from the folder alone: a base model or adapter named only in a
              notebook or script elsewhere in the repository does not count.
* HF total_flos = sum over micro-batches and ranks of 6 * input_ids.numel() * N_hf where
  N_hf = model.num_parameters(exclude_embeddings=True) of the model as wrapped: nn.Embedding
  weights excluded (a tied head is the embedding's Parameter, so it is excluded too),
  LoRA A/B matrices included, bitsandbytes 4-bit Params4bit counted at packed numel
  (half) up to transformers 4.31 and x2 (= full) from the 4.3x releases that added the
  fix (4.34.1 has it, 4.31.0 does not), ChatGLM's own int4 QuantizedLinear counted at
  packed numel (half) + its weight_scale vectors, FSDP/ZeRO-3 sharded parameters
  counted as the local shard.
"""

import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------- io
def jload(slug, rel):
    with open(os.path.join(HERE, slug, rel), encoding="utf-8") as f:
        return json.load(f)


def jsonl(slug, rel):
    out = []
    with open(os.path.join(HERE, slug, rel), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def text(slug, rel):
    with open(os.path.join(HERE, slug, rel), encoding="utf-8") as f:
        return f.read()


def base_cfg(name):
    with open(os.path.join(HERE, "_bases", name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def simple_yaml(slug, rel):
    """Flat `key: value` YAML (LLaMA-Factory training_args.yaml style); stdlib only."""
    out = {}
    for line in text(slug, rel).splitlines():
        line = line.split("#", 1)[0].rstrip()
        m = re.match(r"^([A-Za-z0-9_.]+):\s*(.*)$", line)
        if m and m.group(2) != "":
            v = m.group(2).strip().strip('"').strip("'")
            out[m.group(1)] = v
    return out


# ------------------------------------------------------------- architectures
def arch(cfg, seq_cls_labels=None, vocab_override=None):
    """Return a description of the model built from a config.json-like dict.

    layer_mods: list of (peft_name, in, out, has_bias, copies_per_layer, is_expert)
    """
    mt = cfg.get("model_type")
    V = vocab_override or cfg.get("vocab_size") or cfg.get("padded_vocab_size")
    d = {"layer_mods": [], "layer_other": 0, "final_other": 0, "embed": 0,
         "tied": bool(cfg.get("tie_word_embeddings", False)), "experts": None}
    if mt in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "mixtral", "gpt_oss"):
        h = cfg["hidden_size"]
        L = cfg["num_hidden_layers"]
        nh = cfg["num_attention_heads"]
        nkv = cfg.get("num_key_value_heads") or nh
        hd = cfg.get("head_dim") or h // nh
        I = cfg["intermediate_size"]
        qkv_bias = mt == "qwen2" or bool(cfg.get("attention_bias"))
        o_bias = bool(cfg.get("attention_bias")) and mt != "qwen2"
        mods = [("q_proj", h, nh * hd, qkv_bias, 1, False),
                ("k_proj", h, nkv * hd, qkv_bias, 1, False),
                ("v_proj", h, nkv * hd, qkv_bias, 1, False),
                ("o_proj", nh * hd, h, o_bias, 1, False)]
        other = 2 * h
        if mt in ("gemma2", "gemma3_text"):
            other = 4 * h
        if mt in ("qwen3", "gemma3_text"):
            other += 2 * hd  # q_norm, k_norm
        if mt == "mixtral":
            E = cfg["num_local_experts"]
            k = cfg["num_experts_per_tok"]
            mods += [("gate", h, E, False, 1, False),          # router
                     ("w1", h, I, False, E, True), ("w3", h, I, False, E, True),
                     ("w2", I, h, False, E, True)]
            d["experts"] = (E, k)
        elif mt == "gpt_oss":
            E = cfg["num_local_experts"]
            k = cfg["num_experts_per_tok"]
            # experts are fused nn.Parameters (not nn.Linear): PEFT names never match them
            mods += [("router", h, E, True, 1, False),
                     ("experts.gate_up_proj", h, 2 * I, True, E, True),
                     ("experts.down_proj", I, h, True, E, True)]
            other += nh  # attention sinks
            d["experts"] = (E, k)
        else:
            mods += [("gate_proj", h, I, bool(cfg.get("mlp_bias")), 1, False),
                     ("up_proj", h, I, bool(cfg.get("mlp_bias")), 1, False),
                     ("down_proj", I, h, bool(cfg.get("mlp_bias")), 1, False)]
        d.update(layer_mods=mods, layer_other=other, final_other=h, embed=V * h, L=L, h=h, V=V)
        if mt in ("gemma", "gemma2", "gemma3_text"):
            d["tied"] = True
    elif mt == "gpt2":
        h = cfg["n_embd"]
        L = cfg["n_layer"]
        ni = cfg.get("n_inner") or 4 * h
        mods = [("c_attn", h, 3 * h, True, 1, False), ("attn.c_proj", h, h, True, 1, False),
                ("c_fc", h, ni, True, 1, False), ("mlp.c_proj", ni, h, True, 1, False)]
        d.update(layer_mods=mods, layer_other=4 * h, final_other=2 * h,
                 embed=V * h + cfg["n_positions"] * h, L=L, h=h, V=V, tied=True)
    elif mt == "gpt_bigcode":
        h = cfg["n_embd"]
        L = cfg["n_layer"]
        ni = cfg.get("n_inner") or 4 * h
        hd = h // cfg["n_head"]
        kv = 2 * hd if cfg.get("multi_query", True) else 2 * h
        mods = [("c_attn", h, h + kv, True, 1, False), ("attn.c_proj", h, h, True, 1, False),
                ("c_fc", h, ni, True, 1, False), ("mlp.c_proj", ni, h, True, 1, False)]
        d.update(layer_mods=mods, layer_other=4 * h, final_other=2 * h,
                 embed=V * h + cfg["n_positions"] * h, L=L, h=h, V=V,
                 tied=cfg.get("tie_word_embeddings", True))
    elif mt == "falcon":
        assert cfg.get("alibi") and not cfg.get("parallel_attn") and not cfg.get("multi_query")
        h = cfg["hidden_size"]
        L = cfg["num_hidden_layers"]
        b = bool(cfg.get("bias"))
        mods = [("query_key_value", h, 3 * h, b, 1, False), ("dense", h, h, b, 1, False),
                ("dense_h_to_4h", h, 4 * h, b, 1, False), ("dense_4h_to_h", 4 * h, h, b, 1, False)]
        d.update(layer_mods=mods, layer_other=4 * h, final_other=2 * h, embed=V * h, L=L, h=h, V=V,
                 tied=cfg.get("tie_word_embeddings", True))
    elif mt == "chatglm" and "inner_hidden_size" in cfg:  # ChatGLM-6B (v1, GLM)
        h = cfg["hidden_size"]
        L = cfg["num_layers"]
        inner = cfg["inner_hidden_size"]
        mods = [("query_key_value", h, 3 * h, True, 1, False), ("dense", h, h, True, 1, False),
                ("dense_h_to_4h", h, inner, True, 1, False), ("dense_4h_to_h", inner, h, True, 1, False)]
        d.update(layer_mods=mods, layer_other=4 * h, final_other=2 * h, embed=V * h, L=L, h=h, V=V,
                 tied=cfg.get("tie_word_embeddings", True))  # PretrainedConfig default True
    elif mt == "chatglm":  # ChatGLM2/3-6B, GLM-4-9B remote-code format
        h = cfg["hidden_size"]
        L = cfg["num_layers"]
        nh = cfg["num_attention_heads"]
        kvc = cfg["kv_channels"]
        g = cfg["multi_query_group_num"] if cfg.get("multi_query_attention") else nh
        ffn = cfg["ffn_hidden_size"]
        lb = bool(cfg.get("add_bias_linear"))
        mods = [("query_key_value", h, nh * kvc + 2 * g * kvc, bool(cfg.get("add_qkv_bias")) or lb, 1, False),
                ("dense", nh * kvc, h, lb, 1, False),
                ("dense_h_to_4h", h, 2 * ffn, lb, 1, False),
                ("dense_4h_to_h", ffn, h, lb, 1, False)]
        d.update(layer_mods=mods, layer_other=2 * h, final_other=h if cfg.get("post_layer_norm", True) else 0,
                 embed=V * h, L=L, h=h, V=V, tied=bool(cfg.get("tie_word_embeddings", False)))
    else:
        raise ValueError("unknown model_type %r" % mt)
    d["seq_cls"] = seq_cls_labels
    return d


def counts(a):
    L, h, V = a["L"], a["h"], a["V"]
    w_all = w_dense = b_all = quant_out = 0
    w_expert = 0
    for (_, i, o, bias, copies, is_exp) in a["layer_mods"]:
        w = i * o * copies
        w_all += w
        if is_exp:
            w_expert += w
        else:
            w_dense += w
        if bias:
            b_all += o * copies
        quant_out += o * copies
    head_mm = h * a["seq_cls"] if a["seq_cls"] else V * h
    head_params = head_mm if (a["seq_cls"] or not a["tied"]) else 0
    total = a["embed"] + L * (w_all + b_all + a["layer_other"]) + a["final_other"] + head_params
    n_mm = L * w_all + head_mm
    if a["experts"]:
        E, k = a["experts"]
        n_mm_active = L * (w_dense + w_expert * k // E) + head_mm
    else:
        n_mm_active = n_mm
    return {
        "total": total,
        "embedding": a["embed"],
        "n_mm": n_mm,
        "n_mm_active": n_mm_active,
        # HF num_parameters(exclude_embeddings=True), plain unquantized, unwrapped model
        "hf_nonembed": total - a["embed"],
        "decoder_linear_weights": L * w_all,
        "decoder_linear_outputs": L * quant_out,
    }


def lora_params(a, r, targets):
    """Sum of r*(in+out) over modules PEFT would match (name == t or endswith '.'+t)."""
    L = a["L"]
    A = 0
    matched = set()
    for (name, i, o, _, copies, is_exp) in a["layer_mods"]:
        full = "layers.0." + name
        for t in targets:
            if full.endswith("." + t):
                if is_exp:
                    # fused expert Parameters (gpt-oss) are not nn.Linear -> not LoRA-able
                    continue
                A += r * (i + o) * copies * L
                matched.add(name)
                break
    return A, sorted(matched)


def hf_n(c, A=0, quant=None, world=None, extra=0):
    """N_hf that the HF Trainer's floating_point_ops multiplies by (see module doc)."""
    if quant is None or quant == "bnb4_full" or quant == "int8":
        n = c["hf_nonembed"]
    elif quant == "bnb4_half":
        n = c["hf_nonembed"] - c["decoder_linear_weights"] // 2
    elif quant == "chatglm_int4":
        n = c["hf_nonembed"] - c["decoder_linear_weights"] // 2 + c["decoder_linear_outputs"]
    else:
        raise ValueError(quant)
    n += A + extra
    if world:
        n = (c["total"] + A) / world  # FSDP flat params: embeddings not recognisable, sharded
    return n


# ------------------------------------------------------------------ helpers
def last_with(log, key):
    for e in reversed(log):
        if key in e and e[key] is not None:
            return e
    return None


def sft_flops(method, n_active, A, D):
    if method == "full":
        return 6 * n_active * D
    return (4 * n_active + 6 * A) * D


def r3(x):
    return None if x is None else float("%.6g" % x)


# -------------------------------------------------------------------- specs
RESULTS = {}


def put(slug, **kw):
    kw.setdefault("enough_evidence", True)
    kw.setdefault("missing", None)
    for k in ("tokens", "flops"):
        if kw.get(k) is not None:
            kw[k] = int(round(kw[k]))
    for k in ("n_mm", "n_mm_active", "n_trainable"):
        if kw.get(k) is not None:
            kw[k] = int(kw[k])
    RESULTS[slug] = kw


def model(base, **kw):
    a = arch(base_cfg(base), **kw)
    return a, counts(a)


def lora_from(slug, rel, a):
    ac = jload(slug, rel)
    tm = ac["target_modules"]
    if isinstance(tm, str):
        tm = re.findall(r"[a-z_0-9]+_proj|query_key_value|dense_h_to_4h|dense_4h_to_h", tm)
    A, matched = lora_params(a, ac["r"], tm)
    return A, matched, ac


def derived_total_flos(total_flos, n_hf):
    return total_flos / (6.0 * n_hf)


def padded_tokens(total_flos, n_hf, logged):
    """The padded token count when total_flos gives it exactly and it exceeds ``logged``."""
    if not total_flos:
        return None
    d = derived_total_flos(total_flos, n_hf)
    if abs(d - round(d)) <= max(1e-6, d * 1e-12) and round(d) > logged:
        return round(d)
    return None


# 1 ---------------------------------------------------------------------------
def s_nsllm():
    s = "lf-qwen3-8b-base-full-pt-nsllm"
    a, c = model("Qwen__Qwen3-8B-Base")
    st = jload(s, "trainer_state.json")
    tf = st["total_flos"]
    nhf = hf_n(c)
    D = derived_total_flos(tf, nhf)
    samples = 3.902 * 857595.0988  # all_results train_samples_per_second * runtime
    put(s, tool="LLaMA-Factory", objective="continued pre-training (stage pt)", method="full",
        base_model="Qwen/Qwen3-8B-Base", base_config="Qwen__Qwen3-8B-Base",
        base_model_raw="Qwen3ForCausalLM config.json (no _name_or_path); README: 'Qwen3-8B-Base'",
        transformers_version="4.51.3 (config.json)",
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=c["total"],
        flops=6 * c["n_mm"] * D,
        formula="D = total_flos / (6 * N_hf), N_hf = non-embedding params of Qwen3-8B-Base (untied lm_head included); flops = 6 * n_mm * D",
        checks={"N_hf": nhf, "total_flos": tf, "samples_from_throughput": round(samples),
                "tokens_per_sample": r3(D / samples),
                "note": "~4096 tokens per packed sample (LLaMA-Factory pt packs to cutoff_len)"})


def s_translator():
    s = "lf-mistral-7b-instruct-v02-lora-sft-translator"
    a, c = model("mistralai__Mistral-7B-v0.1")
    A, matched, ac = lora_from(s, "adapter_config.json", a)
    st = jload(s, "trainer_state.json")
    nhf = hf_n(c, A)
    D = derived_total_flos(st["total_flos"], nhf)
    seqs = st["global_step"] * 16
    ck = {}
    for ckp in ("checkpoint-500", "checkpoint-8500"):
        cs = jload(s, ckp + "/trainer_state.json")
        ck[ckp] = {"global_step": cs["global_step"], "max_steps": cs["max_steps"],
                   "tokens": round(derived_total_flos(cs["total_flos"], nhf))}
    put(s, tool="LLaMA-Factory", objective="sft", method="lora",
        base_model="mistralai/Mistral-7B-Instruct-v0.2", base_config="mistralai__Mistral-7B-v0.1",
        base_model_raw="mistralai/Mistral-7B-Instruct-v0.2 (adapter_config base_model_name_or_path; README base_model)",
        transformers_version="4.41.2 (README)",
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="D = total_flos/(6*(N_nonembed + A)); flops = (4*n_mm + 6*A)*D",
        checks={"N_hf": nhf, "lora_modules": matched, "sequences": seqs, "tokens_per_sequence": r3(D / seqs),
                "checkpoints": ck, "trainer_log_total_tokens": jsonl(s, "trainer_log.jsonl")[-1].get("total_tokens"),
                "note": "trainer_log.jsonl has total_tokens=0 (include_num_input_tokens_seen off); 4 GPUs x 1 x GA4 = 16 seq/step"})


def s_medical():
    s = "lf-qwen25-7b-instruct-qlora-sft-medical"
    a, c = model("Qwen__Qwen2.5-7B")
    A, matched, ac = lora_from(s, "adapter_config.json", a)
    ar = jload(s, "all_results.json")
    nhf = hf_n(c, A, quant="bnb4_full")
    D = derived_total_flos(ar["total_flos"], nhf)
    steps = jsonl(s, "trainer_log.jsonl")[-1]["current_steps"]
    seqs = steps * 8
    put(s, tool="LLaMA-Factory", objective="sft", method="qlora (bnb 4-bit nf4)",
        base_model="Qwen/Qwen2.5-7B-Instruct", base_config="Qwen__Qwen2.5-7B",
        base_model_raw="./Qwen2.5-7B-Instruct (adapter_config base_model_name_or_path and medical_full.yaml model_name_or_path); README base_model Qwen/Qwen2.5-7B-Instruct",
        transformers_version="not stated (PEFT fields imply >=4.5x era)",
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="D = total_flos/(6*(N_nonembed + A)) with 4-bit weights counted at full size (recent transformers); flops = (4*n_mm + 6*A)*D",
        checks={"N_hf": nhf, "sequences": seqs, "tokens_per_sequence": r3(D / seqs),
                "note": "no trainer_state.json; total_flos only in all_results.json; steps from trainer_log.jsonl; 1 GPU x 1 x GA8 assumed from yaml"})


def s_chatglm2():
    s = "chatglm2-6b-int4-ptuning-v2-prefix"
    a, c = model("THUDM__chatglm2-6b")
    cfg = jload(s, "checkpoint-3000/config.json")
    A = cfg["pre_seq_len"] * cfg["num_layers"] * 2 * cfg["kv_channels"] * cfg["multi_query_group_num"]
    st = jload(s, "trainer_state.json")
    nhf = hf_n(c, 0, quant="chatglm_int4")
    D = derived_total_flos(st["total_flos"], nhf)
    seqs = st["global_step"] * 16
    put(s, tool="ChatGLM2-6B ptuning/main.py (HF Seq2SeqTrainer)", objective="sft", method="prefix tuning (P-Tuning v2, pre_seq_len 128, int4-quantized frozen backbone)",
        base_model="THUDM/chatglm2-6b", base_config="THUDM__chatglm2-6b",
        base_model_raw="E:/PycharmProjects/dl_models/chatglm2-6b-int4 (checkpoint config.json _name_or_path); README: THUDM/chatglm2-6b-int4",
        transformers_version="4.31.0 (config.json)",
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("prefix", c["n_mm_active"], A, D),
        formula="N_hf = non-embedding params with ChatGLM int4 QuantizedLinear weights at packed numel (in/2 per row) + weight_scale (one per output row) + untied output_layer; prefix Embedding excluded. D = total_flos/(6*N_hf); flops = (4*n_mm + 6*A)*D (prefix attention term excluded)",
        checks={"N_hf": nhf, "sequences": seqs, "tokens_per_sequence": r3(D / seqs),
                "note": "193 = max_source_length 64 + max_target_length 128 + 1: ChatGLM2 ptuning pads every example to that length; 16 seq/step (bs1 x GA16)"})


def s_chatglm1():
    s = "chatglm-6b-slim-int4-ptuning-v2"
    a, c = model("silver__chatglm-6b-slim")
    cfg = jload(s, "config.json")
    A = cfg["pre_seq_len"] * cfg["num_layers"] * cfg["hidden_size"] * 2
    st = jload(s, "trainer_state.json")
    nhf = hf_n(c, 0, quant="chatglm_int4")
    D = derived_total_flos(st["total_flos"], nhf)
    put(s, tool="ChatGLM-6B ptuning/main.py (HF Seq2SeqTrainer)", objective="sft", method="prefix tuning (P-Tuning v2, pre_seq_len 128, int4-quantized frozen backbone)",
        base_model="THUDM/chatglm-6b", base_config="silver__chatglm-6b-slim",
        base_model_raw="/content/drive/MyDrive/ChatGLM/chatglm-6b-slim (config.json _name_or_path; Google-Drive path, 'slim' = 130528-token vocab)",
        transformers_version="4.27.1 (config.json)",
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("prefix", c["n_mm_active"], A, D),
        formula="As for ChatGLM2 but v1: lm_head tied to word_embeddings (excluded from N_hf), int4 weights at packed numel + weight_scale. D = total_flos/(6*N_hf); flops = (4*n_mm + 6*A)*D",
        checks={"N_hf": nhf, "tokens_per_128_token_example": r3(D / 128),
                "note": "D/128 = 47,612 examples = 365 examples/epoch x 130.43 epochs (23 steps of bs16 per epoch, last batch partial): consistent with padding to 64+64 tokens"})


def s_luojiu():
    s = "lf-llama2-7b-extvocab-qlora-pt-luojiu"
    a, c = model("meta-llama__Llama-2-7b-hf")
    A, matched, ac = lora_from(s, "adapter_config.json", a)
    st = jload(s, "trainer_state.json")
    nhf = hf_n(c, A, quant="bnb4_full")
    D = derived_total_flos(st["total_flos"], nhf)
    seqs = st["global_step"] * 32
    a2, c2 = model("meta-llama__Llama-2-7b-hf", vocab_override=61388)
    D61388 = derived_total_flos(st["total_flos"], hf_n(c2, A, quant="bnb4_full"))
    put(s, tool="LLaMA-Factory (2023, src/train_bash.py era)", objective="continued pre-training (stage pt)", method="qlora (4-bit) + shift short attention",
        base_model="meta-llama/Llama-2-7b-hf", base_config="meta-llama__Llama-2-7b-hf",
        base_model_raw="suzushi/luojiu-7b_Tokenize_stage (adapter_config base_model_name_or_path); README base_model 'Meta/Llama2'",
        transformers_version="4.34.1 (README)",
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="D = total_flos/(6*(N_nonembed + A)), 4-bit weights counted full (transformers 4.34.1 has the x2 fix); flops = (4*n_mm + 6*A)*D",
        checks={"N_hf": nhf, "sequences": seqs, "tokens_per_sequence": r3(D / seqs),
                "alt_if_4bit_counted_half": round(derived_total_flos(st["total_flos"], hf_n(c, A, quant="bnb4_half"))),
                "alt_if_lm_head_has_61388_rows": round(D61388),
                "alt_tokens_per_sequence_61388": r3(D61388 / seqs),
                "note": "all_results.json has no total_flos; only trainer_state.json does. bs8 x GA4 = 32 seq/step (README). The README claims a 61388-token vocabulary, but with a 61388-row lm_head N_hf gives 1005.7 tokens per packed block; with Llama-2's 32000-row head it gives 1023.96, i.e. LLaMA-Factory's 1024-token pt blocks - so the head counted by total_flos had 32000 rows. Central value uses the Llama-2-7b config."})


def s_lf_log_only():
    s = "lf-qwen25-3b-instruct-full-sft-log-only"
    a, c = model("Qwen__Qwen2.5-3B")
    log = jsonl(s, "trainer_log.jsonl")
    steps = max(e["current_steps"] for e in log)
    cut = int(simple_yaml(s, "sft_config.yaml")["cutoff_len"])
    ub = steps * 16 * cut
    put(s, tool="LLaMA-Factory", objective="sft", method="full",
        base_model="Qwen/Qwen2.5-3B-Instruct", base_config="Qwen__Qwen2.5-3B",
        base_model_raw="Qwen/Qwen2.5-3B-Instruct (sft_config.yaml model_name_or_path)",
        transformers_version="not stated",
        enough_evidence=False,
        missing="no token count (no num_input_tokens_seen/total_tokens), no total_flos, no trainer_state.json; SFT without packing so steps x batch x cutoff_len is only an upper bound",
        tokens=None, tokens_basis=None,
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=c["total"],
        flops=None, formula="full: 6*n_mm*D (D unknown)",
        checks={"last_step": steps, "upper_bound_tokens": ub, "upper_bound_flops": 6 * c["n_mm"] * ub,
                "note": "every log line appears twice (2 GPUs / duplicated callback); last line stops at 6565 of total_steps 6566; 2 GPUs x bs1 x GA8 = 16 seq/step"})


def s_travelucky():
    s = "lf-qwen3-4b-base-lora-sft-train-results-only"
    a, c = model("Qwen__Qwen3-4B-Base")
    y = simple_yaml(s, "training_args.yaml")
    A, matched = lora_params(a, int(y["lora_rank"]), ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    tr = jload(s, "train_results.json")
    D = tr["num_input_tokens_seen"]
    nhf = hf_n(c, A)
    put(s, tool="LLaMA-Factory", objective="sft", method="lora",
        base_model="Qwen/Qwen3-4B-Base", base_config="Qwen__Qwen3-4B-Base",
        base_model_raw="Qwen/Qwen3-4B-Base (training_args.yaml model_name_or_path)",
        transformers_version="not stated",
        tokens=D, tokens_basis="logged",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="D = train_results.num_input_tokens_seen; flops = (4*n_mm + 6*A)*D; A from lora_rank 8, lora_target all",
        checks={"N_hf": nhf, "tokens_from_total_flos": round(derived_total_flos(tr["total_flos"], nhf)),
                "note": "only train_results.json + training_args.yaml (no trainer_state.json, no adapter_config.json)"})


def eval_only(s, base_model, base_config, raw, tver):
    a, c = model(base_config)
    put(s, tool="LLaMA-Factory", objective="none (do_predict evaluation only)", method="none (evaluates an existing LoRA adapter)",
        base_model=base_model, base_config=base_config, base_model_raw=raw, transformers_version=tver,
        tokens=0, tokens_basis="no training in this folder",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=0,
        flops=0, formula="predict_* metrics only (no train_* keys, no total_flos): training compute of this folder is 0; the inference cost of generation is not training compute",
        checks={"note": "negative case: all_results.json exists but holds only predict_* keys"})


def s_gigi():
    s = "lf-fork-dpo-grpo-loss-interrupted-log-only"
    a, c = model("Qwen__Qwen2.5-32B")
    log = jsonl(s, "trainer_log.jsonl")
    put(s, tool="LLaMA-Factory fork (360-LLaMA-Factory with a custom 'grpo' pref_loss)", objective="dpo-style preference (pref_loss grpo/sigmoid variant)", method="lora",
        base_model="deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", base_config="Qwen__Qwen2.5-32B",
        base_model_raw="/lustre/huangyk/model_down/DeepSeek-R1-Distill-Qwen-32B (examples/train_lora/*.yaml model_name_or_path; which yaml produced the log is not recorded)",
        transformers_version="not stated",
        enough_evidence=False,
        missing="interrupted at step %d of %d; trainer_log has no token counts and no total_flos; the lr in the log (%.3g at step 1) matches neither yaml (both 5e-6 peak), so the config is unknown" % (log[-1]["current_steps"], log[-1]["total_steps"], log[0]["lr"]),
        tokens=None, tokens_basis=None,
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=None,
        flops=None, formula="would be (4N+6A)*D + 2N*D (reference forward) for a DPO-type loss; D unknown",
        checks={"last_step": log[-1]["current_steps"], "total_steps": log[-1]["total_steps"]})


def s_glm4_orpo():
    s = "lf-glm4-9b-chat-lora-orpo"
    a, c = model("THUDM__glm-4-9b-chat")
    A, matched, ac = lora_from(s, "outputs/adapter_config.json", a)
    st = jload(s, "outputs/trainer_state.json")
    nhf = hf_n(c, A)
    D = derived_total_flos(st["total_flos"], nhf)
    pairs = st["global_step"] * 8
    put(s, tool="LLaMA-Factory", objective="orpo (stage dpo, pref_loss orpo)", method="lora",
        base_model="THUDM/glm-4-9b-chat", base_config="THUDM__glm-4-9b-chat",
        base_model_raw="THUDM/glm-4-9b-chat (adapter_config base_model_name_or_path; rlhf_train.yaml; README base_model)",
        transformers_version="4.44.1 (outputs/README.md)",
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="LLaMA-Factory's pairwise collator stacks chosen and rejected into input_ids, so total_flos covers both: D = total_flos/(6*(N_nonembed + A)); ORPO has no reference model: flops = (4*n_mm + 6*A)*D",
        checks={"N_hf": nhf, "lora_modules": matched, "pairs": pairs, "tokens_per_pair": r3(D / pairs),
                "note": "'dense' matches only self_attention.dense (dense_h_to_4h/dense_4h_to_h are separate targets); cutoff_len 1024 so tokens_per_pair <= 2048"})


def s_lf_local(s, base_model, base_config, raw, tver, devices):
    a, c = model(base_config)
    A, matched, ac = lora_from(s, "adapter_config.json", a)
    st = jload(s, "trainer_state.json")
    nhf = hf_n(c, A)
    D = derived_total_flos(st["total_flos"], nhf)
    seqs = st["global_step"] * st["train_batch_size"] * devices
    put(s, tool="LLaMA-Factory", objective="sft", method="lora",
        base_model=base_model, base_config=base_config, base_model_raw=raw, transformers_version=tver,
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="D = total_flos/(6*(N_nonembed + A)) (summed over %d data-parallel ranks); flops = (4*n_mm + 6*A)*D" % devices,
        checks={"N_hf": nhf, "lora_modules": matched, "sequences_upper": seqs, "tokens_per_sequence": r3(D / seqs),
                "trainer_log_steps": jsonl(s, "trainer_log.jsonl")[-1]["current_steps"]})


def s_mitaman():
    s = "lf-unsloth-booster-qwen25-3b-instruct-lora-sft"
    a, c = model("Qwen__Qwen2.5-3B")
    A, matched, ac = lora_from(s, "adapter_config.json", a)
    tr = jload(s, "train_results.json")
    D = tr["num_input_tokens_seen"]
    nhf = hf_n(c, A)
    m = re.search(r"trainable params: ([\d,]+)", text(s, "running_log.txt"))
    put(s, tool="LLaMA-Factory (booster: unsloth)", objective="sft", method="lora",
        base_model="Qwen/Qwen2.5-3B-Instruct", base_config="Qwen__Qwen2.5-3B",
        base_model_raw="Qwen/Qwen2.5-3B-Instruct (training_args.yaml model_name_or_path; llamaboard top.model_name Qwen2.5-3B-Instruct)",
        transformers_version="not stated",
        tokens=D, tokens_basis="logged",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="D = num_input_tokens_seen (train_results.json; trainer_log total_tokens agrees); flops = (4*n_mm + 6*A)*D",
        checks={"N_hf": nhf, "tokens_from_total_flos": round(derived_total_flos(tr["total_flos"], nhf)),
                "trainable_params_running_log": int(m.group(1).replace(",", "")) if m else None,
                "trainer_log_total_tokens": jsonl(s, "trainer_log.jsonl")[-1].get("total_tokens"),
                "note": "running_log.txt says 'Num Epochs = 40' but training stopped at epoch 20.0 / 40 steps (unsloth banner vs HF epochs)"})


def ludwig(s, base_model, base_config, raw):
    a, c = model(base_config)
    A, matched, ac = lora_from(s, "model_weights/adapter_config.json", a)
    tp = jload(s, "training_progress.json")
    hp = jload(s, "model_hyperparameters.json")
    D = tp["total_tokens_used"]
    put(s, tool="Ludwig (Predibase LLM fine-tune, ludwig %s)" % hp.get("ludwig_version"), objective="sft", method="qlora (Ludwig quantization bits 4)",
        base_model=base_model, base_config=base_config, base_model_raw=raw, transformers_version="not stated",
        tokens=D, tokens_basis="logged",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="D = training_progress.json total_tokens_used (Ludwig's cumulative token usage); flops = (4*n_mm_active + 6*A)*D",
        checks={"steps": tp["steps"], "epoch": tp["epoch"], "batch_size": tp["batch_size"],
                "gradient_accumulation_steps": hp["trainer"]["gradient_accumulation_steps"],
                "lora_modules": matched,
                "note": "model_hyperparameters.json trimmed (vocabulary maps removed), see SOURCES.md"})


def s_starcoder():
    s = "qlora-starcoderbase-15b-old-schema"
    a, c = model("bigcode__starcoderbase")
    A, matched, ac = lora_from(s, "output/checkpoint-100/adapter_model/adapter_config.json", a)
    st = jload(s, "output/trainer_state.json")
    nhf = hf_n(c, A, quant="bnb4_half")
    D = derived_total_flos(st["total_flos"], nhf)
    full = derived_total_flos(st["total_flos"], hf_n(c, A, quant="bnb4_full"))
    put(s, tool="artidoro/qlora qlora.py (HF Trainer)", objective="sft", method="qlora (4-bit nf4, r=64 on all linear layers)",
        base_model="bigcode/starcoderbase", base_config="bigcode__starcoderbase",
        base_model_raw="bigcode/starcoderbase (adapter_config base_model_name_or_path; commit message --model_name_or_path)",
        transformers_version="not stated; June 2023 (qlora pinned transformers from git, ~4.30.0.dev)",
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm_active"], A, D),
        formula="D = total_flos/(6*N_hf) with N_hf counting 4-bit Params4bit at packed numel (half), as transformers <=4.31 did; flops = (4*n_mm + 6*A)*D",
        checks={"N_hf": nhf, "lora_modules": matched, "alt_tokens_if_4bit_counted_full": round(full),
                "sequences": st["global_step"] * 16, "tokens_per_sequence": r3(D / (st["global_step"] * 16)),
                "note": "uncertain by a factor 2: the 4-bit x2 fix landed after 4.31.0; qlora used a git build of that period. 'c_proj' matches both attn.c_proj and mlp.c_proj"})


def s_samyak():
    s = "unsloth-qwen3-4b-base-sft-then-grpo-two-runs"
    a, c = model("Qwen__Qwen3-4B-Base")
    A, matched, ac = lora_from(s, "checkpoint-60/adapter_config.json", a)
    nhf = hf_n(c, A)
    # run 1: SFT (max_steps 60)
    st1 = jload(s, "checkpoint-60/trainer_state.json")
    D1 = derived_total_flos(st1["total_flos"], nhf)
    f1 = sft_flops("lora", c["n_mm"], A, D1)
    # run 2: GRPO (max_steps 1134)
    st2 = jload(s, "checkpoint-1134/trainer_state.json")
    D2 = st2["num_input_tokens_seen"]
    logs = [e for e in st2["log_history"] if "completions/mean_length" in e]
    per_step = st2["train_batch_size"]  # completions per optimizer step (GA 1, 1 GPU, num_iterations 1)
    G = 0.0
    prev = 0
    for e in logs:
        G += e["completions/mean_length"] * (e["step"] - prev) * per_step
        prev = e["step"]
    G += logs[-1]["completions/mean_length"] * (st2["global_step"] - prev) * per_step
    has_kl = any("kl" in e for e in logs)
    f2 = (4 * c["n_mm"] + 6 * A) * D2 + 2 * c["n_mm"] * G + (2 * c["n_mm"] * D2 if has_kl else 0)
    put(s, tool="unsloth (TRL SFTTrainer, then TRL GRPOTrainer with vLLM)", objective="sft + grpo (two runs in one outputs/ folder)", method="lora (16-bit base, r=32)",
        base_model="Qwen/Qwen3-4B-Base", base_config="Qwen__Qwen3-4B-Base",
        base_model_raw="unsloth/Qwen3-4B-Base (adapter_config base_model_name_or_path in both checkpoints)",
        transformers_version="not stated",
        tokens=D1 + D2, tokens_basis="derived_total_flos (run 1) + logged (run 2)",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=f1 + f2,
        formula="sum of two runs. SFT: D1 = total_flos/(6*(N_nonembed + A)), (4N+6A)*D1. GRPO: D2 = num_input_tokens_seen (prompt+completion tokens); (4N+6A)*D2 + 2N*G (generation, G = sum over log windows of completions/mean_length x steps x 8 completions/step) + 2N*D2 (reference forward: kl is logged so beta>0)",
        runs=[{"path": "checkpoint-60", "objective": "sft", "max_steps": st1["max_steps"], "tokens": round(D1), "tokens_basis": "derived_total_flos", "flops": round(f1)},
              {"path": "checkpoint-1134", "objective": "grpo", "max_steps": st2["max_steps"], "tokens": D2, "tokens_basis": "logged",
               "generated_tokens_estimate": round(G), "flops": round(f2), "kl_logged": has_kl}],
        checks={"N_hf": nhf, "last_logged_num_tokens": logs[-1].get("num_tokens"),
                "grpo_total_flos": st2["total_flos"],
                "note": "GRPO was run on the merged SFT model per the notebooks, but the adapter still names unsloth/Qwen3-4B-Base"})


def s_grpo_smol():
    s = "trl-grpo-smollm2-135m-lora-beta0-interrupted-trimmed"
    a, c = model("HuggingFaceTB__SmolLM2-135M")
    A, matched, ac = lora_from(s, "grpo_training_output/adapter_config.json", a)
    st = jload(s, "grpo_training_output/trainer_state.json")
    D = st["num_input_tokens_seen"]
    logs = [e for e in st["log_history"] if "completions/mean_length" in e]
    mean_len = sum(e["completions/mean_length"] for e in logs) / len(logs)
    mu = 2  # num_iterations (config.py)
    completions = st["global_step"] // mu * st["train_batch_size"]
    G = mean_len * completions
    f = (4 * c["n_mm"] + 6 * A) * mu * D + 2 * c["n_mm"] * D + 2 * c["n_mm"] * G
    put(s, tool="TRL GRPOTrainer", objective="grpo (beta=0, num_iterations=2, reward model)", method="lora",
        base_model="HuggingFaceTB/SmolLM2-135M", base_config="HuggingFaceTB__SmolLM2-135M",
        base_model_raw="HuggingFaceTB/smollm2-135M-SFT-Only (adapter_config base_model_name_or_path; config.py LLM_MODEL_ID)",
        transformers_version="not stated",
        tokens=D, tokens_basis="logged",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=f,
        formula="D = num_input_tokens_seen (= last num_tokens: prompt+completion of generated batches). Each generated batch is trained on num_iterations=2 times: (4N+6A)*2*D; old-policy log-prob forward (num_iterations>1): 2N*D; generation 2N*G with G = mean(completions/mean_length over kept log entries) x 40,000 completions (10000 steps / 2 x 8); beta=0 and no kl logged: no reference forward. Reward-model forward not counted.",
        checks={"stopped_at_step": st["global_step"], "max_steps": st["max_steps"], "generated_tokens_estimate": round(G),
                "note": "interrupted (should_training_stop false, 10000/15000 steps); trainer_state.json trimmed to every 100th log entry; the untrimmed log gives G = 2,017,852"})


def s_raycheng():
    s = "trl-grpo-gpt-oss-20b-state-only"
    a, c = model("openai__gpt-oss-20b")
    A, matched = lora_params(a, 16, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    st = jload(s, "trainer_state.json")
    D = st["num_input_tokens_seen"]
    has_kl = any("kl" in e for e in st["log_history"])
    f = (4 * c["n_mm_active"] + 6 * A) * D + (2 * c["n_mm_active"] * D if has_kl else 0)
    put(s, enough_evidence=False,
        missing="the folder is a trainer_state.json alone: it names no base model and no adapter (the base and the LoRA rank were read from a notebook elsewhere in the repository)",
        tool="TRL GRPOTrainer (unsloth notebook in the same repo)", objective="grpo", method="lora (assumed: r=16 per the repo notebook; no adapter_config in the folder)",
        base_model="openai/gpt-oss-20b", base_config="openai__gpt-oss-20b",
        base_model_raw="none in the folder; repo notebook gpt_oss_20b_tau_bench_rl_training.ipynb loads unsloth/gpt-oss-20b (4-bit)",
        transformers_version="not stated",
        tokens=D, tokens_basis="logged",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=f,
        formula="D = num_input_tokens_seen; MoE active params: (4*n_mm_active + 6*A)*D + 2*n_mm_active*D (reference forward, kl logged). Generation term NOT included: mean completion length is logged (249.7) but the number of completions per step is unknown.",
        checks={"total_flos": st["total_flos"], "lora_modules_matched": matched,
                "note": "low confidence on base/method: the notebook's GRPOConfig (2 epochs, max_completion_length 512) does not match this state (3 epochs, 12 steps, completions clipped at 256). gpt-oss experts are fused Parameters, so gate/up/down_proj LoRA targets match nothing"})


def s_sft_numtokens():
    s = "trl-llama32-1b-instruct-lora-sft-num-tokens"
    a, c = model("meta-llama__Llama-3.2-1B")
    A, matched, ac = lora_from(s, "adapter_config.json", a)
    st = jload(s, "checkpoint-935/trainer_state.json")
    e = last_with(st["log_history"], "num_tokens")
    nhf = hf_n(c, A)
    logged = e["num_tokens"]
    D = padded_tokens(st["total_flos"], nhf, logged) or logged
    put(s, tool="TRL SFTTrainer", objective="sft", method="lora",
        base_model="meta-llama/Llama-3.2-1B-Instruct", base_config="meta-llama__Llama-3.2-1B",
        base_model_raw="meta-llama/Llama-3.2-1B-Instruct (adapter_config; config.yaml model.name)",
        transformers_version="not stated in this folder (the sibling DPO README says 5.0.0)",
        tokens=D, tokens_basis="derived_total_flos" if D != logged else "logged",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm"], A, D),
        formula="D = total_flos/(6*N_hf), padding included (the last num_tokens, step %d of %d, counts non-padding tokens only; the state's num_input_tokens_seen is 0); flops = (4*n_mm + 6*A)*D" % (e["step"], st["global_step"]),
        checks={"N_hf": nhf, "tokens_from_total_flos": round(derived_total_flos(st["total_flos"], nhf)),
                "logged_num_tokens": logged,
                "note": "TRL num_tokens counts non-padding tokens; total_flos counts padded input_ids"})


def dpo_no_tokens(s, base_model, base_config, raw, tver, method, adapter_rel=None, tool="TRL DPOTrainer", extra_missing="", full=False):
    a, c = model(base_config)
    A = None
    if adapter_rel:
        A, matched, ac = lora_from(s, adapter_rel, a)
    put(s, tool=tool, objective="dpo", method=method,
        base_model=base_model, base_config=base_config, base_model_raw=raw, transformers_version=tver,
        enough_evidence=False,
        missing="DPO with total_flos 0 (TRL DPO batches have no input_ids key) and no num_tokens / sequence lengths logged" + extra_missing,
        tokens=None, tokens_basis=None,
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=(c["total"] if full else A),
        flops=None,
        formula=("full DPO: 8*n_mm*D (6N policy + 2N reference), D = chosen+rejected tokens (unknown)" if full else
                 "LoRA DPO: (4N+6A)*D + 2N*D (reference = adapter-disabled forward), D = chosen+rejected tokens (unknown)"))


def s_rm_smol():
    s = "trl-reward-model-smollm2-135m-full"
    a, c = model("HuggingFaceTB__SmolLM2-135M", seq_cls_labels=1)
    st = jload(s, "reward_model_orca_output/trainer_state.json")
    logged = last_with(st["log_history"], "num_tokens")["num_tokens"]
    nhf = hf_n(c)
    D = padded_tokens(st["total_flos"], nhf, logged) or logged
    put(s, tool="TRL RewardTrainer", objective="reward modelling", method="full",
        base_model="HuggingFaceTB/SmolLM2-135M", base_config="HuggingFaceTB__SmolLM2-135M",
        base_model_raw="HuggingFaceTB/smollm2-135M-SFT-Only (config.py MODEL_ID; README base_model)",
        transformers_version="4.57.3 (config.json)",
        tokens=D, tokens_basis="derived_total_flos" if D != logged else "logged",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=c["total"],
        flops=6 * c["n_mm"] * D,
        formula="LlamaForSequenceClassification: n_mm = decoder linears + score head (576x1; the tied LM head is not used). D = chosen+rejected tokens with padding (total_flos/(6*N_hf); the last num_tokens counts non-padding tokens only); flops = 6*n_mm*D",
        checks={"N_hf": nhf, "tokens_from_total_flos": round(derived_total_flos(st["total_flos"], nhf)),
                "logged_num_tokens": logged,
                "note": "total_flos implies ~2.8x more (padded) tokens than num_tokens: RewardTrainer pads chosen/rejected to the longest in the batch"})


def s_rm_gemma():
    s = "trl-reward-model-gemma3-1b-it-lora"
    a, c = model("google__gemma-3-1b-pt", seq_cls_labels=1)
    A, matched, ac = lora_from(s, "checkpoint-224/adapter_config.json", a)
    A_score = a["h"] * 1  # modules_to_save: score head fully trainable
    st = jload(s, "checkpoint-224/trainer_state.json")
    e = last_with(st["log_history"], "num_tokens")
    nhf = hf_n(c, A, extra=A_score)
    logged = e["num_tokens"]
    D = padded_tokens(st["total_flos"], nhf, logged) or logged
    put(s, tool="TRL RewardTrainer", objective="reward modelling", method="lora (SEQ_CLS, score head in modules_to_save)",
        base_model="google/gemma-3-1b-it", base_config="google__gemma-3-1b-pt",
        base_model_raw="google/gemma-3-1b-it (adapter_config base_model_name_or_path; README base_model)",
        transformers_version="4.57.3 (README)",
        tokens=D, tokens_basis="derived_total_flos" if D != logged else "logged",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A + A_score,
        flops=sft_flops("lora", c["n_mm"], A + A_score, D),
        formula="Gemma3ForSequenceClassification: n_mm = decoder linears + score (1152x1). D = padded tokens when total_flos gives them exactly, else num_tokens of the last log entry (step %d of %d); flops = (4*n_mm + 6*A)*D, A = LoRA + score head" % (e["step"], st["global_step"]),
        checks={"N_hf": nhf, "tokens_from_total_flos": round(derived_total_flos(st["total_flos"], nhf)),
                "logged_num_tokens": logged})


def unsloth_flos(s, state_rel, adapter_rel, base_model, base_config, raw, tver, note, method="qlora (bnb 4-bit)", tool="unsloth (TRL SFTTrainer)"):
    a, c = model(base_config)
    A, matched, ac = lora_from(s, adapter_rel, a)
    st = jload(s, state_rel)
    nhf = hf_n(c, A, quant="bnb4_full")
    D = derived_total_flos(st["total_flos"], nhf)
    seqs = st["global_step"] * st["train_batch_size"]
    put(s, tool=tool, objective="sft", method=method,
        base_model=base_model, base_config=base_config, base_model_raw=raw, transformers_version=tver,
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=sft_flops("lora", c["n_mm"], A, D),
        formula="D = total_flos/(6*(N_nonembed + A)), 4-bit weights counted full; flops = (4*n_mm + 6*A)*D",
        checks={"N_hf": nhf, "lora_modules": matched, "global_step": st["global_step"], "max_steps": st["max_steps"],
                "tokens_per_micro_batch_step": r3(D / st["global_step"]), "note": note})
    return a, c, A, nhf


def hf_flos(s, state_rel, base_model, base_config, raw, tver, method, tool, objective="sft", adapter_rel=None, quant=None, seqs=None, note=None, vocab_override=None, world=None, extra_checks=None):
    a, c = model(base_config, vocab_override=vocab_override)
    A = 0
    matched = []
    if adapter_rel:
        A, matched, ac = lora_from(s, adapter_rel, a)
    st = jload(s, state_rel)
    nhf = hf_n(c, A, quant=quant, world=world)
    D = derived_total_flos(st["total_flos"], nhf)
    m = "full" if not adapter_rel else "lora"
    chk = {"N_hf": nhf, "total_flos": st["total_flos"], "global_step": st["global_step"], "max_steps": st.get("max_steps")}
    if matched:
        chk["lora_modules"] = matched
    if seqs:
        chk["sequences"] = seqs
        chk["tokens_per_sequence"] = r3(D / seqs)
    if note:
        chk["note"] = note
    if extra_checks:
        chk.update(extra_checks)
    put(s, tool=tool, objective=objective, method=method,
        base_model=base_model, base_config=base_config, base_model_raw=raw, transformers_version=tver,
        tokens=D, tokens_basis="derived_total_flos",
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=(c["total"] if m == "full" else A),
        flops=sft_flops(m, c["n_mm_active"], A, D),
        formula=("D = total_flos/(6*N_hf); full: flops = 6*n_mm*D" if m == "full" else "D = total_flos/(6*(N_nonembed + A)); flops = (4*n_mm + 6*A)*D"),
        checks=chk)
    return a, c, A, nhf, D


def run_all():
    s_nsllm()
    s_translator()
    s_medical()
    s_chatglm2()
    s_chatglm1()
    s_luojiu()
    s_lf_log_only()
    s_travelucky()
    eval_only("eval-only-lf-gemma2-9b-lora-predict", "google/gemma-2-9b", "google__gemma-2-9b",
              "LLM-Research/gemma-2-9b (training_args.yaml model_name_or_path: a ModelScope id); llamaboard top.model_name Gemma-2-9B", "not stated")
    eval_only("eval-only-lf-qwen25-3b-instruct-lora-predict", "Qwen/Qwen2.5-3B-Instruct", "Qwen__Qwen2.5-3B",
              "Qwen/Qwen2.5-3B-Instruct (training_args.yaml model_name_or_path)", "not stated")
    s_gigi()
    s_glm4_orpo()
    s_lf_local("lf-mistral-7b-instruct-v02-localpath-lora-sft", "mistralai/Mistral-7B-Instruct-v0.2", "mistralai__Mistral-7B-v0.1",
               "/public/Mistral-7B-Instruct-v0.2 (adapter_config base_model_name_or_path; README base_model)", "4.49.0 (README)", 2)
    s_lf_local("lf-qwen25-05b-instruct-localpath-lora-sft-8gpu", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen__Qwen2.5-0.5B",
               "/data/home/wangys/model/Qwen2.5-0.5B-Instruct (adapter_config; README base_model)", "4.46.1 (README)", 8)
    s_lf_local("lf-qwen25-7b-localpath-lora-sft-3gpu", "Qwen/Qwen2.5-7B", "Qwen__Qwen2.5-7B",
               "/data/home/wangys/model/qwen-2.5-7B (adapter_config; README base_model) - a local dir name that does not say base or Instruct", "4.51.0 (README)", 3)
    s_mitaman()
    ludwig("ludwig-mistral-7b-instruct-v01-qlora-krishi", "mistralai/Mistral-7B-Instruct-v0.1", "mistralai__Mistral-7B-v0.1",
           "mistralai/Mistral-7B-Instruct-v0.1 (model_hyperparameters base_model; adapter_config base_model_name_or_path)")
    ludwig("ludwig-mixtral-8x7b-instruct-qlora-telework-summary", "mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai__Mixtral-8x7B-v0.1",
           "mistralai/Mixtral-8x7B-Instruct-v0.1 (model_hyperparameters base_model; adapter_config base_model_name_or_path)")
    s_starcoder()
    s_samyak()
    s_grpo_smol()
    s_raycheng()
    s_sft_numtokens()
    dpo_no_tokens("trl-llama32-1b-instruct-lora-dpo-no-tokens", "meta-llama/Llama-3.2-1B-Instruct", "meta-llama__Llama-3.2-1B",
                  "meta-llama/Llama-3.2-1B-Instruct (adapter_config; README base_model; config.yaml model.name)", "5.0.0 (README; TRL 0.27.1)",
                  "lora", adapter_rel="checkpoint-935/adapter_config.json")
    dpo_no_tokens("trl-gemma-2b-it-lora-dpo-no-tokens", "google/gemma-2b-it", "google__gemma-2b",
                  "google/gemma-2b-it (adapter_config; README base_model)", "4.55.4 (README; TRL 0.21.0)",
                  "lora", adapter_rel="checkpoint-482/adapter_config.json")
    dpo_no_tokens("trl-dpo-smollm2-135m-lora-csv-metrics", "HuggingFaceTB/SmolLM2-135M", "HuggingFaceTB__SmolLM2-135M",
                  "HuggingFaceTB/smollm2-135M-SFT-Only (adapter_config; config.py LLM_MODEL_ID)", "not stated",
                  "lora", adapter_rel="dpo_training_output/adapter_config.json",
                  extra_missing="; logs are a custom training_metrics.csv export (train/total_flos 0.0), no trainer_state.json")
    dpo_no_tokens("alignment-handbook-tinyllama-full-dpo-8gpu-no-tokens", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T",
                  "TinyLlama__TinyLlama-1.1B-intermediate-step-1431k-3T",
                  "/mnt/sfs-common/pyzhang/Peiyuan/alignment-handbook/data/zephyr-7b-sft-full (config.json _name_or_path: a misleading local dir name - the shapes are TinyLlama-1.1B, README model name TinyLlama-1.1B-Chat-v1.0)",
                  "4.35.0 (config.json)", "full", tool="alignment-handbook (TRL DPOTrainer), 8 GPUs", full=True,
                  extra_missing="; train_samples 61966 x 3 epochs on 8 GPUs x bs8 is known, but DPO pads per batch so steps x batch x max_length is only an upper bound")
    s_rm_smol()
    s_rm_gemma()

    # --- HF Trainer / axolotl / unsloth folders whose tokens come from total_flos -----------
    hf_flos("axolotl-mixtral-8x7b-instruct-qlora-sft", "checkpoint-603/trainer_state.json", "mistralai/Mixtral-8x7B-Instruct-v0.1",
            "mistralai__Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1 (adapter_config; README axolotl config base_model)",
            "not stated (axolotl 0.10.0.dev0)", "qlora (4-bit nf4, r=8)", "axolotl", adapter_rel="adapter_config.json",
            quant="bnb4_full", seqs=603, note="total_flos uses ALL experts (46.7B) as N: D = 603 steps x 1 x 512 (pad_to_sequence_len) = 308,736 exactly; LoRA gate_proj/up_proj/down_proj match nothing in MixtralForCausalLM (experts are w1/w2/w3, router is 'gate'), only q/k/v/o get adapters")
    hf_flos("axolotl-tinyllama-lora-packed-8gpu-ckpt", "outputs/lora-out/checkpoint-20/trainer_state.json", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T",
            "TinyLlama__TinyLlama-1.1B-intermediate-step-1431k-3T",
            "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T (adapter_config; config.json _name_or_path; checkpoint README base_model) - the committed examples/tiny-llama/lora.yml says TinyLlama/TinyLlama_v1.1 (edited later)",
            "4.44.0.dev0 (config.json)", "lora (r=32, all linear)", "axolotl", adapter_rel="outputs/lora-out/checkpoint-20/adapter_config.json",
            seqs=20 * 8 * 2 * 4, note="checkpoint at step 20 of max_steps 80 (end of epoch 1 of 4); sample_packing + pad_to_sequence_len: 20 steps x 8 GPUs (rng_state_0..7) x micro_batch 2 x GA 4 x 4096 = 5,242,880 tokens")
    hf_flos("hf-rinna-japanese-gpt2-medium-full-clm", "trainer_state.json", "rinna/japanese-gpt2-medium", "rinna__japanese-gpt2-medium",
            "rinna/japanese-gpt2-medium (config.json _name_or_path)", "4.23.1 (config.json)", "full", "HF Trainer (run_clm.py style: train_samples, perplexity)",
            seqs=31 * 100, note="run_clm groups text into 1024-token blocks: 31 blocks x 100 epochs x 1024 = 3,174,400")
    hf_flos("hf-rinna-japanese-gpt2-small-full-clm-50ep", "output/trainer_state.json", "rinna/japanese-gpt2-small", "rinna__japanese-gpt2-small",
            "rinna/japanese-gpt2-small (output/config.json _name_or_path; output/README.md)", "4.23.1 (config.json)", "full", "HF Trainer (run_clm.py style)",
            seqs=1559 * 50, note="1559 blocks x 50 epochs, batch 1 (steps/s = samples/s)")
    hf_flos("hf-tinyllama-chat-lora-qv", "trainer_state.json", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "TinyLlama__TinyLlama-1.1B-intermediate-step-1431k-3T",
            "TinyLlama/TinyLlama-1.1B-Chat-v1.0 (adapter_config base_model_name_or_path)", "not stated", "lora (r=8, q/v)", "HF Trainer",
            adapter_rel="adapter_config.json", seqs=45 * 8, note="45 steps; train_batch_size 2; 0.763 samples/s x 472 s = 360 samples = 8 per step")
    hf_flos("hf-llama2-7b-lora-r4-ckpt100-of-107-old-schema", "checkpoint-100/trainer_state.json", "meta-llama/Llama-2-7b-hf", "meta-llama__Llama-2-7b-hf",
            "meta-llama/Llama-2-7b-hf (adapter_config base_model_name_or_path)", "not stated (PEFT 0.5.0; state has eval_steps but no train_batch_size/logging_steps)",
            "lora (r=4, all linear)", "HF Trainer (ABCI example scripts)", adapter_rel="checkpoint-100/adapter_config.json",
            note="mid-run checkpoint: global_step 100 of max_steps 107 - tokens up to the checkpoint only")
    hf_flos("hf-llama7b-decapoda-full-sft-alpaca-fsdp", "output/trainer_state.json", "huggyllama/llama-7b", "huggyllama__llama-7b",
            "decapoda-research/llama-7b-hf (wandb-metadata.json args --model_name_or_path)", "4.30.2 (wandb config.yaml)", "full",
            "HF Trainer (stanford_alpaca train.py, FSDP full_shard on 4 processes)", vocab_override=32001, world=4, seqs=1218 * 128,
            note="FSDP (use_orig_params False) flattens and shards parameters, so each rank's num_parameters() is ~1/4 of the model and embeddings are no longer recognisable: N_hf = (all params incl. embeddings, vocab 32001)/4. Without this correction D would be ~40 tokens/sample (impossible for the Alpaca template). Medium confidence.")
    hf_flos("hf-llama7b-localpath-lora-alpaca-old-schema", "output/trainer_state.json", "huggyllama/llama-7b", "huggyllama__llama-7b",
            "/home/nfs01/llama/model/llama-hf/llama-7b-hf (output/adapter_config base_model_name_or_path)", "not stated (schema: no eval_steps/logging_steps, <=4.30)",
            "lora (r=8, q/v)", "HF Trainer (alpaca-lora style)", adapter_rel="output/adapter_config.json", quant="int8", seqs=1218 * 128,
            note="4156 s x 37.534 samples/s = 156,000 samples = 1218 steps x 128")
    hf_flos("hf-llama2-7b-lora-hr-chatbot", "outputs/trainer_state.json", "meta-llama/Llama-2-7b-hf", "meta-llama__Llama-2-7b-hf",
            "meta-llama/Llama-2-7b-hf (results/llama2/final_checkpoint/adapter_config.json base_model_name_or_path)", "not stated",
            "qlora (bnb 4-bit, r=16 all linear, per the repo's setup script)", "HF Trainer (repo setup script: Trainer + DataCollatorForLanguageModeling)", adapter_rel="results/llama2/final_checkpoint/adapter_config.json", quant="bnb4_full",
            seqs=70 * 4, note="outputs/ (state) and results/llama2/final_checkpoint (adapter) come from the same commit; their link is assumed. 0.551 samples/s x 507.8 s = 280 = 70 x 4")
    hf_flos("hf-falcon-rw-1b-lora-imdb", "trainer_state.json", "tiiuae/falcon-rw-1b", "tiiuae__falcon-rw-1b",
            "tiiuae/falcon-rw-1b (adapter_config base_model_name_or_path; README)", "not stated (README: torch 2.6)", "lora (r=8 on query_key_value, 8-bit base)",
            "HF Trainer", adapter_rel="adapter_config.json", quant="int8", seqs=125 * 2,
            note="125 steps x train_batch_size 2 (GA unknown: 1 assumed for the check)")
    hf_flos("trl-llama31-8b-unsloth-bnb4bit-base-qlora-qv", "trainer_state.json", "meta-llama/Llama-3.1-8B", "meta-llama__Llama-3.1-8B",
            "unsloth/Meta-Llama-3.1-8B-bnb-4bit (adapter_config base_model_name_or_path; README base_model)", "not stated", "qlora (bnb 4-bit nf4, r=8 q/v)",
            "TRL SFTTrainer with plain transformers+bitsandbytes (repo notebook); the base is an unsloth pre-quantized repo, the unsloth library is not used",
            adapter_rel="adapter_config.json", quant="bnb4_full",
            note="1000 steps, train_batch_size 1, epoch 0.0228; the repo notebook's TrainingArguments (bs4, GA16, max_steps 175118, max_seq_length 512, packing False) do not match this state")
    unsloth_flos("unsloth-llama31-8b-instruct-bnb4bit-qlora-sft-finance", "checkpoint-82/trainer_state.json", "checkpoint-82/adapter_config.json",
                 "meta-llama/Llama-3.1-8B-Instruct", "meta-llama__Llama-3.1-8B",
                 "unsloth/meta-llama-3.1-8b-instruct-bnb-4bit (adapter_config; README base_model)", "not stated",
                 "final checkpoint (max_steps 82); checkpoint-50 is the same run. Logged loss ~40-56 (sum-reduced loss), irrelevant to compute")
    unsloth_flos("unsloth-llama32-3b-instruct-bnb4bit-qlora-3ckpts", "checkpoint-60/trainer_state.json", "checkpoint-60/adapter_config.json",
                 "meta-llama/Llama-3.2-3B-Instruct", "meta-llama__Llama-3.2-3B",
                 "unsloth/llama-3.2-3b-instruct-bnb-4bit (adapter_config; README base_model)", "5.0.0 (README; TRL 0.26.1)",
                 "checkpoints 20/40/60 are one run (cumulative total_flos); best_model_checkpoint models/stage_0_corrected/checkpoint-60", method="qlora (bnb 4-bit, r=64)")
    unsloth_flos("unsloth-qwen3-8b-bnb4bit-lora-sft-tcm-trimmed", "trainer_state.json", "adapter_config.json",
                 "Qwen/Qwen3-8B", "Qwen__Qwen3-8B",
                 "unsloth/qwen3-8b-unsloth-bnb-4bit (adapter_config base_model_name_or_path); README claims LLaMA-Factory and r=64 q/v, contradicting the adapter", "not stated",
                 "trainer_state.json trimmed (log_history every 100th step); totals untouched. 6687 steps x train_batch_size 2")
    unsloth_flos("unsloth-deepseek-r1-distill-llama8b-bnb4bit-lora", "outputs/checkpoint-60/trainer_state.json", "outputs/checkpoint-60/adapter_config.json",
                 "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-ai__DeepSeek-R1-Distill-Llama-8B",
                 "unsloth/deepseek-r1-distill-llama-8b-unsloth-bnb-4bit (adapter_config base_model_name_or_path)", "not stated",
                 "unsloth notebook default output_dir outputs / max_steps 60")
    s_metamath()
    s_adapter_only()
    # transformers versions found in model cards / configs after the fact (file named in brackets)
    for slug, tver in {
        "axolotl-mixtral-8x7b-instruct-qlora-sft": "4.51.3 (config.json, README; axolotl 0.10.0.dev0, PEFT 0.15.2)",
        "lf-unsloth-booster-qwen25-3b-instruct-lora-sft": "4.51.3 (README.md)",
        "trl-grpo-smollm2-135m-lora-beta0-interrupted-trimmed": "4.57.3 (grpo_training_output/README.md; TRL 0.25.1)",
        "trl-llama32-1b-instruct-lora-sft-num-tokens": "5.0.0 (checkpoint-935/README.md; TRL 0.27.1)",
        "unsloth-qwen3-4b-base-sft-then-grpo-two-runs": "4.57.3 (checkpoint READMEs; TRL 0.24.0)",
        "hf-llama2-7b-lora-hr-chatbot": "not stated (PEFT 0.10.0)",
        "ludwig-mistral-7b-instruct-v01-qlora-krishi": "not stated (PEFT 0.8.2)",
        "ludwig-mixtral-8x7b-instruct-qlora-telework-summary": "not stated (PEFT 0.8.2)",
        "trl-dpo-smollm2-135m-lora-csv-metrics": "not stated (PEFT 0.18.0)",
        "trl-llama31-8b-unsloth-bnb4bit-base-qlora-qv": "not stated (PEFT 0.12.0)",
        "unsloth-llama31-8b-instruct-bnb4bit-qlora-sft-finance": "not stated (PEFT 0.18.0)",
        "unsloth-qwen3-8b-bnb4bit-lora-sft-tcm-trimmed": "not stated (PEFT 0.17.1)",
    }.items():
        RESULTS[slug]["transformers_version"] = tver


def s_metamath():
    s = "hf-metamath-full-sft-zero3"
    a, c = model("Qwen__Qwen1.5-0.5B-Chat")
    st = jload(s, "output/trainer_state.json")
    # ZeRO-3 partitions every parameter larger than stage3_param_persistence_threshold ('auto' = 10*hidden)
    # to an empty placeholder on each rank; only small ones (norms, qkv biases) keep their numel.
    h = 1024
    persistent = 24 * (2 * h + 3 * h) + h  # per layer: 2 RMSNorm weights + q/k/v biases (all <= 10*h); final norm
    hypothetical = st["total_flos"] / (6.0 * persistent)
    put(s, tool="HF Trainer + DeepSpeed ZeRO-3 (MetaMath train_math.py)", objective="sft", method="full",
        base_model="Qwen/Qwen1.5-0.5B-Chat (per run.sh; run_mistral.sh in the same folder names mistralai/Mistral-7B-v0.1)",
        base_config="Qwen__Qwen1.5-0.5B-Chat",
        base_model_raw="MODEL_PATH='Qwen/Qwen1.5-0.5B-Chat' (run.sh); no model id in output/",
        transformers_version="not stated (state has grad_norm: >=4.38)",
        enough_evidence=False,
        missing="total_flos (%.4g) is corrupted by ZeRO-3: partitioned parameters have numel 0 on each rank, so num_parameters() sees only the small persistent tensors; SFT without packing (batch 1, no lengths logged); base model ambiguous between run.sh and run_mistral.sh" % st["total_flos"],
        tokens=None, tokens_basis=None,
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=c["total"],
        flops=None, formula="full: 6*n_mm*D (D unknown)",
        checks={"global_step": st["global_step"], "samples": st["global_step"] * 4,
                "hypothetical_tokens_if_Qwen1.5-0.5B_and_only_persistent_params_counted": round(hypothetical),
                "note": "the hypothetical gives ~%d tokens/sample, plausible for MetaMathQA, but it rests on assumptions" % round(hypothetical / (st["global_step"] * 4))})


def s_adapter_only():
    s = "adapter-only-trl-qwen3-8b-hfcache-path"
    a, c = model("Qwen__Qwen3-8B")
    A, matched, ac = lora_from(s, "adapter_config.json", a)
    put(s, tool="TRL SFTTrainer (README: TRL 0.21.0, transformers 4.55.4)", objective="sft", method="lora (folder named qwen3-luna-qlora; quantization not recorded)",
        base_model="Qwen/Qwen3-8B", base_config="Qwen__Qwen3-8B",
        base_model_raw="/home/annali/.cache/huggingface/hub/models--Qwen--Qwen3-8B/snapshots/b968826d9c46dd6066d109eabc6255188de91218 (adapter_config base_model_name_or_path; README base_model)",
        transformers_version="4.55.4 (README)",
        enough_evidence=False,
        missing="adapter_config.json + README only: no trainer_state, no results, no logs - no steps, tokens or total_flos",
        tokens=None, tokens_basis=None,
        n_mm=c["n_mm"], n_mm_active=c["n_mm_active"], n_trainable=A,
        flops=None, formula="LoRA: (4*n_mm + 6*A)*D (D unknown)")


# ------------------------------------------------------------ base checks
def base_checks():
    out = {}
    for fn in sorted(os.listdir(os.path.join(HERE, "_bases"))):
        if not fn.endswith(".json"):
            continue
        name = fn[:-5]
        cfg = base_cfg(name)
        try:
            c = counts(arch(cfg))
        except (ValueError, KeyError, AssertionError) as e:
            out[name] = {"error": str(e)}
            continue
        row = {"total": c["total"], "n_mm": c["n_mm"], "n_mm_active": c["n_mm_active"], "embedding": c["embedding"]}
        if "_formula_params_total" in cfg:
            row["reference_formula_total"] = cfg["_formula_params_total"]
            row["matches_reference_formula"] = cfg["_formula_params_total"] == c["total"]
        if "_published_params" in cfg:
            row["published"] = cfg["_published_params"]
            row["ratio_to_published"] = r3(c["total"] / cfg["_published_params"])
        out[name] = row
    return out


#: Runs whose hand count needs a fact the folder does not hold (see the module doc:
#: enough evidence is judged from the folder alone).  Values are kept for reference.
FROM_OUTSIDE_THE_FOLDER = {
    "hf-llama7b-decapoda-full-sft-alpaca-fsdp": (
        "the number of FSDP processes: the folder records 8 GPUs on the node, and only the "
        "Alpaca dataset's size (52,002 examples, outside the folder) shows 4 were used; "
        "total_flos counted one process's shard, so the tokens are ambiguous by 2x"
    ),
    "qlora-starcoderbase-15b-old-schema": (
        "the transformers version: before 4.34 the Trainer counted 4-bit weights at half "
        "size, after it in full; the folder does not say which, so the tokens derived from "
        "total_flos are ambiguous by 2x"
    ),
}


def main():
    run_all()
    for slug, missing in FROM_OUTSIDE_THE_FOLDER.items():
        RESULTS[slug]["enough_evidence"] = False
        RESULTS[slug]["missing"] = missing
    for s, v in RESULTS.items():
        assert os.path.isdir(os.path.join(HERE, s)), s
    missing = sorted(d for d in os.listdir(HERE) if os.path.isdir(os.path.join(HERE, d)) and not d.startswith(("_", ".")) and d not in RESULTS)
    assert not missing, missing
    out = {"_conventions": __doc__.strip(), "_base_checks": base_checks(), "runs": RESULTS}
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %d slugs" % len(RESULTS))


if __name__ == "__main__":
    main()
