"""Split pairs by document, so no chunk of a test (or validation) document is trained on."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from embedtune import EmbedtuneError
from embedtune.config import SplitConfig


def split_by_document(
    pairs: Sequence[dict[str, Any]], config: SplitConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    documents = sorted({pair["doc_id"] for pair in pairs})
    if len(documents) < 2:
        raise EmbedtuneError(
            f"need pairs from at least 2 documents to hold some out for testing, got {len(documents)}; "
            "add documents to the corpus"
        )
    random.Random(config.seed).shuffle(documents)
    n_test = max(1, round(config.test_fraction * len(documents)))
    n_validation = round(config.validation_fraction * len(documents))
    if config.validation_fraction > 0 and len(documents) - n_test >= 3:
        n_validation = max(1, n_validation)
    n_validation = min(n_validation, len(documents) - n_test - 1)
    test_docs = set(documents[:n_test])
    validation_docs = set(documents[n_test : n_test + n_validation])
    train, validation, test = [], [], []
    for pair in pairs:
        target = test if pair["doc_id"] in test_docs else validation if pair["doc_id"] in validation_docs else train
        target.append(pair)
    return train, validation, test
