"""HTML for the ZenML dashboard: the NDCG@10 chart of an evaluation report, a sample of generated pairs,
and the data-counts funnel. Plain strings (inline SVG, no JavaScript, no plotting library), so they render
in the dashboard's sandboxed iframe and in any browser offline."""

from __future__ import annotations

import html
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SPLITS = ("train", "validation", "test")
PALETTE = ("#8c8c8c", "#7a3ff5", "#1f9d8a", "#e08a00", "#d1495b")
STYLE = (
    "<style>body{font-family:sans-serif;color:#222}table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#f4f4f4}"
    "td.num{text-align:right}.kept{color:#1f7a35}.dropped{color:#b3261e}</style>"
)


def _page(title: str, body: str) -> str:
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


def pairs_sample_html(
    pairs: Sequence[Mapping[str, Any]], kept_ids: Iterable[str] | None = None, count: int = 20, seed: int = 0,
    passage_chars: int = 240,
) -> str:
    """A seeded sample of generated pairs as a table; with `kept_ids`, marks which ones the filters kept."""
    kept = set(kept_ids) if kept_ids is not None else None
    chosen = sorted(random.Random(seed).sample(list(pairs), min(count, len(pairs))), key=lambda p: str(p.get("id")))
    head = "<tr><th>#</th><th>query</th><th>style</th><th>positive passage</th><th>source</th>"
    head += "<th>filters</th></tr>" if kept is not None else "</tr>"
    rows = []
    for number, pair in enumerate(chosen, start=1):
        passage = str(pair.get("positive", ""))
        passage = passage if len(passage) <= passage_chars else passage[:passage_chars].rstrip() + " ..."
        cells = [
            str(number), html.escape(str(pair.get("query", ""))), html.escape(str(pair.get("style", "") or "")),
            html.escape(passage), html.escape(str(pair.get("doc_id", "") or "")),
        ]
        row = "".join(f"<td>{cell}</td>" for cell in cells)
        if kept is not None:
            status = "kept" if pair.get("id") in kept else "dropped"
            row += f"<td class='{status}'>{status}</td>"
        rows.append(f"<tr>{row}</tr>")
    generators = sorted({f"{p.get('generator', '?')} (prompt {p.get('prompt_version', '?')})" for p in pairs})
    summary = (
        f"<p>{len(chosen)} of {len(pairs)} generated pairs, seeded sample (seed {seed}). "
        f"Generator: {html.escape(', '.join(generators) or 'unknown')}.</p>"
    )
    return _page("Generated query-passage pairs (sample)", summary + f"<table>{head}{''.join(rows)}</table>")


def funnel_html(counts: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars, one per stage, with the count and its share of the stage before (the three splits
    are each a share of the stage before them)."""
    largest = max([value for _, value in counts] or [1]) or 1
    rows = []
    previous: tuple[str, int] | None = None
    for stage, value in counts:
        share = f"{value / previous[1]:.0%} of {html.escape(previous[0])}" if previous and previous[1] else ""
        bar = f"<div style='background:#7a3ff5;height:14px;width:{max(1, round(300 * value / largest))}px'></div>"
        rows.append(f"<tr><td>{html.escape(stage)}</td><td class='num'>{value:,}</td><td>{bar}</td><td>{share}</td></tr>")
        if stage not in SPLITS:
            previous = (stage, value)
    table = "<table><tr><th>stage</th><th>count</th><th></th><th>share</th></tr>" + "".join(rows) + "</table>"
    return _page("Data funnel: documents to training splits", table)


def funnel_counts(**frames: Sequence[Any] | None) -> list[tuple[str, int]]:
    """Stage counts in pipeline order, for the stages given (None or missing: the stage is left out)."""
    labels = {
        "documents": "documents",
        "chunks": "chunks",
        "synthetic_pairs": "generated pairs",
        "filtered_pairs": "kept by the filters",
        "training_triplets": "triplets (hard negatives mined)",
        "train": "train",
        "validation": "validation",
        "test": "test",
    }
    return [(label, len(frames[key])) for key, label in labels.items() if frames.get(key) is not None]
