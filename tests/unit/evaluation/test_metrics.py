"""Retrieval metrics by hand and against trec_eval on real BEIR slices, and the paired BCa bootstrap CI."""

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


def test_bootstrap_ci_is_scipys_paired_bca_interval():
    """The interval is scipy's paired BCa bootstrap with the given seed (the hand-rolled percentile bootstrap it
    replaced gives a different one on skewed data like this)."""
    from scipy import stats

    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 120)
    tuned = np.clip(base + rng.exponential(0.08, 120) - 0.04, 0, 1)  # skewed, bounded differences
    ours = paired_bootstrap_ci(base, tuned, samples=800, seed=7)
    theirs = stats.bootstrap(
        (base, tuned), lambda b, t, axis=-1: np.mean(t - b, axis=axis), paired=True, vectorized=True, method="BCa",
        n_resamples=800, batch=200, rng=np.random.default_rng(7),
    )
    assert ours["ci_low"] == pytest.approx(theirs.confidence_interval.low, abs=1e-12)
    assert ours["ci_high"] == pytest.approx(theirs.confidence_interval.high, abs=1e-12)
    assert ours["gain"] == pytest.approx(float(np.mean(tuned - base)))
    assert ours == paired_bootstrap_ci(base, tuned, samples=800, seed=7)  # a fixed seed: the same interval
    means = rng.choice(tuned - base, size=(800, 120)).mean(axis=1)
    percentile = np.quantile(means, [0.025, 0.975])
    assert abs(ours["ci_low"] - percentile[0]) + abs(ours["ci_high"] - percentile[1]) > 1e-4


@pytest.mark.parametrize(
    "base, tuned, expected",
    [
        ([], [], {"gain": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_gain_le_zero": 1.0}),
        ([0.2], [0.5], {"gain": 0.3, "ci_low": 0.3, "ci_high": 0.3, "p_gain_le_zero": 0.0}),
        ([0.4, 0.1, 0.9], [0.4, 0.1, 0.9], {"gain": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_gain_le_zero": 1.0}),
        ([0.1, 0.3, 0.5], [0.2, 0.4, 0.6], {"gain": 0.1, "ci_low": 0.1, "ci_high": 0.1, "p_gain_le_zero": 0.0}),
    ],
    ids=["no-queries", "one-query", "identical-models", "all-equal-differences"],
)
def test_bootstrap_ci_of_degenerate_inputs_neither_warns_nor_raises(base, tuned, expected):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's DegenerateDataWarning or a numpy RuntimeWarning would fail here
        result = paired_bootstrap_ci(np.array(base), np.array(tuned), samples=200)
    assert result == pytest.approx(expected)


def test_bootstrap_ci_falls_back_to_the_percentile_interval_when_bca_is_undefined(monkeypatch):
    from types import SimpleNamespace

    from scipy import stats

    real = stats.bootstrap

    def nan_interval(*args, **kwargs):  # what scipy returns when BCa's bias correction is infinite
        result = real(*args, **kwargs)
        return SimpleNamespace(confidence_interval=SimpleNamespace(low=np.nan, high=np.nan),
                               bootstrap_distribution=result.bootstrap_distribution)

    monkeypatch.setattr(stats, "bootstrap", nan_interval)
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 1, 60)
    result = paired_bootstrap_ci(base, base + rng.normal(0.1, 0.05, 60), samples=300)
    assert np.isfinite(result["ci_low"]) and result["ci_low"] < result["gain"] < result["ci_high"]


def test_unpaired_scores_are_refused():
    with pytest.raises(ValueError, match="not paired"):
        paired_bootstrap_ci(np.zeros(3), np.zeros(4))


# A real BEIR slice, read in place (../shared/data/README.md); a fresh clone without it skips.
REFERENCE_SLICES = {"scifact-dev": "train", "cranfield-dev": "dev"}  # binary and graded (1-4) judgments
TREC_MEASURES = {"ndcg_cut.10", "recall.1,5,10", "map_cut.100"}


def _bm25_slice(name: str, n_queries: int = 50, n_distractors: int = 1500):
    """(rankings, qrels) for a seeded sample of `n_queries` queries of a shared BEIR folder, ranked by BM25 over
    their relevant passages and seeded distractors: hits at every depth, no model needed."""
    import random

    from embedtune.evaluation.benchmark import load_beir
    from embedtune.evaluation.metrics import RANK_DEPTH
    from embedtune.teacher.lexical import LexicalIndex
    from tests.conftest import SHARED_DATA

    folder = SHARED_DATA / name
    if not (folder / "qrels" / f"{REFERENCE_SLICES[name]}.tsv").is_file():
        pytest.skip(f"{folder} is absent (project machines only)")
    queries, corpus, qrels = load_beir(folder, REFERENCE_SLICES[name])
    query_ids = sorted(random.Random(0).sample(sorted(qrels), n_queries))
    relevant = sorted({doc for qid in query_ids for doc in qrels[qid] if doc in corpus})
    others = sorted(set(corpus) - set(relevant))
    documents = relevant + random.Random(1).sample(others, min(n_distractors, len(others)))
    index = LexicalIndex([corpus[doc] for doc in documents])
    rankings = {
        qid: [documents[i] for i in np.argsort(-index.scores(queries[qid]), kind="stable")[:RANK_DEPTH]]
        for qid in query_ids
    }
    return rankings, {qid: qrels[qid] for qid in query_ids}


@pytest.mark.parametrize("name", sorted(REFERENCE_SLICES))
def test_metrics_equal_trec_evals_on_a_real_beir_slice(name):
    """NDCG@10, MRR@10, Recall@1/5/10 and MAP@100 per query, ours against pytrec_eval (trec_eval itself)."""
    import pytrec_eval

    rankings, qrels = _bm25_slice(name)
    ours = per_query_metrics(rankings, qrels)

    def run(depth: int) -> dict[str, dict[str, float]]:  # scores that give trec_eval exactly our order
        return {qid: {doc: float(len(ranked) - rank) for rank, doc in enumerate(ranked[:depth])}
                for qid, ranked in rankings.items()}

    trec = pytrec_eval.RelevanceEvaluator(qrels, TREC_MEASURES).evaluate(run(100))
    trec_rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run(10))  # MRR@10: top 10 only
    query_ids = sorted(qrels)
    pairs = {"ndcg@10": "ndcg_cut_10", "recall@1": "recall_1", "recall@5": "recall_5", "recall@10": "recall_10",
             "map@100": "map_cut_100"}
    for ours_name, trec_name in pairs.items():
        np.testing.assert_allclose(ours[ours_name], [trec[q][trec_name] for q in query_ids], atol=1e-6,
                                   err_msg=ours_name)
    np.testing.assert_allclose(ours["mrr@10"], [trec_rr[q]["recip_rank"] for q in query_ids], atol=1e-6)
    ndcg = ours["ndcg@10"]
    assert (ndcg == 0).any() and ((ndcg > 0) & (ndcg < 1)).sum() >= 5  # the slice exercises partial hits
