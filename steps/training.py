"""Splitting and fine-tuning steps."""

from typing import Annotated

import pandas as pd
from sentence_transformers import SentenceTransformer
from zenml import get_step_context, log_metadata, step
from zenml.exceptions import StepContextError

from embedtune.config import ModelConfig, SplitConfig, TeacherConfig, TrackingConfig, TrainingConfig
from embedtune.data import split
from embedtune.generation.examples import read_queries
from embedtune.models.devices import hardware_summary
from embedtune.models.embedding_cache import cache_for, use_cache
from embedtune.models.loading import load_base_model
from embedtune.teacher import labels as teacher_labels
from embedtune.tracking import mlflow as tracking
from embedtune.training import trainer as training
from embedtune.util.frames import to_records
from materializers import SentenceTransformerMaterializer


@step
def split_by_document(
    training_triplets: pd.DataFrame, config: SplitConfig
) -> tuple[Annotated[pd.DataFrame, "train"], Annotated[pd.DataFrame, "validation"], Annotated[pd.DataFrame, "test"]]:
    """Whole documents go to one split, so no test document's chunk is ever trained on."""
    train, validation, test = split.split_by_document(to_records(training_triplets), config)
    columns = list(training_triplets.columns)
    sizes = {"train": len(train), "validation": len(validation), "test": len(test)}
    log_metadata(metadata={"pairs": sizes, "documents": {
        name: len({p["doc_id"] for p in rows}) for name, rows in (("train", train), ("validation", validation), ("test", test))
    }})
    return (
        pd.DataFrame(train, columns=columns),
        pd.DataFrame(validation, columns=columns),
        pd.DataFrame(test, columns=columns),
    )


@step
def label_with_teacher(
    train: pd.DataFrame, validation: pd.DataFrame, chunks: pd.DataFrame, model_config: ModelConfig,
    config: TeacherConfig, real_queries_fingerprint: str = "",
) -> Annotated[pd.DataFrame, "teacher_labelled_train"]:
    """Teacher-checked hard negatives and margins for the training pairs (see embedtune.teacher.labels);
    the hybrid teacher's BM25 weight is chosen on the validation pairs, never on the test split.
    `teacher.real_queries` join the training pairs here; `real_queries_fingerprint` only keys the cache."""
    model = load_base_model(model_config)
    real = read_queries(config.real_queries, setting="teacher.real_queries")
    with use_cache(cache_for(model_config)):
        rows, report = teacher_labels.label_pairs(
            to_records(train), to_records(validation), to_records(chunks), model, config, real,
            trust_remote_code=model_config.trust_remote_code,  # also the teacher's dense_model's opt-in
        )
    log_metadata(metadata={"teacher": report}, infer_artifact=True)
    log_metadata(metadata={"teacher": report}, infer_model=True)
    return pd.DataFrame(rows)


def _zenml_model_name() -> str | None:
    try:
        return get_step_context().model.name
    except StepContextError:  # the pipeline carries no ZenML Model
        return None


@step(output_materializers={"tuned_model": SentenceTransformerMaterializer})
def train_embedder(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    chunks: pd.DataFrame,
    model_config: ModelConfig,
    config: TrainingConfig,
    tracking_config: TrackingConfig | None = None,
) -> Annotated[SentenceTransformer, "tuned_model"]:
    """Fine-tune the base embedder (MatryoshkaLoss over CachedMNRL), best checkpoint by validation.

    With an MLflow experiment tracker on the step (see pipelines/training.py), params, per-step training
    metrics and the tuned model (registered) also go to MLflow; without one this is skipped."""
    tracking_config = tracking_config or TrackingConfig()
    hardware = hardware_summary(model_config.device if model_config.device != "auto" else None)
    tracking.log_params({"model": model_config.model_dump(), "training": config.model_dump(), "hardware": hardware})
    model = load_base_model(model_config)
    result = training.train_embedder(
        model, to_records(train), to_records(validation), to_records(chunks), model_config, config,
        callbacks=tracking.training_callbacks(),
    )
    log_metadata(
        metadata={
            "training": result.metrics,
            "base_model": model_config.base_model,
            "training_arguments": config.model_dump(),
            "hardware": hardware,
        },
        infer_model=True,
    )
    if tracking.active_run() is not None:
        tracking.log_metrics({"final": result.metrics})
        tracking.log_model(result.model, tracking.registry_name(tracking_config, _zenml_model_name()))
    log_metadata(metadata=result.metrics, infer_artifact=True)
    return result.model
