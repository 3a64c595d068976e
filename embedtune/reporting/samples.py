"""A readable sample of generated pairs, so a person can judge the generator's quality."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from embedtune.reporting.data import chunk_context, from_word_boundary


def _passage(text: str, limit: int = 600, previous: str | None = None) -> str:
    text = from_word_boundary(text, previous)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def pairs_markdown(
    pairs: Sequence[dict[str, Any]], kept_ids: set[str], n: int, seed: int, command: str, source: str,
    chunks: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """Markdown with `n` seeded-random generated pairs: query, style, filter verdict, passage. With `chunks`
    (the run's chunks), each pair names its passage's source path and heading path ('`docs/training.md` ›
    Training > LoRA') and the passage starts on a whole word."""
    context = chunk_context(chunks) if chunks is not None else {}
    chosen = random.Random(seed).sample(list(pairs), min(n, len(pairs)))
    kept = sum(pair["id"] in kept_ids for pair in chosen)
    lines = [
        f"# {len(chosen)} generated pairs from {source}",
        "",
        f"Made with: `{command}`",
        "",
        (
            f"Generator: `{chosen[0]['generator']}` (prompt `{chosen[0]['prompt_version']}`) · "
            f"{kept} of {len(chosen)} kept by the filters · a seeded random sample of all generated pairs."
        ),
        "",
    ]
    for number, pair in enumerate(chosen, start=1):
        verdict = "kept" if pair["id"] in kept_ids else "dropped by filters"
        query = pair["query"] if pair["query"] else f"(unparsed: {pair.get('raw', '')[:120]!r})"
        source, previous, headings = context.get(str(pair["positive_id"]), (None, None, ""))
        where = f"`{source}`" if source else f"chunk `{pair['positive_id']}`"
        where += f" › {headings}" if headings else ""
        lines += [
            f"## {number}. {query}",
            "",
            f"*{pair['style']} query · {verdict} · {where}*",
            "",
            f"> {_passage(pair['positive'], previous=previous)}",
            "",
        ]
    return "\n".join(lines)
