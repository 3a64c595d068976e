"""Gold sets from Argilla: the judged queries of `curate gold push` pulled back as a versioned artifact.

Never cached: the judgments change in Argilla, outside ZenML.
"""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from embedtune.config import CurationConfig
from embedtune.curation import gold as gold_collection
from embedtune.evaluation.gold import COLUMNS
from steps.caching import NEVER_CACHED


@step(enable_cache=False, cache_policy=NEVER_CACHED)
def pull_gold_from_argilla(config: CurationConfig) -> Annotated[pd.DataFrame, "gold_queries"]:
    """The judged queries of `curation.gold_dataset`, one row per relevant passage (gold.COLUMNS); the counts
    per record outcome (judged, none relevant, discarded, pending) go to the artifact's metadata."""
    rows, summary = gold_collection.pull_gold(config)
    log_metadata(metadata={**summary, "source": f"argilla:{config.gold_dataset}"}, infer_artifact=True)
    return pd.DataFrame(rows, columns=list(COLUMNS))
