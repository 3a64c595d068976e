from pipelines.evaluate import evaluate_benchmark_pipeline
from pipelines.training import end_to_end, finetune, finetune_curated, generate_data, push_latest

__all__ = ["end_to_end", "evaluate_benchmark_pipeline", "finetune", "finetune_curated", "generate_data", "push_latest"]
