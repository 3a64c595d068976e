"""The charts of the reports, and the page frame shared by the dashboard's HTML views.

Plain strings (inline SVG, no JavaScript, no plotting library), so they render in the dashboard's
sandboxed iframe and in any browser offline, and need no extra dependency.

- `forest_plot_svg(report)`: the NDCG@10 gain of every model over the baseline per Matryoshka dimension,
  a dot at the gain and a line across its paired bootstrap 95% CI, against a zero line. The axis spans the
  gains, not 0..1, so a +0.03 gain is as visible as a +0.3 one.
- `line_chart_svg(series)`: one or more (x, y) series, e.g. the training loss and the validation NDCG@10.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

PALETTE = ("#8c8c8c", "#7a3ff5", "#1f9d8a", "#e08a00", "#d1495b")
GAIN_COLOURS = {"better": "#1f7a35", "worse": "#b3261e", "unclear": "#555555"}
STYLE = (
    "<style>body{font-family:sans-serif;color:#222}table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#f4f4f4}"
    "td.num{text-align:right}.kept{color:#1f7a35}.dropped{color:#b3261e}.note{color:#666;font-size:12px}"
    ".side{display:flex;flex-wrap:wrap;gap:24px}</style>"
)


def page(title: str, body: str) -> str:
    """A complete HTML page with the shared style."""
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}</head><body>"
        f"<h2>{html.escape(title)}</h2>{body}</body></html>"
    )


def verdict(gain: Mapping[str, float]) -> str:
    """`better` when the whole 95% CI is above zero, `worse` when below, else `unclear`."""
    if gain["ci_low"] > 0:
        return "better"
    if gain["ci_high"] < 0:
        return "worse"
    return "unclear"


def _nice_step(span: float) -> float:
    raw = span / 4
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 0.01
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _axis(low: float, high: float) -> tuple[float, float, list[float]]:
    """An axis from below `low` to above `high`, always including 0, with round ticks."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low < 1e-6:
        low, high = -0.01, 0.01
    step = _nice_step(high - low)
    start, stop = math.floor(low / step) * step, math.ceil(high / step) * step
    ticks = [round(start + i * step, 10) for i in range(round((stop - start) / step) + 1)]
    return start, stop, ticks


