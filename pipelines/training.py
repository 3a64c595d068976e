"""The three training pipelines: generate_data, finetune, and end_to_end (both, no human review).

They share the same steps; `finetune` alone reads the `training_triplets` and `chunks` of the latest run
that made them (pipelines.latest), so data can be generated (and reviewed) once and trained on many times.
"""

from typing import Any

from zenml import pipeline
from zenml.config import ResourceSettings
from zenml.enums import ExecutionMode

from embedtune import EmbedtuneError, logger
from embedtune.config import EmbedtuneConfig, gold_leak
from embedtune.evaluation.gold import other_corpus, read_gold
from embedtune.generation.examples import read_queries
from embedtune.tracking import mlflow as tracking
from embedtune.util.fingerprint import paths_fingerprint
from pipelines.latest import latest_run_outputs
from steps import (
    chunk_documents,
    evaluate,
    filter_pairs,
    generate_queries,
    label_with_teacher,
    load_documents,
    load_gold,
    mine_negatives,
    promote,
    pull_from_argilla,
    push_to_argilla,
    report_data,
    split_by_document,
    train_embedder,
)
from steps.distributed import stage_training_data, train_embedder_multi_gpu


def _data_steps(config: EmbedtuneConfig, corpus_fingerprint: str, upstream: dict | None = None) -> tuple[Any, Any]:
    """`upstream` (end_to_end) collects the data artifacts for the funnel drawn after the split; without it
    the data-only funnel and pairs sample are drawn here."""
    documents = load_documents(config.ingest, corpus_fingerprint)
    chunks = chunk_documents(documents, config.chunking, config.model.base_model)
    synthetic_pairs = generate_queries(chunks, config.generation)
    filtered = filter_pairs(synthetic_pairs, chunks, config.filtering, config.model)
    triplets = mine_negatives(filtered, chunks, config.negatives, config.model)
    data = {"documents": documents, "synthetic_pairs": synthetic_pairs, "filtered_pairs": filtered}
    if upstream is None:
        report_data(chunks, triplets, **data)
    else:
        upstream.update(data)
    return triplets, chunks


def _train(config: EmbedtuneConfig, train: Any, validation: Any, chunks: Any) -> Any:
    """One process on one device, or (training.gpus > 1) accelerate on every GPU of the step's machine."""
    if config.training.gpus == 1:
        tracked = tracking.tracked_step_options(config.tracking.experiment_name)  # {} without an MLflow tracker
        return train_embedder.with_options(**tracked)(
            train, validation, chunks, config.model, config.training, config.tracking
        )
    staged = stage_training_data(train, validation, chunks, config.model, config.training)
    resources = {"resources": ResourceSettings(gpu_count=config.training.gpus)}
    return train_embedder_multi_gpu.with_options(settings=resources)(training_data_uri=staged)


def _gold(config: EmbedtuneConfig) -> Any:
    """The `gold_queries` artifact when `evaluation.gold` is set, else None. It goes to `evaluate` and `promote`
    only: never to generation, training or checkpoint selection."""
    if not config.evaluation.gold:
        return None
    elsewhere = other_corpus(config.evaluation.gold, config.ingest.corpus)  # e.g. the demo's set with --corpus
    if elsewhere:
        logger.warning(elsewhere)
        return None
    leak = gold_leak(config.evaluation, config.ingest, config.generation, config.teacher)  # --corpus applied
    if leak:
        raise EmbedtuneError(leak)
    read_gold(config.evaluation.gold, config.evaluation.gold_split)  # a missing or malformed file: before any step
    fingerprint = paths_fingerprint([config.evaluation.gold])  # an edited gold file is read again
    return load_gold(config.evaluation, config.ingest, config.generation, fingerprint)


def _real_queries(config: EmbedtuneConfig) -> str:
    """`teacher.real_queries` checked before any step runs (a bad file, or gold queries among them: one error);
    returns the file's fingerprint ("" without one), so that an edited file is labelled again."""
    if not config.teacher.real_queries:
        return ""
    queries = read_queries(config.teacher.real_queries, setting="teacher.real_queries")
    if config.evaluation.gold and not other_corpus(config.evaluation.gold, config.ingest.corpus):
        gold = {" ".join(row["query"].split()) for row in read_gold(config.evaluation.gold, config.evaluation.gold_split)}
        shared = [query for query in queries if query in gold]
        if shared:
            raise EmbedtuneError(f"{len(shared)} of teacher.real_queries ({config.teacher.real_queries}) are gold queries "
                                 f"(evaluation.gold), e.g. {shared[0]!r}: gold queries judge the model, remove them")
    return paths_fingerprint([config.teacher.real_queries])


def _finetune_steps(config: EmbedtuneConfig, triplets: Any, chunks: Any, upstream: dict | None = None) -> None:
    train, validation, test = split_by_document(triplets, config.split)
    report_data(chunks, triplets, **(upstream or {}), train=train, validation=validation, test=test)
    if config.teacher.kind != "none":  # teacher-checked negatives and margins (for training.loss margin_mse)
        train = label_with_teacher(train, validation, chunks, config.model, config.teacher, _real_queries(config))
    tuned_model = _train(config, train, validation, chunks)
    gold = _gold(config)
    tracked = tracking.tracked_step_options(config.tracking.experiment_name)
    report, _ = evaluate.with_options(**tracked)(tuned_model, test, chunks, config.model, config.evaluation, gold)
    promote(report, tuned_model, test, chunks, config.model, config.evaluation, config.promotion, gold)


@pipeline(name="embedtune_generate_data", execution_mode=ExecutionMode.FAIL_FAST)
def generate_data(config: EmbedtuneConfig, corpus_fingerprint: str = "") -> None:
    """Documents -> chunks -> synthetic queries -> filtered pairs -> triplets with hard negatives -> Argilla
    (the push is skipped, with a warning, when Argilla is not configured)."""
    triplets, chunks = _data_steps(config, corpus_fingerprint)
    push_to_argilla(triplets, chunks, config.curation, config.model)


@pipeline(name="embedtune_finetune", execution_mode=ExecutionMode.FAIL_FAST)
def finetune(config: EmbedtuneConfig) -> None:
    """Latest triplets -> document split -> fine-tune -> evaluate base vs tuned -> promote."""
    _finetune_steps(config, *latest_run_outputs("training_triplets", "chunks"))


@pipeline(name="embedtune_finetune_curated", execution_mode=ExecutionMode.FAIL_FAST)
def finetune_curated(config: EmbedtuneConfig) -> None:
    """Latest triplets -> reviews pulled from Argilla ("curated_pairs") -> the same training as `finetune`."""
    triplets, chunks = latest_run_outputs("training_triplets", "chunks")
    curated = pull_from_argilla(triplets, config.curation)
    _finetune_steps(config, curated, chunks)


@pipeline(name="embedtune_push_to_argilla", execution_mode=ExecutionMode.FAIL_FAST)
def push_latest(config: EmbedtuneConfig) -> None:
    """The latest `training_triplets` artifact -> Argilla, without generating again."""
    push_to_argilla(*latest_run_outputs("training_triplets", "chunks"), config.curation, config.model)


@pipeline(name="embedtune_end_to_end", execution_mode=ExecutionMode.FAIL_FAST)
def end_to_end(config: EmbedtuneConfig, corpus_fingerprint: str = "") -> None:
    """Everything, from documents to a promoted (or not) tuned model."""
    upstream: dict = {}
    triplets, chunks = _data_steps(config, corpus_fingerprint, upstream)
    _finetune_steps(config, triplets, chunks, upstream)
