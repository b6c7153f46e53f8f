"""The client report's HTML and Markdown (Jinja2 templates shipped in rmmctl/data/report) and its charts.

HTML: one self-contained file: inline CSS, charts as inline SVG polylines drawn here (no chart library,
no script, no font or image fetched: the logo is a data: URI), printable (`@media print`, a page break
before each section). Autoescaped; the SVG is built with every text escaped and handed over as Markup.
Markdown: for tickets, with `|` and newlines escaped in table cells.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup, escape

if TYPE_CHECKING:
    from rmmctl.report import Branding

TEMPLATES = Path(__file__).resolve().parent.parent / "data" / "report"
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 380, 170, 36, 10, 12, 26


def _parse(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _day(iso: str | None) -> str:
    return "" if not iso else iso[:10]


def _when(iso: str | None) -> str:
    return "" if not iso else iso[:16].replace("T", " ") + " UTC"


def duration(seconds: float | None) -> str:
    """`45 s`, `12 min`, `3.5 h`, `2.1 days`."""
    if seconds is None:
        return ""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def full_in(days: float | None) -> str:
    if days is None:
        return "not filling"
    if days == 0:
        return "full now"
    return "full in > 1 year" if days > 365 else f"full in {days:.0f} days" if days >= 10 else f"full in {days:.1f} days"


def _axis_label(t: float, span: float) -> str:
    stamp = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d" if span >= 2 * 86400 else "%Y-%m-%d %H:%M UTC")


def svg_chart(series: Sequence[Mapping[str, Any]], title: str) -> Markup:
    """A line chart of percentages (0-100 %): one polyline per series over the time its samples span (the
    whole period when they cover it), a legend, gridlines at 0/50/100 % and the first and last sample's time
    under the x axis (a lone sample: an hour either side). Plain SVG 1.1, no script."""
    times = [_parse(at) for s in series for at, _ in s["points"]]
    t0, t1 = min(times), max(times)
    if t1 - t0 < 60:
        t0, t1 = t0 - 3600, t1 + 3600
    span = t1 - t0
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(t: float) -> float:
        return PAD_L + plot_w * min(max((t - t0) / span, 0.0), 1.0)

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - min(max(v, 0.0), 100.0) / 100.0)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for v in (0, 50, 100):
        parts.append(f'<line x1="{PAD_L}" y1="{y(v):.1f}" x2="{WIDTH - PAD_R}" y2="{y(v):.1f}" stroke="#ccc" '
                     f'stroke-width="1"/><text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#555">{v}%</text>')
    parts.append(f'<text x="{PAD_L}" y="{HEIGHT - 8}" font-size="10" fill="#555">{escape(_axis_label(t0, span))}'
                 f'</text><text x="{WIDTH - PAD_R}" y="{HEIGHT - 8}" font-size="10" text-anchor="end" fill="#555">'
                 f'{escape(_axis_label(t1, span))}</text>')
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = [(x(_parse(at)), y(v)) for at, v in s["points"]]
        if len(pts) == 1:
            parts.append(f'<circle class="point" cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" fill="{color}"/>')
        else:
            coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            parts.append(f'<polyline class="series" data-metric="{escape(s["metric"])}" fill="none" '
                         f'stroke="{color}" stroke-width="2" points="{coords}"/>')
        label = f'{s["label"]} {s["last"]:g}%' + (f' ({full_in(s["full_in_days"])})' if s["kind"] == "disk" else "")
        lx = PAD_L + 8 + (i % 2) * (plot_w // 2)
        ly = PAD_T + 12 + (i // 2) * 13
        parts.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{color}"/>'
                     f'<text x="{lx + 14}" y="{ly - 4}" font-size="10" fill="#222">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def md_cell(value: Any) -> str:
    """A Markdown table cell: pipes escaped, line breaks as spaces."""
    text = "" if value is None else str(value)
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").split())


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(day=_day, when=_when, duration=duration, full_in=full_in, cell=md_cell)
    env.globals.update(svg_chart=svg_chart)
    return env


def _charts(doc: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """host -> [{"title", "svg"}]: its disk chart (the fullest mounts) and its memory chart."""
    out: dict[str, list[dict[str, Any]]] = {}
    for host in doc["hosts"]:
        mine = [t for t in doc["trends"] if t["host"] == host["name"]]
        for kind, title in (("disk", "disk used %"), ("memory", "memory used %")):
            series = [t for t in mine if t["kind"] == kind]
            if series:
                name = f"{host['name']}: {title}"
                out.setdefault(host["name"], []).append(
                    {"title": name, "svg": svg_chart(series, name)})
    return out


def html(doc: Mapping[str, Any], branding: Branding | None = None) -> str:
    """The report as one self-contained HTML page; `branding` puts the MSP's logo (a data: URI) on the
    cover (its name is in the document already: `doc["msp"]`)."""
    template = _environment(True).get_template("report.html.j2")
    return template.render(doc=doc, charts=_charts(doc), logo=branding.logo_data_uri if branding else None)


def markdown(doc: Mapping[str, Any]) -> str:
    """The report as Markdown (for a ticket): the same sections, tables instead of charts."""
    return _environment(False).get_template("report.md.j2").render(doc=doc)
