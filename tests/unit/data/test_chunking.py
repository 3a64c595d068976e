"""Chunking: token budget and overlap, whole coverage, sentence boundaries, stable ids."""

import itertools

import pytest

from embedtune.config import ChunkingConfig
from embedtune.data.chunking import chunk_documents, chunk_id, chunk_text
from embedtune.models.loading import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_tokenizer(minilm_path)


def long_text(paragraphs: int = 12) -> str:
    return "\n\n".join(
        f"Paragraph {i} explains how step {i} of the pipeline caches its outputs. "
        f"It stores artifact number {i} in the artifact store and records lineage for run {i}."
        for i in range(paragraphs)
    )


def test_chunks_respect_the_token_budget_and_overlap(tokenizer):
    config = ChunkingConfig(chunk_tokens=64, overlap_tokens=16, min_tokens=4)
    chunks = chunk_text(long_text(), tokenizer, config)
    assert len(chunks) > 3
    for text, n_tokens in chunks:
        assert n_tokens <= 64
        assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= 64
    for (first, _), (second, _) in itertools.pairwise(chunks):
        assert second[:20] in first  # the next window starts inside this one: the overlap


def test_chunks_cover_the_whole_document(tokenizer):
    text = long_text()
    chunks = chunk_text(text, tokenizer, ChunkingConfig(chunk_tokens=48, overlap_tokens=8, min_tokens=1))
    assert text.startswith(chunks[0][0]) and text.endswith(chunks[-1][0])
    assert all(piece in text for piece, _ in chunks)


def test_chunk_ends_prefer_sentence_boundaries(tokenizer):
    chunks = chunk_text(long_text(), tokenizer, ChunkingConfig(chunk_tokens=64, overlap_tokens=0, min_tokens=1))
    assert all(piece.rstrip().endswith(".") for piece, _ in chunks[:-1])


def test_a_short_document_is_one_chunk(tokenizer):
    assert chunk_text("Just one sentence.", tokenizer, ChunkingConfig()) == [("Just one sentence.", 4)]


def test_chunk_ids_are_stable_and_depend_on_source_position_and_text(tokenizer):
    documents = [{"doc_id": "d1", "source": "a.md", "title": "A", "text": long_text()}]
    config = ChunkingConfig(chunk_tokens=64, overlap_tokens=16)
    first = chunk_documents(documents, tokenizer, config)
    again = chunk_documents(documents, tokenizer, config)
    assert [c["chunk_id"] for c in first] == [c["chunk_id"] for c in again]
    assert len({c["chunk_id"] for c in first}) == len(first)
    assert chunk_id("a.md", 0, "x") != chunk_id("b.md", 0, "x") != chunk_id("a.md", 1, "x")
    assert [c["position"] for c in first] == list(range(len(first)))


def test_chunks_longer_than_the_model_reads_are_cut_to_fit_with_a_warning(caplog):
    import logging

    from embedtune.config import ChunkingConfig
    from embedtune.data.chunking import fit_to_model

    fitting = ChunkingConfig(chunk_tokens=200, overlap_tokens=32)
    assert fit_to_model(fitting, 256, "all-MiniLM-L6-v2") is fitting and fit_to_model(fitting, None, "m") is fitting
    with caplog.at_level(logging.WARNING, logger="embedtune"):
        cut = fit_to_model(ChunkingConfig(chunk_tokens=5000, overlap_tokens=400, min_tokens=16), 256, "all-MiniLM-L6-v2")
    assert (cut.chunk_tokens, cut.overlap_tokens, cut.min_tokens) == (254, 63, 16)
    assert "chunking.chunk_tokens=5000 is longer than all-MiniLM-L6-v2 reads (256 tokens)" in caplog.text
    assert "to 254 or less" in caplog.text
