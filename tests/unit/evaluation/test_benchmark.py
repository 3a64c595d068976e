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


class _FirstWordsModel:
    """Bag of keywords over a text's first 12 words: a model that cannot see past its max length."""

    WORDS = ("zebra", "apple", "river", "stone")

    def __init__(self):
        self.prompts = {}

    def encode(self, texts, prompt=None, **kwargs):
        seen = [text.lower().split()[:12] for text in texts]
        return np.array([[0.1] + [float(word in words) for word in self.WORDS] for words in seen], dtype=np.float32)


def test_best_chunk_ranks_a_document_by_what_its_end_says(tiny_model_dir):
    from embedtune.config import ChunkingConfig, EvaluationConfig
    from embedtune.evaluation.benchmark import Benchmark, by_best_chunk, evaluate_models
    from embedtune.models.loading import load_tokenizer

    filler = " ".join(f"word{i}" for i in range(40))
    corpus = {"long": f"apple river stone {filler} zebra at the very end", "short": "apple river", "other": "plain words"}
    benchmark = Benchmark({"q": "zebra"}, corpus, {"q": {"long": 1}})
    chunked = by_best_chunk(benchmark, load_tokenizer(tiny_model_dir), ChunkingConfig(chunk_tokens=16, overlap_tokens=2))
    assert set(chunked.document_of.values()) == set(corpus) and len(chunked.corpus) > len(corpus)
    assert all(chunked.corpus[c] in corpus[d] or chunked.document_of[c] == d for c, d in chunked.document_of.items())
    config = EvaluationConfig(bootstrap_samples=100)
    whole = evaluate_models({"m": _FirstWordsModel()}, benchmark, config)
    best = evaluate_models({"m": _FirstWordsModel()}, chunked, config)
    assert whole["models"]["m"]["5"]["ndcg@10"] < 1.0  # cut at its 12 words, "long" never says zebra
    assert best["models"]["m"]["5"]["ndcg@10"] == 1.0 and best["models"]["m"]["5"]["mrr@10"] == 1.0
    assert best["n_corpus"] == 3 and best["n_chunks"] == len(chunked.corpus) and best["documents_by"] == "best chunk"
