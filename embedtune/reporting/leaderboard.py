"""Renderings of a base-model leaderboard (`embedtune.evaluation.leaderboard`): terminal, markdown, HTML."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any


def _ci(row: Mapping[str, Any], metric: str) -> str:
    low, high = row[f"{metric}_ci95"]
    return f"{row[metric]:.4f} [{low:.3f}, {high:.3f}]"


def _rate(value: float | None) -> str:
    return f"{value:.1f}" if value else "-"


def format_leaderboard(leaderboard: Mapping[str, Any], markdown: bool = False, max_rows: int | None = None) -> str:
    """Terminal (or markdown) table, best first, then the candidates and the pick."""
    header = ["#", "model", "dim", "precision", "NDCG@10 [95% CI]", "MRR@10 [95% CI]", "Recall@10 [95% CI]",
              "vs top (NDCG@10)", "MB / 1M chunks", "docs/s"]
    rows = []
    for number, row in enumerate(leaderboard["rows"][:max_rows], start=1):
        gain = row.get("ndcg@10_vs_top", {})
        versus = "top" if number == 1 else (
            f"{gain.get('gain', 0):+.4f} [{gain.get('ci_low', 0):+.3f}, {gain.get('ci_high', 0):+.3f}]"
        )
        rows.append([str(number), row["model"], str(row["dim"]), row["precision"], _ci(row, "ndcg@10"),
                     _ci(row, "mrr@10"), _ci(row, "recall@10"), versus, f"{row['index_mb_per_1m']:,.0f}",
                     _rate(row["encode_docs_per_s"])])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    else:
        widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in rows]
    lines.append("")
    lines.append(f"{leaderboard['n_queries']} queries, {leaderboard['n_corpus']} candidate passages; "
                 "CIs: bootstrap over queries; 'vs top': paired bootstrap 95% CI of the NDCG@10 difference.")
    for candidate in leaderboard["candidates"]:
        extra = ""
        if candidate["kind"] == "api":
            extra = f", API {candidate['api_tokens']} tokens ${candidate['api_cost_usd']:.4f}"
        lines.append(
            f"- {candidate['model']}: dim {candidate['dim']}, max length {candidate['max_seq_length']}, license "
            f"{candidate['license']}{'' if candidate['commercial_use'] else ' (NON-COMMERCIAL)'}, "
            f"{_rate(candidate['encode_docs_per_s'])} docs/s{extra}"
        )
    for skipped in leaderboard["skipped"]:
        lines.append(f"- skipped {skipped['model']}: {skipped['reason']}")
    for key, label in (("best", "Best"), ("best_for_finetune", "Best base model for finetune")):
        best = leaderboard.get(key)
        if best and (key == "best" or best != leaderboard.get("best")):
            lines.append(f"{label} ({leaderboard['rule']}): {best['model']} at dim {best['dim']}, {best['precision']}: "
                         f"{best['reason']}")
    return "\n".join(lines)


def to_html(leaderboard: Mapping[str, Any], title: str = "embedtune base-model leaderboard") -> str:
    """A dashboard page: the table with an NDCG@10 bar and its CI whisker per row."""
    rows_html = []
    scale = 240.0
    for number, row in enumerate(leaderboard["rows"], start=1):
        low, high = row["ndcg@10_ci95"]
        bar = (
            f"<svg width='{int(scale) + 10}' height='14'><rect x='0' y='2' width='{row['ndcg@10'] * scale:.1f}' "
            f"height='10' fill='#4f7cc2'/><line x1='{low * scale:.1f}' x2='{high * scale:.1f}' y1='7' y2='7' "
            "stroke='#222' stroke-width='2'/></svg>"
        )
        best = leaderboard.get("best") or {}
        keys = ("model", "dim", "precision")
        is_best = [row[key] for key in keys] == [best.get(key) for key in keys]
        style = " style='background:#e8f5e9;font-weight:bold'" if is_best else ""
        rows_html.append(
            f"<tr{style}><td>{number}</td><td style='text-align:left'>{html.escape(row['model'])}</td>"
            f"<td>{row['dim']}</td>"
            f"<td>{row['precision']}</td><td>{_ci(row, 'ndcg@10')}</td><td>{bar}</td><td>{_ci(row, 'mrr@10')}</td>"
            f"<td>{_ci(row, 'recall@10')}</td><td>{row['index_mb_per_1m']:,.0f}</td>"
            f"<td>{_rate(row['encode_docs_per_s'])}</td></tr>"
        )
    candidates = "".join(
        f"<li>{html.escape(c['model'])}: dim {c['dim']}, max length {c['max_seq_length']}, license "
        f"{html.escape(c['license'])}{'' if c['commercial_use'] else ' <b>(non-commercial)</b>'}, prefixes "
        f"{html.escape(repr(c['query_prompt']))} / {html.escape(repr(c['document_prompt']))}"
        + (f", {c['api_tokens']} API tokens (${c['api_cost_usd']:.4f})" if c["kind"] == "api" else "") + "</li>"
        for c in leaderboard["candidates"]
    )
    skipped = "".join(f"<li>{html.escape(s['model'])}: {html.escape(s['reason'])}</li>" for s in leaderboard["skipped"])
    best = leaderboard.get("best")
    verdict = (
        f"<p><b>Best ({html.escape(leaderboard['rule'])}):</b> {html.escape(best['model'])}, dim {best['dim']}, "
        f"{best['precision']}: {html.escape(best['reason'])}</p>" if best else ""
    )
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}</style></head><body>"
        f"<h2>{html.escape(title)}</h2>"
        f"<p>{leaderboard['n_queries']} queries, {leaderboard['n_corpus']} candidate passages. Bars: NDCG@10 with "
        "its bootstrap 95% CI. Index size: vectors only, per 1M chunks.</p>"
        f"{verdict}<table><tr><th>#</th><th>model</th><th>dim</th><th>precision</th><th>NDCG@10</th><th></th>"
        "<th>MRR@10</th><th>Recall@10</th><th>MB / 1M chunks</th><th>docs/s</th></tr>"
        f"{''.join(rows_html)}</table><h3>Candidates</h3><ul>{candidates}</ul>"
        + (f"<h3>Skipped</h3><ul>{skipped}</ul>" if skipped else "")
        + "</body></html>"
    )


def to_markdown(leaderboard: Mapping[str, Any]) -> str:
    sample = leaderboard.get("sample") or {}
    sampled = (
        f" (a seeded sample of {sample.get('queries')} of {sample.get('of_queries')} queries and "
        f"{sample.get('corpus')} of {sample.get('of_corpus')} passages)" if sample else ""
    )
    machine = leaderboard.get("machine", {})
    return (
        f"# Base-model leaderboard, {leaderboard.get('date', '')}\n\n"
        f"Data: {leaderboard.get('source', '')}{sampled}.\n\n"
        f"Machine: {machine.get('cpu_count', machine.get('cpus'))} CPUs, {machine.get('device', 'cpu')}, torch threads "
        f"{machine.get('torch_threads')}.\n\n"
        f"Command: `{leaderboard.get('command', '')}`\n\n"
        + format_leaderboard(leaderboard, markdown=True) + "\n"
    )
