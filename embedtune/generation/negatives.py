"""Hard negatives mined from the corpus with the base model, guarded against false negatives.

For each pair the corpus is ranked by the base model (`embedtune.models.encoding.encode` / `top_k`);
candidates are taken from ranks [skip_top, max_rank), never the positive itself or a chunk overlapping
it (same document, adjacent position), and only if their score is below
`positive_score * (1 - relative_margin)`: a candidate scoring about as high as the positive is more likely
an unlabelled positive than a negative.

`mine_negatives(pairs, chunks, model, config)` returns every pair with `negative`, `negative_id`
(None when no candidate qualified), `positive_score` and `negative_score` added, and a counter of
outcomes: `mined`, `guarded` (only candidates too close to the positive), `no_candidate`, `disabled`.
`choose_negative` is the choice for one pair, without a model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from embedtune.config import NegativesConfig
from embedtune.models.encoding import encode, top_k

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def _overlaps(candidate: dict[str, Any], positive: dict[str, Any]) -> bool:
    return candidate["doc_id"] == positive["doc_id"] and abs(candidate["position"] - positive["position"]) <= 1


def choose_negative(
    ranked: Sequence[int],
    scores: Sequence[float],
    positive_index: int,
    positive_score: float,
    chunks: Sequence[dict[str, Any]],
    config: NegativesConfig,
) -> tuple[int | None, str]:
    """Index of the chosen negative in `chunks` (or None) and why it was chosen or not."""
    threshold = positive_score * (1 - config.relative_margin)
    positive = chunks[positive_index]
    rank = 0
    saw_guarded = False
    for index, score in zip(ranked, scores):
        if index == positive_index or _overlaps(chunks[index], positive):
            continue
        rank += 1
        if rank <= config.skip_top:
            continue
        if score >= threshold:
            saw_guarded = True
            continue
        return int(index), "mined"
    return None, "guarded" if saw_guarded else "no_candidate"


def mine_negatives(
    pairs: Sequence[dict[str, Any]],
    chunks: Sequence[dict[str, Any]],
    model: SentenceTransformer,
    config: NegativesConfig,
    query_prompt: str = "",
    document_prompt: str = "",
    batch_size: int = 64,
) -> tuple[list[dict[str, Any]], Counter]:
    """Add `negative`, `negative_id`, `positive_score`, `negative_score` to each pair."""
    outcome: Counter = Counter()
    if not pairs:
        return [], outcome
    index_of = {chunk["chunk_id"]: i for i, chunk in enumerate(chunks)}
    corpus = encode(model, [chunk["text"] for chunk in chunks], document_prompt, batch_size)
    queries = encode(model, [pair["query"] for pair in pairs], query_prompt, batch_size)
    depth = min(config.max_rank + config.skip_top + 3, len(chunks))
    ranked, scores = top_k(queries, corpus, depth)
    rows = []
    for row, pair in enumerate(pairs):
        positive_index = index_of[pair["positive_id"]]
        positive_score = float(np.dot(queries[row], corpus[positive_index]))
        negative_index, reason = (None, "disabled")
        if config.enabled:
            negative_index, reason = choose_negative(
                ranked[row], scores[row], positive_index, positive_score, chunks, config
            )
        outcome[reason] += 1
        negative = chunks[negative_index] if negative_index is not None else None
        rows.append(
            {
                **pair,
                "negative": negative["text"] if negative else None,
                "negative_id": negative["chunk_id"] if negative else None,
                "positive_score": positive_score,
                "negative_score": float(np.dot(queries[row], corpus[negative_index])) if negative else None,
            }
        )
    return rows, outcome
