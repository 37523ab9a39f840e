"""Rendering the report model as HTML, Markdown and JSON, and writing the files safely.

All three formats come from one ``reconcile.report.Report``: HTML and Markdown through
the Jinja2 templates shipped in ``reconcile/templates/``, JSON as the dataclasses
themselves. Files are first written to temporary files in the output folder and moved
into place only when every format has been rendered and written; on any error the
temporary files are removed and earlier reports are left as they were.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reconcile import charts, compliance
from reconcile.compliance import sci
from reconcile.errors import ConfigError
from reconcile.numbers import percent
from reconcile.report import Report, ReportError

FORMATS = ("html", "md", "json")
FILE_NAMES = {"html": "report.html", "md": "report.md", "json": "report.json"}


def parse_formats(text: str) -> tuple[str, ...]:
    """``"html,md"`` → ``("html", "md")`` in canonical order.

    Raises:
        ConfigError: an unknown or empty format list.
    """
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(FORMATS))
    if unknown or not wanted:
        raise ConfigError(
            f"unknown report format {', '.join(unknown) or '(none)'}",
            hint=f"choose from {', '.join(FORMATS)}, comma-separated",
        )
    return tuple(f for f in FORMATS if f in wanted)


# ------------------------------------------------------------------------ filters


def _dash(value: Any) -> Any:
    return "—" if value is None or value == "" else value


def _sci(value: float | None) -> str:
    return "—" if value is None else sci(value)


def _integer(value: int | float | None) -> str:
    return "—" if value is None else f"{round(value):,}"


def _decimal(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _plain(value: Any) -> str:
    """One assumption value as text: FLOP-sized numbers to 2 significant figures."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return sci(value) if abs(value) >= 1e6 else f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return sci(value)
        if abs(value) >= 1000:
            return f"{value:,.1f}".removesuffix(".0")
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value) if value else "—"
    return str(value)


def flatten(value: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested assumptions as ``(dotted.key, text)`` pairs, in key order."""
    pairs: list[tuple[str, str]] = []
    for key in sorted(value):
        item = value[key]
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            pairs.extend(flatten(item, name + "."))
        elif isinstance(item, list) and item and all(isinstance(v, dict) for v in item):
            for index, element in enumerate(item):
                pairs.extend(flatten(element, f"{name}[{index}]."))
        else:
            pairs.append((name, _plain(item)))
    return pairs


def slug(text: str) -> str:
    """An HTML id from a model or run id."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def _md(value: Any) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return " ".join(str(_dash(value)).replace("|", "\\|").split())


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reconcile", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        sci=_sci,
        pct=percent,
        integer=_integer,
        decimal=_decimal,
        dash=_dash,
        plain=_plain,
        flatten=flatten,
        slug=slug,
        md=_md,
    )
    return env


# ---------------------------------------------------------------------- renderers


def to_json(report: Report) -> str:
    """The report as JSON (see ``report.schema.json``)."""
    return json.dumps(asdict(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _charts(report: Report) -> dict[str, Any]:
    share_rows = [
        charts.ShareRow(
            m.model_id,
            m.status,
            m.flops_low / m.threshold_flops if m.flops_low is not None else None,
            m.share_of_threshold,
            m.flops_high / m.threshold_flops if m.flops_high is not None else None,
        )
        for m in report.models
    ]
    watched = {"provider", "review"}
    styles = charts.series_styles([s.status for s in report.timeline.series])
    series = [
        charts.Series(
            s.model_id,
            s.cumulative_flops,
            style,
            s.threshold_flops if s.status in watched else None,
        )
        for s, style in zip(report.timeline.series, styles, strict=True)
    ]
    return {
        "overview": Markup(
            charts.share_chart(
                share_rows,
                compliance.ACCURACY_MARGIN,
                [percent(m.share_of_threshold) for m in report.models],
            )
        )
        if report.models
        else "",
        "bullets": {
            m.model_id: Markup(
                charts.bullet_chart(
                    m.flops_low,
                    m.flops_central,
                    m.flops_high,
                    m.threshold_flops,
                    m.review_from_flops,
                    m.status,
                )
            )
            for m in report.models
        },
        "cumulative": Markup(charts.cumulative_chart(report.timeline.months, series))
        if report.timeline.months and report.timeline.series
        else "",
        "swatches": [Markup(charts.legend_swatch(style)) for style in styles],
    }


def _context(report: Report) -> dict[str, Any]:
    return {
        "report": report,
        "colours": charts.STATUS_COLOURS,
        "symbols": charts.STATUS_SYMBOLS,
        "margin": compliance.ACCURACY_MARGIN,
        "file_names": FILE_NAMES,
    }


def to_html(report: Report) -> str:
    """One self-contained HTML file: inline CSS and SVG, no scripts, A4-printable."""
    template = _environment().get_template("report.html.j2")
    return template.render(**_context(report), charts=_charts(report))


def to_markdown(report: Report) -> str:
    """The report as Markdown (tables, no charts)."""
    template = _environment().get_template("report.md.j2")
    return template.render(**_context(report))


_RENDERERS = {"html": to_html, "md": to_markdown, "json": to_json}


def render(report: Report, formats: Sequence[str] = FORMATS) -> dict[str, str]:
    """File name → content for each requested format."""
    return {FILE_NAMES[f]: _RENDERERS[f](report) for f in formats}


def write_files(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write every file to a temporary file in ``out_dir``, then move all into place.

    Nothing is moved until every file has been written; on an error the temporary
    files are removed and the previous files stay as they were.

    Raises:
        ReportError: the folder or a file cannot be written.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{out_dir}: cannot create the output folder: {exc.strerror}") from exc
    temporary: dict[Path, Path] = {}
    try:
        for name, text in files.items():
            target = out_dir / name
            if target.is_dir():
                raise ReportError(f"{target}: is a folder", hint="remove it or choose --out")
            handle, temp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp")
            temporary[target] = Path(temp_name)
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
        for target, temp in temporary.items():
            os.chmod(temp, 0o644)
            os.replace(temp, target)
    except OSError as exc:
        raise ReportError(f"{out_dir}: cannot write the report: {exc}") from exc
    finally:
        for temp in temporary.values():
            temp.unlink(missing_ok=True)
    return list(temporary)
