"""Benchmark evaluation: every model with its own prompts; metrics agree with sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.samples import CORPUS, QRELS, QUERIES


class _SpyModel:
    """Records the prompt of each encode call (stands in for a SentenceTransformer)."""

    def __init__(self, prompts):
        self.prompts, self.calls = prompts, []

    def encode(self, texts, prompt=None, **kwargs):
        self.calls.append(prompt)
        return np.eye(len(texts), 8, dtype=np.float32)


def test_evaluation_encodes_each_model_with_the_prompts_it_carries():
    """Prompts are decided when a model is loaded (its ModelSpec); evaluation only reads them."""
    from embedtune.config import EvaluationConfig
    from embedtune.evaluation.benchmark import Benchmark, evaluate_models

    spy = _SpyModel({"query": "search_query: ", "document": "search_document: "})
    bare = _SpyModel({})
    evaluate_models({"m": spy, "bare": bare}, Benchmark(QUERIES, CORPUS, QRELS), EvaluationConfig(bootstrap_samples=100))
    assert spy.calls == ["search_query: ", "search_document: "]
    assert bare.calls == [None, None]


def test_metrics_agree_with_sentence_transformers_evaluator(tiny_model_dir):
    """Our metric code and sentence-transformers' InformationRetrievalEvaluator on the same rankings."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    from embedtune.config import EvaluationConfig
    from embedtune.evaluation.benchmark import Benchmark, evaluate_models

    model = SentenceTransformer(tiny_model_dir)
    corpus = {f"d{i}": f"document {i} about topic {i % 7} and item {i * 3}" for i in range(40)}
    queries = {f"q{i}": f"topic {i % 7} item {i * 3}" for i in range(15)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(15)}
    benchmark = Benchmark(queries, corpus, qrels)
    ours = evaluate_models({"m": model}, benchmark, EvaluationConfig(bootstrap_samples=100))["models"]["m"]["64"]
    theirs = InformationRetrievalEvaluator(
        queries, corpus, {q: set(d) for q, d in qrels.items()}, main_score_function="cosine", write_csv=False
    )(model)
    assert ours["ndcg@10"] == pytest.approx(theirs["cosine_ndcg@10"], abs=1e-6)
    assert ours["mrr@10"] == pytest.approx(theirs["cosine_mrr@10"], abs=1e-6)
    assert ours["recall@5"] == pytest.approx(theirs["cosine_recall@5"], abs=1e-6)
    assert ours["map@100"] == pytest.approx(theirs["cosine_map@100"], abs=1e-6)
