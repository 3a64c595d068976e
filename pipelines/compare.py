from zenml import pipeline
from zenml.enums import ExecutionMode

from embedtune.config import EmbedtuneConfig
from pipelines.latest import latest_run_outputs
from steps.compare import compare_candidates, held_out_benchmark, load_beir_benchmark


@pipeline(name="embedtune_compare_models", execution_mode=ExecutionMode.FAIL_FAST)
def compare_models(config: EmbedtuneConfig, models: list[str], benchmark_dir: str = "", split: str = "test") -> None:
    """Candidate base models on the same queries and corpus: a BEIR folder, or by default the latest
    held-out synthetic test queries and chunks in ZenML."""
    if benchmark_dir:
        benchmark = load_beir_benchmark(
            benchmark_dir, split, config.compare, config.evaluation, config.chunking, config.model.base_model
        )
    else:
        benchmark = held_out_benchmark(*latest_run_outputs("test", "chunks"), config.compare)
    compare_candidates(benchmark, models, config.compare, config.evaluation, config.model)
