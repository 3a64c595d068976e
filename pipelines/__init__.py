from pipelines.evaluate import evaluate_benchmark_pipeline
from pipelines.training import end_to_end, finetune, generate_data

__all__ = ["end_to_end", "evaluate_benchmark_pipeline", "finetune", "generate_data"]
