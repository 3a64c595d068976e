"""Teachers: score (query, candidate passage) pairs better than the student can.

A teacher exposes `score(queries, candidates)`: for query i, one float per corpus index in
`candidates[i]` (higher = more relevant). Two kinds:

- `HybridTeacher`: the base embedder fused with stemmed BM25 (`embedtune.teacher.fusion`), its weight
  chosen on held-out synthetic queries. Needs nothing but the corpus: the default.
- `CrossEncoderTeacher`: any sentence-transformers `CrossEncoder` (a local path, or a hub name on an
  online machine), e.g. a MS MARCO MiniLM cross-encoder, reading query and passage together.

    >>> teacher = HybridTeacher(texts, corpus_vectors, encode_queries, LexicalIndex(texts), weight=0.4)
    >>> teacher.score(["does aspirin reduce fever"], [[0, 2]])
    [array([..., ...], dtype=float32)]

References:
    Wang et al., "GPL: Generative Pseudo Labeling for Unsupervised Domain Adaptation of Dense
    Retrieval" (NAACL 2022): cross-encoder pseudo-labels with MarginMSE.
    Hofstaetter et al., "Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge
    Distillation" (2020): the MarginMSE loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embedtune import EmbedtuneError
from embedtune.teacher.fusion import standardise
from embedtune.teacher.lexical import LexicalIndex


class Teacher(Protocol):
    name: str

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[int]]) -> list[np.ndarray]: ...


class ScoreMemo:
    """A teacher that remembers: each (query, corpus index) is scored by the wrapped teacher once.

    Both teachers' scores depend on the query and the passage only (the hybrid standardises over the whole
    corpus, not over the candidates asked for), so a score found once holds for every later list. Used
    where real queries are scored twice: over their retrieval pool (`teacher_positives`), then over their
    positive and mined candidates, most of which the pool already held.

        >>> memo = ScoreMemo(teacher)
        >>> memo.score(["q"], [[0, 1]]); memo.score(["q"], [[1, 2]])  # the second asks the teacher for 2 only
    """

    def __init__(self, teacher: Teacher) -> None:
        self.teacher, self.name = teacher, teacher.name
        self.lexical = getattr(teacher, "lexical", None)  # the hybrid's BM25 index, for teacher_positives
        self.known: dict[tuple[str, int], float] = {}

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[int]]) -> list[np.ndarray]:
        missing = [[index for index in dict.fromkeys(map(int, chosen)) if (query, index) not in self.known]
                   for query, chosen in zip(queries, candidates)]
        asked = [i for i, indices in enumerate(missing) if indices]
        if asked:
            for i, scores in zip(asked, self.teacher.score([queries[i] for i in asked], [missing[i] for i in asked])):
                self.known.update({(queries[i], index): float(score) for index, score in zip(missing[i], scores)})
        return [np.array([self.known[(query, int(index))] for index in chosen], dtype=np.float32)
                for query, chosen in zip(queries, candidates)]


class HybridTeacher:
    """(1 - weight) * z(dense cosine) + weight * z(BM25), standardised per query over the whole corpus.

    Args:
        texts: the corpus (chunk texts), in the index order `candidates` refer to.
        corpus_vectors: unit-normalised dense vectors of `texts` (the base model's).
        encode_queries: texts -> unit-normalised query vectors (same model, with its query prompt).
        lexical: a `LexicalIndex` over `texts`.
        weight: the BM25 share, in [0, 1].
    """

    def __init__(self, texts: Sequence[str], corpus_vectors: np.ndarray,
                 encode_queries: Callable[[Sequence[str]], np.ndarray], lexical: LexicalIndex,
                 weight: float, block: int = 256) -> None:
        if len(texts) != corpus_vectors.shape[0] or lexical.size != len(texts):
            raise ValueError("texts, corpus vectors and the BM25 index must cover the same corpus")
        self.texts, self.corpus_vectors, self.lexical = texts, corpus_vectors, lexical
        self.encode_queries, self.weight, self.block = encode_queries, float(weight), block
        self.name = f"hybrid(bm25 weight {self.weight:.2f})"

    def component_scores(self, queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(dense cosine, BM25), both [queries, corpus]: for choosing the weight on a few queries."""
        dense = self.encode_queries(queries) @ self.corpus_vectors.T
        lexical = np.vstack([self.lexical.scores(query) for query in queries]) if queries else dense
        return dense, lexical

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[int]]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for start in range(0, len(queries), self.block):  # bounded memory: a block of full-corpus rows at a time
            dense, lexical = self.component_scores(list(queries[start : start + self.block]))
            fused = (1 - self.weight) * standardise(dense) + self.weight * standardise(lexical)
            for row, chosen in zip(fused, candidates[start : start + self.block]):
                out.append(row[np.asarray(chosen, dtype=int)].astype(np.float32))
        return out


class CrossEncoderTeacher:
    """A sentence-transformers CrossEncoder reading (query, passage) together.

    Args:
        model: a local directory or (online only) a hub name.
        texts: the corpus, in index order.
        device: torch device string; None lets sentence-transformers choose.
    """

    def __init__(self, model: str, texts: Sequence[str], device: str | None = None, batch_size: int = 32) -> None:
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(model, device=device)
        except (OSError, ValueError) as error:
            hint = "" if Path(model).exists() else " (not a local folder; offline, only local folders load)"
            raise EmbedtuneError(f"teacher.cross_encoder {model!r} could not be loaded{hint}: {error}") from error
        self.texts, self.batch_size = texts, batch_size
        self.name = f"cross-encoder({model})"

    def score(self, queries: Sequence[str], candidates: Sequence[Sequence[int]]) -> list[np.ndarray]:
        pairs = [(query, self.texts[index]) for query, chosen in zip(queries, candidates) for index in chosen]
        flat: Any = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False) if pairs else []
        flat = np.asarray(flat, dtype=np.float32).reshape(-1)
        out, start = [], 0
        for chosen in candidates:
            out.append(flat[start : start + len(chosen)])
            start += len(chosen)
        return out
