"""Slurm node lists: expanded once per distinct list, bounded, never a crash."""

from __future__ import annotations

from reconcile.matching import MAX_NODELIST_HOSTS, expand_nodelist


def test_expansion_is_correct_and_cached():
    assert expand_nodelist("gpu[001-003,007],cpu1") == {
        "gpu001",
        "gpu002",
        "gpu003",
        "gpu007",
        "cpu1",
    }
    wide = "gpu[00000-65535]"
    first = expand_nodelist(wide)
    assert len(first) == 65_536 and "gpu00042" in first
    # asked again for every telemetry window, it is the same set, not a new expansion
    assert all(expand_nodelist(wide) is first for _ in range(100))


def test_damaged_lists_name_no_host():
    assert expand_nodelist(f"gpu[0-{MAX_NODELIST_HOSTS * 10}]") == frozenset()
    assert expand_nodelist("gpu[a-z]") == frozenset()
    assert expand_nodelist("") == frozenset() and expand_nodelist(None) == frozenset()
