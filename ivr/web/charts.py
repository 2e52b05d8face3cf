"""Charts as inline SVG drawn on the server: no JavaScript, nothing from elsewhere, so the
console's Content-Security-Policy (no inline script or style) holds. Colours and fonts come
from classes in `static/console.css`; every mark carries a <title> with its exact figure.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from markupsafe import Markup, escape

WIDTH = 720   # the viewBox; the page scales the SVG to its column
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 22, 10


def _svg(chart_id: str, height: int, label: str, body: list[str]) -> Markup:
    return Markup(f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {height}" '
                  f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
                  + "".join(body) + "</svg>")


def _text(x: float, y: float, text: object, css: str = "axis", anchor: str = "start") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" class="{css}" text-anchor="{anchor}">'
            f"{escape(text)}</text>")


def _axes(plot_h: float, top: float) -> list[str]:
    """The x axis line and the y scale (0 and `top`) of a chart over time."""
    return [f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 4}" '
            f'y2="{PAD_TOP + plot_h}" class="axis-line"/>',
            _text(PAD_LEFT - 4, PAD_TOP + 8, f"{top:g}", anchor="end"),
            _text(PAD_LEFT - 4, PAD_TOP + plot_h, "0", anchor="end")]


def columns(chart_id: str, label: str, bars: Sequence[tuple[str, float]],
            ticks: Mapping[int, str], height: int = 180) -> Markup:
    """Vertical bars over time (calls per hour): `bars` are (name, value), oldest first;
    `ticks` are the labels written under the axis, by bar index."""
    top = max((v for _, v in bars), default=0) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 4, height - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(1, len(bars))
    body = _axes(plot_h, top)
    for n, (name, value) in enumerate(bars):
        h = plot_h * value / top
        x = PAD_LEFT + n * step
        body.append(f'<rect class="bar" x="{x + step * 0.1:.1f}" y="{PAD_TOP + plot_h - h:.1f}" '
                    f'width="{step * 0.8:.1f}" height="{h:.1f}" data-value="{value:g}">'
                    f"<title>{escape(name)}: {value:g}</title></rect>")
        if n in ticks:
            body.append(_text(x + step / 2, height - 6, ticks[n], anchor="middle"))
    return _svg(chart_id, height, label, body)


def bars(chart_id: str, label: str, items: Sequence[tuple[str, float]]) -> Markup:
    """Horizontal bars, one row per item (transfers by reason, survey answers), each with its
    name on the left and its figure on the right."""
    row, name_w, value_w = 24, 190, 60
    height = max(1, len(items)) * row + 6
    top = max((v for _, v in items), default=0) or 1
    span = WIDTH - name_w - value_w
    body = [] if items else [_text(4, 18, "no data in this window", "empty-chart")]
    for n, (name, value) in enumerate(items):
        y = 3 + n * row
        w = span * value / top
        body += [_text(name_w - 8, y + 16, name, anchor="end"),
                 f'<rect class="bar" x="{name_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                 f'data-value="{value:g}"><title>{escape(name)}: {value:g}</title></rect>',
                 _text(name_w + w + 6, y + 16, f"{value:g}", "amount")]
    return _svg(chart_id, height, label, body)


def trend(chart_id: str, label: str, points: Sequence[tuple[str, float | None]],
          top: float = 100.0, height: int = 180) -> Markup:
    """A line over days on a 0..`top` scale (the QA score); a day without a value breaks the
    line and gets no dot."""
    plot_w, plot_h = WIDTH - PAD_LEFT - 10, height - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(1, len(points) - 1)
    body = _axes(plot_h, top)
    runs: list[list[str]] = [[]]
    for n, (name, value) in enumerate(points):
        x = PAD_LEFT + n * step
        body.append(_text(x, height - 6, name, anchor="middle"))
        if value is None:
            runs.append([])
            continue
        y = PAD_TOP + plot_h * (1 - value / top)
        runs[-1].append(f"{x:.1f},{y:.1f}")
        body.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                    f'data-value="{value:g}"><title>{escape(name)}: {value:g}</title></circle>')
    lines = [f'<polyline class="line" points="{" ".join(run)}"/>' for run in runs if len(run) > 1]
    return _svg(chart_id, height, label, lines + body)
