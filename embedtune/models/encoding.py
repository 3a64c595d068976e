"""Dense retrieval helpers shared by filtering, negative mining, curation and evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def encode(
    model: SentenceTransformer,
    texts: Sequence[str],
    prompt: str = "",
    batch_size: int = 64,
    truncate_dim: int | None = None,
) -> np.ndarray:
    """Unit-normalised embeddings (float32), optionally truncated to a Matryoshka dimension.

    Inside `embedtune.models.embedding_cache.use_cache(cache)` (the steps open one), texts this model
    already encoded with this prompt are read from the cache instead of encoded again."""
    from embedtune.models.embedding_cache import active_cache

    cache = active_cache()
    if cache is None:
        embeddings = encode_raw(model, texts, prompt, batch_size)
    else:
        embeddings = cache.encode(model, texts, prompt, lambda missing: encode_raw(model, missing, prompt, batch_size))
    return normalise(embeddings, truncate_dim)


def encode_raw(model: SentenceTransformer, texts: Sequence[str], prompt: str = "", batch_size: int = 64) -> np.ndarray:
    """The model's own float32 embeddings, not normalised: what the cache stores."""
    return model.encode(
        list(texts),
        prompt=prompt or None,
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=False,
        show_progress_bar=len(texts) > 2000,
    ).astype(np.float32)


def model_prompts(model: SentenceTransformer) -> tuple[str, str]:
    """(query, document) prompts a loaded model carries: set from its `ModelSpec` by `load_embedder`,
    or saved with it (a model tuned by embedtune keeps the prompts it was trained with)."""
    prompts = getattr(model, "prompts", None) or {}
    return prompts.get("query", "") or "", prompts.get("document", "") or ""


def normalise(embeddings: np.ndarray, truncate_dim: int | None = None) -> np.ndarray:
    if truncate_dim:
        embeddings = embeddings[:, :truncate_dim]
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


def top_k(query_embeddings: np.ndarray, corpus_embeddings: np.ndarray, k: int, block: int = 1024):
    """Indices and cosine scores of the k best corpus rows per query, best first."""
    k = min(k, corpus_embeddings.shape[0])
    all_indices, all_scores = [], []
    for start in range(0, query_embeddings.shape[0], block):
        scores = query_embeddings[start : start + block] @ corpus_embeddings.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        all_indices.append(np.take_along_axis(part, order, axis=1))
        all_scores.append(np.take_along_axis(part_scores, order, axis=1))
    if not all_indices:
        return np.zeros((0, k), dtype=int), np.zeros((0, k), dtype=np.float32)
    return np.vstack(all_indices), np.vstack(all_scores)
