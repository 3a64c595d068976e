"""Multi-GPU training: the same training code, launched on every GPU of the step's machine by accelerate.

ZenML's `run_with_accelerate` passes step inputs as command-line flags, so it only takes plain values:
`stage_training_data` writes train/validation/chunks and the configs as JSON into the artifact store and
hands the accelerated step that URI. Used by the pipelines when `training.gpus > 1`.
"""

import json
import uuid
from typing import Annotated, Any

import pandas as pd
from sentence_transformers import SentenceTransformer
from zenml import step
from zenml.client import Client
from zenml.integrations.huggingface.steps import run_with_accelerate
from zenml.io import fileio

from embedtune.config import ModelConfig, TrainingConfig
from embedtune.models.loading import load_base_model
from embedtune.training import trainer as training
from embedtune.util.frames import to_records
from materializers import SentenceTransformerMaterializer


def write_staged_inputs(directory: str, payload: dict[str, Any]) -> str:
    fileio.makedirs(directory)
    with fileio.open(f"{directory}/inputs.json", "w") as handle:
        handle.write(json.dumps(payload))
    return directory


def read_staged_inputs(directory: str) -> dict[str, Any]:
    with fileio.open(f"{directory}/inputs.json", "r") as handle:
        return json.loads(handle.read())


@step
def stage_training_data(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    chunks: pd.DataFrame,
    model_config: ModelConfig,
    config: TrainingConfig,
) -> Annotated[str, "training_data_uri"]:
    """Put the training inputs where every accelerate worker (and a remote step operator) can read them."""
    directory = f"{Client().active_stack.artifact_store.path}/embedtune-staging/{uuid.uuid4().hex}"
    payload = {
        "train": to_records(train),
        "validation": to_records(validation),
        "chunks": to_records(chunks),
        "model_config": model_config.model_dump(),
        "training_config": config.model_dump(),
    }
    return write_staged_inputs(directory, payload)


def train_from_staged(training_data_uri: str) -> SentenceTransformer:
    """One accelerate worker: the same `training.train_embedder`; the Trainer wraps the model in DDP."""
    inputs = read_staged_inputs(training_data_uri)
    model_config = ModelConfig(**inputs["model_config"])
    config = TrainingConfig(**inputs["training_config"])
    model = load_base_model(model_config)
    result = training.train_embedder(
        model, inputs["train"], inputs["validation"], inputs["chunks"], model_config, config
    )
    return result.model


@step(output_materializers={"tuned_model": SentenceTransformerMaterializer})
def train_embedder_distributed(training_data_uri: str) -> Annotated[SentenceTransformer, "tuned_model"]:
    """Fine-tune on all GPUs of this machine (the launcher is added by `accelerated`)."""
    return train_from_staged(training_data_uri)  # runs in each worker: no step context, no metadata here


def accelerated(**launch_options: Any):
    """`train_embedder_distributed` under `accelerate launch` (default: every visible GPU, mixed precision
    decided by the Trainer from training.precision). Options are `accelerate launch` flags, e.g.
    `num_processes=2` or, for a CPU smoke test, `cpu=True, num_processes=1`."""
    return run_with_accelerate(train_embedder_distributed, **({"multi_gpu": True} | launch_options))


# Wrapped at import: ZenML refuses to wrap a step inside a pipeline definition.
train_embedder_multi_gpu = accelerated()
