"""From generated queries to clean (query, positive) pairs: stable ids, then filters counted by reason.

- `build_pairs(generated, chunks)` joins each `GeneratedQuery` with its chunk into a row of the
  `synthetic_pairs` contract: `id` (`pair_id(chunk_id, query)`, stable across runs), `query` (None when
  the answer did not parse), `positive`, `positive_id`, `doc_id`, `llm_negative`, `style`, `generator`,
  `prompt_version`, `raw`.
- `filter_pairs(pairs, config)` drops bad pairs and counts each drop under one of `DROP_REASONS`
  (parse failure, length, copied passage, "the passage" mentions, too many of the passage's words
  (`max_word_overlap`), duplicates, near duplicates among the queries of one chunk); every reason is in the counter, zero or not.
- `round_trip_filter(...)` keeps the pairs whose chunk the base model retrieves in its top k for the query
  (a consistency filter; encoding and search are `embedtune.models.encoding`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from embedtune.config import FilterConfig
from embedtune.data.text import content_words, jaccard, longest_common_word_run, word_overlap, words
from embedtune.generation.base import GeneratedQuery

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DROP_REASONS = (
    "parse_failure", "too_short", "too_long", "copies_passage", "mentions_source", "duplicate", "near_duplicate",
    "round_trip", "too_extractive",
)
# A query that points at "the passage" or "this study" was written by someone looking at it: no searcher
# knows which text they will get, so such a query teaches the model nothing about real searches.
_MENTIONS_SOURCE = re.compile(
    r"\b(?:the|this|above|given|following)\s+(?:passage|excerpt|snippet)s?\b"
    r"|\b(?:this|the)\s+(?:study|paper|abstract|article)\b",
    re.IGNORECASE,
)


def pair_id(chunk_id: str, query: str) -> str:
    return hashlib.sha256(f"{chunk_id}\x1f{query}".encode()).hexdigest()[:16]


def build_pairs(generated: Sequence[GeneratedQuery], chunks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join generated queries with their chunks into the `synthetic_pairs` contract."""
    by_id = {chunk["chunk_id"]: chunk for chunk in chunks}
    rows = []
    for index, item in enumerate(generated):
        chunk = by_id[item.chunk_id]
        query = (item.query or "").strip() or None
        rows.append(
            {
                "id": pair_id(item.chunk_id, query if query is not None else f"<unparsed {index}> {item.raw}"),
                "query": query,
                "positive": chunk["text"],
                "positive_id": chunk["chunk_id"],
                "doc_id": chunk["doc_id"],
                "llm_negative": item.llm_negative,
                "style": item.style,
                "generator": item.generator,
                "prompt_version": item.prompt_version,
                "raw": item.raw,
            }
        )
    return rows


def _normalise(query: str) -> str:
    return " ".join(words(query))


def _drop_reason(pair: dict[str, Any], config: FilterConfig) -> str | None:
    query = pair["query"]
    if not query:
        return "parse_failure"
    if len(query) < config.min_query_chars or len(words(query)) < config.min_query_words:
        return "too_short"
    if len(query) > config.max_query_chars:
        return "too_long"
    if longest_common_word_run(query, pair["positive"]) > config.max_copied_words:
        return "copies_passage"
    if config.drop_source_mentions and _MENTIONS_SOURCE.search(query):
        return "mentions_source"
    if config.max_word_overlap is not None and \
            word_overlap(query, pair["positive"], config.language) > config.max_word_overlap:
        return "too_extractive"
    return None


def filter_pairs(pairs: Sequence[dict[str, Any]], config: FilterConfig) -> tuple[list[dict[str, Any]], Counter]:
    """Drop bad pairs; near duplicates are judged among queries of the same chunk (cheap, and where
    an LLM asked for several queries repeats itself)."""
    kept: list[dict[str, Any]] = []
    dropped: Counter = Counter({reason: 0 for reason in DROP_REASONS})
    seen_queries: set[str] = set()
    word_sets_by_chunk: dict[str, list[set[str]]] = {}
    for pair in pairs:
        reason = _drop_reason(pair, config)
        if reason is None:
            normalised = _normalise(pair["query"])
            word_set = set(content_words(pair["query"])) or set(words(pair["query"]))
            siblings = word_sets_by_chunk.setdefault(pair["positive_id"], [])
            if normalised in seen_queries:
                reason = "duplicate"
            elif any(jaccard(word_set, other) >= config.near_duplicate_jaccard for other in siblings):
                reason = "near_duplicate"
            else:
                seen_queries.add(normalised)
                siblings.append(word_set)
        if reason:
            dropped[reason] += 1
        else:
            kept.append(dict(pair))
    return kept, dropped


def round_trip_filter(
    pairs: Sequence[dict[str, Any]],
    chunks: Sequence[dict[str, Any]],
    model: SentenceTransformer,
    top_k: int,
    query_prompt: str = "",
    document_prompt: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """Keep pairs whose source chunk is in the base model's top-k for the query (consistency filter)."""
    from embedtune.models.encoding import encode
    from embedtune.models.encoding import top_k as search

    if not pairs:
        return [], 0
    chunk_ids = [chunk["chunk_id"] for chunk in chunks]
    corpus = encode(model, [chunk["text"] for chunk in chunks], document_prompt)
    queries = encode(model, [pair["query"] for pair in pairs], query_prompt)
    indices, _ = search(queries, corpus, top_k)
    kept = [pair for pair, row in zip(pairs, indices) if pair["positive_id"] in {chunk_ids[i] for i in row}]
    return kept, len(pairs) - len(kept)


