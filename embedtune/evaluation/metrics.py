"""Retrieval metrics per query (so gains can be bootstrapped) and the paired bootstrap CI.

Definitions follow BEIR / trec_eval: linear-gain NDCG@k, MRR@k (reciprocal rank of the first relevant
hit within k), Recall@k, and MAP@k with average precision divided by the number of relevant documents.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "map@100")
RANK_DEPTH = 100


def query_metrics(ranked: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float]:
    """All METRICS for one query: `ranked` doc ids best first, `relevant` doc id -> grade (>0)."""
    relevant = {doc: grade for doc, grade in relevant.items() if grade > 0}
    if not relevant:
        raise ValueError("a query needs at least one relevant document")
    gains = [relevant.get(doc, 0) for doc in ranked[:RANK_DEPTH]]
    dcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    first_hit = next((rank for rank, gain in enumerate(gains[:10]) if gain > 0), None)
    hits, precision_sum = 0, 0.0
    for rank, gain in enumerate(gains[:100]):
        if gain > 0:
            hits += 1
            precision_sum += hits / (rank + 1)

    def recall(k: int) -> float:
        return sum(1 for gain in gains[:k] if gain > 0) / len(relevant)

    return {
        "ndcg@10": dcg / idcg,
        "mrr@10": 0.0 if first_hit is None else 1.0 / (first_hit + 1),
        "recall@1": recall(1),
        "recall@5": recall(5),
        "recall@10": recall(10),
        "map@100": precision_sum / len(relevant),
    }


def per_query_metrics(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, np.ndarray]:
    """metric -> array over the queries of `qrels` (in sorted query-id order)."""
    query_ids = sorted(qrels)
    rows = [query_metrics(rankings.get(qid, []), qrels[qid]) for qid in query_ids]
    return {metric: np.array([row[metric] for row in rows]) for metric in METRICS}


def paired_bootstrap_ci(
    base: np.ndarray, tuned: np.ndarray, samples: int = 1000, seed: int = 42, level: float = 0.95
) -> dict[str, float]:
    """Mean gain (tuned - base) and its percentile bootstrap CI, resampling queries in pairs."""
    deltas = np.asarray(tuned, dtype=float) - np.asarray(base, dtype=float)
    if deltas.size == 0:
        return {"gain": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_gain_le_zero": 1.0}
    rng = np.random.default_rng(seed)
    means = deltas[rng.integers(0, deltas.size, size=(samples, deltas.size))].mean(axis=1)
    tail = (1 - level) / 2
    return {
        "gain": float(deltas.mean()),
        "ci_low": float(np.quantile(means, tail)),
        "ci_high": float(np.quantile(means, 1 - tail)),
        "p_gain_le_zero": float((means <= 0).mean()),
    }
