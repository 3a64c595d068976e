from pipelines.evaluate import evaluate_benchmark_pipeline
from pipelines.gold import gold_from_argilla
from pipelines.training import end_to_end, finetune, finetune_curated, generate_data, push_latest

__all__ = ["end_to_end", "evaluate_benchmark_pipeline", "finetune", "finetune_curated", "generate_data", "gold_from_argilla", "push_latest"]
