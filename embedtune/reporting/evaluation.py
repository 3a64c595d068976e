"""Human-readable renderings of an evaluation report: THE REPORT HTML (dashboard, outputs/), the terminal table
and headline, and the model version's metadata.

A report holds the held-out synthetic results at its top level and, when the run has a gold set, the gold
results under `gold` (same shape, plus where the set came from and what could not be mapped); `decided_on`
says which of the two the promotion decides on.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from embedtune.evaluation.metrics import METRICS
from embedtune.reporting.charts import metric_chart_svg


def _sorted_dims(by_dim: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(by_dim.items(), key=lambda item: -int(item[0]))


def _gain(report: Mapping[str, Any], name: str, dim: str) -> Mapping[str, float] | None:
    return report.get("gains", {}).get(name, {}).get(dim, {}).get("ndcg@10")


def _html_table(report: Mapping[str, Any]) -> str:
    rows = []
    for name, by_dim in report["models"].items():
        for dim, values in _sorted_dims(by_dim):
            gain = _gain(report, name, dim)
            gain_cell = (
                f"{gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else "baseline"
            )
            cells = "".join(f"<td>{values[m]:.4f}</td>" for m in METRICS)
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{dim}</td>{cells}<td>{gain_cell}</td></tr>")
    head = "".join(f"<th>{m}</th>" for m in METRICS)
    return f"<table><tr><th>model</th><th>dim</th>{head}<th>NDCG@10 gain</th></tr>{''.join(rows)}</table>"


def _decision_html(report: Mapping[str, Any]) -> str:
    decided = report.get("decision_queries")
    if not decided:
        return ""
    label = "gold (human-judged) queries" if report.get("decided_on") == "gold" else "held-out synthetic queries"
    return f"<p><b>Promotion decides on {label}:</b> {html.escape(str(decided))}</p>"


def _gold_html(gold: Mapping[str, Any]) -> str:
    small = (
        f"<p><b>Too small to decide:</b> {gold['n_queries']} queries, fewer than evaluation.gold_min_queries="
        f"{gold['min_queries']}.</p>" if gold.get("too_small") else ""
    )
    unmapped = ""
    if gold.get("unmapped_count"):
        items = "".join(
            f"<li>{html.escape(str(item['where']))}: {html.escape(str(item['reason']))}</li>" for item in gold["unmapped"]
        )
        more = gold["unmapped_count"] - len(gold["unmapped"])
        unmapped = (
            f"<p>{gold['unmapped_count']} judgments could not be mapped onto the chunks"
            f"{f' ({more} more not listed)' if more > 0 else ''}:</p><ul>{items}</ul>"
        )
    return (
        f"<h3>Gold queries (human-judged): {html.escape(str(gold.get('source', '')))}</h3>"
        f"<p>{gold['n_queries']} of {gold.get('queries_in_file', gold['n_queries'])} queries mapped "
        f"({gold.get('relevant_chunks', '?')} relevant chunks); {gold['n_corpus']} candidate passages.</p>"
        f"{small}{metric_chart_svg(gold)}{_html_table(gold)}{unmapped}"
    )


def to_html(report: Mapping[str, Any], title: str = "embedtune evaluation") -> str:
    """The report page: synthetic and (when present) gold results side by side, and the promotion decision."""
    decision = report.get("promotion", {})
    verdict = f"<p><b>Promotion:</b> {html.escape(str(decision.get('reason', 'not decided')))}</p>" if decision else ""
    gold = report.get("gold")
    gold_part = _gold_html(gold) if gold else "<h3>Gold queries</h3><p>No gold set (evaluation.gold): see docs/gold-sets.md.</p>"
    synthetic_title = "Held-out synthetic queries" if "decided_on" in report or gold else "Held-out queries"
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        ".side{display:flex;flex-wrap:wrap;gap:24px}</style></head><body>"
        f"<h2>{html.escape(title)}</h2>"
        f"{_decision_html(report)}{verdict}"
        "<p>gain = paired bootstrap 95% CI of NDCG@10 vs the baseline.</p>"
        f"{metric_chart_svg(report)}"
        "<div class='side'><div>"
        f"<h3>{synthetic_title}</h3>"
        f"<p>{report['n_queries']} held-out queries; {report['n_corpus']} candidate passages.</p>"
        f"{_html_table(report)}</div><div>{gold_part}</div></div>"
        "</body></html>"
    )


def _text_table(report: Mapping[str, Any]) -> list[str]:
    header = f"{'model':<40} {'dim':>5} " + " ".join(f"{m:>9}" for m in METRICS) + "   NDCG@10 gain [95% CI]"
    lines = [header, "-" * len(header)]
    for name, by_dim in report["models"].items():
        for dim, values in _sorted_dims(by_dim):
            gain = _gain(report, name, dim)
            gain_text = f"   {gain['gain']:+.4f} [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]" if gain else ""
            label = name if len(name) <= 40 else "..." + name[-37:]
            lines.append(f"{label:<40} {dim:>5} " + " ".join(f"{values[m]:9.4f}" for m in METRICS) + gain_text)
    lines.append(f"({report['n_queries']} queries, {report['n_corpus']} candidate passages)")
    return lines


def format_table(report: Mapping[str, Any]) -> str:
    """A plain-text table: one row per model x dimension, gains with their 95% CI; a second table for the gold
    queries when the report has them (with the unmappable judgments counted)."""
    gold = report.get("gold")
    if not gold:
        return "\n".join(_text_table(report))
    lines = ["Held-out synthetic queries", *_text_table(report), "", f"Gold queries ({gold.get('source', '')})"]
    lines += _text_table(gold)
    if gold.get("unmapped_count"):
        first = gold["unmapped"][0]
        lines.append(
            f"{gold['unmapped_count']} gold judgments could not be mapped ({gold.get('dropped_queries', 0)} queries "
            f"dropped); first: {first['where']}: {first['reason']}"
        )
    return "\n".join(lines)


def _ndcg_line(report: Mapping[str, Any], label: str) -> str:
    dim = max(report["models"]["tuned"], key=int)
    base, tuned = report["models"]["base"][dim]["ndcg@10"], report["models"]["tuned"][dim]["ndcg@10"]
    gain = _gain(report, "tuned", dim)
    ci = f" (gain {gain['gain']:+.4f}, 95% CI {gain['ci_low']:+.4f} to {gain['ci_high']:+.4f})" if gain else ""
    return f"NDCG@10 on {label}: base {base:.4f} -> tuned {tuned:.4f}{ci}"


def headline(report: Mapping[str, Any], promotion: Mapping[str, Any]) -> str:
    """The run's last words: NDCG@10 on the synthetic and the gold queries, and the promotion reason (which
    says which queries decided)."""
    lines = [_ndcg_line(report, f"{report['n_queries']} held-out synthetic queries")]
    gold = report.get("gold")
    if gold:
        small = " - too small to decide" if gold.get("too_small") else ""
        lines.append(_ndcg_line(gold, f"{gold['n_queries']} gold queries{small}"))
    else:
        lines.append("No gold set: the decision rests on synthetic queries (set evaluation.gold; docs/gold-sets.md).")
    lines.append(f"Promotion: {promotion.get('reason', 'not decided')}")
    return "\n".join(lines)


def model_version_metadata(report: Mapping[str, Any]) -> dict[str, Any]:
    """What the evaluate step attaches to the model version: headline numbers (synthetic as `base_ndcg@10`
    ..., gold as `gold_base_ndcg@10` ...), every metric per dim and the gains with their CIs."""

    def part(section: Mapping[str, Any], prefix: str, count: str) -> dict[str, Any]:
        dim = max(section["models"]["tuned"], key=int)
        gain = section["gains"]["tuned"][dim]["ndcg@10"]
        return {
            f"{prefix}base_ndcg@10": section["models"]["base"][dim]["ndcg@10"],
            f"{prefix}tuned_ndcg@10": section["models"]["tuned"][dim]["ndcg@10"],
            f"{prefix}ndcg@10_gain": gain["gain"],
            f"{prefix}ndcg@10_gain_ci95": [gain["ci_low"], gain["ci_high"]],
            count: section["n_queries"],
            f"{prefix}metrics": {name: by_dim for name, by_dim in section["models"].items()},
            f"{prefix}gains_ci95": section["gains"],  # per dimension: NDCG@10, MRR@10, Recall@10 gain with its CI
        }

    metadata = part(report, "", "test_queries")
    gold = report.get("gold")
    if gold:
        metadata.update(part(gold, "gold_", "gold_queries"))
        metadata.update(gold_source=gold.get("source"), gold_unmapped=gold.get("unmapped_count", 0),
                        gold_too_small=bool(gold.get("too_small")))
    if "decided_on" in report:
        metadata.update(decided_on=report["decided_on"], decision_queries=report.get("decision_queries"))
    return metadata
