"""Dashboard views of the data: the counts funnel (documents to training splits) and a sample of pairs."""

from __future__ import annotations

import html
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from embedtune.reporting.charts import page

SPLITS = ("train", "validation", "test")


def from_word_boundary(text: str, previous: str | None = None) -> str:
    """`text` (a chunk) starting on a whole word: when the chunk before it in the same document (`previous`,
    which overlaps it or ends where it starts) shows that it begins inside a word, the partial word is
    dropped and "... " marks the cut. Whitespace is collapsed."""
    text = " ".join(text.split())
    if not previous or not text or not text[0].isalnum():
        return text
    previous = " ".join(previous.split())
    probe = text[: min(40, len(text))]
    at = previous.find(probe, 1)
    preceding = previous[at - 1] if at > 0 else (previous[-1] if not previous.endswith(" ") else " ")
    if not preceding.isalnum():
        return text
    cut = text.split(" ", 1)
    return "... " + cut[1] if len(cut) == 2 else text


def location(source: str, headings: str = "") -> str:
    """Where a passage sits, for a person: 'docs/training.md › Training > LoRA', or the source alone when the
    chunk has no heading path."""
    return f"{source} › {headings}" if source and headings else source or headings


def chunk_context(chunks: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, str | None, str]]:
    """chunk_id -> (source path, text of the chunk before it in its document or None, heading path or ""), for
    displays."""
    by_doc: dict[Any, dict[int, Mapping[str, Any]]] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk.get("doc_id"), {})[int(chunk.get("position", 0) or 0)] = chunk
    context: dict[str, tuple[str, str | None, str]] = {}
    for positions in by_doc.values():
        for position, chunk in positions.items():
            before = positions.get(position - 1)
            headings = chunk.get("headings")
            context[str(chunk["chunk_id"])] = (
                str(chunk.get("source") or chunk.get("doc_id") or ""),
                str(before["text"]) if before else None,
                headings if isinstance(headings, str) else "",  # "" also for chunks made before the column existed
            )
    return context


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip() + " ..."


def pairs_sample_html(
    pairs: Sequence[Mapping[str, Any]], kept_ids: Iterable[str] | None = None, count: int = 20, seed: int = 0,
    passage_chars: int = 240, chunks: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """A seeded sample of generated pairs as a table; with `kept_ids`, marks which ones the filters kept.

    With `chunks`, each pair shows its passage's source path and heading path (`location`; else its `source` or
    `doc_id` column) and the passage starts on a whole word (`from_word_boundary`); passages are cut at a word after
    `passage_chars` characters."""
    kept = set(kept_ids) if kept_ids is not None else None
    context = chunk_context(chunks) if chunks is not None else {}
    chosen = sorted(random.Random(seed).sample(list(pairs), min(count, len(pairs))), key=lambda p: str(p.get("id")))
    head = "<tr><th>#</th><th>query</th><th>style</th><th>positive passage</th><th>source</th>"
    head += "<th>filters</th></tr>" if kept is not None else "</tr>"
    rows = []
    for number, pair in enumerate(chosen, start=1):
        source, previous, headings = context.get(str(pair.get("positive_id")), (None, None, ""))
        source = location(source or str(pair.get("source") or pair.get("doc_id") or ""), headings)
        passage = _cut(from_word_boundary(str(pair.get("positive", "")), previous), passage_chars)
        cells = [
            str(number), html.escape(str(pair.get("query", ""))), html.escape(str(pair.get("style", "") or "")),
            html.escape(passage), html.escape(source),
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


# How each stage relates to the one before it, in words a person reads without arithmetic.
_RATIO_STAGES = {"chunks": "per document", "generated pairs": "per chunk"}


def funnel_lines(counts: Sequence[tuple[str, int]]) -> list[tuple[str, int, str]]:
    """(stage, count, how it relates to the stage before) in plain words: chunks and generated pairs as
    a number per document / per chunk (they multiply), the filters and mining as "x% of ..." (they only
    drop), and the three splits as their share of the pairs that were split."""
    lines: list[tuple[str, int, str]] = []
    previous: tuple[str, int] | None = None
    for stage, value in counts:
        note = ""
        if previous and previous[1]:
            if stage in _RATIO_STAGES:
                note = f"{value / previous[1]:.1f} {_RATIO_STAGES[stage]}"
            elif stage in SPLITS:
                note = f"{value / previous[1]:.0%} of the {previous[1]:,} split pairs"
            else:
                dropped = previous[1] - value
                note = f"{value / previous[1]:.0%} of {previous[1]:,}" + (f" ({dropped:,} dropped)" if dropped > 0 else "")
        lines.append((stage, value, note))
        if stage not in SPLITS:
            previous = (stage, value)
    return lines


def funnel_html(counts: Sequence[tuple[str, int]]) -> str:
    """One row per stage: the count, a bar, and how it relates to the stage before (`funnel_lines`)."""
    largest = max([value for _, value in counts] or [1]) or 1
    rows = []
    for stage, value, note in funnel_lines(counts):
        bar = f"<div style='background:#7a3ff5;height:14px;width:{max(1, round(300 * value / largest))}px'></div>"
        rows.append(f"<tr><td>{html.escape(stage)}</td><td class='num'>{value:,}</td><td>{bar}</td>"
                    f"<td>{html.escape(note)}</td></tr>")
    table = "<table><tr><th>stage</th><th>count</th><th></th><th>from the stage before</th></tr>" + "".join(rows)
    return page("Data funnel: documents to training splits", table + "</table>")


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
