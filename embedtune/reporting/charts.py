"""The NDCG@10 chart of an evaluation report, and the page frame shared by the dashboard's HTML views.

Plain strings (inline SVG, no JavaScript, no plotting library), so they render in the dashboard's
sandboxed iframe and in any browser offline."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

PALETTE = ("#8c8c8c", "#7a3ff5", "#1f9d8a", "#e08a00", "#d1495b")
STYLE = (
    "<style>body{font-family:sans-serif;color:#222}table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#f4f4f4}"
    "td.num{text-align:right}.kept{color:#1f7a35}.dropped{color:#b3261e}</style>"
)


def page(title: str, body: str) -> str:
    """A complete HTML page with the shared style."""
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}</head><body>"
        f"<h2>{html.escape(title)}</h2>{body}</body></html>"
    )


def metric_chart_svg(report: Mapping[str, Any], metric: str = "ndcg@10", width: int = 640, height: int = 300) -> str:
    """Grouped bars: `metric` per Matryoshka dimension for every model in the report; each model after the
    first (the baseline) carries the paired bootstrap 95% CI of its gain, drawn around the baseline + gain."""
    models = list(report.get("models", {}))
    if not models:
        return ""
    baseline = models[0]
    dims = sorted({dim for name in models for dim in report["models"][name]}, key=int, reverse=True)
    left, right, top, bottom = 48, 150, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    group_w = plot_w / max(1, len(dims))
    bar_w = min(40.0, group_w * 0.8 / len(models))

    def y(value: float) -> float:
        return top + plot_h * (1 - max(0.0, min(1.0, value)))

    parts = [
        (
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
            f"aria-label='{html.escape(metric)} per dimension' font-family='sans-serif' font-size='11'>"
        ),
        (
            f"<text x='{left}' y='16' font-size='13' font-weight='bold'>{html.escape(metric.upper())} per "
            "Matryoshka dimension; whiskers: 95% CI of the gain over the baseline</text>"
        ),
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y(tick):.1f}' y2='{y(tick):.1f}' stroke='#e5e5e5'/>")
        parts.append(f"<text x='{left - 6}' y='{y(tick) + 4:.1f}' text-anchor='end'>{tick:.2f}</text>")
    for g, dim in enumerate(dims):
        x0 = left + g * group_w + (group_w - bar_w * len(models)) / 2
        base_value = report["models"][baseline].get(dim, {}).get(metric)
        for m, name in enumerate(models):
            value = report["models"][name].get(dim, {}).get(metric)
            if value is None:
                continue
            x = x0 + m * bar_w
            parts.append(
                f"<rect x='{x:.1f}' y='{y(value):.1f}' width='{bar_w - 2:.1f}' height='{top + plot_h - y(value):.1f}' "
                f"fill='{PALETTE[m % len(PALETTE)]}'><title>{html.escape(name)} dim {dim}: {value:.4f}</title></rect>"
            )
            gain = report.get("gains", {}).get(name, {}).get(dim, {}).get(metric)
            label_y = y(value)
            if gain and base_value is not None:
                label_y = min(label_y, y(base_value + gain["ci_high"]))
            parts.append(
                f"<text x='{x + bar_w / 2 - 1:.1f}' y='{label_y - 3:.1f}' text-anchor='middle' font-size='9'>"
                f"{value:.3f}</text>"
            )
            if gain and base_value is not None:
                low, high = base_value + gain["ci_low"], base_value + gain["ci_high"]
                cx = x + bar_w / 2 - 1
                parts.append(
                    f"<g stroke='#222' stroke-width='1.2'><line x1='{cx:.1f}' x2='{cx:.1f}' y1='{y(high):.1f}' "
                    f"y2='{y(low):.1f}'/><line x1='{cx - 4:.1f}' x2='{cx + 4:.1f}' y1='{y(high):.1f}' y2='{y(high):.1f}'/>"
                    f"<line x1='{cx - 4:.1f}' x2='{cx + 4:.1f}' y1='{y(low):.1f}' y2='{y(low):.1f}'/>"
                    f"<title>gain {gain['gain']:+.4f}, 95% CI [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]</title></g>"
                )
        parts.append(
            f"<text x='{left + g * group_w + group_w / 2:.1f}' y='{top + plot_h + 16}' text-anchor='middle'>"
            f"dim {html.escape(str(dim))}</text>"
        )
    for m, name in enumerate(models):
        label = name if len(name) <= 22 else "..." + name[-19:]
        ly = top + 8 + m * 18
        parts.append(f"<rect x='{left + plot_w + 14}' y='{ly}' width='12' height='12' fill='{PALETTE[m % len(PALETTE)]}'/>")
        parts.append(f"<text x='{left + plot_w + 32}' y='{ly + 10}'>{html.escape(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)
