"""Base-model catalog and resolution of what logs call a base model."""

from __future__ import annotations

import pytest

from reconcile.errors import ConfigError
from reconcile.models import ModelRegistry, default_registry


@pytest.mark.parametrize(
    ("raw", "repo_id", "catalog_id", "basis"),
    [
        ("Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B", "catalog"),
        ("qwen/qwen2.5-7b", "Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B", "catalog"),
        ("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B", "variant"),
        (
            "/mnt/models/Qwen2.5-7B-Instruct",
            "Qwen/Qwen2.5-7B-Instruct",
            "Qwen/Qwen2.5-7B",
            "variant",
        ),
        (
            "/data/meta-llama/Llama-3.1-8B",
            "meta-llama/Llama-3.1-8B",
            "meta-llama/Llama-3.1-8B",
            "path_tail",
        ),
        ("google/gemma-2-9b-it", "google/gemma-2-9b-it", "google/gemma-2-9b", "variant"),
        (
            "mistralai/Mistral-7B-Instruct-v0.1",
            "mistralai/Mistral-7B-Instruct-v0.1",
            "mistralai/Mistral-7B-v0.1",
            "variant",
        ),
        (
            "/root/.cache/huggingface/hub/models--Qwen--Qwen2.5-7B/snapshots/0123abc",
            "Qwen/Qwen2.5-7B",
            "Qwen/Qwen2.5-7B",
            "hf_cache",
        ),
        ("acme/private-model", "acme/private-model", None, "repo_id"),
        ("/opt/ml/input/data/model", None, None, "unresolved"),
        (
            "meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/Llama-3.3-70B-Instruct",
            "catalog",
        ),  # only the instruct model exists
    ],
)
def test_resolution(raw, repo_id, catalog_id, basis):
    result = default_registry().resolve(raw)
    assert (result.repo_id, result.catalog_id, result.basis) == (repo_id, catalog_id, basis)


def test_variant_says_which_compute_it_uses():
    note = default_registry().resolve("Qwen/Qwen2.5-7B-Instruct").note
    assert "post-trained variant of Qwen/Qwen2.5-7B" in note
    assert "conservative" in note


def test_catalog_entries():
    registry = default_registry()
    qwen = registry.base("Qwen/Qwen2.5-7B")
    assert qwen is not None
    assert qwen.pretraining_flops == pytest.approx(8.225e23)
    assert qwen.flops_basis == "6ND-estimate"
    assert qwen.systemic_risk is False
    mistral = registry.base("mistralai/Mistral-7B-v0.1")
    assert mistral is not None and mistral.pretraining_flops is None
    assert registry.base("meta-llama/Llama-3.1-405B").systemic_risk is True
    assert registry.config("Qwen/Qwen2.5-7B")["hidden_size"] == 3584


def test_user_aliases_and_overrides():
    registry = ModelRegistry(
        {
            "aliases": {"/mnt/ckpt/base-v2": "mistralai/Mistral-7B-v0.1"},
            "base": {
                "mistralai/Mistral-7B-v0.1": {
                    "pretraining_flops": 1.5e23,
                    "source": "provider letter 2025-06-01",
                },
                "acme/fork-7b": {
                    "pretraining_flops": 2e23,
                    "source": "internal",
                    "config": "Qwen/Qwen2.5-7B",
                },
            },
        }
    )
    resolution = registry.resolve("/mnt/ckpt/base-v2")
    assert (resolution.repo_id, resolution.basis) == ("mistralai/Mistral-7B-v0.1", "alias")
    entry = registry.base("mistralai/Mistral-7B-v0.1")
    assert entry.pretraining_flops == 1.5e23 and entry.flops_basis == "user"
    assert "provider letter" in entry.source
    assert registry.config("acme/fork-7b")["model_type"] == "qwen2"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alias": {}}, "unknown key 'models.alias'"),
        ({"base": {"x/y": {"pretraining_flops": 1e23}}}, "source' is required"),
        ({"base": {"x/y": {"pretraining_flops": -1, "source": "s"}}}, "positive number"),
        ({"base": {"x/y": {"flops": 1}}}, "unknown key 'models.base.x/y.flops'"),
        ({"base": {"x/y": {"config": "no/such"}}}, "shipped model config"),
    ],
)
def test_invalid_model_options(options, message):
    with pytest.raises(ConfigError, match=message):
        ModelRegistry(options)


@pytest.mark.parametrize(
    ("raw", "catalog_id", "basis"),
    [
        # re-uploads and quantised copies: the name decides
        ("unsloth/llama-3-8b-bnb-4bit", "meta-llama/Meta-Llama-3-8B", "repackaged"),
        ("unsloth/Meta-Llama-3.1-8B-bnb-4bit", "meta-llama/Llama-3.1-8B", "repackaged"),
        ("unsloth/mistral-7b-v0.3-bnb-4bit", "mistralai/Mistral-7B-v0.3", "repackaged"),
        ("TheBloke/Llama-2-7B-GPTQ", "meta-llama/Llama-2-7b-hf", "repackaged"),
        ("NousResearch/Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf", "repackaged"),
        ("unsloth/Qwen2.5-7B-Instruct-bnb-4bit", "Qwen/Qwen2.5-7B", "variant"),
        ("unsloth/gemma-2-9b-it-bnb-4bit", "google/gemma-2-9b", "variant"),
        # case and renamed repositories
        ("META-LLAMA/LLAMA-3.1-8B", "meta-llama/Llama-3.1-8B", "catalog"),
        ("meta-llama/Meta-Llama-3.1-8B", "meta-llama/Llama-3.1-8B", "renamed"),
        # the unsuffixed name is the post-trained model, -Base the pretrained one
        ("Qwen/Qwen3-8B", "Qwen/Qwen3-8B-Base", "variant"),
        # local paths of any shape
        (
            "/kaggle/input/llama-3/transformers/8b-chat-hf/1",
            "meta-llama/Meta-Llama-3-8B",
            "variant",
        ),
        ("/kaggle/input/qwen2.5/transformers/7b-instruct/1", "Qwen/Qwen2.5-7B", "variant"),
        ("/kaggle/input/gemma/transformers/2b-it/3", "google/gemma-2b", "variant"),
        ("../models/Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf", "path_tail"),
        ("./Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B", "path_tail"),
        ("/root/autodl-tmp/Qwen/Qwen2-7B-Instruct", "Qwen/Qwen2-7B", "variant"),
        (
            "~/.cache/huggingface/hub/models--Qwen--Qwen2.5-0.5B/snapshots/" + "a" * 40,
            "Qwen/Qwen2.5-0.5B",
            "hf_cache",
        ),
        ("C:\\Users\\me\\models\\Mistral-7B-v0.1", "mistralai/Mistral-7B-v0.1", "path_tail"),
    ],
)
def test_resolution_of_names_real_runs_carry(raw, catalog_id, basis):
    result = default_registry().resolve(raw)
    assert (result.catalog_id, result.basis) == (catalog_id, basis), result.note


def test_unresolved_and_unknown_ids_say_what_to_add():
    registry = default_registry()
    unresolved = registry.resolve("/opt/ml/input/data/model")
    assert unresolved.basis == "unresolved" and "[models.aliases]" in unresolved.note
    unknown = registry.resolve("acme/private-7b")
    assert unknown.catalog_id is None
    assert '[models.base."acme/private-7b"]' in unknown.note


def test_ambiguous_names_do_not_guess():
    # "pythia-1b" exists once; a bare "7b" matches nothing rather than a random 7B model
    assert default_registry().resolve("/data/7b").basis == "unresolved"
