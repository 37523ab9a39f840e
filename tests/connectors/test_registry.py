"""The registry's view of the parsers: evidence priority rebuilt from their ranks."""

from __future__ import annotations

from connectors.registry import PARSERS, evidence_priority

#: ``reconcile.resolve._PRIORITY`` as it stood before the parsers declared their ranks
#: (4a295e0): which evidence wins, per kind of field (earlier wins). The parsers'
#: ``priority`` ranks must rebuild exactly this.
RESOLVE_PRIORITY = {
    "identity": ("sagemaker_job", "run_table", "wandb", "mlflow", "flops_meter", "hf_checkpoint"),
    "hardware": ("sagemaker_job", "run_table", "wandb", "flops_meter", "mlflow", "hf_checkpoint"),
    "training": ("hf_checkpoint", "wandb", "mlflow", "run_table", "sagemaker_job", "flops_meter"),
    "model": ("hf_checkpoint", "run_table", "sagemaker_job", "flops_meter", "wandb", "mlflow"),
    "model_id": ("run_table", "hf_checkpoint", "wandb", "mlflow", "flops_meter", "sagemaker_job"),
}


def test_evidence_priority_is_the_order_resolution_uses():
    assert evidence_priority() == RESOLVE_PRIORITY


def test_ranks_are_distinct_per_kind_and_only_training_formats_rank():
    for kind in RESOLVE_PRIORITY:
        ranks = [cls.priority[kind] for cls in PARSERS.values() if kind in cls.priority]
        assert len(ranks) == len(set(ranks)), kind
    assert {cls.table for cls in PARSERS.values() if cls.priority} == {"training_runs"}
