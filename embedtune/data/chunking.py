"""Token-based chunking with overlap, measured in the embedder's own tokenizer.

Windows of `chunk_tokens` tokens overlap by about `overlap_tokens`. A window's end is pulled back to a
paragraph break, else a sentence end, else a word boundary, when one lies in its last quarter. The next
window starts in the overlap at a paragraph, line or sentence start when one is there, else at a word
start, never inside a word (`_next_start`), so every chunk reads from its first word. Each chunk carries
the heading path in force at its start (`headings`, e.g. 'Guide > Install'; `embedtune.data.headings`),
shown to people in samples and Argilla; the chunk text that is embedded, trained on and written queries
for does not include it. Chunk ids hash source + position + text, so re-runs, caching and Argilla upserts
line up. `fit_to_model` cuts `chunk_tokens` to what the embedder reads (with a warning), before a run starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from embedtune import logger
from embedtune.config import ChunkingConfig
from embedtune.data.headings import HeadingPaths, heading_marks

_BREAK_AFTER = (".", "!", "?", ":", ";")
_SENTENCE_END = (".", "!", "?")
_CLOSERS = ")]}\"'\u201d\u2019"
_Offsets = Sequence[tuple[int, int]]


def chunk_id(source: str, position: int, text: str) -> str:
    return hashlib.sha256(f"{source}\x1f{position}\x1f{text}".encode()).hexdigest()[:16]


def _lead(text: str, offsets: _Offsets, k: int) -> int:
    """Character index of token `k`'s first non-space character (some tokenizers' offsets include the space)."""
    start, end = offsets[k]
    while start < end and text[start].isspace():
        start += 1
    return start


def _starts_word(text: str, offsets: _Offsets, k: int) -> bool:
    """Token `k` begins a word: whitespace, or the document's start, lies right before its first character."""
    lead = _lead(text, offsets, k)
    return lead == 0 or text[lead - 1].isspace()


def _starts_sentence(text: str, offsets: _Offsets, k: int, lowercase_text: bool) -> bool:
    """Token `k` begins a paragraph (a blank line before it); a line whose first character is not a lowercase
    letter (markdown headings, list items; not a wrapped PDF line); or a sentence: `.`, `!` or `?` (closing
    quotes and brackets allowed), whitespace, then a word that is not lowercase (so `e.g. this` is no start),
    unless the whole document is lowercase (as some corpora are)."""
    lead = _lead(text, offsets, k)
    gap = text[offsets[k - 1][1] : lead]
    if not gap or not gap.isspace():
        return False
    first = text[lead : lead + 1]
    if gap.count("\n") >= 2 or ("\n" in gap and not first.islower()):
        return True
    before = text[max(0, offsets[k - 1][1] - 4) : offsets[k - 1][1]].rstrip(_CLOSERS)
    return before.endswith(_SENTENCE_END) and (not first.islower() or lowercase_text)


def _window_end(text: str, offsets: _Offsets, start: int, stop: int, word_ends: bool = True) -> int:
    """Index (exclusive) of the last token to keep: prefer a paragraph, then a sentence break, then (with
    `word_ends`) a word boundary, in the window's last quarter; else cut at `stop`."""
    if stop >= len(offsets):
        return len(offsets)
    earliest = start + (3 * (stop - start)) // 4
    predicates = [
        lambda k: "\n\n" in text[offsets[k - 1][1] : offsets[k][0] + 1],
        lambda k: text[offsets[k - 1][1] - 1 : offsets[k - 1][1]] in _BREAK_AFTER
        and text[offsets[k - 1][1] : offsets[k][0] + 1][:1].isspace(),
    ]
    if word_ends:
        predicates.append(lambda k: _starts_word(text, offsets, k))
    for predicate in predicates:
        for k in range(stop, earliest, -1):
            if predicate(k):
                return k
    return stop


def _next_start(text: str, offsets: _Offsets, start: int, end: int, overlap: int, lowercase_text: bool) -> int:
    """First token of the window after `[start, end)`: `overlap` tokens before `end` ("nominal"), moved to
    the paragraph, line or sentence start (`_starts_sentence`) closest to it between a quarter of the overlap
    before it and `end`; failing that, to the start of the word holding the nominal token (backing up at
    most `overlap` tokens, at least 8), else the next word start up to `end`. Always after `start`."""
    nominal = max(end - overlap, start + 1)
    lowest = max(start + 1, nominal - overlap // 4)
    sentence_starts = [k for k in range(lowest, end) if _starts_sentence(text, offsets, k, lowercase_text)]
    if sentence_starts:
        return min(sentence_starts, key=lambda k: (abs(k - nominal), k))
    for k in range(nominal, max(start, nominal - max(overlap, 8)), -1):
        if _starts_word(text, offsets, k):
            return k
    for k in range(nominal + 1, min(end, len(offsets) - 1) + 1):
        if _starts_word(text, offsets, k):
            return k
    return nominal


def _windows(text: str, tokenizer: Any, config: ChunkingConfig, natural_starts: bool = True) -> list[tuple[int, int, int]]:
    """(first character, end character, token count) of each chunk of `text`, surrounding whitespace excluded.

    `natural_starts=False` is the rule before 2026-12-02 (a window starts exactly `overlap_tokens` before the
    previous end, perhaps inside a word; ends never fall back to word boundaries), kept for the benchmark
    `benchmarks/chunking.py`."""
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = [tuple(pair) for pair in encoding["offset_mapping"]]
    if not offsets:
        return []
    lowercase_text = not any(ch.isupper() for ch in text)
    windows: list[tuple[int, int, int]] = []
    start = 0
    while start < len(offsets):
        end = _window_end(text, offsets, start, start + config.chunk_tokens, word_ends=natural_starts)
        raw = text[offsets[start][0] : offsets[end - 1][1]]
        first = offsets[start][0] + len(raw) - len(raw.lstrip())
        last = offsets[end - 1][1] - (len(raw) - len(raw.rstrip()))
        n_tokens = end - start
        if last > first and (n_tokens >= config.min_tokens or not windows):
            windows.append((first, last, n_tokens))
        if end >= len(offsets):
            break
        if natural_starts:
            start = _next_start(text, offsets, start, end, config.overlap_tokens, lowercase_text)
        else:
            start = max(end - config.overlap_tokens, start + 1)
    return windows


def chunk_text(text: str, tokenizer: Any, config: ChunkingConfig) -> list[tuple[str, int]]:
    """Split one document into (chunk text, token count) windows."""
    return [(text[first:last], n_tokens) for first, last, n_tokens in _windows(text, tokenizer, config)]


def chunk_documents(
    documents: Sequence[dict[str, str]], tokenizer: Any, config: ChunkingConfig, natural_starts: bool = True
) -> list[dict[str, Any]]:
    """One row per chunk: chunk_id, doc_id, source, title, headings, text, n_tokens, position.

    `headings` is the heading path at the chunk's first character ('Guide > Install > Linux'; "" before any
    heading, or with `chunking.heading_path: false`). `natural_starts=False`: the old start rule (`_windows`)."""
    rows = []
    for document in documents:
        text = document["text"]
        paths = HeadingPaths(heading_marks(text, document["source"]) if config.heading_path else [])
        for position, (first, last, n_tokens) in enumerate(_windows(text, tokenizer, config, natural_starts)):
            piece = text[first:last]
            rows.append(
                {
                    "chunk_id": chunk_id(document["source"], position, piece),
                    "doc_id": document["doc_id"],
                    "source": document["source"],
                    "title": document.get("title", ""),
                    "headings": paths.at(first),
                    "text": piece,
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
