"""Dashboard views of the data: the counts funnel and a sample of the generated pairs (HTML artifacts)."""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.types import HTMLString

from embedtune.reporting import data as visualization
from embedtune.tracking import mlflow as tracking
from embedtune.util.frames import to_records


@step
def report_data(
    chunks: pd.DataFrame,
    training_triplets: pd.DataFrame,
    documents: pd.DataFrame | None = None,
    synthetic_pairs: pd.DataFrame | None = None,
    filtered_pairs: pd.DataFrame | None = None,
    train: pd.DataFrame | None = None,
    validation: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
    sample_size: int = 20,
    seed: int = 0,
) -> tuple[Annotated[HTMLString, "data_funnel"], Annotated[HTMLString, "pairs_sample"]]:
    """documents -> chunks -> generated -> kept -> triplets -> train/validation/test counts, and a seeded
    sample of the generated pairs (kept or dropped by the filters), each with its passage's source path. Stages a
    pipeline lacks are left out. The counts also go on this step's and the run's metadata (the dashboard)."""
    frames = {
        "documents": documents, "chunks": chunks, "synthetic_pairs": synthetic_pairs,
        "filtered_pairs": filtered_pairs, "training_triplets": training_triplets,
        "train": train, "validation": validation, "test": test,
    }
    counts = visualization.funnel_counts(**{name: frame for name, frame in frames.items() if frame is not None})
    tracking.log_model_metadata({"data_funnel": dict(counts)})
    log_metadata(metadata={"data_funnel": dict(counts)})  # the step's own page
    log_metadata(metadata={"data_funnel": dict(counts)}, run_id_name_or_prefix=get_step_context().pipeline_run.id)
    sampled = synthetic_pairs if synthetic_pairs is not None else training_triplets
    kept = set(filtered_pairs["id"]) if synthetic_pairs is not None and filtered_pairs is not None else None
    sample = visualization.pairs_sample_html(to_records(sampled), kept, sample_size, seed, chunks=to_records(chunks))
    return HTMLString(visualization.funnel_html(counts)), HTMLString(sample)
