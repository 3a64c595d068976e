"""Per-query outcomes (wins, ties, losses; best and worst with the relevant passage's rank) and the BM25 row."""

import numpy as np

from embedtune.evaluation.benchmark import Benchmark
from embedtune.reporting import outcomes


def benchmark() -> Benchmark:
    corpus = {f"c{i}": text for i, text in enumerate([
        "pods group containers that share storage", "sourdough rises with wild yeast", "neutron stars are pulsars",
        "tomatoes need full sun", "index funds hold every stock",
    ])}
    queries = {"q0": "what groups containers", "q1": "why does bread rise", "q2": "what is a pulsar"}
    return Benchmark(queries, corpus, {"q0": {"c0": 1}, "q1": {"c1": 1}, "q2": {"c2": 1}})


def ranking_from_scores(scores: np.ndarray) -> outcomes.Ranking:
    bench = benchmark()
    return outcomes._ranking(scores, sorted(bench.queries), list(bench.corpus), bench.qrels, depth=100)


def test_ranks_count_every_candidate_scored_above_the_relevant_passage():
    scores = np.array([[0.9, 0.1, 0.2, 0.3, 0.0], [0.5, 0.2, 0.6, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4, 0.5]])
    ranking = ranking_from_scores(scores)
    assert ranking.first_relevant == {"q0": 1, "q1": 4, "q2": 3}
    assert ranking.top["q0"][0] == "c0" and ranking.top["q1"][:2] == ["c3", "c2"]


def test_wins_ties_losses_and_the_best_and_worst_queries_with_ranks_before_and_after():
    base = ranking_from_scores(np.array([[0.9, 0, 0, 0, 0], [0, 0.1, 0.5, 0.6, 0.7], [0, 0, 0.9, 0, 0]]))
    tuned = ranking_from_scores(np.array([[0.9, 0, 0, 0, 0], [0, 0.9, 0.5, 0, 0], [0, 0, 0.1, 0.5, 0]]))
    result = outcomes.compare_queries(base, tuned, benchmark(), {"c1": "docs/baking.md"}, examples=5)
    assert (result["wins"], result["ties"], result["losses"]) == (1, 1, 1)
    (best,) = result["best"]
    assert best["query_id"] == "q1" and best["source"] == "docs/baking.md"
    assert (best["rank_base"], best["rank_tuned"]) == (4, 1) and best["tuned"] == 1.0
    (worst,) = result["worst"]
    assert worst["query_id"] == "q2" and (worst["rank_base"], worst["rank_tuned"]) == (1, 2)
    assert worst["source"] == "c2"  # no source known: the passage id


def test_bm25_row_has_every_metric_and_tuned_gain_over_it():
    bench = benchmark()
    bm25 = outcomes.bm25_ranking(bench)
    assert bm25.first_relevant["q0"] == 1  # "containers" is a shared stem
    perfect = ranking_from_scores(np.eye(3, 5) + 0.0)
    row = outcomes.baseline_row(bm25, perfect, bench, samples=200, seed=1)
    assert set(row["metrics"]) >= {"ndcg@10", "recall@10", "mrr@10"}
    assert row["tuned_gain"]["ndcg@10"]["gain"] == 1.0 - row["metrics"]["ndcg@10"]
