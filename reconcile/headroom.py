"""How much more a model can be trained before review and before provider, and when it
crossed into either.

* **Headroom** uses the band's high end, so it is never optimistic: before ``provider``,
  threshold − cumulative high; before ``review``, the least of threshold − high and
  threshold ÷ (1 + margin) − central (a model is in review once its high end reaches the
  threshold or its central figure comes within the guidelines' error margin of it; see
  ``reconcile.compliance``). Zero once the status is reached.
* **In accelerator-hours**, for each accelerator type the organisation's runs used: the
  headroom ÷ (the type's dense BF16/FP16 peak × the utilisation those runs reached ×
  3600). The utilisation is the median implied utilisation (architecture FLOPs ÷ what the
  recorded accelerator time delivers at 100 % of peak) of the runs on that type that have
  one in (0, 1]; where none has, the estimator's assumed central utilisation, said so.
* **Crossing dates**: the member runs with a figure, in the order they ended, summed one by
  one; the end of the run after which the cumulative band first meets ``review`` (or
  ``provider``) is when the model crossed. Runs without dates cannot be placed: a model
  whose figure needs them has no crossing date.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from reconcile import flops
from reconcile.catalog import load_catalog, reference_peak
from reconcile.compliance import ACCURACY_MARGIN, band_status, sci
from reconcile.numbers import percent


@dataclass(frozen=True)
class HoursLeft:
    """Headroom in hours of one accelerator type the organisation uses.

    Attributes:
        accelerator: catalog accelerator key.
        runs: the organisation's runs on it.
        utilisation: the utilisation assumed for new training on it (0-1).
        utilisation_basis: observed (median of N runs' implied utilisation) or assumed.
        hours_to_review: accelerator-hours left before review, or null when reached.
        hours_to_provider: accelerator-hours left before provider, or null when reached.
    """

    accelerator: str
    runs: int
    utilisation: float
    utilisation_basis: str
    hours_to_review: float | None
    hours_to_provider: float | None


@dataclass(frozen=True)
class Headroom:
    """A model's compute left and its crossings.

    Attributes:
        model_id: the model.
        flops_to_review: FLOP left before review (0 once there), null without a figure.
        flops_to_provider: FLOP left before provider (0 once there), null without a figure.
        crossed_review_at: when the model entered review or beyond (UTC, ISO 8601), or null.
        crossed_provider_at: when the model became a provider (UTC, ISO 8601), or null.
        hours: the headroom in accelerator-hours per accelerator type in use.
    """

    model_id: str
    flops_to_review: float | None
    flops_to_provider: float | None
    crossed_review_at: str | None
    crossed_provider_at: str | None
    hours: list[HoursLeft]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``status --json``, ``run --json``, ``report.json``)."""
        return asdict(self)


def flops_left(
    central: float | None, high: float | None, threshold: float
) -> tuple[float | None, float | None]:
    """(FLOP left before review, before provider) for a cumulative band."""
    if central is None or high is None:
        return None, None
    to_provider = max(0.0, threshold - high)
    to_review = max(0.0, min(threshold - high, threshold / (1 + ACCURACY_MARGIN) - central))
    return to_review, to_provider


def crossings(
    runs: list[tuple[datetime | None, float, float]], threshold: float
) -> tuple[datetime | None, datetime | None]:
    """(entered review, became provider) from ``(ended_at, central, high)`` per run."""
    dated: list[tuple[datetime, float, float]] = [(e, c, h) for e, c, h in runs if e is not None]
    dated.sort(key=lambda r: r[0])
    undated = [r for r in runs if r[0] is None]
    central = sum(r[1] for r in undated)
    high = sum(r[2] for r in undated)
    if band_status(central, high, threshold) != "below":
        return None, None  # reached by runs that cannot be placed in time
    review = provider = None
    for ended, run_central, run_high in dated:
        central += run_central
        high += run_high
        status = band_status(central, high, threshold)
        if status != "below" and review is None:
            review = ended
        if status == "provider" and provider is None:
            provider = ended
    return review, provider


def headrooms(con: duckdb.DuckDBPyConnection) -> dict[str, Headroom]:
    """Every assessed model's headroom and crossings, from the stored estimate."""
    catalog = load_catalog()
    statuses = con.execute(
        "SELECT model_id, flops_central, flops_high, threshold_flops FROM compliance_status"
    ).fetchall()
    members: dict[str, list[tuple[datetime | None, float, float]]] = defaultdict(list)
    for model, ended, central, high in con.execute(
        "SELECT l.model_id, coalesce(r.ended_at, r.started_at), e.flops_central, e.flops_high "
        "FROM model_lineage l JOIN resolved_runs r ON r.run_key = l.run_id "
        "JOIN run_estimates e ON e.run_id = l.run_id AND e.method = 'combined' "
        "WHERE e.flops_central IS NOT NULL ORDER BY l.model_id, l.run_id"
    ).fetchall():
        members[model].append((ended, float(central), float(high)))
    in_use: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for accelerator, assumptions in con.execute(
        "SELECT r.accelerator, e.assumptions FROM resolved_runs r LEFT JOIN run_estimates e "
        "ON e.run_id = r.run_key AND e.method = 'architecture' WHERE r.accelerator IS NOT NULL"
    ).fetchall():
        counts[accelerator] += 1
        implied = json.loads(assumptions or "{}").get("implied_utilisation")
        if isinstance(implied, int | float) and 0 < implied <= 1:
            in_use[accelerator].append(float(implied))
    rates = []
    for name in sorted(counts):
        accelerator = catalog.match_accelerator(name)
        if accelerator is None:
            continue
        try:
            peak, _ = reference_peak(accelerator, None)
        except ValueError:
            continue
        observed = in_use.get(name, [])
        if observed:
            utilisation = statistics.median(observed)
            basis = f"observed: median implied utilisation of {len(observed)} run(s)"
        else:
            utilisation = flops.DEFAULT_UTILISATION["central"]
            basis = "assumed: no run on it has an implied utilisation"
        rates.append((name, counts[name], utilisation, basis, peak * utilisation * 3600.0))
    out = {}
    for model, central, high, threshold in statuses:
        to_review, to_provider = flops_left(central, high, float(threshold))
        review_at, provider_at = crossings(members.get(model, []), float(threshold))
        out[model] = Headroom(
            model_id=model,
            flops_to_review=to_review,
            flops_to_provider=to_provider,
            crossed_review_at=_iso(review_at),
            crossed_provider_at=_iso(provider_at),
            hours=[
                HoursLeft(
                    accelerator=name,
                    runs=n,
                    utilisation=utilisation,
                    utilisation_basis=basis,
                    hours_to_review=to_review / per_hour if to_review else None,
                    hours_to_provider=to_provider / per_hour if to_provider else None,
                )
                for name, n, utilisation, basis, per_hour in rates
            ],
        )
    return out


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def describe(room: Headroom) -> list[str]:
    """Plain lines for a terminal: the headroom, in hours, and the crossings."""
    lines = []
    if room.crossed_provider_at:
        lines.append(f"crossed into provider on {room.crossed_provider_at[:10]}")
    if room.crossed_review_at:
        lines.append(f"crossed into review on {room.crossed_review_at[:10]}")
    for label, value, attr in (
        ("review", room.flops_to_review, "hours_to_review"),
        ("provider", room.flops_to_provider, "hours_to_provider"),
    ):
        if not value:
            continue
        hours = [
            f"≈ {getattr(h, attr):,.0f} more {h.accelerator}-hours at the "
            f"{percent(h.utilisation)} {_basis(h)}"
            for h in sorted(room.hours, key=lambda h: (-h.runs, h.accelerator))[:2]
            if getattr(h, attr)
        ]
        lines.append(
            f"headroom before {label}: {sci(value)} FLOP"
            + (f" ({'; '.join(hours)})" if hours else "")
        )
    return lines


def _basis(hours: HoursLeft) -> str:
    return "its runs reach" if hours.utilisation_basis.startswith("observed") else "assumed"
