"""The evaluation report's renderings: synthetic and gold side by side, and which queries decided."""

from __future__ import annotations

import pytest

from embedtune.evaluation.metrics import METRICS
from embedtune.reporting.evaluation import format_table, headline, model_version_metadata, to_html


def section(n: int, base: float, tuned: float, gain: float) -> dict:
    values = {metric: 0.5 for metric in METRICS}
    return {
        "n_queries": n, "n_corpus": 40,
        "models": {"base": {"64": {**values, "ndcg@10": base}, "32": {**values, "ndcg@10": base - 0.1}},
                   "tuned": {"64": {**values, "ndcg@10": tuned}, "32": {**values, "ndcg@10": tuned - 0.1}}},
        "gains": {"tuned": {d: {"ndcg@10": {"gain": gain, "ci_low": gain - 0.02, "ci_high": gain + 0.02}}
                            for d in ("64", "32")}},
    }


def with_gold(too_small: bool = False) -> dict:
    gold = {**section(42, 0.61, 0.59, -0.02), "source": "data/gold/guide.yaml", "queries_in_file": 43,
            "dropped_queries": 1, "judgments": 50, "relevant_chunks": 60, "min_queries": 20, "too_small": too_small,
            "unmapped": [{"where": "guide.yaml: query 7", "query": "q", "doc": "gone.md",
                          "reason": "no document 'gone.md' in the corpus"}], "unmapped_count": 1}
    return {**section(100, 0.80, 0.85, 0.05), "gold": gold, "decided_on": "gold", "decision_queries": "42 gold queries"}


def test_html_shows_synthetic_and_gold_side_by_side_with_the_basis_and_unmapped_lines():
    page = to_html({**with_gold(), "promotion": {"reason": "not promoted: ...; decided on 42 gold queries"}})
    synthetic, gold = page.index("Held-out synthetic queries"), page.index("Gold queries (human-judged)")
    assert synthetic < gold and "100 held-out queries" in page and "42 of 43 queries mapped" in page
    assert "Promotion decides on gold (human-judged) queries:</b> 42 gold queries" in page
    assert "guide.yaml: query 7: no document &#x27;gone.md&#x27; in the corpus" in page
    assert page.count("<table>") == 2 and page.count("<svg") == 2
    assert "-0.0200 [-0.0400, +0.0000]" in page and "+0.0500 [+0.0300, +0.0700]" in page


def test_html_without_gold_says_there_is_none_and_a_too_small_set_says_so():
    assert "No gold set (evaluation.gold)" in to_html(section(10, 0.5, 0.6, 0.1))
    assert "Too small to decide:</b> 42 queries, fewer than evaluation.gold_min_queries=20" in to_html(with_gold(True))


def test_terminal_table_and_headline_show_both_and_the_reason():
    table = format_table(with_gold())
    assert table.startswith("Held-out synthetic queries") and "Gold queries (data/gold/guide.yaml)" in table
    assert "(100 queries, 40 candidate passages)" in table and "(42 queries, 40 candidate passages)" in table
    assert "1 gold judgments could not be mapped (1 queries dropped); first: guide.yaml: query 7" in table
    lines = headline(with_gold(), {"reason": "not promoted: x; decided on 42 gold queries"}).splitlines()
    assert lines == [
        "NDCG@10 on 100 held-out synthetic queries: base 0.8000 -> tuned 0.8500 (gain +0.0500, 95% CI +0.0300 to +0.0700)",
        "NDCG@10 on 42 gold queries: base 0.6100 -> tuned 0.5900 (gain -0.0200, 95% CI -0.0400 to +0.0000)",
        "Promotion: not promoted: x; decided on 42 gold queries",
    ]
    assert "too small to decide" in headline(with_gold(True), {"reason": "r"}).splitlines()[1]
    plain = headline(section(100, 0.8, 0.85, 0.05), {"reason": "r"})
    assert "No gold set: the decision rests on synthetic queries" in plain
    assert format_table(section(100, 0.8, 0.85, 0.05)).startswith("model ")  # unchanged without gold


def test_model_version_metadata_carries_both_and_the_basis():
    metadata = model_version_metadata(with_gold())
    assert metadata["base_ndcg@10"] == 0.80 and metadata["gold_base_ndcg@10"] == 0.61
    assert metadata["gold_ndcg@10_gain_ci95"] == pytest.approx([-0.04, 0.0])
    assert metadata["test_queries"] == 100 and metadata["gold_queries"] == 42
    assert metadata["decided_on"] == "gold" and metadata["gold_unmapped"] == 1 and metadata["gold_too_small"] is False
    assert set(metadata["gold_metrics"]) == {"base", "tuned"}
    assert "gold_base_ndcg@10" not in model_version_metadata(section(10, 0.5, 0.6, 0.1))
