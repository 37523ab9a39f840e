"""Inline SVG charts for the HTML report: no JavaScript, no external fonts or files.

Every chart is a plain ``<svg>`` string with a ``<title>`` and ``<desc>`` for screen
readers, text labels on every mark that carries meaning (colour is never the only cue),
and coordinates rounded to 0.1 px so that output is byte-identical for the same data.
Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

from reconcile.compliance import sci

#: Status colours (Okabe-Ito), with a shape so that colour is never the only cue.
STATUS_COLOURS = {
    "provider": "#D55E00",  # vermillion
    "review": "#E69F00",  # orange
    "below": "#0072B2",  # blue
    "insufficient_evidence": "#6E6E6E",  # grey
}
STATUS_SYMBOLS = {"provider": "▲", "review": "◆", "below": "●", "insufficient_evidence": "?"}
#: Series colours (Okabe-Ito without yellow, which is unreadable on white).
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
SERIES_DASHES = ("", "6 3", "2 2", "8 3 2 3")
_MARKERS = ("circle", "square", "triangle", "diamond")
MARGIN_FILL = "#F3E3C3"
INK, MUTED, GRID = "#1F2933", "#52606D", "#D9DEE3"


def _f(value: float) -> str:
    """A coordinate rounded to 0.1 px, without a trailing .0."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _t(text: object) -> str:
    return str(escape(str(text)))


def power_of_ten(exponent: int) -> str:
    """``10`` with a raised exponent, as SVG text."""
    return f'10<tspan dy="-5" font-size="0.75em">{exponent}</tspan>'


