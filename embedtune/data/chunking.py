"""Token-based chunking with overlap, measured in the embedder's own tokenizer.

Windows of `chunk_tokens` tokens advance by `chunk_tokens - overlap_tokens`; a window's end is pulled
back to a paragraph or sentence boundary when one lies in its last quarter, so chunks read naturally.
Chunk ids hash source + position + text, so re-runs, caching and Argilla upserts line up.
`fit_to_model` cuts `chunk_tokens` to what the embedder reads (with a warning), before a run starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from embedtune import logger
from embedtune.config import ChunkingConfig

_BREAK_AFTER = (".", "!", "?", ":", ";")


def chunk_id(source: str, position: int, text: str) -> str:
    return hashlib.sha256(f"{source}\x1f{position}\x1f{text}".encode()).hexdigest()[:16]


def _window_end(text: str, offsets: Sequence[tuple[int, int]], start: int, stop: int) -> int:
    """Index (exclusive) of the last token to keep: prefer a paragraph, then a sentence break."""
    if stop >= len(offsets):
        return len(offsets)
    earliest = start + (3 * (stop - start)) // 4
    for predicate in (
        lambda k: "\n\n" in text[offsets[k - 1][1] : offsets[k][0] + 1],
        lambda k: text[offsets[k - 1][1] - 1 : offsets[k - 1][1]] in _BREAK_AFTER
        and text[offsets[k - 1][1] : offsets[k][0] + 1][:1].isspace(),
    ):
        for k in range(stop, earliest, -1):
            if predicate(k):
                return k
    return stop


def chunk_text(text: str, tokenizer: Any, config: ChunkingConfig) -> list[tuple[str, int]]:
    """Split one document into (chunk text, token count) windows."""
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = [tuple(pair) for pair in encoding["offset_mapping"]]
    if not offsets:
        return []
    chunks: list[tuple[str, int]] = []
    start = 0
    while start < len(offsets):
        end = _window_end(text, offsets, start, start + config.chunk_tokens)
        piece = text[offsets[start][0] : offsets[end - 1][1]].strip()
        n_tokens = end - start
        if piece and (n_tokens >= config.min_tokens or not chunks):
            chunks.append((piece, n_tokens))
        if end >= len(offsets):
            break
        start = max(end - config.overlap_tokens, start + 1)
    return chunks


def chunk_documents(documents: Sequence[dict[str, str]], tokenizer: Any, config: ChunkingConfig) -> list[dict[str, Any]]:
    rows = []
    for document in documents:
        for position, (text, n_tokens) in enumerate(chunk_text(document["text"], tokenizer, config)):
            rows.append(
                {
                    "chunk_id": chunk_id(document["source"], position, text),
                    "doc_id": document["doc_id"],
                    "source": document["source"],
                    "title": document.get("title", ""),
                    "text": text,
                    "n_tokens": n_tokens,
                    "position": position,
                }
            )
    return rows


def fit_to_model(config: ChunkingConfig, model_tokens: int | None, model_name: str) -> ChunkingConfig:
    """`config` with chunks no longer than the embedder reads, so no chunk text goes unseen.

    Args:
        config: the chunking section as configured.
        model_tokens: the most tokens the embedder reads (`model.max_seq_length`, capped by the model's
            own limit), special tokens included; None when unknown (then `config` is returned as is).
        model_name: the base model, for the warning.

    Returns:
        `config` when its chunks fit; otherwise a copy with `chunk_tokens` cut to `model_tokens - 2`
        (room for the [CLS]/[SEP]-style tokens) and `overlap_tokens` / `min_tokens` kept below it,
        after a warning that names both numbers and the setting to change.
    """
    if not model_tokens:
        return config
    limit = max(model_tokens - 2, 9)
    if config.chunk_tokens <= limit:
        return config
    overlap = min(config.overlap_tokens, limit // 4)
    logger.warning(
        "chunking.chunk_tokens=%d is longer than %s reads (%d tokens): the rest of every chunk would never be "
        "seen in training or evaluation, so chunks are cut to %d tokens (overlap %d). Set chunking.chunk_tokens "
        "to %d or less (or raise model.max_seq_length, if the model allows) to silence this.",
        config.chunk_tokens, model_name, model_tokens, limit, overlap, limit,
    )
    return config.model_copy(
        update={"chunk_tokens": limit, "overlap_tokens": overlap, "min_tokens": min(config.min_tokens, limit)}
    )
