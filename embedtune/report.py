"""Human-readable renderings of an evaluation report (HTML for the dashboard, JSON on disk)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embedtune.metrics import METRICS
from embedtune.visualization import metric_chart_svg


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


def write_json(report: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False), encoding="utf-8")
    return path
