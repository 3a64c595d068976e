"""The no-LLM backend: the requested number of queries, styles in turn, claims from the passage."""

from embedtune.config import GenerationConfig
from embedtune.data.text import content_words
from embedtune.generation import make_generator

PASSAGE = (
    "ZenML caches a step when its code, parameters and inputs are unchanged, so a second run of the same "
    "pipeline finishes in seconds and reuses every artifact from the first run."
)
CHUNKS = [{"chunk_id": "c1", "doc_id": "d1", "text": PASSAGE, "title": "Caching"}]


def test_heuristic_generator_gives_the_requested_number_and_alternates_styles():
    chunks = [dict(CHUNKS[0], chunk_id=f"c{i}") for i in range(3)]
    rows = make_generator(GenerationConfig(backend="heuristic")).generate(chunks, 4)
    assert len(rows) == 12
    assert [r.style for r in rows[:4]] == ["question", "keyword", "question", "keyword"]
    assert all(r.query for r in rows)


def test_heuristic_claims_are_in_order_content_words_of_one_sentence():
    rows = make_generator(GenerationConfig(backend="heuristic", query_styles=["claim"])).generate(CHUNKS[:1], 2)
    assert [r.style for r in rows] == ["claim", "claim"]
    passage = content_words(CHUNKS[0]["text"])
    for row in rows:
        claim = row.query.split()
        assert 2 <= len(claim) <= 8 and "?" not in row.query
        runs = [passage[start : start + len(claim)] for start in range(len(passage))]
        assert claim in runs  # a run of the passage's content words, in order
