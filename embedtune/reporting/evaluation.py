"""Human-readable renderings of an evaluation report: THE REPORT HTML (dashboard, outputs/) and the terminal table."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from embedtune.evaluation.metrics import METRICS
from embedtune.reporting.charts import metric_chart_svg


def to_html(report: Mapping[str, Any], title: str = "embedtune evaluation") -> str:
    rows = []
    for name, by_dim in report["models"].items():
        for dim, values in sorted(by_dim.items(), key=lambda item: -int(item[0])):
            gain = report.get("gains", {}).get(name, {}).get(dim, {}).get("ndcg@10")
            gain_cell = (
                f"{gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else "baseline"
            )
            cells = "".join(f"<td>{values[m]:.4f}</td>" for m in METRICS)
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{dim}</td>{cells}<td>{gain_cell}</td></tr>")
    head = "".join(f"<th>{m}</th>" for m in METRICS)
    decision = report.get("promotion", {})
    verdict = f"<p><b>Promotion:</b> {html.escape(str(decision.get('reason', 'not decided')))}</p>" if decision else ""
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h2>{html.escape(title)}</h2>"
        f"<p>{report['n_queries']} held-out queries; {report['n_corpus']} candidate passages; "
        "gain = paired bootstrap 95% CI of NDCG@10 vs the baseline.</p>"
        f"{metric_chart_svg(report)}"
        f"<table><tr><th>model</th><th>dim</th>{head}<th>NDCG@10 gain</th></tr>{''.join(rows)}</table>"
        f"{verdict}</body></html>"
    )


def format_table(report: Mapping[str, Any]) -> str:
    """A plain-text table: one row per model x dimension, gains with their 95% CI."""
    header = f"{'model':<40} {'dim':>5} " + " ".join(f"{m:>9}" for m in METRICS) + "   NDCG@10 gain [95% CI]"
    lines = [header, "-" * len(header)]
    for name, by_dim in report["models"].items():
        for dim, values in sorted(by_dim.items(), key=lambda item: -int(item[0])):
            gain = report.get("gains", {}).get(name, {}).get(dim, {}).get("ndcg@10")
            gain_text = f"   {gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else ""
            label = name if len(name) <= 40 else "..." + name[-37:]
            lines.append(f"{label:<40} {dim:>5} " + " ".join(f"{values[m]:9.4f}" for m in METRICS) + gain_text)
    lines.append(f"({report['n_queries']} queries, {report['n_corpus']} candidate passages)")
    return "\n".join(lines)
