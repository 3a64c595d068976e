"""Evaluation and promotion steps: thin wrappers; the logic is in embedtune.evaluation."""

from typing import Annotated, Any

import pandas as pd
from sentence_transformers import SentenceTransformer
from zenml import get_step_context, log_metadata, step
from zenml.types import HTMLString

from embedtune.config import EvaluationConfig, ModelConfig, PromotionConfig
from embedtune.evaluation import promotion
from embedtune.evaluation.benchmark import evaluate_models, full_dim, load_beir, pairs_to_benchmark
from embedtune.models.embedding_cache import cache_for, use_cache
from embedtune.models.loading import load_base_model, load_embedder
from embedtune.models.spec import resolve_spec
from embedtune.reporting.evaluation import to_html
from embedtune.tracking import mlflow as tracking
from embedtune.util.frames import to_records
from steps.caching import NEVER_CACHED


@step
def evaluate(
    tuned_model: SentenceTransformer,
    test: pd.DataFrame,
    chunks: pd.DataFrame,
    model_config: ModelConfig,
    config: EvaluationConfig,
) -> tuple[Annotated[dict[str, Any], "evaluation_report"], Annotated[HTMLString, "evaluation_html"]]:
    """Base vs tuned on the held-out queries; all chunks are candidates; per Matryoshka dim."""
    base = load_base_model(model_config)
    benchmark = pairs_to_benchmark(to_records(test), to_records(chunks))
    with use_cache(cache_for(model_config)):
        result = evaluate_models({"base": base, "tuned": tuned_model}, benchmark, config, model_config.matryoshka_dims)
    dim = full_dim(result, "tuned")
    gain = result["gains"]["tuned"][dim]["ndcg@10"]
    log_metadata(
        metadata={
            "base_ndcg@10": result["models"]["base"][dim]["ndcg@10"],
            "tuned_ndcg@10": result["models"]["tuned"][dim]["ndcg@10"],
            "ndcg@10_gain": gain["gain"],
            "ndcg@10_gain_ci95": [gain["ci_low"], gain["ci_high"]],
            "test_queries": result["n_queries"],
            "metrics": {name: by_dim for name, by_dim in result["models"].items()},
            "gains_ci95": result["gains"],  # per dimension: NDCG@10, MRR@10, Recall@10 gain with its CI
        },
        infer_model=True,
    )
    tracking.log_metrics(tracking.evaluation_metrics(result))  # MLflow, when the stack has the tracker
    return result, HTMLString(to_html(result))


@step(enable_cache=False, cache_policy=NEVER_CACHED)  # the incumbent and the stages change between runs
def promote(
    evaluation_report: dict[str, Any],
    tuned_model: SentenceTransformer,
    test: pd.DataFrame,
    chunks: pd.DataFrame,
    model_config: ModelConfig,
    evaluation_config: EvaluationConfig,
    config: PromotionConfig,
) -> Annotated[dict[str, Any], "promotion"]:
    """Move this model version to `config.stage` only if the tuned model beats the base and the
    incumbent (the rule: embedtune.evaluation.promotion)."""
    model = get_step_context().model
    incumbent = None
    if config.compare_with_incumbent and model is not None:
        incumbent_model, version, stage = promotion.find_incumbent(model, config.stage)
        if incumbent_model is not None:
            benchmark = pairs_to_benchmark(to_records(test), to_records(chunks))
            with use_cache(cache_for(model_config)):  # both models were encoded before: no encoding here
                incumbent = promotion.versus_incumbent(
                    tuned_model, incumbent_model, version, stage, benchmark, evaluation_config
                )
    promoted, reason = promotion.decide(evaluation_report, config, incumbent)
    if promoted and model is not None:
        model.set_stage(config.stage, force=True)
    log_metadata(metadata={"promoted": promoted, "promotion_reason": reason}, infer_model=True)
    return {
        "promoted": promoted,
        "reason": reason,
        "stage": config.stage if promoted else None,
        "incumbent": incumbent["version"] if incumbent else None,
        "incumbent_stage": incumbent["stage"] if incumbent else None,
    }


@step
def evaluate_benchmark(
    models: list[str],
    benchmark_dir: str,
    split: str,
    model_config: ModelConfig,
    config: EvaluationConfig,
    inputs_fingerprint: str = "",
) -> Annotated[dict[str, Any], "benchmark_report"]:
    """Any models on a BEIR folder (human relevance labels); gains are vs the first model.
    `inputs_fingerprint` (embedtune.util.fingerprint.paths_fingerprint) is only there for the cache key."""
    benchmark = load_beir(benchmark_dir, split)
    prompts = (model_config.query_prompt, model_config.document_prompt)  # explicit ones apply to every model
    loaded = {
        name: load_embedder(resolve_spec(name, *prompts), model_config.max_seq_length, model_config.device)
        for name in models
    }
    with use_cache(cache_for(model_config)):
        result = evaluate_models(loaded, benchmark, config)
    result.update({"benchmark": benchmark_dir, "split": split})
    log_metadata(metadata={"benchmark": benchmark_dir, "split": split, "n_queries": result["n_queries"]})
    return result
