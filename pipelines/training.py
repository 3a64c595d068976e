"""The three training pipelines: generate_data, finetune, and end_to_end (both, no human review).

They share the same steps; `finetune` alone reads the latest `training_triplets` and `chunks`
artifacts, so data can be generated (and reviewed) once and trained on many times.
"""

from typing import Any

from zenml import pipeline
from zenml.client import Client
from zenml.enums import ExecutionMode

from embedtune.config import EmbedtuneConfig
from steps import (
    chunk_documents,
    evaluate,
    filter_pairs,
    generate_queries,
    load_documents,
    mine_negatives,
    promote,
    split_by_document,
    train_embedder,
)


def _data_steps(config: EmbedtuneConfig, corpus_fingerprint: str) -> tuple[Any, Any]:
    documents = load_documents(config.ingest, corpus_fingerprint)
    chunks = chunk_documents(documents, config.chunking, config.model.base_model)
    synthetic_pairs = generate_queries(chunks, config.generation)
    filtered = filter_pairs(synthetic_pairs, chunks, config.filtering, config.model)
    triplets = mine_negatives(filtered, chunks, config.negatives, config.model)
    return triplets, chunks


def _finetune_steps(config: EmbedtuneConfig, triplets: Any, chunks: Any) -> None:
    train, validation, test = split_by_document(triplets, config.split)
    tuned_model = train_embedder(train, validation, chunks, config.model, config.training)
    report, _ = evaluate(tuned_model, test, chunks, config.model, config.evaluation)
    promote(report, tuned_model, test, chunks, config.model, config.evaluation, config.promotion)


@pipeline(name="embedtune_generate_data", execution_mode=ExecutionMode.FAIL_FAST)
def generate_data(config: EmbedtuneConfig, corpus_fingerprint: str = "") -> None:
    """Documents -> chunks -> synthetic queries -> filtered pairs -> triplets with hard negatives."""
    _data_steps(config, corpus_fingerprint)


@pipeline(name="embedtune_finetune", execution_mode=ExecutionMode.FAIL_FAST)
def finetune(config: EmbedtuneConfig) -> None:
    """Latest triplets -> document split -> fine-tune -> evaluate base vs tuned -> promote."""
    client = Client()
    _finetune_steps(config, client.get_artifact_version("training_triplets"), client.get_artifact_version("chunks"))


@pipeline(name="embedtune_end_to_end", execution_mode=ExecutionMode.FAIL_FAST)
def end_to_end(config: EmbedtuneConfig, corpus_fingerprint: str = "") -> None:
    """Everything, from documents to a promoted (or not) tuned model."""
    triplets, chunks = _data_steps(config, corpus_fingerprint)
    _finetune_steps(config, triplets, chunks)
