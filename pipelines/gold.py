"""`curate gold pull`: the gold set judged in Argilla, as the versioned `gold_queries` artifact."""

from zenml import pipeline
from zenml.enums import ExecutionMode

from embedtune.config import EmbedtuneConfig
from steps.gold import pull_gold_from_argilla


@pipeline(name="embedtune_gold_from_argilla", execution_mode=ExecutionMode.FAIL_FAST)
def gold_from_argilla(config: EmbedtuneConfig) -> None:
    """Argilla's judged gold queries -> `gold_queries` (the same artifact name as a gold file's `load_gold`)."""
    pull_gold_from_argilla(config.curation)
