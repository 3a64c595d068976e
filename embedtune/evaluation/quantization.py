"""Quantized retrieval, measured: what NDCG@10 an int8 or binary index really gives, and what it weighs.

Precisions (all after Matryoshka truncation and re-normalisation of the float32 embeddings):
- `float32`: cosine similarity (dot product of unit vectors). 4 bytes per dimension.
- `int8`: `sentence_transformers.quantization.quantize_embeddings(precision="int8")` with the
  per-dimension min/max *calibrated on the corpus embeddings*; queries are quantized with the same
  ranges and scored by the integer dot product (what an int8 vector index computes). 1 byte per dim.
- `binary`: `quantize_embeddings(precision="ubinary")` (sign bit, packed 8 per byte) for corpus and
  queries; ranked by Hamming distance. Computed as (dim - <±1, ±1>) / 2, which is exactly the popcount
  of XOR. dim/8 bytes per vector.
- `binary_rescore`: the binary index retrieves `rescore_candidates` by Hamming distance, then the
  float32 *query* is dotted with the ±1 unpacked corpus bits to re-rank them (the rescoring recipe of
  sentence-transformers' quantization docs). The index stays binary: no float corpus vectors are kept.

Index sizes are the vectors alone (no ids, graph or metadata), per 1M chunks, in bytes: float32
4 * dim, int8 dim (+ 2 * dim float32 calibration values once), binary ceil(dim / 8).
"""

from __future__ import annotations

import math

import numpy as np

from embedtune import EmbedtuneError
from embedtune.models.encoding import normalise, top_k

PRECISIONS = ("float32", "int8", "binary", "binary_rescore")
PER_MILLION = 1_000_000


def bytes_per_vector(dim: int, precision: str) -> int:
    if dim <= 0:
        raise ValueError("dim must be positive")
    if precision == "float32":
        return 4 * dim
    if precision == "int8":
        return dim
    if precision in ("binary", "binary_rescore"):
        return math.ceil(dim / 8)
    raise EmbedtuneError(f"unknown precision '{precision}'; choose from {', '.join(PRECISIONS)}")


def index_bytes(dim: int, precision: str, n_vectors: int = PER_MILLION) -> int:
    """Bytes of the vectors of an index of `n_vectors` chunks (int8 adds its calibration ranges once)."""
    calibration = 2 * dim * 4 if precision == "int8" else 0
    return bytes_per_vector(dim, precision) * n_vectors + calibration


def _quantize_embeddings():
    try:
        from sentence_transformers.util.quantization import quantize_embeddings
    except ImportError:  # sentence-transformers < 5.2
        from sentence_transformers.quantization import quantize_embeddings
    return quantize_embeddings


def quantize_int8(embeddings: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """int8 with per-dimension [min, max] ranges taken from `calibration` (the corpus embeddings)."""
    return _quantize_embeddings()(embeddings, precision="int8", calibration_embeddings=calibration)


def quantize_binary(embeddings: np.ndarray) -> np.ndarray:
    """Packed sign bits (uint8, ceil(dim / 8) bytes per row)."""
    return _quantize_embeddings()(embeddings, precision="ubinary")


def unpack_signs(packed: np.ndarray, dim: int) -> np.ndarray:
    """Packed bits -> ±1 float32 matrix of width `dim`."""
    bits = np.unpackbits(packed, axis=1)[:, :dim].astype(np.float32)
    return bits * 2.0 - 1.0


def hamming_distances(query_packed: np.ndarray, corpus_packed: np.ndarray, dim: int) -> np.ndarray:
    """Hamming distance of every query to every corpus row (exact, as an integer-valued float array)."""
    agreement = unpack_signs(query_packed, dim) @ unpack_signs(corpus_packed, dim).T
    return (dim - agreement) / 2.0


def _best_first(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    # ties broken by corpus position so results are deterministic
    order = np.lexsort((part, -np.take_along_axis(scores, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1)


def search(
    queries: np.ndarray,
    corpus: np.ndarray,
    precision: str,
    k: int,
    dim: int | None = None,
    rescore_candidates: int = 100,
    block: int = 256,
) -> np.ndarray:
    """Indices of the k best corpus rows per query, best first, as an index of `precision` ranks them.

    `queries` and `corpus` are float32 embeddings (any norm); they are truncated to `dim` and
    re-normalised before quantization.
    """
    dim = dim or queries.shape[1]
    queries, corpus = normalise(queries, dim), normalise(corpus, dim)
    if precision == "float32":
        indices, _ = top_k(queries, corpus, k)
        return indices
    if precision == "int8":
        corpus_q = quantize_int8(corpus, corpus).astype(np.float64)  # integer dot products, exact in float64
        query_q = quantize_int8(queries, corpus).astype(np.float64)
        return np.vstack([_best_first(query_q[s : s + block] @ corpus_q.T, k) for s in range(0, len(query_q), block)])
    if precision not in ("binary", "binary_rescore"):
        bytes_per_vector(dim, precision)  # raises the unknown-precision error
    corpus_bits = quantize_binary(corpus)
    query_bits = quantize_binary(queries)
    corpus_signs = unpack_signs(corpus_bits, dim)
    results = []
    for start in range(0, len(queries), block):
        distances = hamming_distances(query_bits[start : start + block], corpus_bits, dim)
        if precision == "binary":
            results.append(_best_first(-distances, k))
            continue
        candidates = _best_first(-distances, max(k, rescore_candidates))
        rescored = np.einsum("qd,qcd->qc", queries[start : start + block], corpus_signs[candidates])
        order = _best_first(rescored, k)
        results.append(np.take_along_axis(candidates, order, axis=1))
    return np.vstack(results) if results else np.zeros((0, k), dtype=int)
