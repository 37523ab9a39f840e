"""Energy per run: measured where telemetry has it, estimated where it does not.

* **Measured**: the energy of the GPU-usage rows linked to the run (DCGM's
  ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` counter deltas, resets handled, else the
  integral of ``DCGM_FI_DEV_POWER_USAGE`` or nvidia-smi's ``power.draw``; computed at
  ingest, ``gpu_usage.energy_joules``), with the share of the run's accelerator-time
  those rows cover.
* **Estimated** for the accelerator-time no measurement covers: accelerator-seconds x the
  board power limit (TDP/TBP, the accelerator catalog's ``tdp_w``) x a draw factor:
  ``DRAW_FACTOR`` low 0.5, central 0.76, high 1.0. The central figure is the share of
  rated power measured on 8-GPU H100 nodes during compute-intensive training (Newkirk et
  al. 2025, arXiv:2506.14551: 76 % of the node's 10.2 kW rating; Latif et al. 2024,
  arXiv:2412.08602: at most 8.4 kW, 18 % below it); no board draws more than its limit
  for long, hence the high end; the low end is a run waiting on data or communication
  half the time. The run's accelerator-seconds are the longer of those the hardware
  estimate used (scheduler allocation, telemetry; else the billed ones) and its logged
  runtime x accelerators: telemetry that stopped early covers only part of a run.
* **Facility energy** = board energy x host overhead (CPUs, memory, network, fans:
  ``[energy] host_overhead``, default 10.2 kW ÷ (8 x 700 W) = 1.82, the NVIDIA DGX H100's
  maximum system power over its GPUs' — an upper-end ratio for any accelerator) x PUE
  (``[energy] pue``, default 1.58: the industry average of the Uptime Institute Global
  Data Center Survey 2023). Emissions where ``[energy] grid_intensity`` gives the
  run's cluster, region or a ``default`` (gCO2e/kWh, user-supplied; never fetched);
  ``[energy] location`` names where training ran, for the model card.

Stored per run in ``run_energy`` by ``reconcile estimate``; ``reconcile query energy``
sums them per model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from reconcile import methods
from reconcile.catalog import load_catalog
from reconcile.engines import rollup_id_sql
from reconcile.errors import ConfigError
from reconcile.schemas import ALLOCATION_KINDS, RUN_ENERGY

#: Board draw during training as a share of the board's power limit (see module doc).
DRAW_FACTOR = {"low": 0.5, "central": 0.76, "high": 1.0}
#: Default PUE: Uptime Institute, Global Data Center Survey 2023 (industry average 1.58;
#: intelligence.uptimeinstitute.com, "Large data centers are mostly more efficient").
DEFAULT_PUE = 1.58
#: Default host overhead: NVIDIA DGX H100 datasheet, 10.2 kW maximum system power for
#: 8 x 700 W H100 SXM5 GPUs.
DEFAULT_HOST_OVERHEAD = 10_200 / (8 * 700)
#: Measured coverage from which a run's energy counts as measured.
MEASURED_COVERAGE = 0.99


@dataclass(frozen=True)
class EnergyOptions:
    """``[energy]``: PUE, host overhead and grid intensity by cluster/region."""

    pue: float = DEFAULT_PUE
    host_overhead: float = DEFAULT_HOST_OVERHEAD
    grid_intensity: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> EnergyOptions:
        """Validated options of the ``[energy]`` table.

        Raises:
            ConfigError: an unknown key, or a value out of range.
        """
        section = dict(section or {})
        unknown = sorted(set(section) - {"pue", "host_overhead", "grid_intensity", "location"})
        if unknown:
            raise ConfigError(
                f"unknown key 'energy.{unknown[0]}'",
                hint="known: pue, host_overhead, grid_intensity, location",
            )
        if not isinstance(section.get("location", ""), str):
            raise ConfigError("'energy.location' must be text (where the training ran)")
        pue = _number(section.get("pue", DEFAULT_PUE), "energy.pue", 1.0, 3.0)
        host = _number(
            section.get("host_overhead", DEFAULT_HOST_OVERHEAD), "energy.host_overhead", 1.0, 4.0
        )
        grid = section.get("grid_intensity") or {}
        if not isinstance(grid, Mapping):
            raise ConfigError("'energy.grid_intensity' must be a table of gCO2e/kWh by name")
        intensity = {
            str(k): _number(v, f"energy.grid_intensity.{k}", 0.0, 2000.0) for k, v in grid.items()
        }
        return cls(pue, host, intensity)


def _number(value: Any, key: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"'{key}' must be a number, got {type(value).__name__}")
    if not low <= float(value) <= high:
        raise ConfigError(f"'{key}' must be between {low} and {high}, got {value}")
    return float(value)


def run_energy(con: duckdb.DuckDBPyConnection, options: EnergyOptions) -> pa.Table:
    """One row per resolved run (``RUN_ENERGY``), from the stored estimate and links:
    call after ``run_matches`` and ``run_estimates`` are written."""
    catalog = load_catalog()
    measured = {
        run: (float(joules or 0.0), float(seconds or 0.0))
        for run, joules, seconds in con.execute(
            f"""
            WITH members AS (
                SELECT {rollup_id_sql("usage_rollup")} AS rollup_id, energy_joules,
                       gpu_seconds
                FROM lake_gpu_usage
                WHERE energy_joules IS NOT NULL AND NOT list_contains($allocation, source_kind)
            )
            SELECT m.run_id, CAST(sum(CAST(u.energy_joules AS DECIMAL(38, 6))) AS DOUBLE),
                   CAST(sum(u.gpu_seconds) AS DOUBLE)
            FROM run_matches m JOIN members u ON u.rollup_id = m.target_id
            WHERE m.target_table = 'usage_rollup'
            GROUP BY m.run_id
            """,
            {"allocation": list(ALLOCATION_KINDS)},
        ).fetchall()
    }
    # the time of the timed methods (hardware, billing); the best-ranked one's wins
    order = {m.name: index for index, m in enumerate(reversed(methods.TIMED))}
    seconds_of: dict[str, float] = {}
    found = con.execute(
        "SELECT run_id, method, assumptions FROM run_estimates WHERE list_contains($timed, method)",
        {"timed": list(order)},
    ).fetchall()
    for run, _, assumptions in sorted(found, key=lambda r: (r[0], order[r[1]])):
        value = json.loads(assumptions or "{}").get("accelerator_seconds")
        if isinstance(value, int | float) and value > 0:
            seconds_of[run] = float(value)
    rows = []
    for run, accelerator, count, runtime, cluster, platform in con.execute(
        "SELECT run_key, accelerator, accelerator_count, runtime_seconds, "
        "CAST(tags['cluster'] AS VARCHAR), platform FROM resolved_runs ORDER BY run_key"
    ).fetchall():
        logged = float(count) * float(runtime) if count and runtime else 0.0
        rows.append(
            _row(
                run,
                accelerator,
                # the longer of what the estimate used and what the run logged: telemetry
                # that stopped early covers only part of the run
                max(seconds_of.get(run, 0.0), logged),
                measured.get(run, (0.0, 0.0)),
                catalog,
                options,
                [k for k in (cluster, platform) if k],
            )
        )
    return pa.Table.from_pylist(rows, schema=RUN_ENERGY)


def _row(
    run: str,
    accelerator: str | None,
    seconds: float,
    measured: tuple[float, float],
    catalog: Any,
    options: EnergyOptions,
    grid_keys: list[str],
) -> dict[str, Any]:
    joules, covered = measured
    covered = min(covered, seconds) if seconds else covered
    rest = max(0.0, seconds - covered)
    coverage = covered / seconds if seconds else (1.0 if covered else 0.0)
    found = catalog.match_accelerator(accelerator) if accelerator else None
    tdp = found.tdp_w if found is not None else None
    measured_kwh = joules / 3.6e6
    band: dict[str, float | None] = {}
    for level, factor in DRAW_FACTOR.items():
        estimated = rest * tdp * factor / 3.6e6 if tdp else (0.0 if not rest else None)
        band[level] = None if estimated is None else measured_kwh + estimated
    if covered and coverage >= MEASURED_COVERAGE:
        basis = "measured"
    elif covered and band["central"] is not None:
        basis = "partly_measured"
    elif band["central"] is not None and rest:
        basis = "estimated"
    else:
        basis = "none"
        band = dict.fromkeys(DRAW_FACTOR)
    facility = {
        k: v * options.host_overhead * options.pue if v is not None else None
        for k, v in band.items()
    }
    key = next((k for k in [*grid_keys, "default"] if k in options.grid_intensity), None)
    intensity = options.grid_intensity.get(key) if key else None
    central = facility["central"]
    return {
        "run_id": run,
        "basis": basis,
        "accelerator": accelerator,
        "accelerator_seconds": seconds or None,
        "measured_seconds": covered or None,
        "coverage": coverage,
        "measured_kwh": measured_kwh if covered else None,
        "board_kwh_low": band["low"],
        "board_kwh_central": band["central"],
        "board_kwh_high": band["high"],
        "facility_kwh_low": facility["low"],
        "facility_kwh_central": central,
        "facility_kwh_high": facility["high"],
        "grid_key": key,
        "grid_gco2e_per_kwh": intensity,
        "tco2e_central": central * intensity / 1e6 if central is not None and intensity else None,
        "method": _method(basis, tdp, options),
    }


def _method(basis: str, tdp: float | None, options: EnergyOptions) -> str:
    if basis == "none":
        return "no accelerator time on record, or an accelerator without a board power"
    parts = []
    if basis in ("measured", "partly_measured"):
        parts.append("measured board energy of the linked telemetry")
    if basis in ("partly_measured", "estimated"):
        parts.append(
            f"accelerator-seconds x {tdp:g} W board limit x draw factor "
            f"{DRAW_FACTOR['low']}/{DRAW_FACTOR['central']}/{DRAW_FACTOR['high']}"
        )
    return (
        " + ".join(parts)
        + f"; facility = board x host overhead {options.host_overhead:.2f} x PUE {options.pue:.2f}"
    )


def describe(row: Any) -> str:
    """A model's energy in one line (the report's model card)."""
    if row is None or row.basis == "none" or row.facility_kwh_central is None:
        return "— (no accelerator time on record)"
    text = (
        f"{_mwh(row.facility_kwh_central)} MWh at the facility (band "
        f"{_mwh(row.facility_kwh_low)} – {_mwh(row.facility_kwh_high)}), "
        f"{_mwh(row.board_kwh_central)} MWh on the accelerators over "
        f"{row.accelerator_hours or 0:,.1f} accelerator-hours; {row.basis.replace('_', ' ')}"
    )
    if row.coverage is not None:
        text += f" ({row.coverage:.0%} of the accelerator-time measured)"
    if row.tco2e_central is not None:
        text += f"; {row.tco2e_central:.3g} tCO2e"
    return text


def _mwh(kwh: float | None) -> str:
    return "n/a" if kwh is None else f"{kwh / 1000:.3g}"
