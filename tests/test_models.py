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
