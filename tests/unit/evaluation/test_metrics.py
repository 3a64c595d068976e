"""Retrieval metrics by hand, and the bootstrap CI."""

import math

import numpy as np
import pytest

from embedtune.evaluation.metrics import paired_bootstrap_ci, per_query_metrics, query_metrics


def test_metrics_match_a_hand_computed_example():
    # Relevant: d1 (grade 2) at rank 2, d2 (grade 1) at rank 4, d3 (grade 1) never retrieved.
    ranked = ["x", "d1", "y", "d2", "z"]
    relevant = {"d1": 2, "d2": 1, "d3": 1}
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    metrics = query_metrics(ranked, relevant)
    assert metrics["ndcg@10"] == pytest.approx(dcg / idcg)
    assert metrics["ndcg@10"] == pytest.approx(1.69254 / 3.13093, abs=1e-4)  # = 0.5406
    assert metrics["mrr@10"] == pytest.approx(1 / 2)
    assert metrics["recall@1"] == 0.0
    assert metrics["recall@5"] == pytest.approx(2 / 3)
    assert metrics["recall@10"] == pytest.approx(2 / 3)
    assert metrics["map@100"] == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_a_perfect_ranking_scores_one_and_a_miss_scores_zero():
    assert query_metrics(["a", "b"], {"a": 1})["ndcg@10"] == 1.0
    miss = query_metrics([f"n{i}" for i in range(20)], {"a": 1})
    assert miss["ndcg@10"] == miss["mrr@10"] == miss["recall@10"] == miss["map@100"] == 0.0


def test_relevant_hit_below_rank_ten_counts_only_for_map():
    ranked = [f"n{i}" for i in range(10)] + ["a"]
    metrics = query_metrics(ranked, {"a": 1})
    assert metrics["ndcg@10"] == metrics["mrr@10"] == 0.0
    assert metrics["map@100"] == pytest.approx(1 / 11)


def test_per_query_metrics_are_aligned_to_sorted_query_ids():
    values = per_query_metrics({"q2": ["a"], "q1": ["b"]}, {"q2": {"a": 1}, "q1": {"a": 1}})
    assert values["ndcg@10"].tolist() == [0.0, 1.0]


def test_bootstrap_ci_brackets_a_clear_gain_and_straddles_noise():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 400)
    clear = paired_bootstrap_ci(base, base + 0.1, samples=500)
    assert clear["gain"] == pytest.approx(0.1)
    assert clear["ci_low"] == pytest.approx(0.1) and clear["ci_high"] == pytest.approx(0.1)
    noisy = paired_bootstrap_ci(base, base + rng.normal(0, 0.2, 400), samples=500)
    assert noisy["ci_low"] < 0 < noisy["ci_high"]
