"""Fixtures shared by unit tests of several packages."""

from __future__ import annotations

import pytest

from tests.unit.samples import CORPUS, QRELS, QUERIES


@pytest.fixture(scope="session")
def leaderboard(tiny_model_dir, minilm_path):
    """A real leaderboard: the tiny random BERT, MiniLM, and an API model skipped for want of a key."""
    from embedtune.evaluation import leaderboard as compare

    settings = compare.CompareSettings(bootstrap_samples=200, rule="quality")
    return compare.compare_candidates([tiny_model_dir, minilm_path, "openai:text-embedding-3-small"], QUERIES,
                                      CORPUS, QRELS, settings)
