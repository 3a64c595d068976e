"""Stemmed BM25: stemming and stopwords matter, unknown words score nothing, bad settings say so."""

import numpy as np
import pytest

from embedtune import EmbedtuneError
from embedtune.teacher.lexical import LexicalIndex

TEXTS = ["Aspirin lowers fevers in children.", "Wings generate lift at low speed.", "The fever of the market."]


def test_stemming_matches_word_forms_and_ranks_the_right_text_first():
    scores = LexicalIndex(TEXTS).scores("does aspirin lower a fever")
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert int(np.argmax(scores)) == 0  # "lowers"/"fevers" stem to the query's words
    assert scores[1] == 0 and scores[2] > 0  # shares "fever" only


def test_stopwords_alone_and_unknown_words_score_zero():
    index = LexicalIndex(TEXTS)
    assert not index.scores("the of at").any()
    assert not index.scores("zeppelin").any()


def test_rare_terms_weigh_more_than_common_ones():
    index = LexicalIndex(["fever aspirin", "fever wings", "fever lift", "fever speed"])
    scores = index.scores("fever aspirin")
    assert scores[0] > 2 * scores[1]


def test_bad_language_and_empty_corpus_are_clear_errors():
    with pytest.raises(EmbedtuneError, match="no stemmer"):
        LexicalIndex(TEXTS, language="klingon")
    with pytest.raises(EmbedtuneError, match="at least one text"):
        LexicalIndex([])
