"""Evaluation and promotion steps: thin wrappers; the logic is in embedtune.evaluation."""

from typing import Annotated, Any

import pandas as pd
from sentence_transformers import SentenceTransformer
from zenml import get_step_context, log_metadata, step
from zenml.types import HTMLString

from embedtune import EmbedtuneError
from embedtune.config import (
    CompareConfig,
    EvaluationConfig,
    GenerationConfig,
    IngestConfig,
    ModelConfig,
    PromotionConfig,
    gold_leak,
)
from embedtune.evaluation import gold as gold_sets
from embedtune.evaluation import promotion
from embedtune.evaluation.benchmark import evaluate_models, load_beir, load_models, pairs_to_benchmark
from embedtune.models.api import settings_from_config
from embedtune.models.embedding_cache import cache_for, use_cache
from embedtune.models.loading import load_base_model
from embedtune.reporting.evaluation import model_version_metadata, to_html
from embedtune.tracking import mlflow as tracking
from embedtune.util.frames import to_records
from steps.caching import NEVER_CACHED


@step
def load_gold(
    config: EvaluationConfig, ingest: IngestConfig, generation: GenerationConfig, gold_fingerprint: str = ""
) -> Annotated[pd.DataFrame, "gold_queries"]:
    """The gold set of `evaluation.gold` (file or BEIR folder), one row per judgment (gold.COLUMNS); refused
    when it would leak into generation or training. `gold_fingerprint` only keys the cache (edits re-read it)."""
    problem = gold_leak(config, ingest, generation)
    if problem:
        raise EmbedtuneError(problem)
    rows = gold_sets.read_gold(str(config.gold), config.gold_split)
    queries = len({row["query_id"] for row in rows})
    log_metadata(metadata={"source": str(config.gold), "queries": queries, "judgments": len(rows)}, infer_artifact=True)
    return pd.DataFrame(rows, columns=list(gold_sets.COLUMNS))


@step
def evaluate(
    tuned_model: SentenceTransformer,
    test: pd.DataFrame,
    chunks: pd.DataFrame,
    model_config: ModelConfig,
    config: EvaluationConfig,
    gold_queries: pd.DataFrame | None = None,
) -> tuple[Annotated[dict[str, Any], "evaluation_report"], Annotated[HTMLString, "evaluation_html"]]:
    """Base vs tuned on the held-out synthetic queries and (given `gold_queries`) on the gold queries, side by
    side (the gold part under `gold`); all chunks are candidates; per Matryoshka dim. `decided_on` says which
    queries the promotion will decide on."""
    base = load_base_model(model_config)
    chunk_rows = to_records(chunks)
    benchmark = pairs_to_benchmark(to_records(test), chunk_rows)
    models = {"base": base, "tuned": tuned_model}
    with use_cache(cache_for(model_config)):
        result = evaluate_models(models, benchmark, config, model_config.matryoshka_dims)
        if gold_queries is not None:
            mapping = gold_sets.map_gold(to_records(gold_queries), chunk_rows)
            gold_result = evaluate_models(models, mapping.benchmark, config, model_config.matryoshka_dims)
            result["gold"] = gold_sets.gold_report(
                gold_result, mapping, str(config.gold or "gold_queries"), config.gold_min_queries
            )
    result["decided_on"], _, result["decision_queries"] = promotion.decision_basis(result)
    log_metadata(metadata=model_version_metadata(result), infer_model=True)
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
    gold_queries: pd.DataFrame | None = None,
) -> Annotated[dict[str, Any], "promotion"]:
    """Move this model version to `config.stage` only if the tuned model beats the base and the
    incumbent (the rule: embedtune.evaluation.promotion), on the gold queries when they can decide."""
    model = get_step_context().model
    incumbent = None
    basis, _, _ = promotion.decision_basis(evaluation_report)
    if config.compare_with_incumbent and model is not None:
        incumbent_model, version, stage = promotion.find_incumbent(model, config.stage)
        if incumbent_model is not None:
            if basis == "gold" and gold_queries is not None:
                benchmark = gold_sets.map_gold(to_records(gold_queries), to_records(chunks)).benchmark
            else:
                benchmark = pairs_to_benchmark(to_records(test), to_records(chunks))
            with use_cache(cache_for(model_config)):  # both models were encoded before: no encoding here
                incumbent = promotion.versus_incumbent(
                    tuned_model, incumbent_model, version, stage, benchmark, evaluation_config
                )
    promoted, reason = promotion.decide(evaluation_report, config, incumbent)
    if promoted and model is not None:
        model.set_stage(config.stage, force=True)
    log_metadata(metadata={"promoted": promoted, "promotion_reason": reason, "decided_on": basis}, infer_model=True)
    return {
        "promoted": promoted,
        "reason": reason,
        "decided_on": basis,
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
    api_config: CompareConfig | None = None,
) -> Annotated[dict[str, Any], "benchmark_report"]:
    """Any models on a BEIR folder (human relevance labels); gains are vs the first model. API models
    (`provider:model`) run with the `compare:` section's `api_*` settings (`api_config`).
    `inputs_fingerprint` (embedtune.util.fingerprint.paths_fingerprint) is only there for the cache key."""
    benchmark = load_beir(benchmark_dir, split)
    loaded = load_models(models, model_config, settings_from_config(api_config))
    with use_cache(cache_for(model_config)):
        result = evaluate_models(loaded, benchmark, config)
    result.update({"benchmark": benchmark_dir, "split": split})
    log_metadata(metadata={"benchmark": benchmark_dir, "split": split, "n_queries": result["n_queries"]})
    return result
