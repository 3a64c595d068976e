"""Human review in Argilla: push the generated pairs, pull the reviewed ones back.

Never cached, even under a run config's `enable_cache: true` (which overrides a step's own `enable_cache`):
Argilla's state changes outside ZenML (new reviews, a fresh server), so the cache key includes a fresh value.
"""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step

from embedtune.config import CurationConfig, ModelConfig
from embedtune.curation import review as argilla_client
from embedtune.util.frames import to_records
from steps.caching import NEVER_CACHED


@step(enable_cache=False, cache_policy=NEVER_CACHED)
def push_to_argilla(
    training_triplets: pd.DataFrame, chunks: pd.DataFrame, config: CurationConfig, model_config: ModelConfig
) -> Annotated[dict[str, Any], "argilla_push"]:
    """Upsert every pair as an Argilla record (id = pair id); skipped with a warning when Argilla is not configured."""
    summary = argilla_client.push_pairs(to_records(training_triplets), to_records(chunks), config, model_config)
    log_metadata(metadata=summary, infer_artifact=True)
    return summary


@step(enable_cache=False, cache_policy=NEVER_CACHED)
def pull_from_argilla(
    training_triplets: pd.DataFrame, config: CurationConfig
) -> Annotated[pd.DataFrame, "curated_pairs"]:
    """The pairs as reviewed in Argilla; decision counts go to the artifact's metadata."""
    rows, metadata = argilla_client.curate_pairs(to_records(training_triplets), config)
    log_metadata(metadata=metadata, infer_artifact=True)
    columns = [*training_triplets.columns, "review_status", "annotators"]
    return pd.DataFrame(rows, columns=columns)
