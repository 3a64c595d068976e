"""Dashboard views of the data: the counts funnel (documents to training splits) and a sample of pairs."""

from __future__ import annotations

import html
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from embedtune.reporting.charts import page

SPLITS = ("train", "validation", "test")


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
    return page("Generated query-passage pairs (sample)", summary + f"<table>{head}{''.join(rows)}</table>")


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
    return page("Data funnel: documents to training splits", table)


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
