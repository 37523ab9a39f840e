"""Consistency of the shipped model catalog: base_models.csv, its configs and model_aliases.csv."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from reconcile.params import count_parameters

DATA = Path(__file__).resolve().parents[1] / "reconcile" / "data"
ROWS = list(csv.DictReader((DATA / "base_models.csv").open(newline="", encoding="utf-8")))
ALIASES = list(csv.DictReader((DATA / "model_aliases.csv").open(newline="", encoding="utf-8")))
CATALOG = {row["hf_repo_id"]: row for row in ROWS}

FLOPS_BASES = {"published", "6ND-estimate", "epoch-estimate", "unknown"}
RELATIONS = {"renamed", "post_trained", "repackaged", "derivative"}

#: The AI Act's presumption of systemic risk (Art. 51(2)): more than 1e25 training FLOPs.
SYSTEMIC_RISK_FLOPS = 1e25

#: Rows whose pretraining_flops may differ from 6 * N * D by more than a factor 1.5, and why.
#: (None at present: published figures and Epoch AI estimates all agree with 6ND within 1.5x
#: once N is the *active* parameter count, see test_flops_agree_with_6nd.)
FLOPS_NOT_6ND: dict[str, str] = {}

#: The families people fine-tune, each with the base checkpoints that must be in the catalog.
FAMILIES = {
    "Llama 1": [
        "huggyllama/llama-7b",
        "huggyllama/llama-13b",
        "huggyllama/llama-30b",
        "huggyllama/llama-65b",
    ],
    "Llama 2": [
        "meta-llama/Llama-2-7b-hf",
        "meta-llama/Llama-2-13b-hf",
        "meta-llama/Llama-2-70b-hf",
    ],
    "Llama 3": ["meta-llama/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-70B"],
    "Llama 3.1": [
        "meta-llama/Llama-3.1-8B",
        "meta-llama/Llama-3.1-70B",
        "meta-llama/Llama-3.1-405B",
    ],
    "Llama 3.2": ["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-3B"],
    "Llama 3.3": ["meta-llama/Llama-3.3-70B-Instruct"],
    "Code Llama": [
        "codellama/CodeLlama-7b-hf",
        "codellama/CodeLlama-13b-hf",
        "codellama/CodeLlama-34b-hf",
        "codellama/CodeLlama-70b-hf",
        "codellama/CodeLlama-7b-Python-hf",
    ],
    "Mistral": [
        "mistralai/Mistral-7B-v0.1",
        "mistral-community/Mistral-7B-v0.2",
        "mistralai/Mistral-7B-v0.3",
        "mistralai/Mistral-Nemo-Base-2407",
        "mistralai/Mistral-Small-24B-Base-2501",
    ],
    "Mixtral": ["mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x22B-v0.1"],
    "Qwen": ["Qwen/Qwen-1_8B", "Qwen/Qwen-7B", "Qwen/Qwen-14B", "Qwen/Qwen-72B"],
    "Qwen1.5": [
        "Qwen/Qwen1.5-0.5B",
        "Qwen/Qwen1.5-1.8B",
        "Qwen/Qwen1.5-7B",
        "Qwen/Qwen1.5-14B",
        "Qwen/Qwen1.5-32B",
        "Qwen/Qwen1.5-72B",
        "Qwen/Qwen1.5-110B",
        "Qwen/Qwen1.5-MoE-A2.7B",
    ],
    "Qwen2": [
        "Qwen/Qwen2-0.5B",
        "Qwen/Qwen2-1.5B",
        "Qwen/Qwen2-7B",
        "Qwen/Qwen2-72B",
        "Qwen/Qwen2-57B-A14B",
    ],
    "Qwen2.5": [
        "Qwen/Qwen2.5-0.5B",
        "Qwen/Qwen2.5-1.5B",
        "Qwen/Qwen2.5-3B",
        "Qwen/Qwen2.5-7B",
        "Qwen/Qwen2.5-14B",
        "Qwen/Qwen2.5-32B",
        "Qwen/Qwen2.5-72B",
    ],
    "Qwen2.5-Coder": [
        "Qwen/Qwen2.5-Coder-0.5B",
        "Qwen/Qwen2.5-Coder-1.5B",
        "Qwen/Qwen2.5-Coder-3B",
        "Qwen/Qwen2.5-Coder-7B",
        "Qwen/Qwen2.5-Coder-14B",
        "Qwen/Qwen2.5-Coder-32B",
    ],
    "Qwen2.5-Math": ["Qwen/Qwen2.5-Math-1.5B", "Qwen/Qwen2.5-Math-7B", "Qwen/Qwen2.5-Math-72B"],
    "Qwen3": [
        "Qwen/Qwen3-0.6B-Base",
        "Qwen/Qwen3-1.7B-Base",
        "Qwen/Qwen3-4B-Base",
        "Qwen/Qwen3-8B-Base",
        "Qwen/Qwen3-14B-Base",
        "Qwen/Qwen3-30B-A3B-Base",
    ],
    "Gemma": ["google/gemma-2b", "google/gemma-7b"],
    "Gemma 2": ["google/gemma-2-2b", "google/gemma-2-9b", "google/gemma-2-27b"],
    "Gemma 3": [
        "google/gemma-3-1b-pt",
        "google/gemma-3-4b-pt",
        "google/gemma-3-12b-pt",
        "google/gemma-3-27b-pt",
    ],
    "Phi": [
        "microsoft/phi-1",
        "microsoft/phi-1_5",
        "microsoft/phi-2",
        "microsoft/Phi-3-mini-4k-instruct",
        "microsoft/Phi-3.5-mini-instruct",
        "microsoft/Phi-3.5-MoE-instruct",
        "microsoft/phi-4",
    ],
    "Falcon": ["tiiuae/falcon-7b", "tiiuae/falcon-40b", "tiiuae/falcon-180B"],
    "BLOOM": [
        "bigscience/bloom-560m",
        "bigscience/bloom-1b1",
        "bigscience/bloom-1b7",
        "bigscience/bloom-3b",
        "bigscience/bloom-7b1",
        "bigscience/bloom",
    ],
    "GPT-2": [
        "openai-community/gpt2",
        "openai-community/gpt2-medium",
        "openai-community/gpt2-large",
        "openai-community/gpt2-xl",
    ],
    "GPT-J": ["EleutherAI/gpt-j-6b"],
    "GPT-NeoX": ["EleutherAI/gpt-neox-20b"],
    "Pythia": [
        f"EleutherAI/pythia-{size}{dedup}"
        for size in ("70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")
        for dedup in ("", "-deduped")
    ],
    "OPT": [
        f"facebook/opt-{size}"
        for size in ("125m", "350m", "1.3b", "2.7b", "6.7b", "13b", "30b", "66b")
    ],
    "T5": [
        "google-t5/t5-small",
        "google-t5/t5-base",
        "google-t5/t5-large",
        "google-t5/t5-3b",
        "google-t5/t5-11b",
        "google/t5-v1_1-xxl",
        "google/mt5-xxl",
    ],
    # Flan-T5 is instruction-tuned from the LM-adapted T5 1.1 checkpoints (aliases).
    "Flan-T5": [
        "google/t5-small-lm-adapt",
        "google/t5-base-lm-adapt",
        "google/t5-large-lm-adapt",
        "google/t5-xl-lm-adapt",
        "google/t5-xxl-lm-adapt",
    ],
    "ChatGLM/GLM-4": ["THUDM/chatglm2-6b", "THUDM/chatglm3-6b-base", "THUDM/glm-4-9b"],
    "Baichuan 2": ["baichuan-inc/Baichuan2-7B-Base", "baichuan-inc/Baichuan2-13B-Base"],
    "Yi": [
        "01-ai/Yi-6B",
        "01-ai/Yi-9B",
        "01-ai/Yi-34B",
        "01-ai/Yi-1.5-6B",
        "01-ai/Yi-1.5-9B",
        "01-ai/Yi-1.5-34B",
    ],
    "DeepSeek": [
        "deepseek-ai/deepseek-llm-7b-base",
        "deepseek-ai/deepseek-llm-67b-base",
        "deepseek-ai/deepseek-moe-16b-base",
        "deepseek-ai/DeepSeek-V2-Lite",
        "deepseek-ai/deepseek-coder-6.7b-base",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    ],
    "InternLM2": ["internlm/internlm2-7b", "internlm/internlm2-20b", "internlm/internlm2_5-7b"],
    "OLMo": ["allenai/OLMo-7B-hf", "allenai/OLMo-2-1124-7B", "allenai/OLMoE-1B-7B-0924"],
    "StableLM": ["stabilityai/stablelm-3b-4e1t", "stabilityai/stablelm-2-1_6b"],
    "SmolLM": [
        "HuggingFaceTB/SmolLM-135M",
        "HuggingFaceTB/SmolLM2-1.7B",
        "HuggingFaceTB/SmolLM3-3B-Base",
    ],
    "MPT": ["mosaicml/mpt-7b", "mosaicml/mpt-30b"],
    "gpt-oss": ["openai/gpt-oss-20b", "openai/gpt-oss-120b"],
    "Granite": [
        "ibm-granite/granite-3.0-8b-base",
        "ibm-granite/granite-3.1-8b-base",
        "ibm-granite/granite-3.0-3b-a800m-base",
    ],
    "TinyLlama": ["TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"],
    "Cerebras-GPT": [
        f"cerebras/Cerebras-GPT-{size}"
        for size in ("111M", "256M", "590M", "1.3B", "2.7B", "6.7B", "13B")
    ],
    "RedPajama-INCITE": [
        "togethercomputer/RedPajama-INCITE-Base-3B-v1",
        "togethercomputer/RedPajama-INCITE-7B-Base",
    ],
}

#: Re-upload patterns resolved by code (reconcile.models), never listed as aliases.
PATTERN_SUFFIX = re.compile(r"(bnb-4bit|bnb-8bit|-gptq|-awq|-gguf|-exl2|-mlx)", re.IGNORECASE)


def config_path(repo_id: str) -> Path:
    return DATA / "model_configs" / (repo_id.replace("/", "__") + ".json")


def test_catalog_size():
    assert len(ROWS) >= 300
    assert len(CATALOG) == len(ROWS), "duplicate hf_repo_id"
    lowered = {repo.lower() for repo in CATALOG}
    assert len(lowered) == len(ROWS), "ids differing only in case"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_present(family):
    missing = [repo for repo in FAMILIES[family] if repo not in CATALOG]
    assert not missing


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["hf_repo_id"])
def test_row_has_a_config_that_counts_to_params_total(row):
    path = config_path(row["hf_repo_id"])
    assert path.is_file(), path.name
    config = json.loads(path.read_text())
    assert config.get("_source"), "config without a source"
    assert config.get("_published_params_source"), "published count without a source"
    count = count_parameters(config)
    total = int(row["params_total"])
    assert abs(count.total - total) <= 0.005 * total, (count.total, total)
    if row["params_active"]:
        active = int(row["params_active"])
        assert active <= total
        # Dense rows give params_active = params_total, multimodal ones (Gemma 3, Llama 4)
        # included; count.active leaves a vision tower out, so compare the mixture-of-experts
        # rows only, whose active count is the routed subset.
        if active != total:
            assert abs(count.active - active) <= 0.005 * active, (count.active, active)


def test_every_config_is_a_catalog_row():
    stems = {config_path(repo).stem for repo in CATALOG}
    extra = [p.stem for p in (DATA / "model_configs").glob("*.json") if p.stem not in stems]
    assert not extra


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["hf_repo_id"])
def test_row_fields(row):
    assert row["source"].strip()
    assert row["family"].strip()
    assert row["flops_basis"] in FLOPS_BASES
    flops = row["pretraining_flops"]
    if row["flops_basis"] == "unknown":
        assert not flops
        assert row["systemic_risk_presumed"] == ""
    else:
        assert flops and float(flops) > 0
        # the presumption follows the compute figure
        assert row["systemic_risk_presumed"] == str(float(flops) > SYSTEMIC_RISK_FLOPS).lower()
    if row["flops_basis"] == "6ND-estimate":
        assert row["training_tokens"], "a 6ND estimate needs its token count"
    if row["release_date"]:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["release_date"])


@pytest.mark.parametrize(
    "row",
    [r for r in ROWS if r["pretraining_flops"] and r["training_tokens"]],
    ids=lambda r: r["hf_repo_id"],
)
def test_flops_agree_with_6nd(row):
    """Compute is ~6 x parameters x tokens. For mixture-of-experts rows the parameters are the
    active ones (each token passes through the routed top-k experts only), so N is
    params_active where the row gives it."""
    params = int(row["params_active"] or row["params_total"])
    estimate = 6 * params * float(row["training_tokens"])
    ratio = float(row["pretraining_flops"]) / estimate
    if row["hf_repo_id"] in FLOPS_NOT_6ND:
        return
    assert 1 / 1.5 <= ratio <= 1.5, ratio


def test_alias_file_shape():
    assert len(ALIASES) >= 200
    assert set(ALIASES[0]) == {"alias", "target", "relation", "source"}
    seen: set[str] = set()
    for link in ALIASES:
        key = link["alias"].lower()
        assert key not in seen, f"duplicate alias {link['alias']}"
        seen.add(key)


@pytest.mark.parametrize("link", ALIASES, ids=lambda a: a["alias"])
def test_alias(link):
    assert link["relation"] in RELATIONS
    assert link["source"].strip()
    assert link["target"] in CATALOG, "alias target must be a catalog row"
    assert link["alias"] != link["target"]
    assert link["alias"].lower() not in {repo.lower() for repo in CATALOG}, "alias is a catalog row"
    assert not PATTERN_SUFFIX.search(link["alias"]), "pattern-based re-uploads are resolved by code"
    assert link["alias"] == link["alias"].strip() and link["target"] == link["target"].strip()


def test_every_post_trained_release_kind_is_covered():
    relations = {link["relation"] for link in ALIASES}
    assert relations == RELATIONS
    post_trained = {
        link["alias"]: link["target"] for link in ALIASES if link["relation"] == "post_trained"
    }
    # families whose unsuffixed name is the post-trained model, versioned instruct releases,
    # chat releases of checkpoint-style bases
    assert post_trained["Qwen/Qwen3-8B"] == "Qwen/Qwen3-8B-Base"
    assert post_trained["Qwen/Qwen2.5-7B-Instruct"] == "Qwen/Qwen2.5-7B"
    assert post_trained["meta-llama/Llama-2-7b-chat-hf"] == "meta-llama/Llama-2-7b-hf"
    assert post_trained["deepseek-ai/deepseek-llm-7b-chat"] == "deepseek-ai/deepseek-llm-7b-base"
    assert post_trained["THUDM/chatglm3-6b"] == "THUDM/chatglm3-6b-base"
    assert post_trained["google/gemma-2-9b-it"] == "google/gemma-2-9b"
