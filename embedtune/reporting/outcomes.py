"""What the evaluation report shows beyond the mean metrics: per-query outcomes and a keyword baseline.

- `dense_ranking(model, benchmark)` / `bm25_ranking(benchmark)`: every query's top passages and the rank
  of its first relevant passage among all candidates (1 = first), at the model's full dimension.
- `compare_queries(base, tuned, benchmark)`: per query, did tuned beat the base on NDCG@10 (win), match it
  (tie) or lose; the best and worst queries with the relevant passage's rank before and after.
- `baseline_row(ranking, tuned, benchmark)`: BM25's mean metrics, and tuned's paired gain over BM25.
- `report_extras(...)`: both for one benchmark, as the report stores them (`per_query`, `baselines`).

Encoding goes through `embedtune.models.encoding.encode`, so inside the evaluate step (which opened the
embedding cache and has just encoded the same texts with the same models) nothing is encoded again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from embedtune.evaluation.metrics import METRICS, RANK_DEPTH, paired_bootstrap_ci, per_query_metrics
from embedtune.models.encoding import encode, model_prompts

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedtune.evaluation.benchmark import Benchmark

TIE_TOLERANCE = 1e-9


@dataclass
class Ranking:
    """`top`: query id -> the best `RANK_DEPTH` passage ids; `first_relevant`: query id -> 1-based rank of the
    best-ranked relevant passage among all candidates."""

    top: dict[str, list[str]]
    first_relevant: dict[str, int]


def _ranking(scores: np.ndarray, query_ids: Sequence[str], corpus_ids: Sequence[str],
             qrels: Mapping[str, Mapping[str, int]], depth: int) -> Ranking:
    index = {cid: i for i, cid in enumerate(corpus_ids)}
    top: dict[str, list[str]] = {}
    first: dict[str, int] = {}
    k = min(depth, len(corpus_ids))
    for row, qid in zip(scores, query_ids):
        best = np.argpartition(-row, k - 1)[:k]
        best = best[np.argsort(-row[best], kind="stable")]
        top[qid] = [corpus_ids[i] for i in best]
        relevant = [index[cid] for cid, grade in qrels.get(qid, {}).items() if grade > 0 and cid in index]
        if relevant:
            best_score = max(row[i] for i in relevant)
            first[qid] = int((row > best_score).sum()) + 1
    return Ranking(top, first)


def dense_ranking(model: SentenceTransformer, benchmark: Benchmark, batch_size: int = 64,
                  depth: int = RANK_DEPTH) -> Ranking:
    """Cosine ranking of every candidate for every query at the model's full dimension, with its prompts."""
    queries, corpus, qrels = benchmark
    query_ids, corpus_ids = sorted(queries), list(corpus)
    query_prompt, document_prompt = model_prompts(model)
    query_vectors = encode(model, [queries[q] for q in query_ids], query_prompt, batch_size)
    corpus_vectors = encode(model, [corpus[c] for c in corpus_ids], document_prompt, batch_size)
    return _ranking(query_vectors @ corpus_vectors.T, query_ids, corpus_ids, qrels, depth)


def bm25_ranking(benchmark: Benchmark, language: str = "english", depth: int = RANK_DEPTH) -> Ranking:
    """Stemmed BM25 (`embedtune.teacher.lexical.LexicalIndex`) over the same candidates."""
    from embedtune.teacher.lexical import LexicalIndex

    queries, corpus, qrels = benchmark
    query_ids, corpus_ids = sorted(queries), list(corpus)
    index = LexicalIndex([corpus[c] for c in corpus_ids], language)
    scores = np.vstack([index.scores(queries[q]) for q in query_ids]) if query_ids else np.zeros((0, len(corpus_ids)))
    return _ranking(scores, query_ids, corpus_ids, qrels, depth)


