"""The base-model leaderboard: each candidate's prefixes, sampling, the rule, the outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from embedtune import EmbedtuneError
from embedtune.config import load_run_config
from embedtune.evaluation import leaderboard as compare
from tests.unit.samples import CORPUS, QRELS, QUERIES


def _board(rows, candidates):
    return {"rows": rows, "candidates": candidates}


def _row(model, dim, precision, ndcg):
    from embedtune.evaluation.quantization import bytes_per_vector

    return {"model": model, "dim": dim, "precision": precision, "ndcg@10": ndcg,
            "bytes_per_vector": bytes_per_vector(dim, precision), "index_mb_per_1m": 0.0}


def _candidate(model, dim, commercial=True, kind="local"):
    return {"model": model, "spec": model, "dim": dim, "commercial_use": commercial, "kind": kind,
            "query_prompt": "", "document_prompt": "", "matryoshka_dims": []}


def test_compare_applies_each_candidates_prefixes():
    calls = {}

    def spy(name):
        def encoder(queries, corpus, query_prompt, document_prompt):
            calls[name] = (query_prompt, document_prompt)
            rng = np.random.default_rng(0)
            return compare.Encoded(rng.normal(size=(len(queries), 16)), rng.normal(size=(len(corpus), 16)), 0.1, 0.5,
                                   128)
        return encoder

    names = ["nomic-ai/modernbert-embed-base", "Snowflake/snowflake-arctic-embed-m-v2.0", "all-MiniLM-L6-v2"]
    compare.compare_candidates(names, QUERIES, CORPUS, QRELS, compare.CompareSettings(bootstrap_samples=100),
                               encoders={n: spy(n) for n in names})
    assert calls == {
        "nomic-ai/modernbert-embed-base": ("search_query: ", "search_document: "),
        "Snowflake/snowflake-arctic-embed-m-v2.0": ("query: ", ""),
        "all-MiniLM-L6-v2": ("", ""),
    }


def test_chunked_corpus_ranks_each_document_at_its_best_chunk():
    """MaxP: the query matches only the second chunk of document a; with `document_of` a ranks first."""
    corpus = {"a#0": "intro", "a#1": "the answer", "b#0": "other"}
    vectors = {"a#0": [0.0, 1.0], "a#1": [1.0, 0.0], "b#0": [0.6, 0.8]}

    def encoder(queries, texts, query_prompt, document_prompt):
        return compare.Encoded(np.array([[1.0, 0.0]] * len(queries)), np.array([vectors[c] for c in corpus]), 0.1, 0.1, 8)

    settings = compare.CompareSettings(precisions=["float32"], bootstrap_samples=100)
    queries, qrels = {"q": "where is the answer"}, {"q": {"a": 1}}
    board = compare.compare_candidates(["m"], queries, corpus, qrels, settings, encoders={"m": encoder},
                                       document_of={"a#0": "a", "a#1": "a", "b#0": "b"})
    assert (board["n_corpus"], board["n_chunks"], board["rows"][0]["ndcg@10"]) == (2, 3, 1.0)
    unchunked = compare.compare_candidates(["m"], queries, corpus, qrels, settings, encoders={"m": encoder})
    assert unchunked["rows"][0]["ndcg@10"] == 0.0 and "n_chunks" not in unchunked  # chunk ids are not documents


def test_sample_keeps_every_relevant_document_and_is_seeded():
    corpus = {f"d{i}": f"text {i}" for i in range(100)}
    queries = {f"q{i}": f"query {i}" for i in range(30)}
    qrels = {f"q{i}": {f"d{i}": 1, f"d{i + 50}": 1} for i in range(30)}
    q1, c1, r1 = compare.sample_benchmark(queries, corpus, qrels, max_queries=10, max_corpus=25, seed=3)
    q2, c2, _ = compare.sample_benchmark(queries, corpus, qrels, max_queries=10, max_corpus=25, seed=3)
    assert (q1, c1) == (q2, c2)
    assert len(q1) == 10 and len(c1) == 25 and set(r1) == set(q1)
    assert {doc for judged in r1.values() for doc in judged} <= set(c1)
    _, c3, _ = compare.sample_benchmark(queries, corpus, qrels, max_queries=20, max_corpus=25, seed=3)
    assert len(c3) == 40  # 20 queries x 2 relevant: kept even beyond max_corpus
    assert compare.sample_benchmark(queries, corpus, qrels)[1] == corpus


def test_leaderboard_ranks_real_minilm_above_a_random_bert(leaderboard, tiny_model_dir, minilm_path, monkeypatch):
    names = {c["spec"]: c for c in leaderboard["candidates"]}
    assert set(names) == {tiny_model_dir, minilm_path}
    assert names[minilm_path]["dim"] == 384 and names[tiny_model_dir]["dim"] == 64
    assert names[minilm_path]["encode_docs_per_s"] > 0
    minilm_rows = [r for r in leaderboard["rows"] if r["model"] == names[minilm_path]["model"]]
    assert {r["precision"] for r in minilm_rows} == {"float32", "int8", "binary", "binary_rescore"}
    full = next(r for r in minilm_rows if r["precision"] == "float32")
    assert full["ndcg@10"] == pytest.approx(1.0)  # three unambiguous topics
    low, high = full["ndcg@10_ci95"]
    assert low <= full["ndcg@10"] <= high
    assert full["index_mb_per_1m"] == pytest.approx(1536.0)
    assert leaderboard["rows"][0]["ndcg@10"] >= leaderboard["rows"][-1]["ndcg@10"]
    assert leaderboard["best"]["model"] == names[minilm_path]["model"]
    assert leaderboard["skipped"][0]["model"] == "openai:text-embedding-3-small"
    assert "OPENAI_API_KEY" in leaderboard["skipped"][0]["reason"]


def test_rules_quality_and_quality_per_byte():
    board = _board(
        [_row("big", 768, "float32", 0.70), _row("big", 768, "binary", 0.695), _row("big", 256, "int8", 0.68),
         _row("small", 384, "float32", 0.65), _row("nc", 4096, "float32", 0.80), _row("api", 1536, "float32", 0.75)],
        [_candidate("big", 768), _candidate("small", 384), _candidate("nc", 4096, commercial=False),
         _candidate("api", 1536, kind="api")],
    )
    quality = compare.pick_best(board, compare.CompareSettings(rule="quality"))
    assert (quality["model"], quality["precision"]) == ("api", "float32")  # non-commercial excluded
    assert compare.pick_best(board, compare.CompareSettings(rule="quality", allow_noncommercial=True))["model"] == "nc"
    local = compare.pick_best(board, compare.CompareSettings(rule="quality"), local_only=True)
    assert local["model"] == "big"
    per_byte = compare.pick_best(board, compare.CompareSettings(rule="quality_per_byte", tolerance=0.01),
                                 local_only=True)
    assert (per_byte["model"], per_byte["dim"], per_byte["precision"]) == ("big", 768, "binary")  # 96 B, -0.005
    wider = compare.pick_best(board, compare.CompareSettings(rule="quality_per_byte", tolerance=0.1), local_only=True)
    assert (wider["dim"], wider["precision"]) == (768, "binary")  # 96 B beats 256 B int8 and 1536 B float32


def test_use_best_writes_a_config_finetune_accepts(tmp_path):
    board = _board([_row("nomic-ai/modernbert-embed-base", 768, "float32", 0.7)],
                   [{**_candidate("nomic-ai/modernbert-embed-base", 768), "matryoshka_dims": [256],
                     "query_prompt": "search_query: ", "document_prompt": "search_document: "}])
    board["best_for_finetune"] = compare.pick_best(board, compare.CompareSettings(), local_only=True)
    source = Path(__file__).resolve().parents[3] / "configs" / "default.yaml"
    target = compare.write_best_config(board, source, tmp_path / "best.yaml")
    config, options = load_run_config(target)
    assert config.model.base_model == "nomic-ai/modernbert-embed-base"
    assert config.model.query_prompt == "search_query: " and config.model.document_prompt == "search_document: "
    assert config.model.matryoshka_dims == [768, 384, 256, 128, 64]
    assert options["model"]["name"] == "embedtune"  # the rest of the config is kept
    assert yaml.safe_load(target.read_text())["parameters"]["generation"]["backend"] == "llamacpp"


def test_nothing_to_compare_is_a_user_error():
    with pytest.raises(EmbedtuneError, match="no candidate could be evaluated: voyage:voyage-3.5"):
        compare.compare_candidates(["voyage:voyage-3.5"], QUERIES, CORPUS, QRELS, compare.CompareSettings())
    with pytest.raises(EmbedtuneError, match="unknown rule"):
        compare.compare_candidates(["x"], QUERIES, CORPUS, QRELS, compare.CompareSettings(rule="cheapest"))
