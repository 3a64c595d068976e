import materializers  # noqa: F401  (registers the DataFrame materializer with a content hash: cache keys)
from steps.curation import pull_from_argilla, push_to_argilla
from steps.data import chunk_documents, load_documents
from steps.evaluation import evaluate, evaluate_benchmark, load_gold, promote
from steps.generation import filter_pairs, generate_queries, mine_negatives
from steps.reporting import report_data
from steps.training import label_with_teacher, split_by_document, train_embedder

__all__ = [
    "chunk_documents",
    "evaluate",
    "evaluate_benchmark",
    "filter_pairs",
    "generate_queries",
    "label_with_teacher",
    "load_documents",
    "load_gold",
    "mine_negatives",
    "promote",
    "pull_from_argilla",
    "push_to_argilla",
    "report_data",
    "split_by_document",
    "train_embedder",
]
