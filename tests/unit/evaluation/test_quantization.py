"""Quantized retrieval and index sizes: hand-computed values, not the code's own arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from embedtune import EmbedtuneError
from embedtune.evaluation.quantization import (
    bytes_per_vector,
    hamming_distances,
    index_bytes,
    quantize_binary,
    quantize_int8,
    search,
)


@pytest.mark.parametrize(
    "dim, precision, expected_bytes_per_1m",
    [
        (384, "float32", 1_536_000_000),  # 384 dims x 4 bytes x 1M
        (384, "int8", 384_000_000 + 3_072),  # 384 bytes x 1M + min/max per dim (2 x 384 x 4 bytes) once
        (384, "binary", 48_000_000),  # 384 bits = 48 bytes
        (384, "binary_rescore", 48_000_000),  # rescoring keeps only the binary index
        (768, "float32", 3_072_000_000),
        (256, "binary", 32_000_000),
        (100, "binary", 13_000_000),  # 100 bits round up to 13 bytes
        (1536, "int8", 1_536_000_000 + 12_288),
    ],
)
def test_index_size_per_million_chunks_matches_hand_arithmetic(dim, precision, expected_bytes_per_1m):
    assert index_bytes(dim, precision) == expected_bytes_per_1m


def test_bytes_per_vector_and_unknown_precision():
    assert [bytes_per_vector(64, p) for p in ("float32", "int8", "binary")] == [256, 64, 8]
    with pytest.raises(EmbedtuneError, match="unknown precision 'fp8'"):
        bytes_per_vector(64, "fp8")


def test_int8_uses_the_corpus_range_calibration():
    corpus = np.array([[-1.0, 0.0], [1.0, 2.0], [0.0, 1.0]], dtype=np.float32)
    # dimension 0 spans [-1, 1] (step 2/255), dimension 1 spans [0, 2]: min -> -128, max -> 127
    quantized = quantize_int8(corpus, corpus)
    assert quantized.dtype == np.int8
    assert quantized[0].tolist() == [-128, -128]
    assert quantized[2].tolist() == [-1, -1]  # mid-range: floor(127.5) - 128
    assert set(quantized[1].tolist()) <= {126, 127}  # the top bucket (float rounding of 255 steps)
    # a query outside the corpus range is clipped to it, not wrapped around
    assert quantize_int8(np.array([[5.0, -3.0]], dtype=np.float32), corpus)[0].tolist() == [127, -128]


def test_binary_packs_sign_bits_and_hamming_equals_xor_popcount():
    rng = np.random.default_rng(0)
    queries, corpus = rng.normal(size=(5, 20)), rng.normal(size=(7, 20))
    query_bits, corpus_bits = quantize_binary(queries), quantize_binary(corpus)
    assert query_bits.shape == (5, 3) and query_bits.dtype == np.uint8  # 20 bits -> 3 bytes
    expected = np.array([[((queries[i] > 0) != (corpus[j] > 0)).sum() for j in range(7)] for i in range(5)])
    assert np.array_equal(hamming_distances(query_bits, corpus_bits, 20), expected)


def test_each_precision_ranks_a_hand_built_corpus():
    corpus = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],  # 0: the query's exact direction
            [0.6, 0.8, 0.0, 0.0],  # 1: close
            [-1.0, 0.0, 0.0, 0.0],  # 2: opposite
            [0.0, 0.0, 1.0, 0.0],  # 3: orthogonal
        ],
        dtype=np.float32,
    )
    query = np.array([[0.9, 0.1, -0.05, -0.05]], dtype=np.float32)
    assert search(query, corpus, "float32", 4).tolist() == [[0, 1, 3, 2]]
    assert search(query, corpus, "int8", 4).tolist()[0][:2] == [0, 1]
    # bits (x > 0): query 1100, doc 1 1100 (distance 0), doc 0 1000 (1), doc 2 0000 (2), doc 3 0010 (2; tie
    # broken by corpus order)
    assert search(query, corpus, "binary", 4).tolist() == [[1, 0, 2, 3]]
    # rescoring with the float query against ±1 bits: doc 1 = .9+.1+.05+.05 = 1.1, doc 0 = .9-.1+.05+.05 = .9
    # (the query is normalised first, which scales both alike)
    assert search(query, corpus, "binary_rescore", 2, rescore_candidates=4).tolist() == [[1, 0]]


def test_binary_rescore_reorders_the_hamming_candidates():
    # Two docs tie on Hamming distance; the float query breaks the tie the other way than index order.
    corpus = np.array([[1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, 1.0]], dtype=np.float32)
    query = np.array([[0.5, -0.1, 0.1, 0.5]], dtype=np.float32)  # signs (+,-,+,+) == doc 0's; doc 1 differs in 2
    query_tie = np.array([[0.5, 0.05, 0.3, 0.5]], dtype=np.float32)  # signs (+,+,+,+): both docs 1 bit away
    assert search(query, corpus, "binary", 2).tolist() == [[0, 1]]
    assert search(query_tie, corpus, "binary", 2).tolist() == [[0, 1]]  # tie -> corpus order
    # float query . doc signs: doc 0 = .5-.05+.3+.5 = 1.25, doc 1 = .5+.05-.3+.5 = .75 -> doc 0
    assert search(query_tie, corpus, "binary_rescore", 2, rescore_candidates=2).tolist() == [[0, 1]]
    query_flip = np.array([[0.5, 0.3, 0.05, 0.5]], dtype=np.float32)  # doc 1 = 1.25 > doc 0 = .75
    assert search(query_flip, corpus, "binary", 2).tolist() == [[0, 1]]
    assert search(query_flip, corpus, "binary_rescore", 2, rescore_candidates=2).tolist() == [[1, 0]]


def test_matryoshka_truncation_happens_before_quantization():
    corpus = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, -5.0]], dtype=np.float32)
    query = np.array([[0.0, 1.0, 5.0]], dtype=np.float32)
    assert search(query, corpus, "float32", 2).tolist() == [[0, 1]]  # the third dim dominates
    assert search(query, corpus, "float32", 2, dim=2).tolist() == [[1, 0]]  # truncated: only dims 0-1 count
    assert search(query, corpus, "binary", 2, dim=2).tolist() == [[1, 0]]
