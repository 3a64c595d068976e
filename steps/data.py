"""Ingestion and chunking steps."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from embedtune.config import ChunkingConfig, IngestConfig
from embedtune.data import chunking, ingest
from embedtune.models.loading import load_tokenizer
from embedtune.util.frames import to_records


@step
def load_documents(config: IngestConfig, corpus_fingerprint: str = "") -> Annotated[pd.DataFrame, "documents"]:
    """Read every supported file under `config.corpus`; unreadable files are skipped and counted.

    `corpus_fingerprint` only feeds the cache key, so an edited corpus is re-read."""
    result = ingest.load_documents(config)
    log_metadata(
        metadata={
            "documents": len(result.documents),
            "files_seen": result.files_seen,
            "skipped": dict(result.skipped),
            "corpus": config.corpus,
            "corpus_fingerprint": corpus_fingerprint,
        },
        infer_artifact=True,
    )
    return pd.DataFrame(result.documents, columns=["doc_id", "source", "title", "text"])


@step
def chunk_documents(
    documents: pd.DataFrame, config: ChunkingConfig, tokenizer_model: str
) -> Annotated[pd.DataFrame, "chunks"]:
    """Token windows with overlap, counted in the base embedder's tokenizer; each with its heading path."""
    rows = chunking.chunk_documents(to_records(documents), load_tokenizer(tokenizer_model), config)
    frame = pd.DataFrame(
        rows, columns=["chunk_id", "doc_id", "source", "title", "headings", "text", "n_tokens", "position"]
    )
    log_metadata(
        metadata={
            "chunks": len(frame),
            "mean_tokens": float(frame["n_tokens"].mean()) if len(frame) else 0.0,
            "tokenizer": tokenizer_model,
        },
        infer_artifact=True,
    )
    return frame
