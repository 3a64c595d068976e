"""Splitting pairs by document: no document in two splits, deterministic for a seed."""

import pytest

from embedtune import EmbedtuneError
from embedtune.config import SplitConfig
from embedtune.data.split import split_by_document


def make_pairs(n_docs: int, per_doc: int = 3):
    return [{"id": f"{d}-{i}", "doc_id": f"doc{d}", "query": "q", "positive": "p"} for d in range(n_docs) for i in range(per_doc)]


def test_no_test_or_validation_document_appears_in_train():
    train, validation, test = split_by_document(make_pairs(20), SplitConfig(validation_fraction=0.1, test_fraction=0.2))
    docs = [{p["doc_id"] for p in rows} for rows in (train, validation, test)]
    assert docs[0].isdisjoint(docs[1]) and docs[0].isdisjoint(docs[2]) and docs[1].isdisjoint(docs[2])
    assert (len(docs[0]), len(docs[1]), len(docs[2])) == (14, 2, 4)
    assert len(train) + len(validation) + len(test) == 60


def test_split_is_deterministic_for_a_seed():
    first = split_by_document(make_pairs(10), SplitConfig(seed=7))
    again = split_by_document(make_pairs(10), SplitConfig(seed=7))
    assert [[p["id"] for p in part] for part in first] == [[p["id"] for p in part] for part in again]


def test_split_needs_two_documents():
    with pytest.raises(EmbedtuneError, match="at least 2 documents"):
        split_by_document(make_pairs(1), SplitConfig())
