"""Teachers: the hybrid's scores are the fused full-corpus scores at the candidates; a CrossEncoder by path."""

import numpy as np
import pytest

from embedtune import EmbedtuneError
from embedtune.teacher.fusion import fuse
from embedtune.teacher.lexical import LexicalIndex
from embedtune.teacher.scoring import CrossEncoderTeacher, HybridTeacher, ScoreMemo

TEXTS = ["aspirin lowers fever", "wings generate lift", "fever in children", "lift and drag of wings"]


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


CORPUS = unit([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1]])


def fake_encoder(queries):
    return unit([[1, 0.1, 0.2] if "fever" in q else [0.1, 1, 0.2] for q in queries])


def test_hybrid_scores_are_the_fused_scores_of_the_candidates_in_blocks():
    lexical = LexicalIndex(TEXTS)
    teacher = HybridTeacher(TEXTS, CORPUS, fake_encoder, lexical, weight=0.3, block=1)
    queries = ["fever after aspirin", "wings lift"]
    scored = teacher.score(queries, [[0, 2, 1], [3]])
    dense, bm25 = teacher.component_scores(queries)
    expected = fuse(dense, bm25, 0.3)
    assert np.allclose(scored[0], expected[0, [0, 2, 1]]) and np.allclose(scored[1], expected[1, [3]])
    assert scored[0][0] > scored[0][2]  # the aspirin text beats the wings text for a fever query
    assert "0.30" in teacher.name


def test_hybrid_refuses_mismatched_corpus():
    with pytest.raises(ValueError, match="same corpus"):
        HybridTeacher(TEXTS[:3], CORPUS, fake_encoder, LexicalIndex(TEXTS), 0.5)


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory, minilm_path):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_cross_encoder_teacher_scores_each_candidate_in_order(tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    teacher = CrossEncoderTeacher(tiny_cross_encoder, TEXTS, device="cpu")
    scored = teacher.score(["fever", "wings"], [[0, 1, 2], [3]])
    assert [len(s) for s in scored] == [3, 1]
    direct = CrossEncoder(tiny_cross_encoder, device="cpu").predict([("fever", TEXTS[2]), ("wings", TEXTS[3])])
    assert np.allclose([scored[0][2], scored[1][0]], direct, atol=1e-5)


def test_a_missing_cross_encoder_is_one_clear_error(tmp_path):
    with pytest.raises(EmbedtuneError, match="could not be loaded"):
        CrossEncoderTeacher(str(tmp_path / "no-such-model"), TEXTS)


def test_score_memo_asks_the_teacher_once_per_query_and_passage():
    class Counting:
        name = "counting"

        def __init__(self):
            self.asked = []

        def score(self, queries, candidates):
            self.asked += [(q, i) for q, chosen in zip(queries, candidates) for i in chosen]
            return [np.array([10.0 * len(q) + i for i in chosen], dtype=np.float32) for q, chosen in zip(queries, candidates)]

    teacher = Counting()
    memo = ScoreMemo(teacher)
    first = memo.score(["ab", "c"], [[0, 1], [2]])
    again = memo.score(["c", "ab"], [[2, 3], [1, 0, 1]])
    assert [list(x) for x in first] == [[20.0, 21.0], [12.0]]
    assert [list(x) for x in again] == [[12.0, 13.0], [21.0, 20.0, 21.0]]  # the teacher's own scores, in order
    assert sorted(teacher.asked) == [("ab", 0), ("ab", 1), ("c", 2), ("c", 3)]  # each once
    assert memo.name == "counting" and memo.score(["ab"], [[1]])[0].dtype == np.float32
