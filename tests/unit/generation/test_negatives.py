from collections import Counter

from embedtune.config import NegativesConfig
from embedtune.generation.negatives import choose_negative, mine_negatives

CHUNKS = [
    {"chunk_id": f"c{i}", "doc_id": f"d{i // 2}", "position": i % 2, "text": f"text {i}"} for i in range(8)
]


def test_skips_the_positive_overlapping_chunks_and_top_ranks():
    # c0 is the positive; c1 overlaps it (same doc, adjacent); c2 is skipped as the top rank.
    index, reason = choose_negative(
        [0, 1, 2, 3, 4], [0.9, 0.8, 0.7, 0.6, 0.5], 0, 0.9, CHUNKS, NegativesConfig(skip_top=1, relative_margin=0.05)
    )
    assert (index, reason) == (3, "mined")


def test_false_negative_guard_rejects_candidates_scoring_like_the_positive():
    config = NegativesConfig(skip_top=0, relative_margin=0.1)
    # 0.85 >= 0.9 * (1 - 0.1) = 0.81 -> guarded; 0.80 is below the threshold -> chosen.
    index, reason = choose_negative([2, 3], [0.85, 0.80], 0, 0.9, CHUNKS, config)
    assert (index, reason) == (3, "mined")
    assert choose_negative([2], [0.85], 0, 0.9, CHUNKS, config) == (None, "guarded")


def test_mining_with_a_real_model_never_returns_the_positive(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir)
    pairs = [{"id": f"p{i}", "query": f"text {i}", "positive": f"text {i}", "positive_id": f"c{i}"} for i in range(8)]
    rows, outcome = mine_negatives(pairs, CHUNKS, model, NegativesConfig(skip_top=0, relative_margin=0.0, max_rank=8))
    assert sum(outcome.values()) == 8
    for row in rows:
        assert row["negative_id"] != row["positive_id"]
        if row["negative_id"]:
            assert row["negative_score"] < row["positive_score"] + 1e-6
    assert isinstance(outcome, Counter)