def compare_queries(
    base: Ranking, tuned: Ranking, benchmark: Benchmark, sources: Mapping[str, str] | None = None,
    examples: int = 5, metric: str = "ndcg@10",
) -> dict[str, Any]:
    """Per-query `metric` of tuned vs base: `{"metric", "wins", "ties", "losses", "best", "worst"}`.

    `best` / `worst`: up to `examples` queries where tuned gained / lost the most (ties broken by how far
    the relevant passage moved), each `{"query_id", "query", "source", "rank_base", "rank_tuned",
    "base", "tuned"}`; `source`: where the first relevant passage comes from (`sources`: passage id ->
    source path; the passage id when unknown)."""
    queries, _, qrels = benchmark
    query_ids = sorted(qrels)
    base_values = per_query_metrics(base.top, qrels)[metric]
    tuned_values = per_query_metrics(tuned.top, qrels)[metric]
    deltas = tuned_values - base_values
    sources = sources or {}
    rows = []
    for qid, before, after, delta in zip(query_ids, base_values, tuned_values, deltas):
        relevant = next((cid for cid, grade in qrels[qid].items() if grade > 0), "")
        rank_base, rank_tuned = base.first_relevant.get(qid), tuned.first_relevant.get(qid)
        moved = (rank_base or 0) - (rank_tuned or 0)
        rows.append(({
            "query_id": qid, "query": queries.get(qid, ""), "source": sources.get(relevant, relevant),
            "rank_base": rank_base, "rank_tuned": rank_tuned, "base": round(float(before), 4),
            "tuned": round(float(after), 4),
        }, float(delta), moved))
    best = sorted((r for r in rows if r[1] > TIE_TOLERANCE or (abs(r[1]) <= TIE_TOLERANCE and r[2] > 0)),
                  key=lambda r: (-r[1], -r[2], r[0]["query_id"]))
    worst = sorted((r for r in rows if r[1] < -TIE_TOLERANCE or (abs(r[1]) <= TIE_TOLERANCE and r[2] < 0)),
                   key=lambda r: (r[1], r[2], r[0]["query_id"]))
    return {
        "metric": metric,
        "wins": int((deltas > TIE_TOLERANCE).sum()),
        "ties": int((np.abs(deltas) <= TIE_TOLERANCE).sum()),
        "losses": int((deltas < -TIE_TOLERANCE).sum()),
        "best": [row for row, _, _ in best[:examples]],
        "worst": [row for row, _, _ in worst[:examples]],
    }


def baseline_row(baseline: Ranking, tuned: Ranking, benchmark: Benchmark, samples: int = 1000,
                 seed: int = 42) -> dict[str, Any]:
    """`{"metrics": {metric: mean}, "tuned_gain": {"ndcg@10": {"gain", "ci_low", "ci_high", ...}}}`: the
    baseline's means, and tuned's paired bootstrap gain over it (positive: tuned retrieves better)."""
    qrels = benchmark.qrels
    values = per_query_metrics(baseline.top, qrels)
    tuned_values = per_query_metrics(tuned.top, qrels)
    return {
        "metrics": {metric: float(values[metric].mean()) for metric in METRICS},
        "tuned_gain": {"ndcg@10": paired_bootstrap_ci(values["ndcg@10"], tuned_values["ndcg@10"], samples, seed)},
    }


def report_extras(
    base: SentenceTransformer, tuned: SentenceTransformer, benchmark: Benchmark,
    sources: Mapping[str, str] | None = None, batch_size: int = 64, bootstrap_samples: int = 1000,
    seed: int = 42, language: str = "english", examples: int = 5,
) -> dict[str, Any]:
    """`{"per_query": compare_queries(...), "baselines": {"bm25": baseline_row(...)}}` for one benchmark, at
    full dimension: what `embedtune.reporting.evaluation.to_html` shows beside the means."""
    base_ranking = dense_ranking(base, benchmark, batch_size)
    tuned_ranking = dense_ranking(tuned, benchmark, batch_size)
    bm25 = bm25_ranking(benchmark, language)
    return {
        "per_query": compare_queries(base_ranking, tuned_ranking, benchmark, sources, examples),
        "baselines": {"bm25": baseline_row(bm25, tuned_ranking, benchmark, bootstrap_samples, seed)},
    }
