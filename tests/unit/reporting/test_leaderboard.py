"""Leaderboard renderings: terminal, markdown and HTML show every row and the pick."""

from __future__ import annotations

import json

import pytest

from embedtune.evaluation import leaderboard as compare
from embedtune.reporting.leaderboard import format_leaderboard, to_html

QUERIES = {"q1": "how do pods share storage", "q2": "proof sourdough overnight", "q3": "pulsar radio beams"}


CORPUS = {
    "kube": "A pod groups containers that share storage and a network namespace.",
    "bread": "Proof the sourdough overnight in the fridge and bake it in a dutch oven.",
    "star": "Pulsars are rotating neutron stars whose radio beams sweep past the earth.",
    "chess": "The Sicilian defence answers e4 with c5.",
    "fund": "An index fund holds every stock of a market index.",
}


QRELS = {"q1": {"kube": 1}, "q2": {"bread": 1}, "q3": {"star": 1}}


@pytest.fixture(scope="module")
def leaderboard(tiny_model_dir, minilm_path):
    settings = compare.CompareSettings(bootstrap_samples=200, rule="quality")
    return compare.compare_candidates([tiny_model_dir, minilm_path, "openai:text-embedding-3-small"], QUERIES,
                                      CORPUS, QRELS, settings)


def test_renderings_show_every_row_and_the_pick(leaderboard):
    table = format_leaderboard(leaderboard)
    assert table.count("float32") >= 2 and "Best (quality)" in table and "skipped openai:" in table
    markdown = format_leaderboard(leaderboard, markdown=True)
    assert markdown.splitlines()[0].startswith("| # | model |")
    page = to_html(leaderboard)
    assert page.count("<tr") == len(leaderboard["rows"]) + 1 and "<svg" in page and "Best (quality)" in page
    json.dumps(leaderboard)  # the artifact and --output are plain JSON
