"""The estimation methods' registry: which figure decides, how the combined band is
narrowed, and that every consumer reads the same names."""

from __future__ import annotations

import duckdb
import pytest

from reconcile import methods
from reconcile.flops import Estimate
from reconcile.methods.base import RunContext, UsageEvidence


def _e(method: str, low: float, central: float, high: float) -> Estimate:
    return Estimate(method, low, central, high, {})


ARCH = _e("architecture", 9e20, 1.0e21, 1.1e21)
HARDWARE = _e("hardware", 2e20, 8e20, 3e21)
BILLING = _e("billing", 3e20, 9e20, 4e21)
REPORTED = _e("reported", 1.2e21, 1.2e21, 1.2e21)


@pytest.mark.parametrize(
    ("found", "basis", "decider"),
    [
        ({"architecture": ARCH, "hardware": HARDWARE}, "logged", "architecture"),
        ({"architecture": ARCH, "hardware": HARDWARE}, "derived_total_flos", "architecture"),
        # tokens only bounded from steps: measured accelerator time decides
        ({"architecture": ARCH, "hardware": HARDWARE}, "derived_steps", "hardware"),
        # ... but a bill does not overrule the architecture figure
        ({"architecture": ARCH, "billing": BILLING}, "derived_steps", "architecture"),
        ({"hardware": HARDWARE, "billing": BILLING}, None, "hardware"),
        ({"billing": BILLING, "reported": REPORTED}, None, "billing"),
        ({"reported": REPORTED}, "logged", None),  # a claim never decides
        ({}, None, None),
    ],
)
def test_which_method_decides(found, basis, decider):
    assert methods.decide(found, {"tokens_basis": basis}) == decider


def test_the_combined_band_is_narrowed_by_every_other_method_but_claims():
    flags: list[str] = []
    found = {"architecture": ARCH, "hardware": HARDWARE, "reported": _e("reported", 1, 1, 1)}
    combined = methods.combine(found, "architecture", flags)
    assert combined is not None
    assert (combined.method, combined.low, combined.central, combined.high) == (
        "combined",
        9e20,
        1.0e21,
        1.1e21,
    )
    assert combined.assumptions["decided_by"] == "architecture"
    assert flags == []  # the claim of 1 FLOP is cross-checked elsewhere, never narrows
    # hardware decides: the architecture band (inside it) narrows it to 9e20..1.1e21,
    # but the central figure stays the decider's
    combined = methods.combine(found, "hardware", flags)
    assert combined is not None
    assert (combined.low, combined.central, combined.high) == (8e20, 8e20, 1.1e21)
    # a method whose band misses the decider's is flagged instead of narrowing it
    far = {"architecture": ARCH, "billing": _e("billing", 5e21, 6e21, 7e21)}
    combined = methods.combine(far, "architecture", flags)
    assert combined is not None and (combined.low, combined.high) == (9e20, 1.1e21)
    assert flags == ["methods_disagree_billing"]


def test_each_method_computes_from_one_run_context():
    run = {
        "run_key": "r",
        "tokens": 1e9,
        "tokens_low": None,
        "tokens_high": None,
        "tokens_basis": "logged",
        "params_total": 1_000_000_000,
        "params_matmul": 1_000_000_000,
        "params_matmul_active": None,
        "params_trainable": None,
        "method": "full",
        "accelerator": "NVIDIA H100 SXM5-80GB",
        "accelerator_count": 8,
        "runtime_seconds": 3600,
        "precision": "bf16",
        "reported": '[{"flops": 6e18, "basis": "hf_total_flos", "source": "x"}]',
        "params_hf_counted": 1_000_000_000,
    }
    ctx = RunContext(
        run,
        UsageEvidence(billed_seconds=8 * 3600.0),
        {"low": 0.05, "central": 0.35, "high": 1.0},
        "bf16",
    )
    found = methods.compute(ctx)
    assert list(found) == ["architecture", "hardware", "billing", "reported"]
    assert found["architecture"].central == pytest.approx(6 * 1e9 * 1e9)
    # 8 GPU-hours x 989.4 TFLOP/s dense BF16 x 0.35
    assert found["hardware"].central == pytest.approx(8 * 3600 * 989.4e12 * 0.35, rel=1e-3)
    assert found["billing"].central == pytest.approx(found["hardware"].central)
    # 6e18 FLOP claimed over 6 x 1e9 parameters: 1e9 tokens, our figure exactly
    assert found["reported"].central == pytest.approx(6e18)
    assert ctx.flags == []


def test_the_report_and_the_queries_name_the_registry_s_methods(tmp_path, sample_data):
    """Every method the estimate writes is one the registry names, in its order."""
    from click.testing import CliRunner

    from reconcile.cli import cli

    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    runner.invoke(cli, ["--db", str(db), "ingest", str(sample_data)])
    assert runner.invoke(cli, ["--db", str(db), "estimate"]).exit_code == 0
    con = duckdb.connect(str(db), read_only=True)
    written = {m for (m,) in con.execute("SELECT DISTINCT method FROM run_estimates").fetchall()}
    con.close()
    assert written == set(methods.NAMES)
    assert methods.NAMES == ("architecture", "hardware", "billing", "reported", "combined")
    for method in methods.NAMES:
        assert methods.missing(method, {"tokens": None}, billing_linked=False)