def forest_plot_svg(
    report: Mapping[str, Any], metric: str = "ndcg@10", width: int = 640, row_height: int = 26,
    title: str | None = None,
) -> str:
    """A forest plot: one row per (model after the baseline, Matryoshka dim), largest dim first, with the
    model's `metric` gain over the baseline (a dot) and its 95% CI (a line), against a dashed zero line.
    Green: the CI is above zero; red: below; grey: it crosses zero. Empty string when there is no gain."""
    rows: list[tuple[str, str, Mapping[str, float]]] = []
    for name, by_dim in report.get("gains", {}).items():
        for dim in sorted(by_dim, key=int, reverse=True):
            gain = by_dim[dim].get(metric)
            if gain:
                rows.append((name, dim, gain))
    if not rows:
        return ""
    several = len({name for name, _, _ in rows}) > 1
    baseline = next(iter(report.get("models", {"baseline": None})))
    low, high, ticks = _axis(min(g["ci_low"] for _, _, g in rows), max(g["ci_high"] for _, _, g in rows))
    left, right, top = 110, 190, 40
    plot_w = width - left - right
    height = top + row_height * len(rows) + 40

    def x(value: float) -> float:
        return left + plot_w * (value - low) / (high - low)

    heading = title or f"{metric.upper()} gain over {baseline} per Matryoshka dimension (95% CI)"
    parts = [
        (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
        f"aria-label='{html.escape(metric)} gain per dimension' font-family='sans-serif' font-size='11'>"),
        f"<text x='8' y='16' font-size='13' font-weight='bold'>{html.escape(heading)}</text>",
    ]
    bottom = top + row_height * len(rows)
    for tick in ticks:
        parts.append(f"<line x1='{x(tick):.1f}' x2='{x(tick):.1f}' y1='{top - 6}' y2='{bottom}' stroke='#eeeeee'/>")
        parts.append(f"<text x='{x(tick):.1f}' y='{bottom + 14}' text-anchor='middle'>{tick:+.3g}</text>")
    parts.append(
        f"<line class='zero' x1='{x(0):.1f}' x2='{x(0):.1f}' y1='{top - 10}' y2='{bottom}' stroke='#222' "
        "stroke-dasharray='4 3'/>"
    )
    parts.append(f"<text x='{left + plot_w / 2:.1f}' y='{bottom + 30}' text-anchor='middle'>"
                 f"gain in {html.escape(metric.upper())} (0 = no change)</text>")
    for number, (name, dim, gain) in enumerate(rows):
        cy = top + row_height * number + row_height / 2
        colour = GAIN_COLOURS[verdict(gain)]
        label = f"{name} dim {dim}" if several else f"dim {dim}"
        summary = f"{gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]"
        parts.append(f"<text x='{left - 8}' y='{cy + 4:.1f}' text-anchor='end'>{html.escape(label)}</text>")
        parts.append(
            f"<g class='row' stroke='{colour}' fill='{colour}'><title>{html.escape(label)}: gain {summary}</title>"
            f"<line x1='{x(gain['ci_low']):.1f}' x2='{x(gain['ci_high']):.1f}' y1='{cy:.1f}' y2='{cy:.1f}' "
            "stroke-width='2'/>"
            f"<line x1='{x(gain['ci_low']):.1f}' x2='{x(gain['ci_low']):.1f}' y1='{cy - 5:.1f}' y2='{cy + 5:.1f}'/>"
            f"<line x1='{x(gain['ci_high']):.1f}' x2='{x(gain['ci_high']):.1f}' y1='{cy - 5:.1f}' y2='{cy + 5:.1f}'/>"
            f"<circle cx='{x(gain['gain']):.1f}' cy='{cy:.1f}' r='4.5'/></g>"
        )
        parts.append(f"<text x='{left + plot_w + 10}' y='{cy + 4:.1f}' fill='{colour}'>{summary}</text>")
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(
    series: Mapping[str, Sequence[tuple[float, float]]], title: str, x_label: str = "step",
    width: int = 420, height: int = 220,
) -> str:
    """Each named series as a polyline with dots, on shared axes fitted to the data (empty string when no
    series has a point)."""
    points = [(px, py) for values in series.values() for px, py in values]
    if not points:
        return ""
    left, right, top, bottom = 52, 12, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    pad = (y_high - y_low) * 0.1 or abs(y_high) * 0.1 or 0.1
    y_low, y_high = y_low - pad, y_high + pad

    def sx(value: float) -> float:
        return left + plot_w * (value - x_low) / (x_high - x_low)

    def sy(value: float) -> float:
        return top + plot_h * (1 - (value - y_low) / (y_high - y_low))

    parts = [
        (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
        f"aria-label='{html.escape(title)}' font-family='sans-serif' font-size='11'>"),
        f"<text x='8' y='16' font-size='13' font-weight='bold'>{html.escape(title)}</text>",
        f"<line x1='{left}' x2='{left}' y1='{top}' y2='{top + plot_h}' stroke='#999'/>",
        f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' y2='{top + plot_h}' stroke='#999'/>",
    ]
    for value in (y_low + pad, (y_low + y_high) / 2, y_high - pad):
        parts.append(f"<text x='{left - 4}' y='{sy(value) + 4:.1f}' text-anchor='end'>{value:.3g}</text>")
    for value in (x_low, x_high):
        parts.append(f"<text x='{sx(value):.1f}' y='{top + plot_h + 14}' text-anchor='middle'>{value:g}</text>")
    parts.append(f"<text x='{left + plot_w / 2:.1f}' y='{height - 6}' text-anchor='middle'>{html.escape(x_label)}</text>")
    for number, (name, values) in enumerate(series.items()):
        colour = PALETTE[(number + 1) % len(PALETTE)]
        ordered = sorted(values)
        path = " ".join(f"{sx(px):.1f},{sy(py):.1f}" for px, py in ordered)
        parts.append(f"<polyline class='series' points='{path}' fill='none' stroke='{colour}' stroke-width='1.5'/>")
        for px, py in ordered:
            parts.append(f"<circle cx='{sx(px):.1f}' cy='{sy(py):.1f}' r='2.5' fill='{colour}'>"
                         f"<title>{html.escape(name)} at {x_label} {px:g}: {py:.4f}</title></circle>")
        parts.append(f"<text x='{left + 8}' y='{top + 12 + 14 * number}' fill='{colour}'>{html.escape(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)