@dataclass(frozen=True)
class LogAxis:
    """A base-10 logarithmic axis from 10^lo to 10^hi mapped onto [start, end] px."""

    lo: int
    hi: int
    start: float
    end: float

    @classmethod
    def covering(
        cls, values: Sequence[float], start: float, end: float, min_decades: int = 3
    ) -> LogAxis:
        """The smallest whole-decade axis covering the positive ``values``."""
        positive = [v for v in values if v and v > 0 and math.isfinite(v)] or [1.0]
        lo = math.floor(math.log10(min(positive)))
        hi = math.ceil(math.log10(max(positive)))
        if hi == math.log10(max(positive)):
            hi += 1  # keep the largest value off the edge
        while hi - lo < min_decades:
            lo -= 1
        return cls(lo, hi, start, end)

    def pos(self, value: float) -> float:
        """Pixel position of ``value`` (clamped to the axis)."""
        if value <= 0:
            return self.start
        exponent = min(max(math.log10(value), self.lo), self.hi)
        return self.start + (exponent - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def decades(self) -> range:
        """The exponents of the tick marks."""
        return range(self.lo, self.hi + 1)


def _svg(width: int, height: int, title: str, desc: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="chart" '
        f'font-family="inherit" font-size="11">'
        f"<title>{_t(title)}</title><desc>{_t(desc)}</desc>" + "".join(body) + "</svg>"
    )


def share_label(exponent: float) -> str:
    """10^exponent as a percentage: -2 → ``1 %``, -4 → ``0.01 %``, -0.11 → ``77 %``."""
    value = 10.0 ** (exponent + 2)
    if value >= 1:
        return f"{value:,.0f} %"
    return f"{value:.{math.ceil(-math.log10(value) - 1e-9)}f} %"


@dataclass(frozen=True)
class ShareRow:
    """One model in the overview chart."""

    label: str
    status: str
    share_low: float | None
    share: float | None
    share_high: float | None


def share_chart(rows: Sequence[ShareRow], margin: float, share_text: Sequence[str]) -> str:
    """Every model's compute as a share of its own threshold, on one log axis.

    The threshold (100 %) is one vertical line for all models; the band from
    1 / (1 + margin) to 100 % (where the error margin reaches the threshold) is shaded.
    """
    left, right, top, row_h = 190, 640, 26, 26
    width = right + 70
    height = top + row_h * len(rows) + 40
    values = [v for r in rows for v in (r.share_low, r.share, r.share_high) if v] + [2.0]
    axis = LogAxis.covering(values, left, right)
    threshold_x = axis.pos(1.0)
    review_x = axis.pos(1.0 / (1.0 + margin))
    bottom = top + row_h * len(rows)
    body = [
        f'<rect x="{_f(review_x)}" y="{top - 6}" width="{_f(threshold_x - review_x)}" '
        f'height="{bottom - top + 6}" fill="{MARGIN_FILL}"/>'
    ]
    for exponent in axis.decades():
        x = axis.pos(10.0**exponent)
        label = share_label(exponent)
        body.append(
            f'<line x1="{_f(x)}" y1="{top - 6}" x2="{_f(x)}" y2="{bottom}" stroke="{GRID}"/>'
            f'<text x="{_f(x)}" y="{bottom + 14}" text-anchor="middle" fill="{MUTED}">'
            f"{_t(label)}</text>"
        )
    for i, row in enumerate(rows):
        y = top + i * row_h
        mid = y + row_h / 2 - 3
        colour = STATUS_COLOURS.get(row.status, MUTED)
        body.append(
            f'<text x="{left - 8}" y="{_f(mid + 4)}" text-anchor="end" fill="{INK}">'
            f"{_t(row.label)}</text>"
        )
        if row.share is None:
            body.append(f'<text x="{left + 4}" y="{_f(mid + 4)}" fill="{MUTED}">no estimate</text>')
            continue
        x = axis.pos(row.share)
        body.append(
            f'<rect x="{left}" y="{_f(mid - 6)}" width="{_f(max(x - left, 1.5))}" height="12" '
            f'fill="{colour}" fill-opacity="0.85"/>'
        )
        if row.share_low is not None and row.share_high is not None:
            x_lo, x_hi = axis.pos(row.share_low), axis.pos(row.share_high)
            if x_hi - x_lo >= 2:
                body.append(
                    f'<line x1="{_f(x_lo)}" y1="{_f(mid)}" x2="{_f(x_hi)}" y2="{_f(mid)}" '
                    f'stroke="{INK}" stroke-width="1.5"/>'
                )
        body.append(
            f'<text x="{_f(x + 6)}" y="{_f(mid + 4)}" fill="{INK}">'
            f"{_t(STATUS_SYMBOLS.get(row.status, ''))} {_t(share_text[i])}</text>"
        )
    body.append(
        f'<line x1="{_f(threshold_x)}" y1="{top - 10}" x2="{_f(threshold_x)}" y2="{bottom}" '
        f'stroke="{INK}" stroke-width="2"/>'
        f'<text x="{_f(threshold_x)}" y="{top - 13}" text-anchor="middle" fill="{INK}" '
        f'font-weight="600">threshold</text>'
        f'<text x="{left}" y="{bottom + 30}" fill="{MUTED}">share of each model\'s own '
        f"threshold (log scale)</text>"
        f'<rect x="{right - 150}" y="{bottom + 21}" width="12" height="11" fill="{MARGIN_FILL}"/>'
        f'<text x="{right - 134}" y="{bottom + 30}" fill="{MUTED}">review zone '
        f"({_t(share_label(-math.log10(1 + margin)))} to 100 %)</text>"
    )
    return _svg(
        width,
        height,
        "Modification compute as a share of each model's threshold",
        "; ".join(f"{r.label}: {s}" for r, s in zip(rows, share_text, strict=True)),
        body,
    )


def bullet_chart(
    low: float | None,
    central: float | None,
    high: float | None,
    threshold: float,
    review_from: float,
    status: str,
) -> str:
    """One model's cumulative compute on a log FLOP axis against its threshold.

    A bar to the central figure, a whisker over the band, the threshold as a line and
    the review zone (where the error margin reaches the threshold) shaded. The axis
    starts a decade below the smallest value so that every bar has a visible length.
    """
    left, right, width, height = 12, 600, 680, 80
    values = [v for v in (low, central, high) if v] + [threshold, review_from]
    axis = LogAxis.covering([*values, min(values) / 10], left, right)
    bar_y, bar_h = 18, 16
    review_x, threshold_x = axis.pos(review_from), axis.pos(threshold)
    colour = STATUS_COLOURS.get(status, MUTED)
    body = [
        f'<rect x="{_f(review_x)}" y="{bar_y - 4}" width="{_f(threshold_x - review_x)}" '
        f'height="{bar_h + 8}" fill="{MARGIN_FILL}"/>'
    ]
    for exponent in axis.decades():
        x = axis.pos(10.0**exponent)
        body.append(
            f'<line x1="{_f(x)}" y1="{bar_y - 4}" x2="{_f(x)}" y2="{bar_y + bar_h + 4}" '
            f'stroke="{GRID}"/>'
            f'<text x="{_f(x)}" y="{height - 6}" text-anchor="middle" '
            f'fill="{MUTED}">{power_of_ten(exponent)}</text>'
        )
    if central is not None:
        x = axis.pos(central)
        body.append(
            f'<rect x="{left}" y="{bar_y}" width="{_f(max(x - left, 1.5))}" height="{bar_h}" '
            f'fill="{colour}" fill-opacity="0.85"/>'
        )
        if low is not None and high is not None and axis.pos(high) - axis.pos(low) >= 2:
            mid = bar_y + bar_h / 2
            body.append(
                f'<line x1="{_f(axis.pos(low))}" y1="{_f(mid)}" x2="{_f(axis.pos(high))}" '
                f'y2="{_f(mid)}" stroke="{INK}" stroke-width="1.5"/>'
            )
        body.append(
            f'<text x="{_f(max(x, left + 70))}" y="{bar_y - 5}" text-anchor="end" '
            f'fill="{INK}" font-weight="600">{_t(sci(central))}</text>'
        )
    label_x = min(max(threshold_x, left + 70), right - 40)
    body.append(
        f'<line x1="{_f(threshold_x)}" y1="{bar_y - 2}" x2="{_f(threshold_x)}" '
        f'y2="{bar_y + bar_h + 8}" stroke="{INK}" stroke-width="2"/>'
        f'<text x="{_f(label_x)}" y="{bar_y + bar_h + 20}" text-anchor="middle" fill="{INK}">'
        f"threshold {_t(sci(threshold))}</text>"
        f'<text x="{width - 2}" y="{height - 6}" text-anchor="end" fill="{MUTED}">FLOP, log</text>'
    )
    return _svg(
        width,
        height,
        "Cumulative modification compute against the threshold",
        f"central {sci(central)} FLOP, band {sci(low)} to {sci(high)}, threshold "
        f"{sci(threshold)} FLOP, review from {sci(review_from)} FLOP",
        body,
    )


def methods_chart(rows: Sequence[tuple[str, float | None, float | None, float | None]]) -> str:
    """Every method's figure for one run on one log FLOP axis: a whisker over each band
    and a dot at each central figure, one line per method (method, low, central, high),
    so that how far the methods agree is seen at a glance."""
    shown = [r for r in rows if r[2]]
    if not shown:
        return ""
    left, right, label_w = 96, 600, 90
    width, line_h = 680, 18
    height = 20 + line_h * len(shown) + 22
    values = [v for _, *band in shown for v in band if v]
    axis = LogAxis.covering(values, left, right, min_decades=2)
    body: list[str] = []
    bottom = 14 + line_h * len(shown)
    for exponent in axis.decades():
        x = axis.pos(10.0**exponent)
        body.append(
            f'<line x1="{_f(x)}" y1="8" x2="{_f(x)}" y2="{_f(bottom)}" stroke="{GRID}"/>'
            f'<text x="{_f(x)}" y="{_f(bottom + 14)}" text-anchor="middle" '
            f'fill="{MUTED}">{power_of_ten(exponent)}</text>'
        )
    for index, (method, low, central, high) in enumerate(shown):
        y = 18 + index * line_h
        strong = method == "combined"
        colour = INK if strong else MUTED
        body.append(
            f'<text x="{label_w}" y="{_f(y + 4)}" text-anchor="end" fill="{INK}"'
            f"{' font-weight=' + chr(34) + '600' + chr(34) if strong else ''}>{_t(method)}</text>"
        )
        if low and high:
            body.append(
                f'<line x1="{_f(axis.pos(low))}" y1="{_f(y)}" x2="{_f(axis.pos(high))}" '
                f'y2="{_f(y)}" stroke="{colour}" stroke-width="{3 if strong else 1.5}"/>'
            )
        assert central is not None
        body.append(
            f'<circle cx="{_f(axis.pos(central))}" cy="{_f(y)}" r="{4 if strong else 3}" '
            f'fill="{colour}"/>'
            f'<text x="{width - 2}" y="{_f(y + 4)}" text-anchor="end" fill="{MUTED}">'
            f"{_t(sci(central))}</text>"
        )
    return _svg(
        width,
        height,
        "Every method's figure for the run, on one log FLOP axis",
        "; ".join(f"{m}: {sci(c)} FLOP ({sci(lo)} to {sci(hi)})" for m, lo, c, hi in shown),
        body,
    )


@dataclass(frozen=True)
class Series:
    """One line of the cumulative chart, with its style (``series_styles``)."""

    label: str
    values: Sequence[float]
    style: tuple[str, str, str]
    threshold: float | None = None


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "square":
        return f'<rect x="{_f(x - 3.5)}" y="{_f(y - 3.5)}" width="7" height="7" fill="{colour}"/>'
    if kind == "triangle":
        return (
            f'<path d="M{_f(x)} {_f(y - 4.5)}L{_f(x + 4.5)} {_f(y + 3.5)}L{_f(x - 4.5)} '
            f'{_f(y + 3.5)}Z" fill="{colour}"/>'
        )
    if kind == "diamond":
        return (
            f'<path d="M{_f(x)} {_f(y - 4.5)}L{_f(x + 4.5)} {_f(y)}L{_f(x)} {_f(y + 4.5)}'
            f'L{_f(x - 4.5)} {_f(y)}Z" fill="{colour}"/>'
        )
    return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3.5" fill="{colour}"/>'


def series_styles(statuses: Sequence[str]) -> list[tuple[str, str, str]]:
    """Colour, dash pattern and marker per series: a provider model in the provider
    colour, a review model in the review colour, the others from the rest of the palette
    (so that no other model looks like a status it does not have).
    """
    reserved = {"provider": STATUS_COLOURS["provider"], "review": STATUS_COLOURS["review"]}
    palette = [c for c in SERIES_COLOURS if c not in reserved.values()]
    styles, others = [], 0
    for index, status in enumerate(statuses):
        if status in reserved:
            colour, dash = reserved[status], ""
        else:
            colour = palette[others % len(palette)]
            dash = SERIES_DASHES[(others // len(palette)) % len(SERIES_DASHES)]
            others += 1
        styles.append((colour, dash, _MARKERS[index % len(_MARKERS)]))
    return styles


def legend_swatch(style: tuple[str, str, str]) -> str:
    """A small SVG of a series' line and marker, for the legend."""
    colour, dash, marker = style
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="30" height="12" viewBox="0 0 30 12" '
        'aria-hidden="true">'
        f'<line x1="1" y1="6" x2="29" y2="6" stroke="{colour}" stroke-width="2"{dashed}/>'
        + _marker(marker, 15, 6, colour)
        + "</svg>"
    )


def cumulative_chart(months: Sequence[str], series: Sequence[Series]) -> str:
    """Cumulative FLOPs per model by month on a log axis, with the thresholds given."""
    left, right, top, bottom = 64, 660, 14, 254
    width, height = 700, 290
    values = [v for s in series for v in s.values if v > 0] + [
        s.threshold for s in series if s.threshold
    ]
    axis = LogAxis.covering(values, bottom, top)
    step = (right - left) / max(len(months), 1)
    xs = [left + step * (i + 0.5) for i in range(len(months))]
    body = []
    for exponent in axis.decades():
        y = axis.pos(10.0**exponent)
        body.append(
            f'<line x1="{left}" y1="{_f(y)}" x2="{right}" y2="{_f(y)}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_f(y + 4)}" text-anchor="end" fill="{MUTED}">'
            f"{power_of_ten(exponent)}</text>"
        )
    for x, month in zip(xs, months, strict=True):
        body.append(
            f'<text x="{_f(x)}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED}">'
            f"{_t(month)}</text>"
        )
    for item in series:
        colour, dash, marker = item.style
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        if item.threshold:
            y = axis.pos(item.threshold)
            body.append(
                f'<line x1="{left}" y1="{_f(y)}" x2="{right}" y2="{_f(y)}" stroke="{colour}" '
                f'stroke-width="1.2" stroke-dasharray="3 4"/>'
                f'<text x="{left + 4}" y="{_f(y - 4)}" fill="{colour}">'
                f"threshold of {_t(item.label)} ({_t(sci(item.threshold))})</text>"
            )
        points = [(x, axis.pos(v)) for x, v in zip(xs, item.values, strict=True) if v > 0]
        if len(points) > 1:
            path = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dashed}/>'
            )
        body.extend(_marker(marker, x, y, colour) for x, y in points)
    body.append(
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>'
        f'<text x="12" y="{top + 4}" fill="{MUTED}" transform="rotate(-90 12 {top + 4})" '
        f'text-anchor="end">FLOP, cumulative (log)</text>'
    )
    return _svg(
        width,
        height,
        "Cumulative modification compute per model by month",
        "; ".join(
            f"{s.label}: "
            + ", ".join(f"{m} {sci(v)}" for m, v in zip(months, s.values, strict=True))
            for s in series
        ),
        body,
    )


