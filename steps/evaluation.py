"""Evaluation and promotion steps."""

from typing import Annotated, Any

import pandas as pd
from sentence_transformers import SentenceTransformer
from zenml import get_step_context, log_metadata, step
from zenml.types import HTMLString

from embedtune import evaluation, promotion, report, tracking
from embedtune.config import EvaluationConfig, ModelConfig, PromotionConfig
from embedtune.frames import to_records
from embedtune.models import load_embedder
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
    base = load_embedder(model_config.base_model, model_config.max_seq_length, model_config.device)
    queries, corpus, qrels = evaluation.pairs_to_benchmark(to_records(test), to_records(chunks))
    result = evaluation.evaluate_models(
        {"base": base, "tuned": tuned_model}, queries, corpus, qrels, model_config.matryoshka_dims,
        model_config.query_prompt, model_config.document_prompt, config.batch_size, config.bootstrap_samples,
        config.seed,
    )
    dim = evaluation.full_dim(result, "tuned")
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
    return result, HTMLString(report.to_html(result))


def _incumbent(model: Any, stage: str) -> tuple[SentenceTransformer | None, str]:
    """The tuned model of the version now in `stage` (not this run's), if any."""
    from zenml.client import Client

    try:
        version = Client().get_model_version(model.name, stage)
    except KeyError:  # no version holds the stage yet
        return None, ""
    artifact = version.get_artifact("tuned_model") if version.id != model.id else None
    return (artifact.load(), str(version.name)) if artifact is not None else (None, "")


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
    incumbent: the production version if there is one (what serves), else the version now holding
    `config.stage` (both re-measured on this run's held-out queries)."""
    model = get_step_context().model
    incumbent = None
    if config.compare_with_incumbent and model is not None:
        incumbent_model, incumbent_version, incumbent_stage = None, "", config.stage
        for incumbent_stage in dict.fromkeys(("production", config.stage)):
            incumbent_model, incumbent_version = _incumbent(model, incumbent_stage)
            if incumbent_model is not None:
                break
        if incumbent_model is not None:
            queries, corpus, qrels = evaluation.pairs_to_benchmark(to_records(test), to_records(chunks))
            versus = evaluation.evaluate_models(
                {"incumbent": incumbent_model, "tuned": tuned_model}, queries, corpus, qrels, None,
                model_config.query_prompt, model_config.document_prompt, evaluation_config.batch_size,
                evaluation_config.bootstrap_samples, evaluation_config.seed,
            )
            dim = evaluation.full_dim(versus, "tuned")
            incumbent = {
                "version": incumbent_version, "stage": incumbent_stage, **versus["gains"]["tuned"][dim]["ndcg@10"]
            }
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
    `inputs_fingerprint` (embedtune.evaluation.inputs_fingerprint) is only there for the cache key."""
    queries, corpus, qrels = evaluation.load_beir(benchmark_dir, split)
    loaded = {name: load_embedder(name, model_config.max_seq_length, model_config.device) for name in models}
    result = evaluation.evaluate_models(
        loaded, queries, corpus, qrels, None, model_config.query_prompt, model_config.document_prompt,
        config.batch_size, config.bootstrap_samples, config.seed,
    )
    result.update({"benchmark": benchmark_dir, "split": split})
    log_metadata(metadata={"benchmark": benchmark_dir, "split": split, "n_queries": result["n_queries"]})
    return result
