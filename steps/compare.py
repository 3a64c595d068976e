"""Base-model leaderboard steps: the benchmark (BEIR folder or held-out synthetic queries), then every
candidate on it. The logic is in embedtune.evaluation.leaderboard, the HTML in embedtune.reporting.leaderboard."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.types import HTMLString

from embedtune.config import ChunkingConfig, CompareConfig, EvaluationConfig, ModelConfig
from embedtune.evaluation import leaderboard as compare
from embedtune.evaluation.benchmark import Benchmark, by_best_chunk, load_beir, pairs_to_benchmark
from embedtune.models.api import settings_from_config
from embedtune.models.loading import load_tokenizer
from embedtune.reporting.leaderboard import to_html
from embedtune.util.frames import to_records


def _benchmark(source: str, queries: dict, corpus: dict, qrels: dict, config: CompareConfig) -> dict[str, Any]:
    total_queries, total_corpus = len(qrels), len(corpus)
    queries, corpus, qrels = compare.sample_benchmark(
        queries, corpus, qrels, config.max_queries, config.max_corpus, config.seed
    )
    sizes = {"queries": len(queries), "corpus": len(corpus), "of_queries": total_queries, "of_corpus": total_corpus}
    log_metadata(metadata={"source": source, **sizes, "seed": config.seed})
    return {"source": source, "sample": sizes, "queries": queries, "corpus": corpus, "qrels": qrels}


@step(enable_cache=False)  # cheap, and a benchmark folder can change under the same path
def load_beir_benchmark(
    benchmark_dir: str, split: str, config: CompareConfig, evaluation: EvaluationConfig | None = None,
    chunking: ChunkingConfig | None = None, tokenizer_model: str = "",
) -> Annotated[dict[str, Any], "compare_benchmark"]:
    """A BEIR folder's split (human labels), sampled by `compare.max_queries` / `max_corpus`; with
    `evaluation.long_documents: best_chunk` the sampled documents are cut as `chunking` cuts a corpus (in
    `tokenizer_model`'s tokens) and every candidate ranks each document by its best chunk."""
    queries, corpus, qrels = load_beir(benchmark_dir, split)
    benchmark = _benchmark(f"{benchmark_dir} (qrels/{split}.tsv)", queries, corpus, qrels, config)
    if evaluation is not None and evaluation.long_documents == "best_chunk":
        chunked = by_best_chunk(Benchmark(benchmark["queries"], benchmark["corpus"], benchmark["qrels"]),
                                load_tokenizer(tokenizer_model), chunking or ChunkingConfig())
        benchmark.update(corpus=chunked.corpus, document_of=chunked.document_of)
        log_metadata(metadata={"chunks": len(chunked.corpus), "documents_by": "best chunk"})
    return benchmark


@step
def held_out_benchmark(
    test: pd.DataFrame, chunks: pd.DataFrame, config: CompareConfig
) -> Annotated[dict[str, Any], "compare_benchmark"]:
    """The held-out synthetic test queries with every chunk as a candidate."""
    queries, corpus, qrels = pairs_to_benchmark(to_records(test), to_records(chunks))
    return _benchmark("held-out synthetic test queries (artifacts 'test' + 'chunks')", queries, corpus, qrels, config)


@step(enable_cache=False)  # throughput is measured on this machine, now
def compare_candidates(
    compare_benchmark: dict[str, Any], models: list[str], config: CompareConfig, evaluation_config: EvaluationConfig,
    model_config: ModelConfig | None = None,
) -> tuple[Annotated[dict[str, Any], "leaderboard"], Annotated[HTMLString, "leaderboard_html"]]:
    """Every candidate on the same queries and corpus: quality with CIs, speed, size, the best pick."""
    settings = compare.CompareSettings(
        precisions=list(config.precisions), rule=config.rule, tolerance=config.tolerance,
        allow_noncommercial=config.allow_noncommercial, batch_size=config.batch_size,
        max_seq_length=config.max_seq_length, rescore_candidates=config.rescore_candidates,
        bootstrap_samples=evaluation_config.bootstrap_samples, seed=evaluation_config.seed,
        trust_remote_code=bool(model_config and model_config.trust_remote_code),
        dtype=model_config.dtype if model_config else "auto",
    )
    api = settings_from_config(config)
    leaderboard = compare.compare_candidates(
        models, compare_benchmark["queries"], compare_benchmark["corpus"], compare_benchmark["qrels"], settings, api,
        document_of=compare_benchmark.get("document_of"),
    )
    leaderboard["source"] = compare_benchmark["source"]
    leaderboard["sample"] = compare_benchmark.get("sample", {})
    best = leaderboard.get("best") or {}
    log_metadata(metadata={
        "best_model": best.get("model", ""),
        "best_ndcg@10": best.get("ndcg@10", 0.0),
        "rule": config.rule,
        "candidates": [c["model"] for c in leaderboard["candidates"]],
        "skipped": [s["model"] for s in leaderboard["skipped"]],
    })
    return leaderboard, HTMLString(to_html(leaderboard))
