"""Evaluation and promotion steps: thin wrappers; the logic is in embedtune.evaluation, embedtune.reporting and
embedtune.publishing (the model card)."""

from typing import Annotated, Any

import pandas as pd
from sentence_transformers import SentenceTransformer
from zenml import get_step_context, log_metadata, step
from zenml.exceptions import StepContextError
from zenml.types import HTMLString, MarkdownString

from embedtune import EmbedtuneError, publishing
from embedtune.config import (
    ChunkingConfig,
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
from embedtune.evaluation.benchmark import by_best_chunk, evaluate_models, load_beir, load_models, pairs_to_benchmark
from embedtune.models.adapters import adapter_reference
from embedtune.models.api import settings_from_config
from embedtune.models.embedding_cache import cache_for, use_cache
from embedtune.models.loading import load_base_model, load_tokenizer
from embedtune.reporting import outcomes
from embedtune.reporting.evaluation import (
    dashboard_metadata,
    model_version_metadata,
    promotion_html,
    run_config,
    run_identity,
    to_html,
)
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
        sources = {str(row["chunk_id"]): str(row.get("source") or row.get("doc_id") or "") for row in chunk_rows}
        extras = {"bootstrap_samples": config.bootstrap_samples, "seed": config.seed, "batch_size": config.batch_size}
        result.update(outcomes.report_extras(base, tuned_model, benchmark, sources, **extras))
        if gold_queries is not None:
            result["gold"].update(outcomes.report_extras(base, tuned_model, mapping.benchmark, sources, **extras))
    result["decided_on"], _, result["decision_queries"] = promotion.decision_basis(result)
    context = get_step_context()
    result["run"] = run_identity(context.pipeline_run, context.model_version, model_config.base_model)
    result["training"] = _training_metrics(context)
    log_metadata(metadata=model_version_metadata(result), infer_model=True)
    _log_run_and_step_metadata(dashboard_metadata(result))
    tracking.log_metrics(tracking.evaluation_metrics(result))  # MLflow, when the stack has the tracker
    return result, HTMLString(to_html(result))


def _training_metrics(context: Any) -> dict[str, Any]:
    """The training step's metrics, as it attached them to the `tuned_model` artifact ({} when absent)."""
    inputs = context.inputs.get("tuned_model") or []
    artifact = inputs[0] if isinstance(inputs, list) and inputs else inputs
    metadata = getattr(artifact, "run_metadata", None) or {}
    return {key: value for key, value in metadata.items() if key not in _MATERIALIZER_KEYS}


_MATERIALIZER_KEYS = {"embedding_dimension", "max_seq_length", "parameters", "storage_size"}


def _log_run_and_step_metadata(metadata: dict[str, Any]) -> None:
    """The same metadata on this step and on its pipeline run, so both dashboard pages show it."""
    context = get_step_context()
    log_metadata(metadata=metadata)
    log_metadata(metadata=metadata, run_id_name_or_prefix=context.pipeline_run.id)


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
) -> tuple[
    Annotated[dict[str, Any], "promotion"],
    Annotated[HTMLString, "promotion_html"],
    Annotated[MarkdownString, "model_card"],
    Annotated[str, "model_card_readme"],
]:
    """Move this model version to `config.stage` only if the tuned model beats the base and the
    incumbent (the rule: embedtune.evaluation.promotion), on the gold queries when they can decide.

    Then: the decision as step, run and model-version metadata and as an HTML view; the model card
    (embedtune.publishing) as `model_card_readme`, which an export writes as its README.md (the stored
    `tuned_model` artifact is never changed), and shown on the dashboard without its YAML header; with an MLflow tracker, the model
    registered in MLflow only when promoted, with the stage as its alias."""
    context = get_step_context()
    model = context.model
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
    # The evaluation's and training's figures again: when those steps came from the cache (the same data
    # under another model name, or a second run), they logged nothing on this model version.
    carried = {**model_version_metadata(evaluation_report), "training": evaluation_report.get("training") or {}}
    log_metadata(metadata={**carried, "promoted": promoted, "promotion_reason": reason, "decided_on": basis},
                 infer_model=True)
    decision = {
        "promoted": promoted,
        "reason": reason,
        "decided_on": basis,
        "stage": config.stage if promoted else None,
        "incumbent": incumbent["version"] if incumbent else None,
        "incumbent_stage": incumbent["stage"] if incumbent else None,
    }
    _log_run_and_step_metadata({"promoted": promoted, "promotion_reason": reason, "promotion_stage": decision["stage"]
                                or "none", "decided_on": basis})
    artifact = _input_artifact(context, "tuned_model")
    card = model_card_text(context, evaluation_report, decision, model_config, config, to_records(test),
                           adapter_base=adapter_reference(tuned_model))
    if artifact is not None:
        tracking.register_promoted(getattr(artifact, "run_metadata", {}) or {}, decision, _model_label(context))
    return decision, HTMLString(promotion_html(decision, evaluation_report)), MarkdownString(
        publishing.without_front_matter(card)
    ), card


