
from zenml import pipeline
from zenml.enums import ExecutionMode

from embedtune.config import EmbedtuneConfig
from embedtune.util.fingerprint import paths_fingerprint
from steps import evaluate_benchmark


@pipeline(name="embedtune_evaluate", execution_mode=ExecutionMode.FAIL_FAST)
def evaluate_benchmark_pipeline(config: EmbedtuneConfig, models: list[str], benchmark_dir: str, split: str) -> None:
    """Evaluate any embedders on a BEIR-format benchmark folder."""
    fingerprint = paths_fingerprint([*models, benchmark_dir])  # a re-exported model or edited qrels re-run
    evaluate_benchmark(models, benchmark_dir, split, config.model, config.evaluation, fingerprint, config.compare, config.chunking)
