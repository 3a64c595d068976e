"""Stemmed BM25 over the chunks: the lexical half of the hybrid teacher (and a keyword baseline).

`LexicalIndex(texts)` tokenises with `bm25s` (lower-cased, English stopwords removed, Snowball
stemmer from PyStemmer) and indexes with Lucene's BM25 (k1=1.5, b=0.75). `scores(query)` is the BM25
score of one query against every indexed text, in index order (0 for texts sharing no term with it).

    >>> index = LexicalIndex(["Aspirin lowers fever.", "Wings generate lift.", "Fever and aspirin use."])
    >>> [round(float(s), 3) > 0 for s in index.scores("does aspirin reduce fevers")]
    [True, False, True]

References:
    Lu, "BM25S: Orders of magnitude faster lexical search via eager sparse scoring" (2024).
    Thakur et al., "BEIR" (NeurIPS 2021 datasets track): BM25 is a strong zero-shot baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from embedtune import EmbedtuneError


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Any:
    try:
        import Stemmer
    except ImportError as error:  # a core dependency; a hand-made environment may lack it
        raise EmbedtuneError("the BM25 teacher needs PyStemmer. Fix: pip install PyStemmer (or `make install`)") \
            from error
    try:
        return Stemmer.Stemmer(language)
    except KeyError as error:
        raise EmbedtuneError(
            f"teacher.language {language!r} has no stemmer; choose one of {sorted(Stemmer.algorithms())}"
        ) from error


class LexicalIndex:
    """BM25 index of `texts` (stopwords and stemmer for `language`)."""

    def __init__(self, texts: Sequence[str], language: str = "english") -> None:
        import bm25s

        if not texts:
            raise EmbedtuneError("the BM25 index needs at least one text")
        self.language = language
        self._stopwords = "en" if language == "english" else []
        stemmer = _stemmer(language)
        self._stem = stemmer.stemWords
        tokens = bm25s.tokenize(list(texts), stopwords=self._stopwords, stemmer=self._stem, show_progress=False)
        self._retriever = bm25s.BM25()
        self._retriever.index(tokens, show_progress=False)
        self._vocabulary = tokens.vocab
        self.size = len(texts)

    def _query_tokens(self, query: str) -> list[str]:
        import bm25s

        tokens = bm25s.tokenize([query], stopwords=self._stopwords, stemmer=self._stem, return_ids=False,
                                show_progress=False)[0]
        return [token for token in tokens if token in self._vocabulary]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of `query` against every text (float32, index order)."""
        tokens = self._query_tokens(query)
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)
