"""A readable sample of generated pairs, so a person can judge the generator's quality."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any


def _passage(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def pairs_markdown(
    pairs: Sequence[dict[str, Any]], kept_ids: set[str], n: int, seed: int, command: str, source: str
) -> str:
    """Markdown with `n` seeded-random generated pairs: query, style, filter verdict, passage."""
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
        lines += [
            f"## {number}. {query}",
            "",
            f"*{pair['style']} query · {verdict} · chunk `{pair['positive_id']}`*",
            "",
            f"> {_passage(pair['positive'])}",
            "",
        ]
    return "\n".join(lines)
