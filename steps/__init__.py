from steps.data import chunk_documents, load_documents
from steps.evaluation import evaluate, evaluate_benchmark, promote
from steps.generation import filter_pairs, generate_queries, mine_negatives
from steps.training import split_by_document, train_embedder

__all__ = [
    "load_documents",
    "chunk_documents",
    "generate_queries",
    "filter_pairs",
    "mine_negatives",
    "split_by_document",
    "train_embedder",
    "evaluate",
    "evaluate_benchmark",
    "promote",
]
