"""Rendering the report model as HTML, Markdown and JSON, and writing the files safely.

All three formats come from one ``reconcile.report.model.Report``: HTML and Markdown through
the Jinja2 templates shipped in ``reconcile/templates/``, JSON as the dataclasses
themselves. Files are first written to temporary files in the output folder and moved
into place only when every format has been rendered and written; on any error the
temporary files are removed and earlier reports are left as they were.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from reconcile import compliance, documentation, energy, headroom
from reconcile.compliance import sci
from reconcile.errors import redact_secrets
from reconcile.numbers import percent
from reconcile.report import charts
from reconcile.report.model import Report, ReportError
from reconcile.settings import REPORT_FORMATS

FILE_NAMES = {"html": "report.html", "md": "report.md", "json": "report.json"}
#: The ``csv`` format: the appendix, one row per run and one per link.
CSV_FILES = ("runs.csv", "links.csv")
#: Runs shown in full in HTML and Markdown; a larger organisation gets its largest
#: contributors in full and every run in the appendix (runs.csv, links.csv, report.json),
#: so the document stays readable (and loadable) at 10,000 runs.
DETAIL_RUNS = 100
#: Lineage rows shown per model, and flags listed one by one per model, before a summary.
LINEAGE_ROWS = 25
FLAG_ROWS = 20
#: Runs named per kind of missing evidence before "and N more".
NAMED_RUNS = 20


def file_names(formats: Sequence[str]) -> list[str]:
    """The files the ``formats`` write."""
    return [n for f in formats for n in (CSV_FILES if f == "csv" else (FILE_NAMES[f],))]


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


class MarkdownText(str):
    """Text already escaped for Markdown (the ``md`` filter's output): not escaped again."""


#: Characters that start inline Markdown anywhere in a line: emphasis, code spans, links
#: and images, raw HTML and autolinks (``<``; ``>`` quotes only at a line start),
#: entities, table cells, strikethrough, and the backslash itself. Each is
#: backslash-escaped (CommonMark allows it for any ASCII punctuation, and GFM tables
#: honour ``\\|``). An underscore between two letters or digits (``n_ctx``) cannot open
#: or close emphasis and stays as it is.
_MD_INLINE = re.compile(r"([\\`*\[\]<&|~]|(?<![^\W_])_|_(?![^\W_]))")
#: What makes a line a block (heading, list item, quote, rule, setext underline) when
#: a value starts the line; escaped at the start of every value, wherever it lands.
_MD_BLOCK_START = re.compile(r"^(?:([#+=>-])|(\d{1,9})([.)])(?=\s|$))")


def _md(value: Any, code: bool = False) -> MarkdownText:
    """Any data value as inert Markdown on one line: the one filter for report.md.

    Every character that could start markup is escaped, line breaks fold into spaces
    (no value can start a heading, list or table row), and with ``code`` the value is
    a code span whose backtick fence is longer than any run of backticks inside it.
    Pipes are escaped either way, so a value never adds a table column.
    """
    if isinstance(value, MarkdownText):
        return value
    text = " ".join(str(_dash(value)).split())
    if code:
        longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
        fence = "`" * (longest + 1)
        pad = " " if text.startswith("`") or text.endswith("`") else ""
        body = text.replace("|", "\\|")
        return MarkdownText(f"{fence}{pad}{body}{pad}{fence}")
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_BLOCK_START.sub(lambda m: "\\" + m[1] if m[1] else m[2] + "\\" + m[3], text)
    return MarkdownText(text)


def _fenced(value: Any, info: str = "") -> MarkdownText:
    """A multi-line text as a fenced code block, fence longer than any inside it."""
    text = str(value)
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return MarkdownText(f"{fence}{info}\n{text}\n{fence}")


def _md_finalize(value: Any) -> Any:
    """Every ``{{ … }}`` of the Markdown template goes through ``_md``: a field someone
    forgets to filter is escaped all the same (autoescaping, for Markdown)."""
    return _md(value)


_POWER = re.compile(r"10\^(-?\d+)")
_CODE = re.compile(r"``([^`]+)``")
_BULLET = re.compile(r"^[*-] ")


def superscripts(text: Any) -> Markup:
    """``text`` escaped for HTML, with every ``10^22`` as 10<sup>22</sup> (body text: the
    plain ``^`` form stays in Markdown, JSON, CSV and the terminal)."""
    if text is None:
        return Markup("—")
    return Markup(_POWER.sub(r"10<sup>\1</sup>", str(escape(str(text)))))


def prose(text: str) -> Markup:
    """A module's documentation as HTML prose: paragraphs, bullet lists, ``code`` and
    superscripts (the report's Methods section shows the code's own words)."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if lines and _BULLET.match(lines[0]):
            items: list[str] = []
            for line in lines:
                if _BULLET.match(line):
                    items.append(line[2:].strip())
                elif items:
                    items[-1] += " " + line.strip()
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return Markup("\n".join(out))


def _inline(text: str) -> str:
    html = str(superscripts(text))
    return _CODE.sub(r"<code>\1</code>", html)


def _html_finalize(value: Any) -> Any:
    """Every text the HTML template prints gets its powers of ten as superscripts (markup
    made here, the charts' SVG included, passes as it is)."""
    if isinstance(value, str) and not isinstance(value, Markup) and "10^" in value:
        return superscripts(value)
    return value


def _environment(markdown: bool = False) -> jinja2.Environment:
    env = jinja2.Environment(
        finalize=_md_finalize if markdown else _html_finalize,
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
        fenced=_fenced,
        headroom_lines=lambda room: headroom.describe(room) if room else [],
        energy_text=energy.describe,
        doc_lines=documentation.lines,
    )
    env.filters["prose"] = (lambda value: value) if markdown else prose
    return env


# ---------------------------------------------------------------------- renderers


def to_json(report: Report) -> str:
    """The report as JSON (see ``report.schema.json``)."""
    return json.dumps(asdict(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _charts(
    report: Report, detailed: Sequence[Any], lineage: Mapping[str, Sequence[Any]]
) -> dict[str, Any]:
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
        "methods": {
            r.run_id: Markup(
                charts.methods_chart(
                    [
                        (e.method, e.flops_low, e.flops_central, e.flops_high)
                        for e in r.estimates
                        if e.available
                    ]
                )
            )
            for r in detailed
        },
        "lineage": {
            m.model_id: Markup(
                charts.lineage_chart(
                    m.base_model,
                    [
                        (r.run_id, r.relation, r.lineage_source, r.flops_central)
                        for r in sorted(
                            lineage[m.model_id], key=lambda r: (r.started_at or "~", r.run_id)
                        )
                    ],
                    m.model_id,
                    m.status,
                    more=len(m.runs) - len(lineage[m.model_id]),
                )
            )
            for m in report.models
        },
        "cumulative": Markup(charts.cumulative_chart(report.timeline.months, series))
        if report.timeline.months and report.timeline.series
        else "",
        "swatches": [Markup(charts.legend_swatch(style)) for style in styles],
    }


def _largest(runs: Sequence[Any], count: int, central: Callable[[Any], float | None]) -> list[Any]:
    """The ``count`` runs of largest ``central`` figure (ties by run id), in their order."""
    if len(runs) <= count:
        return list(runs)
    chosen = {
        r.run_id for r in sorted(runs, key=lambda r: (-(central(r) or 0.0), r.run_id))[:count]
    }
    return [r for r in runs if r.run_id in chosen]


def _run_central(run: Any) -> float:
    combined = next((e for e in run.estimates if e.method == "combined"), None)
    return float(combined.flops_central or 0.0) if combined else 0.0


def _context(report: Report) -> dict[str, Any]:
    """The templates' context: the report, and what a large organisation shows in full."""
    detailed = _largest(report.runs, DETAIL_RUNS, _run_central)
    lineage, lineage_rest, flag_groups = {}, {}, {}
    for model in report.models:
        shown = _largest(model.runs, LINEAGE_ROWS, lambda r: r.flops_central)
        lineage[model.model_id] = shown
        rest = [r for r in model.runs if r not in shown]
        deciders: dict[str, int] = {}
        for run in model.runs:
            deciders[run.decided_by or "none"] = deciders.get(run.decided_by or "none", 0) + 1
        lineage_rest[model.model_id] = {
            "runs": len(rest),
            "flops": sum(r.flops_central or 0.0 for r in rest),
            "deciders": sorted(deciders.items(), key=lambda item: (-item[1], item[0])),
        }
        if len(model.flags) > FLAG_ROWS:
            groups: dict[tuple[str, str], list[str]] = {}
            for flag in model.flags:
                groups.setdefault((flag.code, flag.text), []).append(flag.run_id or "")
            flag_groups[model.model_id] = sorted(
                ((code, text, [r for r in runs if r]) for (code, text), runs in groups.items()),
                key=lambda item: (-len(item[2]), item[0]),
            )
    return {
        "report": report,
        "colours": charts.STATUS_COLOURS,
        "symbols": charts.STATUS_SYMBOLS,
        "margin": compliance.ACCURACY_MARGIN,
        "file_names": FILE_NAMES,
        "detailed_runs": detailed,
        "detailed_ids": {r.run_id for r in detailed},
        "lineage": lineage,
        "lineage_rest": lineage_rest,
        "flag_groups": flag_groups,
        "named_runs": NAMED_RUNS,
    }


def to_csv(report: Report) -> dict[str, str]:
    """The appendix: ``runs.csv`` (one row per run: its figures by method, what decided,
    its flags and evidence) and ``links.csv`` (one row per linked usage group, billing
    group or allocated window), for the organisations whose runs the HTML summarises."""
    runs = io.StringIO()
    writer = csv.writer(runs, lineterminator="\n")
    methods = [e.method for e in report.runs[0].estimates] if report.runs else []
    writer.writerow(
        [
            "run_id",
            "models",
            "platform",
            "base_model",
            "method",
            "objective",
            "tokens",
            "tokens_basis",
            "started_at",
            "ended_at",
            "accelerator",
            "accelerator_count",
            "decided_by",
            *(f"{m}_flops_{k}" for m in methods for k in ("low", "central", "high")),
            "flags",
            "evidence_ids",
        ]
    )
    for run in report.runs:
        figures = {e.method: e for e in run.estimates}
        writer.writerow(
            [
                run.run_id,
                ";".join(run.models),
                run.platform,
                run.base_model,
                run.method,
                run.objective,
                run.tokens,
                run.tokens_basis,
                run.started_at,
                run.ended_at,
                run.accelerator,
                run.accelerator_count,
                run.decided_by,
                *(
                    _csv_number(getattr(figures[m], f"flops_{k}"))
                    for m in methods
                    for k in ("low", "central", "high")
                ),
                ";".join(f.code for f in run.flags),
                ";".join(run.evidence_ids),
            ]
        )
    links = io.StringIO()
    writer = csv.writer(links, lineterminator="\n")
    writer.writerow(
        [
            "run_id",
            "kind",
            "source",
            "account_or_cluster",
            "job_or_resource",
            "match_method",
            "confidence",
            "rows_or_lines",
            "accelerator_hours",
            "cost_billed",
            "currency",
            "window_id",
            "evidence_id",
        ]
    )
    for run in report.runs:
        for u in run.usage:
            writer.writerow(
                [
                    run.run_id,
                    "usage",
                    u.source_kind,
                    u.cluster,
                    u.job_key,
                    u.match_method,
                    u.confidence,
                    u.rows,
                    _csv_number(u.gpu_hours),
                    None,
                    None,
                    None,
                    u.evidence_id,
                ]
            )
        for b in run.billing:
            writer.writerow(
                [
                    run.run_id,
                    "billing",
                    b.provider,
                    b.account_id,
                    b.resource_id,
                    b.match_method,
                    b.confidence,
                    b.lines,
                    _csv_number(b.accelerator_hours),
                    _csv_number(b.cost_billed),
                    b.currency,
                    b.window_id,
                    b.evidence_id,
                ]
            )
    return {"runs.csv": runs.getvalue(), "links.csv": links.getvalue()}


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def to_html(report: Report) -> str:
    """One self-contained HTML file: inline CSS and SVG, no scripts, A4-printable."""
    template = _environment().get_template("report.html.j2")
    context = _context(report)
    return template.render(
        **context, charts=_charts(report, context["detailed_runs"], context["lineage"])
    )


def to_markdown(report: Report) -> str:
    """The report as Markdown (tables, no charts)."""
    template = _environment(markdown=True).get_template("report.md.j2")
    return template.render(**_context(report))


_RENDERERS = {"html": to_html, "md": to_markdown, "json": to_json}


def render(report: Report, formats: Sequence[str] = REPORT_FORMATS) -> dict[str, str]:
    """File name → content for each requested format.

    Quarantine errors are masked again (``[logging] secret_tags``): an entry recorded
    before a tag was declared secret must not carry its value into the report.
    """
    report = replace(
        report,
        quarantined=[replace(q, error=redact_secrets(q.error)) for q in report.quarantined],
    )
    files: dict[str, str] = {}
    for f in formats:
        if f == "csv":
            files.update(to_csv(report))
        else:
            files[FILE_NAMES[f]] = _RENDERERS[f](report)
    return files


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
            # mkstemp creates the file exclusively (O_EXCL): never through a planted link.
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
                os.fchmod(stream.fileno(), 0o644)
        for target, temp in temporary.items():
            # rename replaces a link at the target itself, never the file it points to
            os.replace(temp, target)
    except OSError as exc:
        raise ReportError(f"{out_dir}: cannot write the report: {exc}") from exc
    finally:
        for temp in temporary.values():
            temp.unlink(missing_ok=True)
    return list(temporary)
