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


# -- where chunks start (issue #19, item 8) ---------------------------------------------------------------------


def split_words(count: int) -> str:
    """Words the WordPiece tokenizer cuts into several pieces, no sentence ends: starts can only be word starts."""
    words = ["internationalization", "tokenizers", "checkpointing", "orchestrators", "deduplication", "materializers"]
    return " ".join(words[i % len(words)] + ("," if i % 5 == 4 else "") for i in range(count))


def spans(text, tokenizer, config):
    """(first character, chunk text) of each chunk, located in `text` in order."""
    found, at = [], 0
    for piece, _ in chunk_text(text, tokenizer, config):
        at = text.index(piece, at)
        found.append((at, piece))
        at += 1
    return found


def test_chunks_start_on_a_word_never_inside_one(tokenizer):
    text = split_words(300)
    config = ChunkingConfig(chunk_tokens=40, overlap_tokens=10, min_tokens=1)
    chunks = spans(text, tokenizer, config)
    assert len(chunks) > 10
    for at, piece in chunks[1:]:
        assert text[at - 1] == " ", f"starts inside a word: ...{text[at - 12:at]}|{piece[:20]}"
        assert not tokenizer.convert_ids_to_tokens(tokenizer(piece, add_special_tokens=False)["input_ids"])[0].startswith("##")
    for (at, piece), (next_at, _) in itertools.pairwise(chunks):
        assert at < next_at <= at + len(piece)  # still overlapping or touching: no text is lost
    assert all(n <= 40 for _, n in chunk_text(text, tokenizer, config))


def sentences(count: int) -> str:
    return " ".join(
        f"Sentence {i} describes how the orchestrator schedules step number {i} on the cluster." for i in range(count)
    )


def test_chunks_start_at_a_sentence_inside_the_overlap_and_keep_about_that_overlap(tokenizer):
    text = sentences(60)
    config = ChunkingConfig(chunk_tokens=64, overlap_tokens=24, min_tokens=1)
    chunks = spans(text, tokenizer, config)
    assert len(chunks) > 5
    for (at, piece), (next_at, next_piece) in itertools.pairwise(chunks):
        assert next_piece.startswith("Sentence "), next_piece[:30]
        shared = len(tokenizer(text[next_at : at + len(piece)], add_special_tokens=False)["input_ids"])
        assert 0 < shared <= 24 + 24 // 4, "the overlap stays about as configured"


def test_a_lowercase_sentence_start_counts_only_in_an_all_lowercase_document(tokenizer):
    config = ChunkingConfig(chunk_tokens=48, overlap_tokens=16, min_tokens=1)
    lowercase = " ".join(f"the wing {i} was tested in a wind tunnel at mach {i} . lift rose with angle ." for i in range(30))
    assert all(piece.startswith(("the wing", "lift rose")) for _, piece in spans(lowercase, tokenizer, config)[1:])
    abbreviations = " ".join(f"Tools, e.g. shells {i}, editors and compilers, help developers ship code." for i in range(30))
    assert not any(piece.startswith("shells") for _, piece in spans(abbreviations, tokenizer, config)[1:])


def test_chunk_rows_carry_the_markdown_heading_path_at_their_start(tokenizer):
    body = " ".join(f"Step {i} trains the adapter on the cluster." for i in range(12))
    text = f"# Training\n\nIntro text.\n\n## Large models\n\n{body}\n\n### LoRA\n\n{body}\n\n## Small models\n\n{body}"
    rows = chunk_documents(
        [{"doc_id": "d", "source": "guide/training.md", "title": "Training", "text": text}],
        tokenizer, ChunkingConfig(chunk_tokens=40, overlap_tokens=8, min_tokens=1),
    )
    by_start, at = [], 0
    for row in rows:  # each chunk's first character, in order (the body repeats, so search from the last one)
        at = text.index(row["text"], at)
        by_start.append((at, row["headings"]))
        at += 1
    assert by_start[0] == (0, "Training")
    for start, path in by_start:
        expected = (
            "Training > Small models" if start >= text.index("## Small")
            else "Training > Large models > LoRA" if start >= text.index("### LoRA")
            else "Training > Large models" if start >= text.index("## Large")
            else "Training"
        )
        assert path == expected
    assert {"Training > Large models > LoRA", "Training > Small models"} <= {path for _, path in by_start}


def test_heading_paths_can_be_turned_off_and_leave_text_and_ids_alone(tokenizer):
    document = {"doc_id": "d", "source": "a.md", "title": "A", "text": "# A\n\n## B\n\n" + long_text()}
    on = chunk_documents([document], tokenizer, ChunkingConfig(chunk_tokens=64, overlap_tokens=16))
    off = chunk_documents([document], tokenizer, ChunkingConfig(chunk_tokens=64, overlap_tokens=16, heading_path=False))
    assert [row["headings"] for row in on] == ["A"] + ["A > B"] * (len(on) - 1) and len(on) > 2
    assert {row["headings"] for row in off} == {""}
    assert [row["chunk_id"] for row in on] == [row["chunk_id"] for row in off]
    assert all(row["chunk_id"] == chunk_id("a.md", row["position"], row["text"]) for row in on)
    assert all(not row["text"].startswith("A > B") for row in on), "the path is never part of the embedded text"


def test_html_headings_become_the_chunks_heading_path(tmp_path, tokenizer):
    from embedtune.config import IngestConfig
    from embedtune.data.ingest import load_documents

    paragraph = "<p>" + " ".join(f"Sentence {i} about installing the stack." for i in range(15)) + "</p>"
    (tmp_path / "page.html").write_text(
        f"<html><head><title>Docs</title></head><body><h1>Guide</h1>{paragraph}<h2>Install <em>it</em></h2>"
        f"{paragraph}<h3>On Linux</h3>{paragraph}</body></html>",
        encoding="utf-8",
    )
    documents = load_documents(IngestConfig(corpus=str(tmp_path))).documents
    rows = chunk_documents(documents, tokenizer, ChunkingConfig(chunk_tokens=48, overlap_tokens=8, min_tokens=1))
    assert rows[0]["headings"] == "Guide" and rows[-1]["headings"] == "Guide > Install it > On Linux"
    assert "Guide > Install it" in {row["headings"] for row in rows}
