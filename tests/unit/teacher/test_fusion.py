"""Score fusion: z-scores per query, the convex mix, and the weight chosen by NDCG@10 on known positives."""

import numpy as np
import pytest

from embedtune.teacher.fusion import choose_weight, fuse, ndcg_at_10, standardise


def test_standardise_rows_and_constant_rows():
    z = standardise(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    assert np.allclose(z[0].mean(), 0) and np.allclose(z[0].std(), 1)
    assert not z[1].any()


def test_fuse_is_scale_free_and_its_ends_are_each_retriever():
    dense = np.array([[0.9, 0.2, 0.1]])
    lexical = np.array([[0.0, 0.0, 5.0]])
    assert np.allclose(fuse(dense, lexical, 0.0), standardise(dense))
    assert np.allclose(fuse(dense, lexical * 100, 1.0), standardise(lexical))
    with pytest.raises(ValueError):
        fuse(dense, lexical, 1.5)


def test_ndcg_at_10():
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.8, 0.9]])
    assert ndcg_at_10(scores, [{0}, {0}]) == pytest.approx((1 + 1 / np.log2(4)) / 2)


def test_choose_weight_prefers_the_retriever_that_finds_the_positives():
    rng = np.random.default_rng(0)
    n, corpus = 20, 50
    relevant = [{i} for i in range(n)]
    lexical = rng.random((n, corpus))
    lexical[np.arange(n), np.arange(n)] += 3  # BM25 finds every positive
    dense = rng.random((n, corpus))  # dense finds nothing
    weight, table = choose_weight(dense, lexical, relevant)
    assert weight > 0 and table[weight] == pytest.approx(1.0) and table[0.0] < 0.5
    weight, table = choose_weight(lexical, dense, relevant)  # roles swapped: dense wins
    assert weight < 1 and table[weight] == pytest.approx(1.0) and table[1.0] < 0.5


def test_ties_go_to_the_smaller_weight():
    same = np.eye(3)
    weight, table = choose_weight(same, same, [{0}, {1}, {2}], weights=(0.7, 0.2, 0.5))
    assert weight == 0.2 and set(table) == {0.7, 0.2, 0.5}


def test_one_se_keeps_the_smallest_weight_the_queries_cannot_tell_from_the_best():
    rng = np.random.default_rng(1)
    n, corpus = 200, 40
    relevant = [{i % corpus} for i in range(n)]
    dense = rng.random((n, corpus))
    lexical = rng.random((n, corpus))
    rows = np.arange(n)
    dense[rows, rows % corpus] += 0.6  # dense alone finds most positives
    lexical[rows[: n // 10], rows[: n // 10] % corpus] += 3  # BM25 adds a few
    best, table = choose_weight(dense, lexical, relevant)
    careful, same_table = choose_weight(dense, lexical, relevant, rule="one_se")
    assert same_table == table
    assert careful <= best
    assert table[careful] >= table[best] - 0.05  # close to the best, by construction of the rule


def test_one_se_moves_off_the_best_only_when_the_gap_is_within_noise():
    relevant = [{0}] * 50
    dense = np.tile([0.0, 1.0, 0.5], (50, 1))  # dense never ranks the positive first
    lexical = np.tile([1.0, 0.0, 0.0], (50, 1))  # BM25 always does
    weight, table = choose_weight(dense, lexical, relevant, weights=(0.0, 0.5, 1.0), rule="one_se")
    assert table[0.0] < table[1.0] and weight > 0.0  # a clear, noiseless gap: never the dense side