def _input_artifact(context: Any, name: str) -> Any | None:
    inputs = context.inputs.get(name) or []
    return inputs[0] if isinstance(inputs, list) and inputs else (inputs or None)


def _model_label(context: Any) -> str | None:
    version = context.model_version
    return f"{version.model.name}:{version.name}" if version is not None else None


def _step_metadata(run: Any, step_name: str) -> dict[str, Any]:
    step_run = run.steps.get(step_name) if run is not None else None
    return dict(step_run.run_metadata) if step_run is not None else {}


def model_card_text(
    context: Any, report: dict[str, Any], decision: dict[str, Any], model_config: ModelConfig,
    config: PromotionConfig, test_rows: list[dict[str, Any]], adapter_base: str | None = None,
) -> str:
    """The card of this run's tuned model (embedtune.publishing.model_card) from the report, the decision and
    what earlier steps of the run recorded (the data funnel, the split sizes). `adapter_base`: the base a
    tuned model saved as a LoRA adapter loads on (the card says so)."""
    from zenml.client import Client

    run = Client().get_pipeline_run(context.pipeline_run.id)
    identity = report.get("run") or run_identity(context.pipeline_run, context.model_version, model_config.base_model)
    settings = run_config(context.pipeline_run)
    hub_id, license_name = publishing.base_model_facts(model_config.base_model)
    try:
        license_name = license_name or context.model.license
    except StepContextError:
        pass
    sizes: dict[str, Any] = dict(_step_metadata(run, "report_data").get("data_funnel") or {})
    split = _step_metadata(run, "split_by_document")
    if split.get("pairs"):
        sizes = {**sizes, "query-passage pairs per split": split["pairs"],
                 "documents per split": split.get("documents", {})}
    generators = sorted({str(row["generator"]) for row in test_rows if row.get("generator")})
    facts = publishing.CardFacts(
        base_model=model_config.base_model, base_model_id=hub_id, license=license_name,
        title=f"{identity['model_version']}" if identity.get("model_version") else None,
        corpus=identity.get("corpus"),
        corpus_description=settings.get("generation", {}).get("corpus_description") or None,
        sizes=sizes, generators=generators, matryoshka_dims=model_config.matryoshka_dims,
        loss=settings.get("training", {}).get("loss"), run_name=identity.get("run_name"), date=identity.get("date"),
        report=report, promotion=decision,
        examples=publishing.examples_from(test_rows, config.card_examples), adapter_base=adapter_base,
    )
    return publishing.model_card(facts)


@step
def evaluate_benchmark(
    models: list[str],
    benchmark_dir: str,
    split: str,
    model_config: ModelConfig,
    config: EvaluationConfig,
    inputs_fingerprint: str = "",
    api_config: CompareConfig | None = None,
    chunking: ChunkingConfig | None = None,
) -> Annotated[dict[str, Any], "benchmark_report"]:
    """Any models on a BEIR folder (human relevance labels); gains are vs the first model. API models
    (`provider:model`) run with the `compare:` section's `api_*` settings (`api_config`); with
    `long_documents: best_chunk` documents are cut as the run's `chunking` section cuts a corpus.
    `inputs_fingerprint` (embedtune.util.fingerprint.paths_fingerprint) is only there for the cache key."""
    benchmark = load_beir(benchmark_dir, split)
    if config.long_documents == "best_chunk":  # as the pipeline reads a corpus: chunks of the base's tokens
        benchmark = by_best_chunk(benchmark, load_tokenizer(model_config.base_model), chunking or ChunkingConfig())
    loaded = load_models(models, model_config, settings_from_config(api_config))
    with use_cache(cache_for(model_config)):
        result = evaluate_models(loaded, benchmark, config)
    result.update({"benchmark": benchmark_dir, "split": split})
    log_metadata(metadata={"benchmark": benchmark_dir, "split": split, "n_queries": result["n_queries"]})
    return result