def lineage_chart(
    base: str | None,
    runs: Sequence[tuple[str, str | None, str, float | None]],
    model: str,
    status: str,
    more: int = 0,
) -> str:
    """A model's lineage as a picture: the third-party base at the top, the runs whose
    compute counts in the order they started (run id, relation, how it was linked, its
    FLOP), the model at the bottom; each arrow labelled with how the run below it was
    linked. ``more`` runs not drawn are said in a last box."""
    width, box_w, row_h, left = 680, 300, 34, 20
    nodes: list[tuple[str, str, str]] = [(base or "base model unknown", "third-party base", MUTED)]
    for run_id, relation, source, flops in runs:
        label = f"{relation or 'run'} · {source}"
        nodes.append((run_id, f"{label} · {sci(flops)} FLOP" if flops else label, INK))
    if more:
        nodes.append((f"… and {more} more run(s)", "every run in runs.csv", MUTED))
    nodes.append((model, status.replace("_", " "), STATUS_COLOURS.get(status, INK)))
    height = 10 + row_h * len(nodes)
    body: list[str] = []
    for index, (name, note, colour) in enumerate(nodes):
        y = 6 + index * row_h
        shown = name if len(name) <= 44 else name[:41] + "…"
        body.append(
            f'<rect x="{left}" y="{_f(y)}" width="{box_w}" height="22" rx="4" fill="#FFFFFF" '
            f'stroke="{colour}" stroke-width="{2 if index == len(nodes) - 1 else 1}"/>'
            f'<text x="{left + 8}" y="{_f(y + 15)}" fill="{INK}">{_t(shown)}</text>'
        )
        if index:
            x = left + box_w / 2
            body.append(  # an arrow: a line and its head (drawn, no marker reference)
                f'<line x1="{_f(x)}" y1="{_f(y - 12)}" x2="{_f(x)}" y2="{_f(y - 5)}" '
                f'stroke="{MUTED}"/><path class="arrow" d="M{_f(x - 4)},{_f(y - 6)} '
                f'L{_f(x + 4)},{_f(y - 6)} L{_f(x)},{_f(y - 1)} z" fill="{MUTED}"/>'
            )
        body.append(
            f'<text x="{left + box_w + 14}" y="{_f(y + 15)}" fill="{MUTED}">'
            f"{_powers(_t(note))}</text>"
        )
    return _svg(
        width,
        height,
        f"Lineage of {model}",
        f"From {base or 'an unknown base'} through {len(runs) + more} run(s) to {model} "
        f"({status.replace('_', ' ')}): "
        + "; ".join(f"{r} ({rel or 'run'}, {src})" for r, rel, src, _ in runs),
        body,
    )


def _powers(text: str) -> str:
    """``4.3×10^22 FLOP`` in SVG text with a raised exponent and the text after it back on
    the baseline."""
    parts = re.split(r"10\^(-?\d+)", text)
    out = [parts[0]]
    for exponent, after in zip(parts[1::2], parts[2::2], strict=True):
        out.append(f'{power_of_ten(int(exponent))}<tspan dy="5">{after}</tspan>')
    return "".join(out)
